"""``python -m tradeops.gateway``: the gateway process (the Fargate task's and ``tradeops up``'s entry point).

Configuration is read once from the environment (``TRADEOPS_*``: :class:`~tradeops.config.Settings`
and :class:`~tradeops.gateway.wiring.GatewayConfig`); logs are JSON. SIGTERM/SIGINT/SIGHUP stop it
gracefully (bounded: past the drain timeout plus a margin it exits hard). Exit codes: 0 after a graceful
stop, 1 after a failure or a hung stop, 2 for invalid configuration.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from aws_lambda_powertools import Logger

from tradeops.observability import configure_process_logging

EXIT_CONFIG = 2
EXIT_HUNG = 1
SHUTDOWN_MARGIN_S = 10.0
"""A graceful stop may take the intake drain plus this; then the process exits hard (ECS would kill it)."""


def _hard_exit(log: Logger) -> None:
    log.error("graceful shutdown did not finish in time: exiting")
    os._exit(EXIT_HUNG)


async def _serve() -> int:
    from tradeops.config import Settings
    from tradeops.gateway.app import GatewayApp
    from tradeops.gateway.wiring import GatewayConfig

    log = configure_process_logging("gateway")
    try:
        settings = Settings()
        config = GatewayConfig.from_env()
    except ValueError as exc:
        log.error("invalid gateway configuration", extra={"error": str(exc)})
        return EXIT_CONFIG
    app = GatewayApp(settings, config)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        app.request_stop()
        loop.call_later(config.drain_timeout_s + SHUTDOWN_MARGIN_S, _hard_exit, log)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    log.info(
        "gateway starting",
        extra={"owner": config.owner, "simulator": config.sim_url, "demo_strategy": config.demo_strategy},
    )
    return await app.run()


def main() -> int:
    return asyncio.run(_serve())


if __name__ == "__main__":
    sys.exit(main())

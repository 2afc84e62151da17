"""The drill rig: moto provisioned like `tradeops up`, an in-process simulator, gateways in process or as
child processes, and the ground truth to compare with (``/_sim/state``, the journal, the projections).

Every drill builds on :func:`open_rig`. Gateways started with :meth:`DrillRig.gateway` share the test's
event loop (fast, fault-injectable at the Python level); :meth:`DrillRig.spawn_gateway` runs
``python -m tradeops.gateway`` as a real process so it can be SIGKILLed or SIGSTOPped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.intake import IntakeConfig
from tradeops.gateway.lease import LeaseTiming
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.session import SessionTuning
from tradeops.gateway.wiring import GatewayConfig
from tradeops.local.provision import provision
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.store.limits import LimitStore, LimitVersion

KEY = {"apiKey": "drill-key-0001-abcdefghijklmnopqrs", "secret": "drill-secret-0001-0123456789abcdefgh"}
TIMING = LeaseTiming(ttl_s=3.0, renew_interval_s=0.5, retry_interval_s=0.2, safety_margin_s=0.5)
TUNING = SessionTuning(
    oms=OmsConfig(poll_interval_s=1.0, poll_fast_interval_s=0.3, stream_silence_s=1.0),
    intake=IntakeConfig(wait_time_s=1, retry_delay_s=1),
    events_wait_s=1,
)
LOOSE_LIMITS: dict[str, Decimal] = {"max_orders_per_second": Decimal(1000), "order_burst": Decimal(1000)}
"""Rate limits loose enough for bursts of intents (drills measure the venue's limits, not ours)."""


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` every 100 ms until it is true; fail the drill naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.1)


def intent(
    n: int | str,
    *,
    symbol: str = "SOL/USDT",
    side: Side = Side.BUY,
    quantity: str = "0.1",
    limit: Decimal | None = None,
    **extra: Any,
) -> TradeIntent:
    """A Trade Intent with a deterministic id (``drill-<n>``)."""
    return TradeIntent(
        correlation_id=f"c-{n}",
        intent_id=f"drill-{n}",
        strategy="demo",
        symbol=symbol,
        side=side,
        type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=limit,
        **extra,
    )


@dataclass
class DrillRig:
    settings: Settings
    sim: RunningSim
    http: aiohttp.ClientSession
    tap_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- gateways ---------------------------------------------------------------------------------
    def gateway(self, owner: str = "gw-a", **config: Any) -> GatewayApp:
        """An in-process gateway (run it with ``asyncio.create_task(app.run())``)."""
        cfg = GatewayConfig(
            health_port=0, sim_url=self.sim.url, sim_md_url=self.sim.md_url, owner=owner, **config
        )
        return GatewayApp(self.settings, cfg, lease_timing=TIMING, tuning=TUNING, stale_ms=3_000)

    def gateway_env(self, owner: str, health_port: int) -> dict[str, str]:
        """The environment of a gateway process on this rig (``TRADEOPS_*``, as `tradeops up` sets it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEOPS_")}
        s = self.settings
        env.update(
            TRADEOPS_AWS_ENDPOINT_URL=s.aws_endpoint_url or "",
            TRADEOPS_REGION=s.region,
            TRADEOPS_TABLE_PREFIX=s.table_prefix,
            TRADEOPS_BUS_NAME=s.bus_name,
            TRADEOPS_WORM_BUCKET=s.worm_bucket,
            TRADEOPS_REPORTS_BUCKET=s.reports_bucket,
            TRADEOPS_EXCHANGE_SECRET_ID=s.exchange_secret_id,
            TRADEOPS_ALARM_TOPIC_NAME=s.alarm_topic_name,
            TRADEOPS_QUEUE_PREFIX=s.queue_prefix,
            TRADEOPS_GATEWAY_OWNER=owner,
            TRADEOPS_GATEWAY_HEALTH_PORT=str(health_port),
            TRADEOPS_SIM_URL=self.sim.url,
            TRADEOPS_SIM_MD_URL=self.sim.md_url,
            TRADEOPS_DEMO_STRATEGY="false",
        )
        return env

    def spawn_gateway(self, owner: str, health_port: int, log_path: Path) -> subprocess.Popen[bytes]:
        """``python -m tradeops.gateway`` as a child process, its JSON logs in ``log_path``.

        Check :func:`tradeops.gateway.wiring.GatewayConfig.from_env` and ``Settings`` for the variable
        names if this rig's environment drifts from them; queue names follow ``Settings.queue_name``.
        """
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tradeops.gateway"],
                env=self.gateway_env(owner, health_port),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(proc)
        return proc

    # -- ground truth -----------------------------------------------------------------------------
    async def sim_state(self) -> dict[str, Any]:
        """``GET /_sim/state``: every order, fill and balance on the venue."""
        async with self.http.get(f"{self.sim.admin_url}/state") as resp:
            state: dict[str, Any] = await resp.json()
        return state

    async def venue_orders(self) -> list[dict[str, Any]]:
        """The venue's orders placed with the rig's key."""
        return [o for o in (await self.sim_state())["orders"] if o["apiKey"] == KEY["apiKey"]]

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the simulator's admin API (``path`` relative to ``/_sim``); raises on a non-2xx answer."""
        async with self.http.request(method, f"{self.sim.admin_url}{path}", json=body) as resp:
            payload = await resp.json(content_type=None)
            assert resp.status < 300, f"{method} /_sim{path}: {resp.status} {payload}"
            return payload

    def tapped(self, max_batches: int = 3) -> list[dict[str, Any]]:
        """Events that reached the tap queue since the last call (the tap matches the rig's types)."""
        sqs = client("sqs", self.settings)
        found: list[dict[str, Any]] = []
        for _ in range(max_batches):
            messages = sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10).get("Messages", [])
            for m in messages:
                found.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=m["ReceiptHandle"])
        return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(10)


@contextlib.asynccontextmanager
async def open_rig(
    aws_settings: Settings,
    *,
    sim_config: SimConfig | None = None,
    limits: dict[str, Decimal] | None = None,
    tap_types: Iterable[str] = ("Order Rejected",),
) -> AsyncIterator[DrillRig]:
    """Provision moto, approve ``limits`` (default :data:`LOOSE_LIMITS`), start a simulator with
    :data:`KEY`, and tap the given detail-types into an SQS queue; tear everything down afterwards."""
    settings = aws_settings
    await asyncio.to_thread(provision, settings, exchange_key=KEY)
    values = dict(LOOSE_LIMITS if limits is None else limits)
    version = LimitVersion("global", 1, values, "risk-a", "risk-b", "p-1", 1)
    await asyncio.to_thread(LimitStore(settings).put_version, version)
    sqs, events = client("sqs", settings), client("events", settings)
    tap = sqs.create_queue(QueueName=f"{settings.bus_name}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"detail-type": list(tap_types)}
    events.put_rule(Name="drill-tap", EventBusName=settings.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="drill-tap", EventBusName=settings.bus_name, Targets=[{"Id": "tap", "Arn": arn}])
    sim = await start_sim(sim_config or SimConfig(seed=11), "127.0.0.1", 0, 0)
    sim.venue.add_key(KEY["apiKey"], KEY["secret"])
    http = aiohttp.ClientSession()
    rig = DrillRig(settings, sim, http, tap)
    try:
        yield rig
    finally:
        for proc in rig.processes:
            await asyncio.to_thread(_stop, proc)
        await http.close()
        await sim.close()

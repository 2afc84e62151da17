"""The gateway's composition helpers: process config, exchange factories, limits, event fan-out.

:class:`GatewayConfig` is read once from ``TRADEOPS_*`` variables by ``python -m tradeops.gateway``.
With ``TRADEOPS_SIM_URL`` set every ccxt instance points at the simulator (``make_ccxt_exchange``);
without it (AWS) the same factories build the stock ``ccxt.binance`` / ``ccxt.pro.binance`` on their
default URLs, with the same spot-only options.
"""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt_async

from tradeops.change_management.limits_doc import check_name, flatten_limits, limits_from_flat
from tradeops.domain.events import EventDetail, OrderFilled
from tradeops.domain.limits import LimitsValidationError, RiskLimits
from tradeops.domain.orders import Fill
from tradeops.gateway.market_data import FEED_OPTIONS, build_sim_exchanges
from tradeops.gateway.oms_ports import EventSink
from tradeops.observability import get_logger
from tradeops.store.limits import LimitStore
from tradeops.venue.credentials import ExchangeCredentials
from tradeops.venue.sim_exchange import SPOT_ONLY_OPTIONS, make_ccxt_exchange

__all__ = [
    "BackgroundPublisher",
    "FillTap",
    "GatewayConfig",
    "load_limits",
    "make_exchange",
    "market_data_exchanges",
]

log = get_logger("tradeops.gateway")
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
LIMITS_SCOPE = "global"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class GatewayConfig:
    """Process-level configuration of the gateway (the AWS names live in :class:`Settings`)."""

    health_host: str = "127.0.0.1"
    health_port: int = 8080
    sim_url: str | None = None
    sim_md_url: str | None = None
    demo_strategy: bool = False
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    lease_name: str = "gateway"
    owner: str = ""
    drain_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.symbols or any("/" not in s for s in self.symbols):
            raise ValueError(f"symbols must be BASE/QUOTE, got {self.symbols!r}")
        if len({s.split("/")[1] for s in self.symbols}) != 1:
            raise ValueError("every symbol must share one quote currency")
        if not 0 <= self.health_port <= 65535 or self.drain_timeout_s <= 0:
            raise ValueError("health_port must be in 0..65535 and drain_timeout_s positive")
        if not self.owner:
            object.__setattr__(self, "owner", f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    @property
    def quote_currency(self) -> str:
        return self.symbols[0].split("/")[1]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """``TRADEOPS_GATEWAY_HEALTH_HOST/_PORT``, ``TRADEOPS_SIM_URL``, ``TRADEOPS_SIM_MD_URL``,
        ``TRADEOPS_DEMO_STRATEGY`` (1/true), ``TRADEOPS_GATEWAY_SYMBOLS`` (comma-separated),
        ``TRADEOPS_GATEWAY_OWNER`` (the lease holder's name; default host-pid-random)."""
        env = os.environ if env is None else env
        symbols = tuple(s.strip() for s in env.get("TRADEOPS_GATEWAY_SYMBOLS", "").split(",") if s.strip())
        return cls(
            health_host=env.get("TRADEOPS_GATEWAY_HEALTH_HOST", cls.health_host),
            health_port=int(env.get("TRADEOPS_GATEWAY_HEALTH_PORT", str(cls.health_port))),
            sim_url=env.get("TRADEOPS_SIM_URL") or None,
            sim_md_url=env.get("TRADEOPS_SIM_MD_URL") or None,
            demo_strategy=_flag(env.get("TRADEOPS_DEMO_STRATEGY")),
            symbols=symbols or DEFAULT_SYMBOLS,
            owner=env.get("TRADEOPS_GATEWAY_OWNER", "").strip(),
        )


def make_exchange(
    config: GatewayConfig,
    api_key: str,
    secret: str,
    *,
    pro: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt (``pro``: ccxt.pro) binance on the simulator, or on Binance when no simulator is set."""
    if config.sim_url is not None:
        return make_ccxt_exchange(config.sim_url, api_key, secret, pro=pro, options=dict(options or {}))
    settings = {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": True,
        "options": {**copy.deepcopy(SPOT_ONLY_OPTIONS), **(options or {})},
    }
    if pro:
        import ccxt.pro

        return ccxt.pro.binance(settings)
    return ccxt_async.binance(settings)


def rest_factory(config: GatewayConfig) -> Callable[[ExchangeCredentials], ccxt_async.binance]:
    """The venue adapter's factory: one REST exchange per key version."""

    def build(credentials: ExchangeCredentials) -> ccxt_async.binance:
        exchange: ccxt_async.binance = make_exchange(config, credentials.api_key, credentials.secret)
        return exchange

    return build


def market_data_exchanges(config: GatewayConfig) -> tuple[Any, Any, Any]:
    """(primary, backup, REST) public exchanges; the backup uses the simulator's market-data port."""
    if config.sim_url is not None:
        return build_sim_exchanges(config.sim_url, config.sim_md_url or config.sim_url)
    primary = make_exchange(config, "", "", pro=True, options=FEED_OPTIONS)
    backup = make_exchange(config, "", "", pro=True, options=FEED_OPTIONS)
    return primary, backup, make_exchange(config, "", "")


def load_limits(store: LimitStore) -> RiskLimits:
    """The demo defaults overlaid with the latest approved ``global`` limit version, if any.

    A stored version is the flat map of :mod:`tradeops.change_management.limits_doc` (scalars by name,
    per-symbol and per-strategy entries as ``field.key``); every name overrides the default, so an
    approved change to a symbol's quantity cap or a strategy's allocation applies like any other.
    """
    defaults = RiskLimits.default_for_demo()
    stored = store.latest(LIMITS_SCOPE)
    if stored is None:
        log.warning("no stored risk limits: using the demo defaults", extra={"scope": LIMITS_SCOPE})
        return defaults
    known, ignored = {}, []
    for name, value in stored.limits.items():
        try:
            check_name(name)
        except LimitsValidationError:
            ignored.append(name)  # a limit this version of the code no longer has: logged, not applied
        else:
            known[name] = value
    limits = limits_from_flat(
        {**flatten_limits(defaults), **known},
        version=stored.version,
        proposed_by=stored.proposed_by,
        approved_by=stored.approved_by,
    )
    log.info(
        "risk limits loaded",
        extra={"scope": LIMITS_SCOPE, "version": stored.version, "ignored_keys": sorted(ignored)},
    )
    return limits


class BackgroundPublisher:
    """Fire-and-forget publishing from the event loop (the blocking call runs in a thread)."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, event: EventDetail) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, event: EventDetail) -> None:
        try:
            await asyncio.to_thread(self._sink.publish, event)
        except Exception as exc:
            log.error("event not published", extra={"detail_type": event.DETAIL_TYPE, "error": repr(exc)})

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for the publishes in flight."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)


_FILLS_REMEMBERED = 10_000


class FillTap:
    """The OMS's event sink: hands every "Order Filled" to ``on_fill`` on the loop, then publishes.

    The OMS publishes from a worker thread; ``on_fill`` runs on ``loop`` (the portfolio and strategies
    are not thread-safe). A fill is handed over even if the bus refuses the event, and once only when
    the event is published again (a retry): the last event ids are remembered.
    """

    def __init__(
        self, sink: EventSink, loop: asyncio.AbstractEventLoop, on_fill: Callable[[Fill], None]
    ) -> None:
        self._sink = sink
        self._loop = loop
        self._on_fill = on_fill
        self._handed: deque[str] = deque(maxlen=_FILLS_REMEMBERED)
        self._handed_ids: set[str] = set()

    def publish(self, event: EventDetail) -> None:
        if isinstance(event, OrderFilled) and event.event_id not in self._handed_ids:
            if len(self._handed) == self._handed.maxlen:
                self._handed_ids.discard(self._handed[0])
            self._handed.append(event.event_id)
            self._handed_ids.add(event.event_id)
            self._loop.call_soon_threadsafe(self._on_fill, event.to_fill())
        self._sink.publish(event)

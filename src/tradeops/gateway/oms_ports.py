"""The OMS's ports: the venue calls it makes, the user stream it reads, where its events go, its tuning.

``ExecutionVenue`` is exactly what :class:`~tradeops.venue.adapter.VenueAdapter` offers (structural
typing: the adapter is passed as is). ``UserStream`` yields the venue's execution reports as domain
values; :class:`~tradeops.gateway.oms_sync.CcxtUserStream` implements it over ccxt.pro.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tradeops.domain.events import EventDetail
from tradeops.domain.orders import Fill, Order
from tradeops.venue.adapter import CancelOutcome, NotFound, Outcome, SubmitOutcome
from tradeops.venue.mapping import VenueOrder


class ExecutionVenue(Protocol):
    """The venue calls of the order lifecycle; every one returns a classified outcome, never raises."""

    async def submit(self, order: Order) -> SubmitOutcome: ...

    async def cancel(self, symbol: str, client_order_id: str) -> CancelOutcome: ...

    async def fetch_order(self, symbol: str, client_order_id: str) -> Outcome[VenueOrder | NotFound]: ...

    async def fetch_open_orders(self, symbol: str | None = None) -> Outcome[list[VenueOrder]]: ...

    async def fetch_my_trades(self, symbol: str, since: int | None = None) -> Outcome[list[Fill]]: ...


class UserStream(Protocol):
    """The account's execution reports; each ``watch_*`` waits for the next batch (raises on disconnect)."""

    async def watch_orders(self) -> list[VenueOrder]: ...

    async def watch_fills(self) -> list[Fill]: ...

    async def close(self) -> None: ...


class EventSink(Protocol):
    """Where "Order Updated" / "Order Filled" / "Order Rejected" go (``EventPublisher`` in production).

    ``publish`` may block (boto3): the OMS calls it in a worker thread.
    """

    def publish(self, event: EventDetail) -> None: ...


@dataclass(frozen=True)
class OmsConfig:
    """Tuning of the order manager, the UNKNOWN resolver and the sync loops (seconds unless named).

    ``not_found_grace_s`` must exceed the venue's ``recvWindow`` plus the submit timeout: a request
    older than that can no longer be accepted, so "never reached the venue" is then proven.
    """

    actor: str = "gateway"
    journal_stream: str = "orders"
    event_source: str = "tradeops.gateway"
    max_write_attempts: int = 5
    request_retry_attempts: int = 3
    request_retry_default_s: float = 1.0
    resolve_initial_delay_s: float = 0.5
    resolve_max_delay_s: float = 5.0
    resolve_max_attempts: int = 500
    not_found_checks: int = 3
    not_found_grace_s: float = 10.0
    trade_lookback_ms: int = 60_000
    poll_interval_s: float = 5.0
    poll_fast_interval_s: float = 1.0
    stream_silence_s: float = 3.0
    stream_reconnect_initial_s: float = 0.2
    stream_reconnect_max_s: float = 10.0
    expiry_check_s: float = 0.5
    order_cache_size: int = 10_000

    def __post_init__(self) -> None:
        positive = {
            "max_write_attempts": self.max_write_attempts,
            "resolve_max_attempts": self.resolve_max_attempts,
            "not_found_checks": self.not_found_checks,
            "order_cache_size": self.order_cache_size,
            "resolve_initial_delay_s": self.resolve_initial_delay_s,
            "poll_interval_s": self.poll_interval_s,
            "poll_fast_interval_s": self.poll_fast_interval_s,
            "expiry_check_s": self.expiry_check_s,
        }
        bad = [name for name, value in positive.items() if value <= 0]
        if bad:
            raise ValueError(f"OmsConfig: {', '.join(bad)} must be > 0")
        if self.not_found_grace_s < 0 or self.request_retry_attempts < 0:
            raise ValueError("OmsConfig: not_found_grace_s and request_retry_attempts must be >= 0")

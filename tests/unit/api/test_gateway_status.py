"""The gateway's status record writer and the consumer's "Cancel Requested" path (API half of issue 8)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from tradeops.domain.events import CancelRequested
from tradeops.gateway.gateway_events import GatewayEventConsumer
from tradeops.gateway.health import CheckResult
from tradeops.gateway.oms_records import UnknownOrder
from tradeops.store.status import FeedStatus, GatewayStatus


class Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.written: list[GatewayStatus] = []
        self.deleted: list[str] = []
        self.fail_first = fail_first

    def put(self, status: GatewayStatus) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("dynamodb down")
        self.written.append(status)

    def delete(self, owner: str) -> None:
        self.deleted.append(owner)


async def readiness() -> tuple[bool, dict[str, CheckResult]]:
    return False, {
        "leader": CheckResult(True, "leader, fencing token 3"),
        "venue": CheckResult(False, "no successful server time yet"),
        "market_data": CheckResult(True, "every symbol fresh"),
    }


def feeds() -> list[FeedStatus]:
    return [FeedStatus("BTC/USDT", "ok", 12, "primary", Decimal("30000.5"))]


def writer(sink: Sink, **kwargs: Any) -> Any:
    from tradeops.gateway.status import StatusWriter

    clock = iter(range(1_000, 10_000_000, 1_000))
    return StatusWriter(
        sink, "gw-1", readiness=readiness, feeds=feeds, clock_offset_ms=lambda: -7,
        now_ms=lambda: next(clock), **kwargs,
    )  # fmt: skip


async def test_collect_maps_readiness_checks_to_leader_broker_and_failing() -> None:
    status = await writer(Sink()).collect()
    assert status.leader is True and status.ready is False
    assert status.broker_connected is False and status.failing == ("venue",)
    assert status.clock_offset_ms == -7 and status.feeds == tuple(feeds())
    assert status.checks["leader"] == "leader, fencing token 3"


async def test_explicit_callables_override_the_checks() -> None:
    status = await writer(Sink(), is_leader=lambda: False, broker_connected=lambda: None).collect()
    assert status.leader is False and status.broker_connected is None


async def test_the_loop_keeps_writing_through_failures_and_a_clean_stop_removes_the_record() -> None:
    sink = Sink(fail_first=2)
    status_writer = writer(sink, interval_s=0.01)
    status_writer.start()
    for _ in range(500):
        if len(sink.written) >= 3:
            break
        await asyncio.sleep(0.01)
    await status_writer.stop()
    assert len(sink.written) >= 3, "the writer stopped after a failed write"
    assert [s.updated_at for s in sink.written] == sorted(s.updated_at for s in sink.written)
    assert sink.deleted == ["gw-1"]


def test_feed_statuses_reads_the_market_view() -> None:
    from tradeops.gateway.quality import Feed, FeedQuality, MarketView
    from tradeops.gateway.status import feed_statuses

    class Views:
        def view(self, symbol: str) -> MarketView:
            return MarketView(
                symbol, FeedQuality.DEGRADED, frozenset(), Feed.BACKUP, None, None, Decimal(2), 1, 40
            )

    assert feed_statuses(None, ["BTC/USDT"]) == []
    assert feed_statuses(Views(), ["ETH/USDT"]) == [
        FeedStatus("ETH/USDT", "degraded", 40, "backup", Decimal(2))
    ]


def consumer(on_cancel: Any) -> GatewayEventConsumer:
    async def nothing(*_: Any) -> None:
        return None

    return GatewayEventConsumer(
        None,  # type: ignore[arg-type]  # only run() reads the settings and the queue
        None,
        on_control=lambda _e: None,
        on_secret_rotated=nothing,
        on_fill=nothing,
        on_cancel=on_cancel,
    )


def cancel_envelope(cid: str = "toen-abc") -> str:
    event = CancelRequested(
        correlation_id="r1", client_order_id=cid, requested_by="trader@x", reason="manual"
    )
    detail = json.loads(event.model_dump_json())
    return json.dumps({"source": "tradeops.api", "detail-type": "Cancel Requested", "detail": detail})


async def test_a_cancel_request_reaches_the_oms_cancel() -> None:
    seen: list[CancelRequested] = []

    async def cancel(request: CancelRequested) -> None:
        seen.append(request)

    assert await consumer(cancel).handle(cancel_envelope()) is True
    assert [(r.client_order_id, r.requested_by) for r in seen] == [("toen-abc", "trader@x")]


async def test_a_cancel_of_an_unknown_order_is_dropped_and_an_unwired_one_is_kept_for_redelivery() -> None:
    async def unknown(request: CancelRequested) -> None:
        raise UnknownOrder(request.client_order_id)

    assert await consumer(unknown).handle(cancel_envelope()) is True
    assert await consumer(None).handle(cancel_envelope()) is False

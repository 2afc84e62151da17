"""Consumer of the ``gateway-events`` queue (rule "gateway-events"): what others ask the gateway to apply.

Dispatch by ``detail-type``: "Control Changed" -> re-read the control table now; "Secret Rotated" ->
switch the venue adapter to the new key version (it reloads the credentials); "Fill Discovered" (a
trade reconciliation found) -> the OMS applies it, deduplicated by trade id; "Cancel Requested" (an
operator's manual cancel from the API) -> the OMS cancels the order (a no-op on a terminal order, so a
redelivery is harmless); "Reconciliation Break" -> logged (applying breaks is a later issue). Unknown types
are logged and dropped. A message is deleted
once handled; a failure leaves it for redelivery (the queue's redrive policy dead-letters a poison one).
Only the leader consumes (a standby could not apply a fill), so each event reaches the trading gateway.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from tradeops.config import Settings
from tradeops.domain.events import (
    EVENT_TYPES,
    CancelRequested,
    ControlChanged,
    EventDetail,
    ReconciliationBreak,
    SecretRotated,
    parse_detail,
)
from tradeops.domain.orders import Fill, Order
from tradeops.gateway.oms_records import UnknownOrder
from tradeops.observability import correlation_id_from_event, correlation_scope, get_logger

__all__ = ["GatewayEventConsumer", "fill_from_detail"]

log = get_logger("tradeops.gateway")
QUEUE = "gateway-events"
FILL_DISCOVERED = "Fill Discovered"
E = TypeVar("E", bound=EventDetail)


def fill_from_detail(detail: Mapping[str, Any]) -> Fill | None:
    """The trade of a "Fill Discovered" detail; None while that event type is not defined in the schema."""
    if FILL_DISCOVERED not in EVENT_TYPES:
        return None
    to_fill = getattr(parse_detail(FILL_DISCOVERED, detail), "to_fill", None)
    fill = to_fill() if callable(to_fill) else None
    if not isinstance(fill, Fill):
        raise TypeError(f"{FILL_DISCOVERED!r} events carry no fill (to_fill() -> Fill)")
    return fill


def _parse(detail_type: str, detail: Mapping[str, Any], model: type[E]) -> E:
    event = parse_detail(detail_type, detail)
    if not isinstance(event, model):
        raise TypeError(f"{detail_type!r} parsed as {type(event).__name__}, not {model.__name__}")
    return event


class GatewayEventConsumer:
    """Long-polls the ``gateway-events`` queue and applies each event through the given callbacks."""

    def __init__(
        self,
        settings: Settings,
        sqs: Any,
        *,
        on_control: Callable[[ControlChanged], None],
        on_secret_rotated: Callable[[SecretRotated], Awaitable[object]],
        on_fill: Callable[[Fill], Awaitable[Order | None]],
        on_cancel: Callable[[CancelRequested], Awaitable[object]] | None = None,
        wait_time_s: int = 5,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._on_control = on_control
        self._on_secret = on_secret_rotated
        self._on_fill = on_fill
        self._on_cancel = on_cancel
        self._wait_time_s = wait_time_s
        self.handled = 0

    async def run(self) -> None:
        """Receive and apply until cancelled; receive errors back off (bounded)."""
        url = await asyncio.to_thread(self._queue_url)
        backoff = 0.5
        while True:
            try:
                response = await asyncio.to_thread(
                    self._sqs.receive_message,
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self._wait_time_s,
                )
            except Exception as exc:
                log.error("receiving gateway events failed", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            for message in response.get("Messages", []):
                if await self.handle(str(message.get("Body", ""))):
                    await asyncio.to_thread(
                        self._sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                    )

    def _queue_url(self) -> str:
        url: str = self._sqs.get_queue_url(QueueName=self._settings.queue_name(QUEUE))["QueueUrl"]
        return url

    async def handle(self, body: str) -> bool:
        """Apply one EventBridge envelope; True when it may be deleted (applied, or not for us)."""
        try:
            envelope = json.loads(body)
            detail_type = str(envelope["detail-type"])
            detail = envelope["detail"]
        except (ValueError, KeyError, TypeError):
            log.error("unreadable gateway event dropped", extra={"body": body[:200]})
            return True
        with correlation_scope(correlation_id_from_event(envelope)):
            try:
                await self._dispatch(detail_type, detail)
            except Exception:
                log.exception(
                    "gateway event not applied; it will be redelivered", extra={"type": detail_type}
                )
                return False
        self.handled += 1
        return True

    async def _dispatch(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if detail_type == ControlChanged.DETAIL_TYPE:
            self._on_control(_parse(detail_type, detail, ControlChanged))
        elif detail_type == SecretRotated.DETAIL_TYPE:
            await self._on_secret(_parse(detail_type, detail, SecretRotated))
        elif detail_type == FILL_DISCOVERED:
            fill = fill_from_detail(detail)
            if fill is None:
                log.warning("event type not in the event schema yet: skipped", extra={"type": detail_type})
                return
            await self._on_fill(fill)
            log.info(
                "discovered fill applied", extra={"cid": fill.client_order_id, "trade_id": fill.trade_id}
            )
        elif detail_type == CancelRequested.DETAIL_TYPE:
            await self._cancel(_parse(detail_type, detail, CancelRequested))
        elif detail_type == ReconciliationBreak.DETAIL_TYPE:
            found = _parse(detail_type, detail, ReconciliationBreak)
            log.warning(
                "reconciliation break reported (not applied by the gateway yet)",
                extra={
                    "break_id": found.break_id,
                    "break_class": found.break_class,
                    "cid": found.client_order_id,
                    "proposed_action": found.proposed_action,
                },
            )
        else:
            log.warning("gateway event of an unknown type skipped", extra={"type": detail_type})

    async def _cancel(self, request: CancelRequested) -> None:
        if self._on_cancel is None:
            raise RuntimeError("Cancel Requested received but this consumer has no on_cancel callback")
        try:
            await self._on_cancel(request)
        except UnknownOrder:
            log.warning("operator cancel of an unknown order dropped", extra={"cid": request.client_order_id})
            return
        log.info(
            "operator cancel applied",
            extra={"cid": request.client_order_id, "requested_by": request.requested_by},
        )

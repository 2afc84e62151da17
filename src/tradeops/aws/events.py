"""Publish domain events to the tradeops EventBridge bus, never dropping one silently.

``PutEvents`` takes at most 10 entries and 256 KiB per call and may accept a call while refusing some of
its entries (``FailedEntryCount``). :class:`EventPublisher` batches within both limits, retries exactly
the refused entries with bounded exponential backoff, and raises :class:`PublishError` naming every
event id that could not be published.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tradeops.aws.clients import client as aws_client
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, to_entry

MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024
_TIME_FIELD_BYTES = 14  # PutEvents counts a set Time as 14 bytes


class PublishError(RuntimeError):
    """Some events were not accepted by EventBridge after every retry; ``failures`` maps id -> reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        listed = ", ".join(f"{event_id} ({reason})" for event_id, reason in self.failures.items())
        super().__init__(f"{len(self.failures)} event(s) not published to EventBridge: {listed}")


class _CallFailed(Exception):
    """The PutEvents call itself failed (after the client's own retries) with these entries pending."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(f"{len(pending)} entries pending")
        self.pending = pending


def entry_size(entry: dict[str, Any]) -> int:
    """The size PutEvents charges for ``entry`` (UTF-8 bytes of its text fields, 14 for a Time)."""
    size = sum(len(str(entry.get(name, "")).encode()) for name in ("Source", "DetailType", "Detail"))
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources", ()))
    return size + (_TIME_FIELD_BYTES if entry.get("Time") is not None else 0)


def batches(entries: Sequence[tuple[str, dict[str, Any]]]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Split (event id, entry) pairs into PutEvents calls of <= 10 entries and <= 256 KiB each."""
    batch: list[tuple[str, dict[str, Any]]] = []
    batch_bytes = 0
    for event_id, entry in entries:
        size = entry_size(entry)
        if size > MAX_BYTES_PER_CALL:
            raise PublishError({event_id: f"entry is {size} bytes, over the {MAX_BYTES_PER_CALL} limit"})
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or batch_bytes + size > MAX_BYTES_PER_CALL):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((event_id, entry))
        batch_bytes += size
    if batch:
        yield batch


class EventPublisher:
    """Publishes events from ``source`` (``tradeops.<component>``) to the bus named in ``settings``."""

    def __init__(
        self,
        settings: Settings,
        source: str,
        *,
        events_client: Any | None = None,
        max_attempts: int = 4,
        base_delay_s: float = 0.1,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not source.startswith("tradeops."):
            raise ValueError(f"event source must start with 'tradeops.', got {source!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.source = source
        self.bus_name = settings.bus_name
        self._client = events_client if events_client is not None else aws_client("events", settings)
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._sleep = sleep

    def publish(self, event: EventDetail) -> None:
        """Publish one event; raises :class:`PublishError` if EventBridge refuses it after retries."""
        self.publish_many((event,))

    def publish_many(self, events: Iterable[EventDetail]) -> None:
        """Publish ``events`` in order-preserving batches; raises :class:`PublishError` listing failures.

        Every batch is attempted even if an earlier one had refused entries, so one bad event never holds
        back the rest; the error then names all the events that were not published. A failed call (the
        client already retried it) stops publishing: that batch and every later one are named as failed.
        """
        entries = [(str(event.event_id), to_entry(event, self.source, self.bus_name)) for event in events]
        failures: dict[str, str] = {}
        chunks = list(batches(entries))
        for index, batch in enumerate(chunks):
            try:
                failures.update(self._put_with_retries(batch))
            except _CallFailed as failed:
                unsent = [
                    *failed.pending,
                    *(event_id for rest in chunks[index + 1 :] for event_id, _ in rest),
                ]
                failures.update(dict.fromkeys(unsent, f"PutEvents call failed: {failed.__cause__}"))
                raise PublishError(failures) from failed.__cause__
        if failures:
            raise PublishError(failures)

    def _put_with_retries(self, batch: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        pending = batch
        failures: dict[str, str] = {}
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(min(self._max_delay_s, self._base_delay_s * 2 ** (attempt - 1)))
            try:
                response = self._client.put_events(Entries=[entry for _, entry in pending])
            except (BotoCoreError, ClientError) as exc:
                raise _CallFailed([event_id for event_id, _ in pending]) from exc
            results = response.get("Entries", [])
            if len(results) != len(pending):  # never happens per the API contract: treat all as refused
                results = [{"ErrorCode": "MalformedResponse"}] * len(pending)
            retry: list[tuple[str, dict[str, Any]]] = []
            failures = {}
            for (event_id, entry), result in zip(pending, results, strict=True):
                if result.get("ErrorCode") or "EventId" not in result:
                    retry.append((event_id, entry))
                    failures[event_id] = f"{result.get('ErrorCode', '?')}: {result.get('ErrorMessage', '')}"
            if not retry:
                return {}
            pending = retry
        return failures

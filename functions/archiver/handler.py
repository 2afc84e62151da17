"""Lambda entry point of the ``archiver`` function: the journal table's DynamoDB stream -> WORM archive.

Each batch of stream records is grouped by journal stream and appended to the Object Lock bucket as
JSONL batches with manifests (tradeops.aws.archive). Redelivered records are checked against the
archive and written once; a gap before the delivered entries is filled from the journal table, so the
archive stays contiguous whatever the delivery order. A MODIFY or REMOVE on the append-only journal, or
entries that do not continue the archived chain, are integrity violations: logged, counted and raised,
so the batch is retried and finally lands in the function's on-failure destination instead of being
skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradeops.aws.archive import (
    ArchiveError,
    JournalArchiver,
    UnexpectedStreamEvent,
    WormArchive,
    entries_from_stream_records,
)
from tradeops.config import Settings
from tradeops.observability import emit_metric, get_logger, metrics
from tradeops.store.journal import JournalStore

SERVICE = "archiver"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(settings: Settings) -> Handler:
    """Build the handler for ``settings`` (done once per cold start by the module-level ``handler``)."""
    logger = get_logger(SERVICE)
    emf = metrics(service=SERVICE)
    archiver = JournalArchiver(WormArchive(settings), JournalStore(settings))

    @emf.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records", [])
        emf.add_metric(name="StreamRecordsReceived", unit="Count", value=len(records))
        try:
            grouped = entries_from_stream_records(records)
            results = [archiver.archive(stream, entries) for stream, entries in sorted(grouped.items())]
        except (UnexpectedStreamEvent, ArchiveError) as exc:
            emit_metric(emf, "ArchiveIntegrityViolations", violation=type(exc).__name__)
            logger.exception("journal archive integrity violation", extra={"error": str(exc)})
            raise
        summary: dict[str, Any] = {}
        for result in results:
            entries = sum(m.count for m in result.written)
            emf.add_metric(name="EntriesArchived", unit="Count", value=entries)
            emf.add_metric(name="DuplicateEntriesSkipped", unit="Count", value=result.duplicates)
            emf.add_metric(name="EntriesFilledFromTable", unit="Count", value=result.filled_from_table)
            summary[result.stream] = {
                "batches": [m.batch_key for m in result.written],
                "archived_through": result.written[-1].last_seq if result.written else None,
                "entries": entries,
                "duplicates": result.duplicates,
                "filled_from_table": result.filled_from_table,
            }
            logger.info("journal stream archived", extra={"stream": result.stream, **summary[result.stream]})
        return {"records": len(records), "streams": summary}

    return handler


handler = make_handler(Settings())

"""Archive format, stream record parsing and Lambda record shaping (pure, no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from tradeops.aws.archive import (
    BatchManifest,
    UnexpectedStreamEvent,
    batch_key,
    build_manifest,
    decode_batch,
    encode_batch,
    entries_from_stream_records,
    manifest_key,
)
from tradeops.domain.journal import JournalEntry, next_entry, verify_chain
from tradeops.local.streams import lambda_record


def _chain(stream: str, count: int) -> list[JournalEntry]:
    entries: list[JournalEntry] = []
    for index in range(count):
        prev = entries[-1] if entries else None
        payload = {"n": index, "px": "1.50", "note": "é"}
        entries.append(
            next_entry(
                prev, stream=stream, kind="k", payload=payload, recorded_at=1, actor="a", fencing_token=1
            )
        )
    return entries


def _record(entry: JournalEntry, event: str = "INSERT") -> dict[str, Any]:
    image = {k: TypeSerializer().serialize(v) for k, v in entry.to_item().items()}
    keys = {"stream": image["stream"], "seq": image["seq"]}
    return {"eventName": event, "eventID": "e1", "dynamodb": {"Keys": keys, "NewImage": image}}


def test_a_batch_round_trips_and_its_hashes_recompute() -> None:
    entries = _chain("orders", 5)
    body = encode_batch(entries)
    assert body.count(b"\n") == 5 and "é".encode() in body
    decoded = decode_batch(body)
    assert decoded == entries and verify_chain(decoded) is None
    assert encode_batch(decoded) == body


def test_manifest_describes_the_batch_and_ignores_created_at_for_identity() -> None:
    entries = _chain("orders", 3)
    body = encode_batch(entries)
    first = build_manifest(entries, body, datetime(2026, 1, 1, tzinfo=UTC))
    later = build_manifest(entries, body, datetime(2026, 1, 2, tzinfo=UTC))
    assert (first.first_seq, first.last_seq, first.count) == (1, 3, 3)
    assert first.first_prev_hash == "0" * 64 and first.last_hash == entries[-1].hash
    assert first.identity() == later.identity() and first != later
    assert BatchManifest.from_json(first.to_json()) == first
    assert first.created_at == "2026-01-01T00:00:00Z"


def test_keys_are_zero_padded_and_stream_names_encoded() -> None:
    assert batch_key("orders", 1, 100) == "journal/orders/000000000001-000000000100.jsonl"
    assert manifest_key("a/b c", 7, 9) == "journal/a%2Fb%20c/000000000007-000000000009.manifest.json"


def test_insert_records_are_grouped_by_stream() -> None:
    orders, limits = _chain("orders", 3), _chain("limits", 2)
    records = [_record(e) for e in (orders[0], limits[0], orders[1], orders[2], limits[1])]
    assert entries_from_stream_records(records) == {"orders": orders, "limits": limits}


@pytest.mark.parametrize("event", ["MODIFY", "REMOVE"])
def test_modify_and_remove_are_integrity_violations(event: str) -> None:
    record = _record(_chain("orders", 1)[0], event)
    if event == "REMOVE":
        del record["dynamodb"]["NewImage"]
    with pytest.raises(UnexpectedStreamEvent, match=event):
        entries_from_stream_records([record])


def test_lambda_records_are_json_ready_with_the_source_arn() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    record = {
        "eventName": "INSERT",
        "dynamodb": {"ApproximateCreationDateTime": created, "SequenceNumber": "1"},
    }
    shaped = lambda_record(record, "arn:stream")
    assert shaped["eventSourceARN"] == "arn:stream"
    assert shaped["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert record["dynamodb"]["ApproximateCreationDateTime"] is created

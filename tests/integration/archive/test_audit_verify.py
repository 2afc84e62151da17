"""``tradeops audit verify`` detects every kind of tampering of the table or the archive, naming the seq."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradeops.audit import Finding, verify
from tradeops.audit_commands import audit_app
from tradeops.aws.clients import client
from tradeops.domain.journal import JournalEntry, compute_hash

from .conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def archived(stack: Stack) -> Stack:
    """60 entries in ``orders`` and 5 in ``limits``, archived through the stream poller (batches of 25)."""
    stack.append("orders", 60)
    stack.append("limits", 5)
    poller = stack.poller(batch_size=25)
    while poller.poll_once():
        pass
    return stack


def _first(stack: Stack, stream: str = "orders") -> Finding | None:
    [report] = verify(stack.archive, stack.journal, [stream])
    return report.first_finding


def _table(stack: Stack) -> tuple[Any, str]:
    return client("dynamodb", stack.settings), stack.settings.table_name(stack.journal._model.SPEC)


def _key(seq: int) -> dict[str, Any]:
    return {"stream": {"S": "orders"}, "seq": {"N": str(seq)}}


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points this process's AWS SDK at moto: keep that out of the worker's other tests."""
    monkeypatch.setattr(os, "environ", dict(os.environ))


def _cli(stack: Stack, tmp_path: Path, *args: str) -> Any:
    endpoints = tmp_path / "endpoints.json"
    document = {
        "aws": stack.settings.aws_endpoint_url,
        "region": stack.settings.region,
        "bus_name": stack.settings.bus_name,
        "tables": {"journal": stack.settings.table_name(stack.journal._model.SPEC)},
        "buckets": {"worm": stack.settings.worm_bucket, "reports": stack.settings.reports_bucket},
        "secret_id": stack.settings.exchange_secret_id,
    }
    endpoints.write_text(json.dumps(document))
    return CliRunner().invoke(audit_app, ["verify", "--endpoints", str(endpoints), *args])


def test_an_intact_journal_verifies_and_the_cli_exits_0(archived: Stack, tmp_path: Path) -> None:
    archived.append("orders", 2)  # not yet archived: lag, not a break
    result = _cli(archived, tmp_path)
    assert result.exit_code == 0, result.output
    assert "OK     stream=orders archived=1..60 (3 batches) table=1..62, 2 newer entries" in result.output
    assert "OK     stream=limits" in result.output


def test_an_altered_journal_item_is_named_by_the_cli(archived: Stack, tmp_path: Path) -> None:
    dynamodb, table = _table(archived)
    item = dynamodb.get_item(TableName=table, Key=_key(37))["Item"]
    dynamodb.put_item(TableName=table, Item={**item, "payload": {"S": '{"n":999,"px":"1.50"}'}})
    result = _cli(archived, tmp_path, "--stream", "orders")
    assert result.exit_code == 1
    assert "BROKEN stream=orders seq=37 reason=journal table: hash mismatch" in result.output
    assert "limits" not in result.output


def test_a_rewritten_chain_in_the_table_is_caught_by_the_archive(archived: Stack) -> None:
    dynamodb, table = _table(archived)
    entries = archived.journal.read("orders")
    prev = entries[39]
    for entry in entries[40:]:  # recompute every hash from seq 201: the table alone verifies
        body = {**entry.body(), "prev_hash": prev.hash}
        if entry.seq == 41:
            body["actor"] = "mallory"
        prev = JournalEntry(**body, hash=compute_hash(prev.hash, body))
        dynamodb.put_item(
            TableName=table,
            Item={k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in prev.to_item().items()},
        )
    assert archived.journal.verify("orders") is None
    assert _first(archived) == Finding("orders", 41, "journal table entry differs from the archived entry")


@pytest.mark.parametrize("seq", [1, 33, 60])
def test_a_deleted_journal_item_is_named(archived: Stack, seq: int) -> None:
    dynamodb, table = _table(archived)
    dynamodb.delete_item(TableName=table, Key=_key(seq))
    finding = _first(archived)
    assert finding is not None and finding.seq == seq, finding


def test_an_inserted_journal_item_is_named(archived: Stack) -> None:
    dynamodb, table = _table(archived)
    item = dynamodb.get_item(TableName=table, Key=_key(60))["Item"]
    dynamodb.put_item(TableName=table, Item={**item, "seq": {"N": "61"}})
    finding = _first(archived)
    assert finding is not None and finding.seq == 61 and "prev_hash" in finding.reason


def test_an_overwritten_archive_object_is_detected(archived: Stack) -> None:
    manifest = archived.archive.manifests("orders")[1]
    body = archived.archive.read_batch(manifest).replace(b'"actor":"tester"', b'"actor":"mallory"', 1)
    s3 = client("s3", archived.settings)
    s3.put_object(Bucket=archived.settings.worm_bucket, Key=manifest.batch_key, Body=body)  # a new version
    finding = _first(archived)
    assert finding is not None and finding.seq == 26 and "2 versions (overwritten)" in finding.reason


def test_a_delete_marker_on_an_archive_object_is_detected(archived: Stack) -> None:
    manifest = archived.archive.manifests("orders")[2]
    client("s3", archived.settings).delete_object(
        Bucket=archived.settings.worm_bucket, Key=manifest.batch_key
    )
    finding = _first(archived)
    assert finding is not None and finding.seq == 51, finding


def test_a_tampered_batch_in_an_unversioned_bucket_fails_its_sha256(stack: Stack) -> None:
    stack.append("orders", 30)
    plain = stack.plain_bucket()
    manifest, _ = plain.write_batch(stack.journal.read("orders"), datetime.now(UTC))
    body = plain.read_batch(manifest).replace(b'"actor":"tester"', b'"actor":"mallory"', 1)
    client("s3", stack.settings).put_object(Bucket=plain.bucket, Key=manifest.batch_key, Body=body)
    [report] = verify(plain, stack.journal, ["orders"])
    assert report.first_finding is not None and "sha256 differs" in report.first_finding.reason


def test_a_gap_in_the_archive_is_named(stack: Stack) -> None:
    stack.append("orders", 30)
    plain = stack.plain_bucket()
    entries = stack.journal.read("orders")
    plain.write_batch(entries[:10], datetime.now(UTC))
    plain.write_batch(entries[20:], datetime.now(UTC))
    [report] = verify(plain, stack.journal, ["orders"])
    assert report.first_finding == Finding(
        "orders",
        11,
        f"archive {plain.manifests('orders')[1].batch_key}: missing from the archive "
        "(next batch starts at 21)",
    )

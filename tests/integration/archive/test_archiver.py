"""Journal -> DynamoDB stream -> local poller -> archiver handler -> Object Lock bucket, on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tradeops.audit import verify
from tradeops.aws.archive import ArchiveChainBroken, ArchiveConflict, UnexpectedStreamEvent, decode_batch
from tradeops.aws.clients import client
from tradeops.local.lambda_context import make_context
from tradeops.local.streams import lambda_record

from .conftest import ARCHIVER, Stack

pytestmark = pytest.mark.integration


def _records(stack: Stack) -> list[dict[str, Any]]:
    """Every record of the journal table's stream, as Lambda would deliver them."""
    streams = client("dynamodbstreams", stack.settings)
    table = client("dynamodb", stack.settings).describe_table(
        TableName=stack.settings.table_name(stack.journal._model.SPEC)
    )
    arn = table["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            return records
        records += [lambda_record(r, arn) for r in page["Records"]]
        iterator = page["NextShardIterator"]


def _invoke(stack: Stack, records: list[dict[str, Any]]) -> dict[str, Any]:
    context = make_context(ARCHIVER, region="us-east-1", account_id="123456789012")
    result: dict[str, Any] = stack.handler({"Records": records}, context)
    return result


def _archived(stack: Stack, stream: str) -> list[Any]:
    return [e for m in stack.archive.manifests(stream) for e in decode_batch(stack.archive.read_batch(m))]


def test_the_archive_equals_the_journal_after_the_stream_is_delivered(stack: Stack) -> None:
    stack.append("orders", 200)
    stack.append("limits", 50)
    poller = stack.poller(batch_size=100)
    assert poller.poll_once() == 100
    while poller.poll_once():
        pass
    for stream, count in (("orders", 200), ("limits", 50)):
        assert _archived(stack, stream) == stack.journal.read(stream)
        assert len(_archived(stack, stream)) == count
        manifests = stack.archive.manifests(stream)
        assert [m.first_seq for m in manifests] == [1, *(m.last_seq + 1 for m in manifests[:-1])]
        assert all(m.count == m.last_seq - m.first_seq + 1 for m in manifests)
    assert all(report.intact for report in verify(stack.archive, stack.journal))
    # Each object is under the bucket's default COMPLIANCE retention.
    key = stack.archive.manifests("orders")[0].batch_key
    head = client("s3", stack.settings).head_object(Bucket=stack.settings.worm_bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_redelivery_writes_nothing_new(stack: Stack, handler_module: Any) -> None:
    stack.append("orders", 120)
    records = _records(stack)
    _invoke(stack, records[:100])
    _invoke(stack, records[100:])
    before = stack.object_versions()
    result = _invoke(stack, records[40:110])
    assert result["streams"]["orders"]["entries"] == 0
    assert result["streams"]["orders"]["duplicates"] == 70
    # A cold start (no cached tail) gets the whole stream again: checked, nothing written.
    cold = handler_module.make_handler(stack.settings)
    context = make_context(ARCHIVER, region="us-east-1", account_id="123456789012")
    assert cold({"Records": records}, context)["streams"]["orders"]["duplicates"] == 120
    assert stack.object_versions() == before
    # Re-writing an existing batch (a retry after a crash between PUTs) is a no-op too.
    assert stack.archive.write_batch(stack.journal.read("orders", 1, 100), datetime.now(UTC))[1] is False
    assert stack.object_versions() == before


def test_out_of_order_batches_still_give_a_gap_free_archive(stack: Stack) -> None:
    stack.append("orders", 250)
    records = _records(stack)
    late = _invoke(stack, records[100:200])
    assert late["streams"]["orders"]["filled_from_table"] == 100
    _invoke(stack, records[200:])
    _invoke(stack, records[:100])
    _invoke(stack, list(reversed(records[150:160])))
    assert _archived(stack, "orders") == stack.journal.read("orders")
    [report] = verify(stack.archive, stack.journal)
    assert report.intact and report.archived_through == 250


def test_a_modify_on_the_journal_is_an_integrity_violation_kept_in_the_dlq(stack: Stack) -> None:
    stack.append("orders", 3)
    table = stack.settings.table_name(stack.journal._model.SPEC)
    dynamodb = client("dynamodb", stack.settings)
    item = dynamodb.get_item(TableName=table, Key={"stream": {"S": "orders"}, "seq": {"N": "2"}})["Item"]
    dynamodb.put_item(TableName=table, Item={**item, "actor": {"S": "mallory"}})
    sqs = client("sqs", stack.settings)
    dlq = sqs.create_queue(QueueName=stack.settings.queue_name(f"{ARCHIVER.queue_name}-dlq"))["QueueUrl"]
    poller = stack.poller(batch_size=10, max_retries=2, retry_delay_s=0)
    with pytest.raises(UnexpectedStreamEvent):
        _invoke(stack, _records(stack))
    for _ in range(3):
        assert poller.poll_once() == 0
    [message] = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    assert info["batchSize"] == 4
    assert stack.archive.manifests("orders") == []


def test_a_failed_batch_is_retried_from_the_checkpoint(stack: Stack) -> None:
    stack.append("orders", 30)
    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event["Records"]))
        if len(calls) == 2:
            raise RuntimeError("transient")
        return stack.handler(event, context)

    poller = stack.poller(flaky, batch_size=10, retry_delay_s=0)
    assert [poller.poll_once() for _ in range(4)] == [10, 0, 10, 10]
    assert calls == [10, 10, 10, 10]
    assert _archived(stack, "orders") == stack.journal.read("orders")


def test_delivered_entries_that_contradict_the_archive_are_refused(stack: Stack) -> None:
    stack.append("orders", 5)
    records = _records(stack)
    _invoke(stack, records)
    forged = json.loads(json.dumps(records[2]))
    forged["dynamodb"]["NewImage"]["actor"] = {"S": "mallory"}
    with pytest.raises(ArchiveChainBroken, match="differs from the archive"):
        _invoke(stack, [forged])
    entries = stack.journal.read("orders")
    with pytest.raises(ArchiveConflict):
        stack.archive.put_once(stack.archive.manifests("orders")[0].batch_key, b"x\n", same=lambda _: False)
    assert _archived(stack, "orders") == entries


def test_deleting_an_archived_version_is_refused(stack: Stack) -> None:
    stack.append("orders", 5)
    _invoke(stack, _records(stack))
    s3 = client("s3", stack.settings)
    key = stack.archive.manifests("orders")[0].batch_key
    [version] = s3.list_object_versions(Bucket=stack.settings.worm_bucket, Prefix=key)["Versions"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=stack.settings.worm_bucket, Key=key, VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=stack.settings.worm_bucket, Key=key, VersionId=version["VersionId"])

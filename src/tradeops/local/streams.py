"""The embedded stack's DynamoDB stream event source: table streams -> ``functions/<name>/handler.py``.

For every FunctionSpec with ``stream_table`` the poller reads that table's stream from TRIM_HORIZON,
shard by shard (a child shard after its parent is exhausted), and invokes the handler with the real
Lambda event shape ``{"Records": [{"eventID", "eventName", "eventSource": "aws:dynamodb",
"eventSourceARN", "dynamodb": {"Keys", "NewImage", "SequenceNumber", ...}}]}``, at most
``batch_size`` records per call. The checkpoint (last delivered sequence number per shard, in memory)
advances only after a successful call, so a failing batch is delivered again, with backoff, as Lambda
does. After ``max_retries`` retries the batch is logged and its on-failure record (the Lambda
``DDBStreamBatchInfo`` shape) goes to the function's DLQ, then the poller moves on. A restarted poller
starts again from TRIM_HORIZON: stream consumers must be idempotent (the archiver is).

moto needs ``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` with botocore 1.44, or Streams calls return 404.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradeops.config import Settings
from tradeops.local.lambda_context import make_context
from tradeops.routes import FUNCTIONS, FunctionSpec
from tradeops.store.tables import TABLES_BY_NAME

Handler = Callable[[dict[str, Any], Any], Any]
BATCH_SIZE = 100
MAX_RETRIES = 3
"""Retries of a failed batch before it goes to the on-failure destination (as the CDK mapping)."""


@dataclass
class ShardState:
    """Where one shard's consumer stands."""

    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    checkpoint: str | None = None
    """Sequence number of the last record delivered successfully."""
    exhausted: bool = False
    failures: int = 0
    retry_at: float = 0.0


@dataclass
class StreamConsumer:
    """One function consuming one table's stream."""

    spec: FunctionSpec
    table_name: str
    stream_arn: str | None = None
    shards: dict[str, ShardState] = field(default_factory=dict)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: JSON-ready, with ``eventSourceARN``."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.astimezone(UTC).timestamp())
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


class StreamPoller:
    """Delivers table stream records to the stream functions; ``poll_once`` makes one pass."""

    def __init__(
        self,
        settings: Settings,
        load: Callable[[str], Handler],
        *,
        account_id: str,
        functions: Sequence[FunctionSpec] = FUNCTIONS,
        batch_size: int = BATCH_SIZE,
        max_retries: int = MAX_RETRIES,
        retry_delay_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from tradeops.aws.clients import client
        from tradeops.observability import get_logger

        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be within 1..1000 (the GetRecords limit)")
        self._settings = settings
        self._load = load
        self.account_id = account_id
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._retry_delay_s = retry_delay_s
        self._clock = clock
        self._streams = client("dynamodbstreams", settings)
        self._dynamodb = client("dynamodb", settings)
        self._sqs = client("sqs", settings)
        self._log = get_logger("tradeops-runner")
        self.consumers = [
            StreamConsumer(f, settings.table_name(TABLES_BY_NAME[f.stream_table]))
            for f in functions
            if f.stream_table
        ]

    def poll_once(self) -> int:
        """One pass over every consumer and shard; returns the records delivered successfully."""
        return sum(self._poll_consumer(consumer) for consumer in self.consumers)

    def _poll_consumer(self, consumer: StreamConsumer) -> int:
        if consumer.stream_arn is None:
            table = self._dynamodb.describe_table(TableName=consumer.table_name)["Table"]
            consumer.stream_arn = table.get("LatestStreamArn")
            if consumer.stream_arn is None:
                raise RuntimeError(f"table {consumer.table_name} has no stream")
        description = self._streams.describe_stream(StreamArn=consumer.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            consumer.shards.setdefault(
                shard["ShardId"], ShardState(shard["ShardId"], shard.get("ParentShardId"))
            )
        delivered = 0
        for state in consumer.shards.values():
            parent = consumer.shards.get(state.parent_id or "")
            if state.exhausted or (parent is not None and not parent.exhausted):
                continue
            if state.retry_at > self._clock():
                continue
            delivered += self._poll_shard(consumer, state)
        return delivered

    def _iterator(self, consumer: StreamConsumer, state: ShardState) -> str:
        if state.iterator is None:
            kwargs: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
            if state.checkpoint is not None:
                kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": state.checkpoint}
            state.iterator = self._streams.get_shard_iterator(
                StreamArn=consumer.stream_arn, ShardId=state.shard_id, **kwargs
            )["ShardIterator"]
        return state.iterator

    def _poll_shard(self, consumer: StreamConsumer, state: ShardState) -> int:
        assert consumer.stream_arn is not None
        response = self._streams.get_records(
            ShardIterator=self._iterator(consumer, state), Limit=self._batch_size
        )
        records = [lambda_record(r, consumer.stream_arn) for r in response.get("Records", [])]
        next_iterator = response.get("NextShardIterator")
        if not records:
            state.iterator = next_iterator
            state.exhausted = next_iterator is None
            return 0
        if self._invoke(consumer, state, records):
            state.iterator, state.failures = next_iterator, 0
            state.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
            state.exhausted = next_iterator is None
            return len(records)
        state.failures += 1
        state.iterator = None  # re-read the same batch from the checkpoint
        if state.failures > self._max_retries:
            self._to_on_failure_destination(consumer, state, records)
            state.checkpoint, state.failures = records[-1]["dynamodb"]["SequenceNumber"], 0
        else:
            state.retry_at = self._clock() + self._retry_delay_s * 2 ** (state.failures - 1)
        return 0

    def _invoke(self, consumer: StreamConsumer, state: ShardState, records: list[dict[str, Any]]) -> bool:
        spec = consumer.spec
        context = make_context(spec, region=self._settings.region, account_id=self.account_id)
        fields: dict[str, Any] = {
            "function": spec.name,
            "shard_id": state.shard_id,
            "first_sequence_number": records[0]["dynamodb"]["SequenceNumber"],
            "last_sequence_number": records[-1]["dynamodb"]["SequenceNumber"],
            "batch_size": len(records),
            "attempt": state.failures + 1,
            "aws_request_id": context.aws_request_id,
        }
        try:
            self._load(spec.name)({"Records": records}, context)
        except Exception as exc:
            fields.update(error_type=type(exc).__name__, error=str(exc), stack=traceback.format_exc())
            self._log.error("function %s failed on a stream batch: %s", spec.name, exc, extra=fields)
            return False
        if context.timed_out:
            self._log.error("function %s: stream batch timed out", spec.name, extra=fields)
            return False
        self._log.info("function %s processed a stream batch", spec.name, extra=fields)
        return True

    def _to_on_failure_destination(
        self, consumer: StreamConsumer, state: ShardState, records: list[dict[str, Any]]
    ) -> None:
        """Log the abandoned batch and send Lambda's on-failure record to the function's DLQ."""
        spec = consumer.spec
        info = {
            "shardId": state.shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "batchSize": len(records),
            "streamArn": consumer.stream_arn,
        }
        document = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": state.failures,
            },
            "responseContext": {"functionError": "Unhandled"},
            "DDBStreamBatchInfo": info,
        }
        self._log.error(
            "function %s: stream batch abandoned after %d attempts", spec.name, state.failures, extra=info
        )
        dlq = self._sqs.get_queue_url(QueueName=self._settings.queue_name(f"{spec.queue_name}-dlq"))
        self._sqs.send_message(QueueUrl=dlq["QueueUrl"], MessageBody=json.dumps(document))

    def run(self, stop: threading.Event, *, idle_s: float = 0.5) -> None:
        """Poll until ``stop`` is set; errors of the stream itself back off and are logged."""
        backoff = 1.0
        while not stop.is_set():
            try:
                delivered = self.poll_once()
                backoff = 1.0
            except Exception as exc:  # the stream itself failed (moto restarting): back off, keep going
                self._log.error("stream polling failed: %s", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not delivered:
                stop.wait(idle_s)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="streams", daemon=True)
        thread.start()
        return thread

"""Routing as data: every function, queue, EventBridge rule and schedule, defined once.

CDK (infra/) builds Lambda functions, SQS queues with DLQs, rules with their targets and schedules
from these definitions; the embedded stack (tradeops.local) builds the same rules on moto with an
SQS queue in front of every function target, and a local function runner + scheduler deliver them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tradeops.store.tables import TABLES

SOURCE_PREFIX = "tradeops."


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue with its dead-letter queue (``<name>-dlq``)."""

    name: str
    visibility_timeout_s: int = 60
    max_receive_count: int = 5
    retention_days: int = 14
    fifo: bool = False
    doc: str = ""

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function whose code is ``functions/<name>/handler.py`` (callable ``handler``)."""

    name: str
    timeout_s: int = 30
    memory_mb: int = 512
    tables_read: tuple[str, ...] = ()
    tables_write: tuple[str, ...] = ()
    publishes_events: bool = False
    reads_exchange_secret: bool = False
    stream_table: str | None = None
    """Set when the function consumes that table's DynamoDB stream (no EventBridge rule)."""
    writes_worm_bucket: bool = False
    rotates_exchange_secret: bool = False
    """The Secrets Manager rotation function of the exchange-key secret."""
    doc: str = ""

    @property
    def handler(self) -> str:
        return "handler.handler"

    @property
    def queue_name(self) -> str:
        """The queue the embedded stack puts in front of this function."""
        return f"fn-{self.name}"


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule on the tradeops bus with exactly one target (a function or a queue)."""

    name: str
    pattern: dict[str, Any]
    function: str | None = None
    queue: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if (self.function is None) == (self.queue is None):
            raise ValueError(f"rule {self.name}: exactly one of function or queue must be set")


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule invoking a function: ``rate(N minute|minutes|hour|hours|day|days)``; cron in AWS only."""

    name: str
    expression: str
    function: str
    input: dict[str, Any] = field(default_factory=dict)
    """Constant input: the function receives exactly this (as EventBridge does); empty = the envelope."""
    doc: str = ""


ALERT_SOURCE_EVENTS = (
    "Risk Breach",
    "Reconciliation Break",
    "Market Data Degraded",
    "Broker Connectivity Changed",
    "Kill Switch Engaged",
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "alerts",
        tables_read=("alerts",),
        tables_write=("alerts", "idempotency"),
        doc="Turns alarm state changes and risk/connectivity/reconciliation events into alert records.",
    ),
    FunctionSpec(
        "reconcile",
        timeout_s=120,
        tables_read=("orders", "fills", "positions", "balances", "recon_runs", "recon_breaks"),
        tables_write=("recon_runs", "recon_breaks", "idempotency"),
        publishes_events=True,
        reads_exchange_secret=True,
        doc="Read-only venue queries diffed against the projections; records runs and breaks; publishes.",
    ),
    FunctionSpec(
        "risk_monitor",
        timeout_s=60,
        tables_read=("snapshots", "positions", "limits", "control", "alerts", "journal"),
        tables_write=("control", "journal", "alerts", "idempotency"),
        publishes_events=True,
        doc="Post-trade limits (daily loss, drawdown, exposure, concentration) on fills and every minute; "
        "a breach publishes Risk Breach, opens an alert and restricts or halts trading (control table).",
    ),
    FunctionSpec(
        "archiver",
        timeout_s=120,
        tables_read=("journal",),
        stream_table="journal",
        writes_worm_bucket=True,
        doc="Archives the journal's DynamoDB stream to the Object Lock bucket as JSONL batches + manifests.",
    ),
    FunctionSpec(
        "rotate_secret",
        timeout_s=60,
        publishes_events=True,
        reads_exchange_secret=True,
        rotates_exchange_secret=True,
        doc="Secrets Manager rotation of the exchange key (create/set/test/finish), then Secret Rotated.",
    ),
)

GATEWAY_EVENTS = (
    "Control Changed",
    "Secret Rotated",
    "Fill Discovered",
    "Reconciliation Break",
    "Cancel Requested",
)
"""Events the gateway applies (it is the only writer of orders: others ask through these)."""

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "intents", visibility_timeout_s=30, doc="Trade intents for the gateway (any tradeops.* source)."
    ),
    QueueSpec("gateway-events", visibility_timeout_s=30, doc="Control, key rotation, reconciliation events."),
)

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "trade-intents",
        {"source": [{"prefix": SOURCE_PREFIX}], "detail-type": ["Trade Intent"]},
        queue="intents",
        doc="Strategies publish intents with source tradeops.strategy; the gateway consumes the queue.",
    ),
    RuleSpec(
        "gateway-events",
        {"source": [{"prefix": SOURCE_PREFIX}], "detail-type": list(GATEWAY_EVENTS)},
        queue="gateway-events",
        doc="What the gateway must apply: control changes, rotated keys, reconciliation's fills, cancels.",
    ),
    RuleSpec(
        "reconciliation-requested",
        {"source": [{"prefix": SOURCE_PREFIX}], "detail-type": ["Reconciliation Requested"]},
        function="reconcile",
        doc="On demand (operator, gateway takeover) in addition to the schedule.",
    ),
    RuleSpec(
        "risk-monitor-on-fills",
        {"source": ["tradeops.gateway"], "detail-type": ["Order Filled"]},
        function="risk_monitor",
        doc="Every fill re-evaluates the post-trade limits (in addition to the schedule).",
    ),
    RuleSpec(
        "alerts-from-events",
        {"source": [{"prefix": SOURCE_PREFIX}], "detail-type": list(ALERT_SOURCE_EVENTS)},
        function="alerts",
    ),
    RuleSpec(
        "alerts-from-alarms",
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
        function="alerts",
        doc="In AWS alarm state changes arrive on the default bus; infra forwards them to the tradeops bus.",
    ),
)

SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("reconcile-every-minute", "rate(1 minute)", "reconcile"),
    ScheduleSpec("risk-monitor-every-minute", "rate(1 minute)", "risk_monitor"),
    ScheduleSpec(
        "revoke-retired-exchange-keys",
        "rate(1 hour)",
        "rotate_secret",
        input={"Action": "revokeDue"},
        doc="Revokes exchange keys retired by a rotation once their grace period has passed.",
    ),
)

FUNCTIONS_BY_NAME: dict[str, FunctionSpec] = {f.name: f for f in FUNCTIONS}
_STREAM_TABLES = frozenset(t.name for t in TABLES if t.stream)
QUEUES_BY_NAME: dict[str, QueueSpec] = {q.name: q for q in QUEUES}


def validate() -> None:
    """Every rule and schedule must name a defined function or queue (checked by the unit tests)."""
    for rule in RULES:
        if rule.function and rule.function not in FUNCTIONS_BY_NAME:
            raise ValueError(f"rule {rule.name} targets unknown function {rule.function}")
        if rule.queue and rule.queue not in QUEUES_BY_NAME:
            raise ValueError(f"rule {rule.name} targets unknown queue {rule.queue}")
    for function in FUNCTIONS:
        if function.stream_table and function.stream_table not in _STREAM_TABLES:
            raise ValueError(f"function {function.name}: table {function.stream_table} has no stream")
    for schedule in SCHEDULES:
        if schedule.function not in FUNCTIONS_BY_NAME:
            raise ValueError(f"schedule {schedule.name} targets unknown function {schedule.function}")

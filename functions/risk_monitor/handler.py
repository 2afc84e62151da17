"""Lambda entry point of the ``risk_monitor`` function: one post-trade risk pass per invocation.

Triggers: the schedule ``risk-monitor-every-minute`` (the "Scheduled Event" envelope) and "Order Filled"
events from the gateway (rule ``risk-monitor-on-fills``). Fill deliveries are idempotent by the
envelope ``id`` (powertools idempotency on the idempotency table); a schedule firing needs no record:
a pass acts on a breach only once (:mod:`tradeops.risk_monitor.service`), so a redelivered firing is a
harmless extra evaluation. Environment: ``TRADEOPS_*`` settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from tradeops.aws.clients import client
from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.events import OrderFilled
from tradeops.observability import (
    correlation_id_from_event,
    correlation_scope,
    emit_metric,
    get_logger,
    metrics,
)
from tradeops.risk_monitor import SOURCE, MonitorReport, RiskMonitor
from tradeops.store.tables import IDEMPOTENCY

SERVICE = "risk_monitor"
IDEMPOTENCY_TTL_S = 24 * 3600
SCHEDULED = "Scheduled Event"
FILLED = OrderFilled.DETAIL_TYPE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class UnsupportedTrigger(ValueError):
    """An event this function is not routed for."""


def _result(report: MonitorReport) -> dict[str, Any]:
    return {
        "trigger": report.trigger,
        "snapshot_ts": report.snapshot_ts,
        "breaches": [b.rule.value for b in report.breaches],
        "acted": list(report.acted),
        "trading_state": None if report.trading_state is None else report.trading_state.value,
    }


def make_handler(settings: Settings, monitor: RiskMonitor | None = None) -> Handler:
    """Build the handler (once per cold start by the module-level ``handler``)."""
    logger = get_logger(SERVICE)
    emf = metrics(service=SERVICE)
    risk = monitor or RiskMonitor(settings, EventPublisher(settings, SOURCE))
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name(IDEMPOTENCY), boto3_client=client("dynamodb", settings)
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_TTL_S
    )

    def run(trigger: str) -> dict[str, Any]:
        report = risk.run_once(trigger)
        if report.acted:
            emit_metric(emf, "RiskBreachesActedOn", len(report.acted))
        return _result(report)

    @idempotent(config=idempotency, persistence_store=persistence, key_prefix=SERVICE)
    def on_fill(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event.get("detail") or {}
        return run(f"fill {detail.get('trade_id', '?')} of {detail.get('client_order_id', '?')}")

    @emf.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail_type = event.get("detail-type")
        emf.add_metric(name="Evaluations", unit="Count", value=1)
        with correlation_scope(correlation_id_from_event(event) or event.get("id")):
            if detail_type == SCHEDULED:
                return run("schedule")
            if detail_type == FILLED:
                result: dict[str, Any] = on_fill(event, context)
                return result
            raise UnsupportedTrigger(f"risk_monitor does not handle detail-type {detail_type!r}")

    return handler


handler = make_handler(Settings())

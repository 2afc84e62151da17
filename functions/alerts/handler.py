"""Lambda entry point of the ``alerts`` function: EventBridge events -> alert records.

Receives tradeops Risk Breach / Reconciliation Break / Market Data Degraded / Broker Connectivity
Changed / Kill Switch Engaged events and CloudWatch alarm state changes (routing rules
``alerts-from-events`` and ``alerts-from-alarms``), maps each to an alert action and applies it to the
alerts table. Idempotent by the envelope ``id`` (powertools idempotency on the idempotency table), on
top of the store's own conditional writes. An event that fails its schema raises: the delivery is
retried and ends in the DLQ, logged with its correlation id; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from tradeops.alerting_metrics import METRIC_BY_OUTCOME, NAMESPACE, SERVICE
from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.alerts import MalformedEvent, UnsupportedEvent, alert_from_envelope
from tradeops.domain.events import EventSchemaError
from tradeops.observability import (
    correlation_id_from_event,
    correlation_scope,
    emit_metric,
    get_logger,
    metrics,
)
from tradeops.store.alerts import AlertStore
from tradeops.store.tables import IDEMPOTENCY

IDEMPOTENCY_TTL_S = 24 * 3600
"""How long a processed envelope id is remembered (EventBridge retries for up to 24 hours)."""


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(settings: Settings) -> Handler:
    """Build the handler for ``settings`` (done once per cold start by the module-level ``handler``)."""
    logger = get_logger(SERVICE)
    emf = metrics(namespace=NAMESPACE, service=SERVICE)
    store = AlertStore(settings)
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name(IDEMPOTENCY), boto3_client=client("dynamodb", settings)
    )
    config = IdempotencyConfig(
        event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_TTL_S
    )

    @idempotent(config=config, persistence_store=persistence, key_prefix=SERVICE)
    def process(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            action = alert_from_envelope(event)
        except (EventSchemaError, MalformedEvent, UnsupportedEvent) as exc:
            emit_metric(emf, "EventsRejected", detail_type=str(event.get("detail-type", "?")))
            logger.exception(
                "event rejected",
                extra={"event_id": event.get("id"), "source": event.get("source"), "error": str(exc)},
            )
            raise
        outcome, alert = store.apply(action)
        emit_metric(emf, METRIC_BY_OUTCOME[outcome], severity=action.severity.value)
        logger.info(
            "alert event applied",
            extra={
                "event_id": event.get("id"),
                "alert_id": action.alert_id,
                "key": action.key,
                "action": action.kind.value,
                "outcome": outcome.value,
                "status": alert.status.value if alert else None,
                "count": alert.count if alert else None,
            },
        )
        return {
            "alert_id": action.alert_id,
            "outcome": outcome.value,
            "status": alert.status.value if alert else None,
        }

    @emf.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        emf.add_metric(name="EventsReceived", unit="Count", value=1)
        with correlation_scope(correlation_id_from_event(event) or event.get("id")):
            result: dict[str, Any] = process(event, context)
            return result

    return handler


handler = make_handler(Settings())

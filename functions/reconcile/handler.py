"""Lambda entry point of the ``reconcile`` function: one read-only reconciliation pass per invocation.

Triggers: the schedule ``reconcile-every-minute`` (the "Scheduled Event" envelope) and "Reconciliation
Requested" events (operator, gateway takeover). Requests are idempotent by the envelope ``id``
(powertools idempotency on the idempotency table); schedule firings need no such record: a pass only
upserts breaks by their stable ids and publishes what changed, so a redelivered firing is a harmless
extra pass. Environment: ``TRADEOPS_*`` settings, ``TRADEOPS_SIM_URL`` on the embedded stack and an
optional ``TRADEOPS_RECONCILE_SYMBOLS`` (comma-separated, e.g. ``BTC/USDT,ETH/USDT``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.events import ReconciliationRequested, parse_detail
from tradeops.observability import correlation_id_from_event, correlation_scope, get_logger
from tradeops.reconciliation.runtime import run_pass
from tradeops.reconciliation.service import DEFAULT_SYMBOLS, ReconcileConfig, RunReport
from tradeops.store.tables import IDEMPOTENCY

SERVICE = "reconcile"
IDEMPOTENCY_TTL_S = 24 * 3600
SCHEDULED = "Scheduled Event"
REQUESTED = ReconciliationRequested.DETAIL_TYPE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class UnsupportedTrigger(ValueError):
    """An event this function is not routed for."""


def config_from_env(env: Mapping[str, str]) -> ReconcileConfig:
    """The pass configuration from ``TRADEOPS_RECONCILE_SYMBOLS`` (default: the demo symbols)."""
    raw = env.get("TRADEOPS_RECONCILE_SYMBOLS", "")
    symbols = tuple(s.strip() for s in raw.split(",") if s.strip()) or DEFAULT_SYMBOLS
    return ReconcileConfig(symbols=symbols)


def _result(report: RunReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "started_at": report.started_at,
        "clean": report.clean,
        "open_breaks": len(report.open_breaks),
        "published": report.published,
    }


def make_handler(settings: Settings, *, sim_url: str | None, config: ReconcileConfig) -> Handler:
    """Build the handler (once per cold start by the module-level ``handler``)."""
    logger = get_logger(SERVICE)
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name(IDEMPOTENCY), boto3_client=client("dynamodb", settings)
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_TTL_S
    )

    def run(trigger: str, correlation_id: str | None) -> dict[str, Any]:
        report = asyncio.run(
            run_pass(settings, sim_url=sim_url, trigger=trigger, correlation_id=correlation_id, config=config)
        )
        return _result(report)

    @idempotent(config=idempotency, persistence_store=persistence, key_prefix=SERVICE)
    def requested(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = parse_detail(REQUESTED, event.get("detail") or {})
        assert isinstance(detail, ReconciliationRequested)
        logger.info("reconciliation requested", extra={"reason": detail.reason, "by": detail.requested_by})
        return run(f"requested by {detail.requested_by}: {detail.reason}"[:256], detail.correlation_id)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail_type = event.get("detail-type")
        with correlation_scope(correlation_id_from_event(event) or event.get("id")):
            if detail_type == SCHEDULED:
                return run("schedule", str(event.get("id") or "") or None)
            if detail_type == REQUESTED:
                result: dict[str, Any] = requested(event, context)
                return result
            raise UnsupportedTrigger(f"reconcile does not handle detail-type {detail_type!r}")

    return handler


handler = make_handler(
    Settings(), sim_url=os.environ.get("TRADEOPS_SIM_URL") or None, config=config_from_env(os.environ)
)

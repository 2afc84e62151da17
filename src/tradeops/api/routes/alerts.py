"""Operator alerts: list (by status, newest first) and acknowledge with a comment.

The ack is the alert lifecycle's own ``open -> acked`` step written with the store's optimistic
version check; the comment is kept in the alert's details (``ack_comment``) so the list shows it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from tradeops.api import responses as r
from tradeops.api.context import Call
from tradeops.api.errors import Conflict, NotFound
from tradeops.api.rbac import ALERT_HANDLERS, EVERYONE, RouteTable
from tradeops.api.requests import AckBody, AlertsQuery
from tradeops.api.serializers import ACK_COMMENT, alert_out
from tradeops.domain.alerts import Alert, AlertTransitionError
from tradeops.store.alerts import AlertStore
from tradeops.store.base import StaleWrite

_ACK_ATTEMPTS = 5


def ack_with_comment(store: AlertStore, alert_id: str, user: str, comment: str, at: datetime) -> Alert:
    """Acknowledge an open alert and record ``comment``; NotFound / Conflict when it cannot be acked."""
    for _ in range(_ACK_ATTEMPTS):
        stored = store.get(alert_id)
        if stored is None:
            raise NotFound("no such alert")
        try:
            acked = stored.alert.ack(user, at)
        except AlertTransitionError as exc:
            raise Conflict(str(exc), code="alert_not_open") from None
        if comment:
            acked = dataclasses.replace(acked, details={**acked.details, ACK_COMMENT: comment})
        try:
            store.upsert(acked, stored.version)
        except StaleWrite:
            continue  # a new occurrence or another ack got there first: re-read and decide again
        return acked
    raise Conflict("the alert kept changing; retry", code="alert_busy")


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/alerts", roles=EVERYONE, tag="alerts", query=AlertsQuery, response=r.AlertPage,
        summary="Alerts by status (newest first), or all",
    )  # fmt: skip
    def list_alerts(call: Call) -> r.AlertPage:
        query = call.query_as(AlertsQuery)
        page = call.services.alerts.list(query.status, limit=query.limit, cursor=query.cursor)
        return r.AlertPage(items=[alert_out(a) for a in page.items], next_cursor=page.cursor)

    @table.route(
        "POST", "/api/alerts/{id}/ack", roles=ALERT_HANDLERS, tag="alerts", body=AckBody,
        response=r.AlertOut, errors=(409,), summary="Acknowledge an open alert with a comment",
    )  # fmt: skip
    def ack(call: Call) -> r.AlertOut:
        body = call.body_as(AckBody)
        services = call.services
        at = datetime.fromtimestamp(services.clock_ms() / 1000, UTC)
        alert = ack_with_comment(services.alerts, call.path["id"], call.user.username, body.comment, at)
        return alert_out(alert)

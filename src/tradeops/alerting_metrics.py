"""The alerts function's CloudWatch metrics (EMF), named once for the handler and the CDK paging alarm."""

from __future__ import annotations

from tradeops.domain.alerts import Outcome
from tradeops.domain.events import Severity

NAMESPACE = "tradeops"
SERVICE = "alerts"

ALERTS_RAISED = "AlertsRaised"
"""1 per alert episode opened (a repeat of an open alert is ``AlertsRefreshed``), dimension ``severity``."""
METRIC_BY_OUTCOME = {
    Outcome.RAISED: ALERTS_RAISED,
    Outcome.REFRESHED: "AlertsRefreshed",
    Outcome.RESOLVED: "AlertsResolved",
    Outcome.IGNORED: "AlertEventsIgnored",
}
CRITICAL_DIMENSIONS = {"service": SERVICE, "severity": Severity.CRITICAL.value}
"""The dimensions of a critical alert's ``AlertsRaised`` datapoint (kill switch, critical risk breach,
STALE market data, broker disconnected, critical reconciliation break)."""

"""The paging alarm for critical alerts, on the alerts function's EMF metric
(``tradeops.alerting_metrics``).

Every critical alert episode the alerts function opens (kill switch engaged, a critical risk breach or
protection failure, STALE market data, the broker disconnected, a critical reconciliation break) is one
``AlertsRaised{severity=critical}`` datapoint; one in a minute pages. A repeat of an alert that is still
open refreshes it and does not page again. The alarm's own state change reaches the alerts function as a
warning (its description carries no severity token), so it never feeds itself.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.queues import page_on
from tradeops.alerting_metrics import ALERTS_RAISED, CRITICAL_DIMENSIONS, NAMESPACE

CRITICAL_ALERTS_ALARM = "tradeops-critical-alerts"


def critical_alerts_alarm(scope: Construct, construct_id: str, topic: sns.ITopic) -> cloudwatch.Alarm:
    """Pages ``topic`` when a critical alert is raised (and when a quiet minute follows)."""
    metric = cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=ALERTS_RAISED,
        dimensions_map=dict(CRITICAL_DIMENSIONS),
        statistic=cloudwatch.Stats.SUM,
        period=Duration.minutes(1),
    )
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=CRITICAL_ALERTS_ALARM,
        alarm_description="A critical alert was raised (kill switch, risk breach, stale market data, broker "
        "disconnected, reconciliation): open the operator UI's alerts page and the matching runbook.",
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    return page_on(alarm, topic)

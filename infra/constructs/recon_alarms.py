"""Reconciliation alarms on the reconcile function's EMF metrics (``tradeops.reconciliation.metrics``).

* open breaks: ``OpenBreaks`` above 0 in every one of ``open_minutes`` consecutive minutes (a break the
  gateway applies within a run or two never pages; one that persists does);
* run failures: ``failure_runs`` failed runs within ``failure_minutes``;
* runs missing: no run at all for ``missing_minutes`` (the schedule or the function stopped), so "no open
  breaks" can never be the silence of a reconciler that no longer runs.

Each notifies the alarm topic when it fires and when it recovers.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.queues import page_on
from tradeops.reconciliation.metrics import DIMENSIONS, NAMESPACE, OPEN_BREAKS, RUN_DURATION_MS, RUN_FAILURES

_MINUTE = Duration.minutes(1)


def recon_metric(name: str, statistic: str, period: Duration = _MINUTE) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map=dict(DIMENSIONS),
        statistic=statistic,
        period=period,
    )


class ReconAlarms(Construct):
    """The three reconciliation alarms, paging through ``topic``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        open_minutes: int = 5,
        failure_runs: int = 3,
        failure_minutes: int = 5,
        missing_minutes: int = 5,
    ) -> None:
        super().__init__(scope, construct_id)
        if min(open_minutes, failure_runs, failure_minutes, missing_minutes) < 1:
            raise ValueError("alarm windows and thresholds must be >= 1")
        self.open_breaks = page_on(
            cloudwatch.Alarm(
                self,
                "OpenBreaks",
                alarm_name="tradeops-reconcile-open-breaks",
                alarm_description=f"Reconciliation breaks open for {open_minutes} minutes: see the open "
                "breaks (tradeops reconcile --once) and docs/runbooks.",
                metric=recon_metric(OPEN_BREAKS, cloudwatch.Stats.MINIMUM),
                threshold=0,
                evaluation_periods=open_minutes,
                datapoints_to_alarm=open_minutes,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            ),
            topic,
        )
        self.run_failures = page_on(
            cloudwatch.Alarm(
                self,
                "RunFailures",
                alarm_name="tradeops-reconcile-run-failures",
                alarm_description=f"{failure_runs}+ reconciliation runs failed within {failure_minutes} "
                "minutes: the venue or DynamoDB is unreachable from the reconcile function.",
                metric=recon_metric(RUN_FAILURES, cloudwatch.Stats.SUM, Duration.minutes(failure_minutes)),
                threshold=failure_runs,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            topic,
        )
        self.runs_missing = page_on(
            cloudwatch.Alarm(
                self,
                "RunsMissing",
                alarm_name="tradeops-reconcile-runs-missing",
                alarm_description=f"No reconciliation run for {missing_minutes} minutes: the schedule or "
                "the reconcile function is not running.",
                metric=recon_metric(RUN_DURATION_MS, cloudwatch.Stats.SAMPLE_COUNT),
                threshold=1,
                evaluation_periods=missing_minutes,
                datapoints_to_alarm=missing_minutes,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            topic,
        )

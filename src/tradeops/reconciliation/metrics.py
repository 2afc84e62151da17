"""The reconcile function's CloudWatch metrics (EMF), named once for the service and the CDK alarms."""

from __future__ import annotations

NAMESPACE = "tradeops"
SERVICE = "reconcile"
DIMENSIONS = {"service": SERVICE}
"""Every metric below carries exactly these dimensions (``emit_metric`` adds the service)."""

OPEN_BREAKS = "OpenBreaks"
"""Breaks left open by a run (operator-acknowledged ones excluded); one datapoint per run."""
RUN_FAILURES = "RunFailures"
"""1 per run that failed (venue or store error); no datapoint for a successful run."""
RUN_DURATION_MS = "RunDurationMs"
"""Wall time of every run, failed or not: its sample count is the number of runs."""

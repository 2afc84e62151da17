"""The risk monitor (issue 5 item 4): post-trade limits on fills and every minute; see :mod:`.service`."""

from __future__ import annotations

from tradeops.risk_monitor.service import ACTOR, SOURCE, MonitorReport, RiskMonitor

__all__ = ["ACTOR", "SOURCE", "MonitorReport", "RiskMonitor"]

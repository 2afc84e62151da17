"""Destination screening blocks a listed address and publishes a sanctions Risk Breach."""

from __future__ import annotations

from pathlib import Path

from tradeops.domain.events import EventDetail, RiskBreach
from tradeops.domain.sanctions import SanctionsList
from tradeops.domain.values import Severity
from tradeops.screening import SANCTIONS_RULE, DestinationScreener

SAMPLE = Path(__file__).parents[2] / "data" / "sdn_sample.xml"


class Recorder:
    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


def test_hit_blocks_and_alerts_miss_passes_silently() -> None:
    sink = Recorder()
    screener = DestinationScreener(SanctionsList.load(SAMPLE.read_text(encoding="utf-8")), sink)
    clean = screener.screen_destination("bc1qcleanaddress000000000000000000000000qq", "btc")
    assert clean.allowed and clean.hit is None and sink.events == []
    blocked = screener.screen_destination(
        "0xabcdef0123456789abcdef0123456789abcdef01", "eth", correlation_id="wd-42"
    )
    assert not blocked.allowed and blocked.hit is not None and blocked.currency == "ETH"
    (alert,) = sink.events
    assert isinstance(alert, RiskBreach)
    assert (alert.rule, alert.severity, alert.correlation_id) == (SANCTIONS_RULE, Severity.CRITICAL, "wd-42")
    assert "990001" in alert.message and "blocked" in alert.message

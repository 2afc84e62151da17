"""Compliance integration fixtures: tables on the session's moto server, operators, a recording sink."""

from __future__ import annotations

import pytest

from tradeops.change_management import ChangeService, Operator
from tradeops.config import Settings
from tradeops.domain.events import EventDetail
from tradeops.domain.limits import RiskLimits
from tradeops.store.provision import create_tables
from tradeops.store.tables import CONTROL, JOURNAL, LIMIT_PROPOSALS, LIMITS

RISK = Operator("risk@tradeops.example", frozenset({"risk"}))
RISK2 = Operator("risk2@tradeops.example", frozenset({"risk"}))
ADMIN = Operator("admin@tradeops.example", frozenset({"admin"}))
TRADER = Operator("trader@tradeops.example", frozenset({"trader"}))


class Recorder:
    """An event sink that keeps what was published."""

    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


@pytest.fixture
def tables(aws_settings: Settings) -> Settings:
    create_tables(aws_settings, specs=(CONTROL, JOURNAL, LIMIT_PROPOSALS, LIMITS))
    return aws_settings


@pytest.fixture
def sink() -> Recorder:
    return Recorder()


@pytest.fixture
def service(tables: Settings, sink: Recorder) -> ChangeService:
    return ChangeService(tables, sink, baseline=RiskLimits.default_for_demo())

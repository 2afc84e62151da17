"""Routing data is internally consistent and matches the code on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeops import routes
from tradeops.store.tables import TABLES_BY_NAME

ROOT = Path(__file__).resolve().parents[3]


def test_every_rule_and_schedule_targets_something_defined() -> None:
    routes.validate()


def test_every_function_has_its_handler_on_disk() -> None:
    for spec in routes.FUNCTIONS:
        assert (ROOT / "functions" / spec.name / "handler.py").is_file(), spec.name


def test_every_function_grant_names_a_real_table() -> None:
    for spec in routes.FUNCTIONS:
        for table in (*spec.tables_read, *spec.tables_write):
            assert table in TABLES_BY_NAME, f"{spec.name} grants unknown table {table}"


def test_names_are_unique() -> None:
    for items in (routes.FUNCTIONS, routes.QUEUES, routes.RULES, routes.SCHEDULES):
        names = [item.name for item in items]
        assert len(names) == len(set(names))


def test_a_rule_with_two_targets_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        routes.RuleSpec("bad", {"source": ["x"]}, function="alerts", queue="intents")


def test_alert_rules_only_match_tradeops_sources() -> None:
    rule = next(r for r in routes.RULES if r.name == "alerts-from-events")
    assert rule.pattern["source"] == [{"prefix": "tradeops."}]

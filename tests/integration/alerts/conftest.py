"""Alerts fixtures: the alerts and idempotency tables on the session's moto server, per-test names."""

from __future__ import annotations

import pytest

from tradeops.config import Settings
from tradeops.store.provision import create_tables
from tradeops.store.tables import ALERTS, IDEMPOTENCY


@pytest.fixture
def alerts_settings(aws_settings: Settings) -> Settings:
    """Settings whose alerts and idempotency tables exist (only those two: provisioning is per test)."""
    create_tables(aws_settings, (ALERTS, IDEMPOTENCY))
    return aws_settings

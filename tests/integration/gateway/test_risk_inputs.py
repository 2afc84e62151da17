"""RiskInputs on moto: an approved limit version and the account's KYC reach the running risk gate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tradeops.config import Settings
from tradeops.domain.kyc import KycRecord, KycStatus
from tradeops.domain.limits import RiskLimits
from tradeops.gateway.risk_inputs import RiskInputs
from tradeops.store.accounts import AccountStore
from tradeops.store.limits import LimitStore, LimitVersion
from tradeops.store.provision import create_tables
from tradeops.store.tables import ACCOUNTS, LIMITS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


async def test_approved_limits_and_kyc_reach_the_gate(aws_settings: Settings) -> None:
    create_tables(aws_settings, (LIMITS, ACCOUNTS))
    limits, accounts = LimitStore(aws_settings), AccountStore(aws_settings)
    gate = SimpleNamespace(limits=RiskLimits.default_for_demo(), kyc_verified=True)
    inputs = RiskInputs(gate, limits, accounts, "main", now=lambda: NOW)  # type: ignore[arg-type]

    await inputs.refresh()
    assert gate.kyc_verified is False  # an unregistered account may not trade

    version = accounts.put(
        KycRecord("main", KycStatus.VERIFIED, date(2027, 1, 1), "compliance-a", 1), expected_version=None
    )
    limits.put_version(
        LimitVersion(
            "global", 2, {"strategy_allocations.manual": Decimal(5000)}, "risk-a", "risk-b", "p-2", 1
        )
    )
    await inputs.refresh()
    assert gate.kyc_verified is True
    assert (gate.limits.version, gate.limits.strategy_allocations["manual"]) == (2, Decimal(5000))

    accounts.put(
        KycRecord("main", KycStatus.VERIFIED, date(2026, 11, 1), "compliance-a", 2), expected_version=version
    )
    await inputs.refresh()
    assert gate.kyc_verified is False  # verification expired

"""The accounts registry (KYC records in the control table) against moto."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.kyc import KycRecord, KycStatus, account_may_trade
from tradeops.store.accounts import AccountStore
from tradeops.store.base import StaleWrite
from tradeops.store.control import ControlStore

pytestmark = pytest.mark.integration


def test_kyc_records_are_versioned_and_decide_trading(tables: Settings) -> None:
    accounts, control = AccountStore(tables), ControlStore(tables)
    control.put_trading(
        TradingState.ACTIVE, reason="start", updated_by="ops", updated_at=1, expected_version=None
    )
    record = KycRecord("acct-1", KycStatus.PENDING, None, "compliance@tradeops.example", 1)
    assert accounts.get("acct-1") is None
    assert accounts.put(record, expected_version=None) == 1
    with pytest.raises(StaleWrite):
        accounts.put(record, expected_version=None)
    verified = replace(record, status=KycStatus.VERIFIED, expires_on=date(2026, 12, 31), updated_at=2)
    assert accounts.put(verified, expected_version=1) == 2
    with pytest.raises(StaleWrite):
        accounts.put(verified, expected_version=1)
    stored = accounts.get("acct-1")
    assert stored == (verified, 2)
    assert account_may_trade(stored[0], datetime(2026, 6, 1, tzinfo=UTC))
    assert not account_may_trade(stored[0], datetime(2027, 1, 1, tzinfo=UTC))
    accounts.put(KycRecord("acct-0", KycStatus.EXPIRED, date(2025, 1, 1), "c", 3), expected_version=None)
    assert [r.account for r in accounts.all()] == ["acct-0", "acct-1"]
    # The control records beside them are untouched and still readable.
    assert control.strategies() == [] and control.trading() is not None

"""KYC status: only VERIFIED and unexpired accounts may trade; the risk check denies the rest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tradeops.domain.kyc import KycRecord, KycStatus, account_may_trade, effective_status

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VERIFIED = KycRecord("acct-1", KycStatus.VERIFIED, date(2026, 3, 1), "compliance@x", 0)


def test_verified_until_the_end_of_the_expiry_day() -> None:
    assert account_may_trade(VERIFIED, NOW)
    assert account_may_trade(VERIFIED, datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    next_day = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert effective_status(VERIFIED, next_day) is KycStatus.EXPIRED
    assert not account_may_trade(VERIFIED, next_day)


def test_expiry_is_judged_in_utc() -> None:
    # 2026-03-02 01:00 in UTC+3 is still 2026-03-01 in UTC: valid.
    assert account_may_trade(VERIFIED, datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=3))))


@pytest.mark.parametrize("status", [KycStatus.PENDING, KycStatus.EXPIRED])
def test_pending_and_expired_never_trade(status: KycStatus) -> None:
    assert not account_may_trade(replace(VERIFIED, status=status), NOW)
    assert not account_may_trade(replace(VERIFIED, status=status, expires_on=None), NOW)


def test_unknown_account_is_pending_and_naive_time_refused() -> None:
    assert effective_status(None, NOW) is KycStatus.PENDING
    assert not account_may_trade(None, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        account_may_trade(VERIFIED, datetime(2026, 3, 1))


def test_record_validation() -> None:
    with pytest.raises(ValueError, match="expiry date"):
        KycRecord("acct-1", KycStatus.VERIFIED, None, "x", 0)
    with pytest.raises(ValueError, match="account id"):
        KycRecord("kyc#1", KycStatus.PENDING, None, "x", 0)
    with pytest.raises(ValueError):
        KycRecord("acct-1", "UNKNOWN", None, "x", 0)  # type: ignore[arg-type]

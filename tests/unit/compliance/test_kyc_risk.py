"""The pre-trade check denies orders of accounts that are not KYC-verified, right after HALTED."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal as D

from tradeops.domain.control import TradingState
from tradeops.domain.kyc import KycRecord, KycStatus, account_may_trade
from tradeops.domain.limits import RiskLimits
from tradeops.domain.portfolio import PortfolioSnapshot
from tradeops.domain.risk import (
    Approved,
    Denied,
    DenyReason,
    OrderRequest,
    ReferencePrice,
    RiskContext,
    check,
)
from tradeops.domain.values import Instrument, OrderType, Side

NOW = datetime(2026, 3, 2, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
BTC = Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(9000), D(5))


def context(kyc_verified: bool) -> RiskContext:
    return RiskContext(
        now_ms=NOW_MS,
        trading_state=TradingState.ACTIVE,
        instruments={"BTC/USDT": BTC},
        enabled_symbols=frozenset({"BTC/USDT"}),
        reference_prices={"BTC/USDT": ReferencePrice(D(60000), NOW_MS - 100)},
        realized_vols={"BTC/USDT": D("0.3")},
        portfolio=PortfolioSnapshot.empty("USDT", NOW_MS),
        free_balances={"USDT": D(100_000)},
        open_orders=(),
        traded_notional_today=D(0),
        recent_order_ts=(),
        strategies_enabled={"demo": True},
        strategy_capital_used={},
        taker_fee_rate=D("0.001"),
        kyc_verified=kyc_verified,
    )


def test_unverified_or_expired_accounts_are_denied_with_kyc() -> None:
    request = OrderRequest("demo", "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.1"), D(60000))
    limits = RiskLimits.default_for_demo()
    expired = KycRecord("acct-1", KycStatus.VERIFIED, date(2026, 3, 1), "compliance@x", 0)
    pending = replace(expired, status=KycStatus.PENDING)
    for record in (expired, pending, None):
        decision = check(request, context(account_may_trade(record, NOW)), limits)
        assert isinstance(decision, Denied) and decision.reason is DenyReason.KYC
    valid = replace(expired, expires_on=date(2027, 1, 1))
    assert isinstance(check(request, context(account_may_trade(valid, NOW)), limits), Approved)

"""The risk monitor's pure evaluation: each rule at and past its limit, the policy, ids, the new limits."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from tradeops.domain.control import TradingState
from tradeops.domain.limits import LimitsValidationError, RiskLimits
from tradeops.domain.risk_monitor import (
    DAY_MS,
    POLICY,
    AccountView,
    Breach,
    BreachRule,
    breach_id,
    day_start_ms,
    evaluate,
    strictest,
)
from tradeops.domain.values import Severity

TS = 1_700_000_123_456
LIMITS = dataclasses.replace(
    RiskLimits.default_for_demo(),
    max_daily_loss=D(1000),
    max_drawdown=D("0.05"),
    max_gross_exposure=D(50000),
    max_net_exposure=D(40000),
    max_concentration=D("0.5"),
)


def view(**changes: object) -> AccountView:
    base: dict[str, object] = {
        "ts": TS,
        "equity": D(100000),
        "gross_exposure": D(0),
        "net_exposure": D(0),
        "start_of_day_equity": D(100000),
        "high_water_mark": D(100000),
    }
    return AccountView(**{**base, **changes})  # type: ignore[arg-type]


def rules(found: tuple[Breach, ...]) -> list[BreachRule]:
    return [b.rule for b in found]


def test_a_healthy_account_breaks_nothing() -> None:
    assert evaluate(view(), LIMITS) == ()


def test_daily_loss_at_the_limit_passes_and_past_it_halts() -> None:
    assert evaluate(view(equity=D(99000), high_water_mark=D(99000)), LIMITS) == ()
    (breach,) = evaluate(view(equity=D("98999.99"), high_water_mark=D("98999.99")), LIMITS)
    assert breach.rule is BreachRule.DAILY_LOSS and breach.action is TradingState.HALTED
    assert (breach.limit, breach.value, breach.symbol) == (D(1000), D("1000.01"), None)
    assert breach.severity is Severity.CRITICAL


def test_drawdown_is_measured_from_the_high_water_mark_not_the_start() -> None:
    up_then_down = view(equity=D(104400), high_water_mark=D(110000))  # +4400 today, but 5.09 % off the top
    (breach,) = evaluate(up_then_down, LIMITS)
    assert breach.rule is BreachRule.DRAWDOWN and breach.value == D("0.050909")
    assert evaluate(view(equity=D(104500), high_water_mark=D(110000)), LIMITS) == ()  # exactly 5 %


def test_the_current_equity_counts_toward_the_high_water_mark() -> None:
    assert (
        evaluate(view(equity=D(120000), high_water_mark=D(110000), start_of_day_equity=D(90000)), LIMITS)
        == ()
    )


def test_without_a_start_of_day_or_mark_only_the_other_rules_apply() -> None:
    fresh = view(start_of_day_equity=None, high_water_mark=None, equity=D(1), gross_exposure=D(60000))
    assert rules(evaluate(fresh, LIMITS)) == [BreachRule.GROSS_EXPOSURE]


def test_exposure_breaches_restrict_to_reducing() -> None:
    found = evaluate(view(gross_exposure=D(50001), net_exposure=D(-40001)), LIMITS)
    assert rules(found) == [BreachRule.GROSS_EXPOSURE, BreachRule.NET_EXPOSURE]
    assert {b.action for b in found} == {TradingState.REDUCING}
    assert found[1].value == D(40001)  # a short counts by its size
    assert {b.severity for b in found} == {Severity.WARNING}


def test_concentration_is_per_symbol_against_equity() -> None:
    notionals = {"BTC/USDT": D(50001), "ETH/USDT": D(-50000), "SOL/USDT": D(0)}
    (breach,) = evaluate(view(position_notionals=notionals), LIMITS)
    assert (breach.rule, breach.symbol, breach.value) == (BreachRule.CONCENTRATION, "BTC/USDT", D("0.50001"))


def test_concentration_with_no_positive_equity_breaks_for_any_position() -> None:
    broke = view(
        equity=D(0), start_of_day_equity=None, high_water_mark=None, position_notionals={"BTC/USDT": D(5)}
    )
    (breach,) = evaluate(broke, LIMITS)
    assert breach.rule is BreachRule.CONCENTRATION and breach.value == D(5)


def test_policy_covers_every_rule_and_losses_halt() -> None:
    assert set(POLICY) == set(BreachRule)
    assert {r for r, s in POLICY.items() if s is TradingState.HALTED} == {
        BreachRule.DAILY_LOSS,
        BreachRule.DRAWDOWN,
    }


def test_strictest_only_ever_tightens() -> None:
    halt = evaluate(view(equity=D(90000)), LIMITS)
    reduce = evaluate(view(gross_exposure=D(60000)), LIMITS)
    assert strictest(None, halt) is TradingState.HALTED
    assert strictest(TradingState.ACTIVE, reduce) is TradingState.REDUCING
    assert strictest(TradingState.REDUCING, reduce) is None
    assert strictest(TradingState.HALTED, halt + reduce) is None
    assert strictest(TradingState.REDUCING, halt) is TradingState.HALTED
    assert strictest(TradingState.ACTIVE, ()) is None


def test_breach_ids_are_stable_within_a_utc_day() -> None:
    (breach,) = evaluate(view(equity=D(90000), high_water_mark=D(90000)), LIMITS)
    start = day_start_ms(TS)
    assert start % DAY_MS == 0 and start <= TS < start + DAY_MS
    assert breach_id(breach, start) == breach_id(breach, start + DAY_MS - 1) == f"DAILY_LOSS:*:{TS // DAY_MS}"
    assert breach_id(breach, start + DAY_MS) != breach_id(breach, start)


def test_account_view_refuses_non_decimals() -> None:
    with pytest.raises(ValueError, match="equity"):
        view(equity=100000.0)


def test_post_trade_limits_have_defaults_round_trip_and_are_validated() -> None:
    limits = RiskLimits.default_for_demo()
    assert (limits.max_daily_loss, limits.max_drawdown, limits.max_concentration) == (
        D(10000),
        D("0.1"),
        D("0.5"),
    )
    document = limits.to_dict()
    assert RiskLimits.from_dict(document) == limits
    del document["max_daily_loss"]
    assert RiskLimits.from_dict(document).max_daily_loss == D(10000)  # older stored documents still load
    with pytest.raises(LimitsValidationError, match="max_drawdown"):
        dataclasses.replace(limits, max_drawdown=D(1))
    with pytest.raises(LimitsValidationError, match="max_daily_loss"):
        dataclasses.replace(limits, max_daily_loss=D(0))

"""Post-trade risk: the risk monitor's pure evaluation of the account against the limits (issue 5 item 4).

:func:`evaluate` checks, in this order, and returns every breach (not only the first):

* ``DAILY_LOSS``: start-of-day equity minus current equity above ``max_daily_loss`` (quote);
* ``DRAWDOWN``: fall from the day's equity high-water mark (the current equity included) as a fraction
  of it, above ``max_drawdown``;
* ``GROSS_EXPOSURE`` / ``NET_EXPOSURE``: the snapshot's gross and absolute net exposure above
  ``max_gross_exposure`` / ``max_net_exposure``;
* ``CONCENTRATION``: one symbol's position notional as a fraction of equity above ``max_concentration``
  (per symbol; with no positive equity every position is a breach).

:data:`POLICY` says what each breach does to trading: losses halt, exposure and concentration only
restrict to REDUCING. :func:`breach_id` names a breach for a UTC day, so acting on it is idempotent.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.values import Severity

__all__ = [
    "POLICY",
    "AccountView",
    "Breach",
    "BreachRule",
    "breach_id",
    "day_start_ms",
    "evaluate",
    "strictest",
]

DAY_MS = 86_400_000
_ZERO = Decimal(0)
_CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_FRACTION = Decimal("0.000001")


class BreachRule(StrEnum):
    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    GROSS_EXPOSURE = "GROSS_EXPOSURE"
    NET_EXPOSURE = "NET_EXPOSURE"
    CONCENTRATION = "CONCENTRATION"


POLICY: Mapping[BreachRule, TradingState] = MappingProxyType(
    {
        BreachRule.DAILY_LOSS: TradingState.HALTED,
        BreachRule.DRAWDOWN: TradingState.HALTED,
        BreachRule.GROSS_EXPOSURE: TradingState.REDUCING,
        BreachRule.NET_EXPOSURE: TradingState.REDUCING,
        BreachRule.CONCENTRATION: TradingState.REDUCING,
    }
)
_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True)
class AccountView:
    """What the monitor knows at ``ts`` (epoch ms): the latest snapshot's figures, the day's first
    equity and its high-water mark so far (None before the day has a snapshot), position notionals."""

    ts: int
    equity: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    start_of_day_equity: Decimal | None = None
    high_water_mark: Decimal | None = None
    position_notionals: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("equity", "gross_exposure", "net_exposure"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{name} must be a finite Decimal, got {value!r}")
        object.__setattr__(self, "position_notionals", MappingProxyType(dict(self.position_notionals)))


@dataclass(frozen=True)
class Breach:
    """One limit broken: the rule, the symbol (concentration only), the limit, the value, the action."""

    rule: BreachRule
    symbol: str | None
    limit: Decimal
    value: Decimal
    action: TradingState
    message: str

    @property
    def severity(self) -> Severity:
        return Severity.CRITICAL if self.action is TradingState.HALTED else Severity.WARNING


def day_start_ms(ts: int) -> int:
    """Midnight UTC of the day ``ts`` (epoch ms) falls in."""
    return ts - ts % DAY_MS


def breach_id(breach: Breach, ts: int) -> str:
    """``<rule>:<symbol or *>:<UTC day number>``: the same breach on the same day has one id."""
    return f"{breach.rule.value}:{breach.symbol or '*'}:{ts // DAY_MS}"


def strictest(current: TradingState | None, breaches: tuple[Breach, ...]) -> TradingState | None:
    """The state the breaches call for if it is stricter than ``current``; None when nothing changes."""
    wanted = max((b.action for b in breaches), key=_RANK.__getitem__, default=None)
    if wanted is None or _RANK[wanted] <= _RANK[current or TradingState.ACTIVE]:
        return None
    return wanted


def _breach(
    rule: BreachRule, limit: Decimal, value: Decimal, message: str, symbol: str | None = None
) -> Breach:
    return Breach(rule, symbol, limit, value, POLICY[rule], message)


def evaluate(view: AccountView, limits: RiskLimits) -> tuple[Breach, ...]:
    """Every breach of ``limits`` in ``view`` (see the module docstring), in rule order."""
    found: list[Breach] = []
    start = view.start_of_day_equity
    if start is not None:
        loss = _CTX.subtract(start, view.equity)
        if loss > limits.max_daily_loss:
            found.append(
                _breach(
                    BreachRule.DAILY_LOSS,
                    limits.max_daily_loss,
                    loss,
                    f"daily loss {loss} from start-of-day equity {start} exceeds {limits.max_daily_loss}",
                )
            )
    mark = max(view.high_water_mark or view.equity, view.equity)
    if mark > 0:
        drawdown = _CTX.divide(_CTX.subtract(mark, view.equity), mark).quantize(_FRACTION)
        if drawdown > limits.max_drawdown:
            found.append(
                _breach(
                    BreachRule.DRAWDOWN,
                    limits.max_drawdown,
                    drawdown,
                    f"drawdown {drawdown} from the high-water mark {mark} exceeds {limits.max_drawdown}",
                )
            )
    if view.gross_exposure > limits.max_gross_exposure:
        found.append(
            _breach(
                BreachRule.GROSS_EXPOSURE,
                limits.max_gross_exposure,
                view.gross_exposure,
                f"gross exposure {view.gross_exposure} exceeds {limits.max_gross_exposure}",
            )
        )
    net = abs(view.net_exposure)
    if net > limits.max_net_exposure:
        found.append(
            _breach(
                BreachRule.NET_EXPOSURE,
                limits.max_net_exposure,
                net,
                f"net exposure {net} exceeds {limits.max_net_exposure}",
            )
        )
    for symbol, notional in sorted(view.position_notionals.items()):
        notional = abs(notional)
        if notional == 0:
            continue
        share = _CTX.divide(notional, view.equity).quantize(_FRACTION) if view.equity > 0 else None
        if share is None or share > limits.max_concentration:
            shown = "all of a non-positive equity" if share is None else str(share)
            found.append(
                _breach(
                    BreachRule.CONCENTRATION,
                    limits.max_concentration,
                    notional if share is None else share,
                    f"{symbol} is {shown} of equity (limit {limits.max_concentration})",
                    symbol,
                )
            )
    return tuple(found)

"""The reconciliation diff's balance comparison: venue totals against our baseline moved by fills. Pure.

Our balance of an asset is the venue's total as the gateway last read it (the baseline, stamped with
when it was read) moved by our fills traded after the stamp. The venue's totals in the report are read
later. Between the two reads:

* a fill we lack (an import) traded after our baseline and before the venue's read is expected in the
  venue's total and not in ours: it is added to what we expect;
* an import traded before our baseline is in it already, recorded by us or not;
* a fill traded within :attr:`Grace.baseline_ms` of our baseline's stamp, ours or an import, or while
  the venue's balances were read, may be counted or not: any subset of those explaining the
  difference is no break (a stamp is an estimate of when the venue took its figures).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from tradeops.domain.orders import Fill
from tradeops.domain.reconcile_types import (
    Grace,
    LocalBook,
    Tolerances,
    VenueBalance,
    VenueReport,
    balance_delta,
)
from tradeops.domain.values import Severity

_ZERO = Decimal(0)
MAX_SUMS = 4096
"""Bound of the totals a few unsettled amounts can add (young fills, trades made while balances were read)."""


@dataclass(frozen=True)
class BalanceMismatch:
    """One asset whose venue total no subset of the doubtful amounts explains."""

    asset: str
    severity: Severity
    evidence: dict[str, object]


def balance_mismatches(
    local: LocalBook, venue: VenueReport, imports: Iterable[Fill], tolerances: Tolerances, grace: Grace
) -> Iterator[BalanceMismatch]:
    """Per asset (sorted), the mismatch between the venue's total and ours after ``imports``, if any."""
    pending: dict[str, Decimal] = defaultdict(Decimal)
    in_doubt = _baseline_doubts(local, grace.baseline_ms)
    read_from, read_to = venue.balances_read or (venue.as_of, venue.as_of)
    for fill in imports:
        if fill.ts > read_to:
            continue  # traded after the venue's balances were read
        for asset, amount in balance_delta(fill).items():
            stamp = local.balances_read_at.get(asset)
            if stamp is not None and fill.ts < stamp - grace.baseline_ms:
                continue  # our baseline was read after it: already in our balances
            if fill.ts >= read_from or (stamp is not None and fill.ts <= stamp + grace.baseline_ms):
                in_doubt[asset].append(amount)
            else:
                pending[asset] += amount
    for asset in sorted(set(local.balances) | set(venue.balances)):
        expected = local.balances.get(asset, _ZERO) + pending.get(asset, _ZERO)
        total = venue.balances.get(asset, VenueBalance(_ZERO, _ZERO))
        difference = total.total - expected
        allows = tolerances.balance(asset).allows
        if any(allows(difference - amount, total.total) for amount in subset_sums(in_doubt[asset])):
            continue
        evidence: dict[str, object] = {
            "local_balance": local.balances.get(asset, _ZERO),
            "fills_to_import": pending.get(asset, _ZERO),
            "expected": expected,
            "venue_free": total.free,
            "venue_locked": total.locked,
            "venue_total": total.total,
            "difference": difference,
        }
        yield BalanceMismatch(asset, Severity.WARNING if difference > 0 else Severity.CRITICAL, evidence)


def _baseline_doubts(local: LocalBook, window_ms: int) -> defaultdict[str, list[Decimal]]:
    """Per asset, the amounts our fills near the baseline's stamp may have been counted wrongly by:
    one after the stamp was added to ``balances`` though the baseline may hold it (``-amount``), one
    before it was not though the baseline may lack it (``+amount``)."""
    doubts: defaultdict[str, list[Decimal]] = defaultdict(list)
    if not local.balances_read_at:
        return doubts
    earliest = min(local.balances_read_at.values()) - window_ms
    latest = max(local.balances_read_at.values()) + window_ms
    for fill in local.fills:
        if not earliest <= fill.ts <= latest:
            continue  # far from every stamp (most fills): no need to know what it moved
        for asset, amount in balance_delta(fill).items():
            stamp = local.balances_read_at.get(asset)
            if amount and stamp is not None and abs(fill.ts - stamp) <= window_ms:
                doubts[asset].append(-amount if fill.ts > stamp else amount)
    return doubts


def subset_sums(amounts: list[Decimal]) -> set[Decimal]:
    """Every total a subset of ``amounts`` adds (0 included); past :data:`MAX_SUMS` totals, those of the
    first amounts only (erring towards a break, never hiding one)."""
    sums = {_ZERO}
    for amount in amounts:
        grown = sums | {total + amount for total in sums}
        if len(grown) > MAX_SUMS:
            return sums
        sums = grown
    return sums

"""Fixtures for the venue engine tests: a deterministic clock, invariants, request shortcuts (`h`)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tradeops.sim import SimConfig, SimVenue, VenueEvent

ZERO = Decimal(0)
START_MS = 1_700_000_000_000


class Clock:
    """A fake epoch-ms clock advancing `step_ms` per read."""

    def __init__(self, start: int = START_MS, step_ms: int = 1) -> None:
        self.now = start
        self.step_ms = step_ms

    def __call__(self) -> int:
        self.now += self.step_ms
        return self.now


def make_venue(clock: Clock | None = None, **overrides: Any) -> tuple[SimVenue, list[VenueEvent]]:
    venue = SimVenue(SimConfig(**overrides), clock or Clock())
    events: list[VenueEvent] = []
    venue.listen(events.append)
    return venue, events


def user_events(events: list[VenueEvent], api_key: str, kind: str) -> list[dict[str, Any]]:
    return [
        e.payload for e in events if e.channel == "user" and e.api_key == api_key and e.payload["e"] == kind
    ]


def limit(symbol: str, side: str, qty: str, price: str, tif: str = "GTC", **extra: str) -> dict[str, str]:
    return {
        "symbol": symbol,
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "quantity": qty,
        "price": price,
        **extra,
    }


def market(symbol: str, side: str, qty: str, **extra: str) -> dict[str, str]:
    return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": qty, **extra}


def best(venue: SimVenue, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    book = venue.depth(symbol, 1)
    return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])


def totals(venue: SimVenue) -> dict[str, Decimal]:
    """Per asset: every account's free + locked, plus the house's net flow and the fees collected."""
    engine = venue.engine
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for account in engine.keys.by_id.values():
        for asset, v in account.free.items():
            out[asset] += v
        for asset, v in account.locked.items():
            out[asset] += v
    for asset, v in engine.house.items():
        out[asset] += v
    for asset, v in engine.fees.items():
        out[asset] += v
    return {a: v for a, v in out.items() if v != 0}


def check_invariants(venue: SimVenue) -> None:
    """Balances never negative; each account's locked funds equal what its open orders hold."""
    for account in venue.engine.keys.by_id.values():
        held: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for order in account.open.values():
            assert order.is_open
            if order.lock_asset:
                held[order.lock_asset] += order.locked
        for asset, v in account.free.items():
            assert v >= 0, (account.account_id, asset, v)
        for asset in set(account.locked) | set(held):
            assert account.locked.get(asset, ZERO) == held[asset], (asset, account.locked, dict(held))
            assert account.locked.get(asset, ZERO) >= 0


@pytest.fixture
def h() -> SimpleNamespace:
    """The helpers above, for test modules (tests are not a package, so they cannot import this file)."""
    return SimpleNamespace(
        Clock=Clock,
        make_venue=make_venue,
        user_events=user_events,
        limit=limit,
        market=market,
        best=best,
        totals=totals,
        check_invariants=check_invariants,
    )


@pytest.fixture
def venue_events() -> tuple[SimVenue, list[VenueEvent]]:
    """A default venue after a few steps, with one funded key `k1` and the list of every event."""
    venue, events = make_venue()
    for _ in range(5):
        venue.step()
    venue.add_key("k1", "secret-1")
    return venue, events

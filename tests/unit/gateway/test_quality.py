"""The per-symbol quality state machine, driven with synthetic time (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded, Severity
from tradeops.gateway.quality import Feed, FeedQuality, Issue, QualityBook, SymbolThresholds

S = "BTC/USDT"
T0 = 1_700_000_000_000
STALE_MS = 1_000
BID, ASK = Decimal("60000.00"), Decimal("60001.00")


def book() -> QualityBook:
    return QualityBook({S: SymbolThresholds(stale_ms=STALE_MS, divergence_bps=Decimal(50))}, started_ms=T0)


def feed_both(
    q: QualityBook, now: int, *, bid: Decimal = BID, ask: Decimal = ASK, skip: Feed | None = None
) -> None:
    for feed in (Feed.PRIMARY, Feed.BACKUP):
        if feed is not skip:
            q.on_message(S, feed, now - 5, now, bid=bid, ask=ask)


def conditions(events: list[MarketDataDegraded]) -> list[tuple[str, MarketDataCondition]]:
    return [(e.feed, e.condition) for e in events]


def test_both_feeds_fresh_is_ok_and_startup_is_silent() -> None:
    q = book()
    assert q.evaluate(S, T0) == []  # warm-up: nothing yet, no alarm
    assert q.view(S, T0).quality is FeedQuality.STALE and not q.view(S, T0).tradeable_for_opening
    feed_both(q, T0 + 100)
    assert q.evaluate(S, T0 + 100) == []
    view = q.view(S, T0 + 150)
    assert view.quality is FeedQuality.OK and view.tradeable_for_opening
    assert (view.bid, view.ask, view.mid) == (BID, ASK, Decimal("60000.50"))
    assert view.age_ms == 50 and view.issues == frozenset()


def test_no_data_after_warm_up_raises_a_critical_event() -> None:
    q = book()
    assert q.evaluate(S, T0 + STALE_MS - 1) == []
    events = q.evaluate(S, T0 + STALE_MS)
    symbol_events = [e for e in events if e.feed == "active=none:disconnected"]
    assert len(symbol_events) == 1 and symbol_events[0].severity is Severity.CRITICAL
    assert q.quality(S) is FeedQuality.STALE


def test_arbitration_picks_the_freshest_exchange_time() -> None:
    q = book()
    q.on_message(S, Feed.PRIMARY, T0 + 10, T0 + 20, bid=BID, ask=ASK)
    q.on_message(S, Feed.BACKUP, T0 + 15, T0 + 21, bid=BID + 1, ask=ASK + 1)
    q.evaluate(S, T0 + 30)
    assert q.view(S, T0 + 30).source is Feed.BACKUP and q.view(S, T0 + 30).bid == BID + 1
    q.on_message(S, Feed.PRIMARY, T0 + 16, T0 + 40)
    q.evaluate(S, T0 + 40)
    assert q.view(S, T0 + 40).source is Feed.PRIMARY


def test_primary_stall_hands_over_to_backup_without_stale() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    now = T0 + 100
    events: list[MarketDataDegraded] = []
    for step in range(1, 40):  # primary silent for 3.9 s, backup every 100 ms
        now = T0 + 100 + step * 100
        q.on_message(S, Feed.BACKUP, now + 1_000, now, bid=BID, ask=ASK)
        events += q.evaluate(S, now)
        assert q.quality(S) is FeedQuality.OK
    assert q.view(S, now).source is Feed.BACKUP
    assert conditions(events) == [("primary", MarketDataCondition.STALE)]
    q.on_message(S, Feed.PRIMARY, now + 2_000, now + 50, bid=BID, ask=ASK)
    assert conditions(q.evaluate(S, now + 50)) == [("primary", MarketDataCondition.RECOVERED)]


def test_both_stall_goes_stale_at_the_threshold_then_recovers() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    assert [e for e in q.evaluate(S, T0 + 100 + STALE_MS) if e.feed.startswith("active")] == []
    events = q.evaluate(S, T0 + 101 + STALE_MS)
    symbol = [e for e in events if e.feed == "active=none:stale"]
    assert len(symbol) == 1 and symbol[0].staleness_ms == STALE_MS + 1
    assert symbol[0].severity is Severity.CRITICAL and symbol[0].condition is MarketDataCondition.STALE
    assert not q.view(S, T0 + 101 + STALE_MS).tradeable_for_opening
    feed_both(q, T0 + 3_000)
    recovered = q.evaluate(S, T0 + 3_000)
    assert conditions(recovered) == [
        ("primary", MarketDataCondition.RECOVERED),
        ("backup", MarketDataCondition.RECOVERED),
        ("active=primary", MarketDataCondition.RECOVERED),
    ]
    assert {e.severity for e in recovered} == {Severity.INFO}
    assert q.quality(S) is FeedQuality.OK and q.view(S, T0 + 3_000).tradeable_for_opening


def test_a_stale_view_keeps_the_last_quote_with_its_age_for_valuing_and_reducing() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.on_message(S, Feed.BACKUP, T0 + 195, T0 + 200, bid=BID + 2, ask=ASK + 2)  # the last quote of all
    q.evaluate(S, T0 + 200)
    now = T0 + 201 + STALE_MS
    q.evaluate(S, now)
    view = q.view(S, now)
    assert view.quality is FeedQuality.STALE and view.source is None and not view.tradeable_for_opening
    assert (view.bid, view.ask, view.mid) == (BID + 2, ASK + 2, (BID + ASK) / 2 + 2)
    assert view.age_ms == STALE_MS + 1


def test_a_symbol_never_quoted_has_no_price_when_stale() -> None:
    q = book()
    q.evaluate(S, T0 + 2 * STALE_MS)
    view = q.view(S, T0 + 2 * STALE_MS)
    assert view.quality is FeedQuality.STALE and (view.mid, view.age_ms) == (None, None)


def test_disconnect_of_both_feeds_is_reported_as_disconnected() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    q.on_disconnected(S, Feed.PRIMARY)
    assert conditions(q.evaluate(S, T0 + 150)) == [("primary", MarketDataCondition.DISCONNECTED)]
    assert q.quality(S) is FeedQuality.OK
    q.on_disconnected(S, Feed.BACKUP)
    events = q.evaluate(S, T0 + 200)
    assert ("active=none:disconnected", MarketDataCondition.DISCONNECTED) in conditions(events)
    assert q.quality(S) is FeedQuality.STALE


def test_silence_counts_from_the_last_message_across_a_disconnect() -> None:
    """A recycled feed whose reconnection stays silent is still silent (so it is recycled again)."""
    q = book()
    assert q.silence_ms(S, Feed.PRIMARY, T0) is None  # never up
    feed_both(q, T0 + 100)
    assert q.silence_ms(S, Feed.PRIMARY, T0 + 400) == 300
    q.on_disconnected(S, Feed.PRIMARY)
    assert q.silence_ms(S, Feed.PRIMARY, T0 + 9_100) == 9_000


def test_a_disconnect_healed_between_evaluations_is_still_reported() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    q.on_disconnected(S, Feed.BACKUP)
    q.on_message(S, Feed.BACKUP, T0 + 120, T0 + 130, bid=BID, ask=ASK)  # reconnected at once
    assert conditions(q.evaluate(S, T0 + 150)) == [
        ("backup", MarketDataCondition.DISCONNECTED),
        ("backup", MarketDataCondition.RECOVERED),
    ]
    assert q.evaluate(S, T0 + 200) == [] and q.quality(S) is FeedQuality.OK


def test_rest_fallback_is_degraded_never_ok_and_not_for_opening() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    assert not q.needs_rest(S, T0 + STALE_MS - 1)  # warm-up: sockets are still connecting
    now = T0 + 200 + STALE_MS
    assert q.needs_rest(S, now)
    q.on_message(S, Feed.REST, now - 20, now, bid=BID, ask=ASK)
    events = q.evaluate(S, now)
    assert ("active=rest:rest_fallback", MarketDataCondition.REST_FALLBACK) in conditions(events)
    view = q.view(S, now)
    assert view.quality is FeedQuality.DEGRADED and view.source is Feed.REST and view.mid is not None
    assert not view.tradeable_for_opening
    assert q.evaluate(S, now + STALE_MS + 1) and q.quality(S) is FeedQuality.STALE  # REST also aged out


@pytest.mark.parametrize("ask", [BID, BID - Decimal("0.01")], ids=["locked", "crossed"])
def test_crossed_or_locked_book_degrades(ask: Decimal) -> None:
    q = book()
    feed_both(q, T0 + 100, ask=ask)
    events = q.evaluate(S, T0 + 100)
    assert q.quality(S) is FeedQuality.DEGRADED and q.view(S, T0 + 100).issues == {Issue.CROSSED_BOOK}
    assert q.view(S, T0 + 100).tradeable_for_opening  # degraded, not stale: risk decides
    event = next(e for e in events if e.feed.endswith("crossed_book"))
    assert event.condition is MarketDataCondition.CROSSED_BOOK and event.severity is Severity.WARNING
    feed_both(q, T0 + 200)
    assert conditions(q.evaluate(S, T0 + 200)) == [("active=primary", MarketDataCondition.RECOVERED)]


def test_divergence_above_threshold_degrades() -> None:
    q = book()
    q.on_message(S, Feed.PRIMARY, T0 + 100, T0 + 100, bid=BID, ask=ASK)
    q.on_message(S, Feed.BACKUP, T0 + 99, T0 + 100, bid=BID * Decimal("1.004"), ask=ASK * Decimal("1.004"))
    q.evaluate(S, T0 + 100)
    assert q.quality(S) is FeedQuality.OK  # 40 bps < 50 bps
    q.on_message(S, Feed.BACKUP, T0 + 99, T0 + 110, bid=BID * Decimal("1.006"), ask=ASK * Decimal("1.006"))
    events = q.evaluate(S, T0 + 110)
    assert q.view(S, T0 + 110).issues == {Issue.DIVERGENCE}
    assert [(e.feed, e.condition) for e in events] == [
        ("active=primary:divergence", MarketDataCondition.DIVERGENCE)
    ]


def test_depth_gap_degrades_until_the_book_is_resynced() -> None:
    q = book()
    feed_both(q, T0 + 100)
    q.evaluate(S, T0 + 100)
    q.on_depth_gap(S, Feed.PRIMARY)
    q.on_message(S, Feed.PRIMARY, T0 + 150, T0 + 150)  # a ticker, not a resynced book
    events = q.evaluate(S, T0 + 150)
    assert q.quality(S) is FeedQuality.DEGRADED
    assert [(e.feed, e.condition) for e in events] == [
        ("active=primary:depth_gap", MarketDataCondition.SEQUENCE_GAP)
    ]
    assert q.resyncs(S, Feed.PRIMARY) == 1
    q.on_message(S, Feed.PRIMARY, T0 + 160, T0 + 160, bid=BID, ask=ASK, depth_synced=True)
    assert conditions(q.evaluate(S, T0 + 160)) == [("active=primary", MarketDataCondition.RECOVERED)]


def test_message_counts_and_validation() -> None:
    q = book()
    feed_both(q, T0 + 1)
    feed_both(q, T0 + 2)
    assert q.take_message_count(S, Feed.PRIMARY) == 2 and q.take_message_count(S, Feed.PRIMARY) == 0
    with pytest.raises(ValueError):
        SymbolThresholds(stale_ms=0)
    with pytest.raises(ValueError):
        QualityBook({}, started_ms=T0)

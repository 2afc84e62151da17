"""Per-symbol market-data quality: a pure state machine over feed observations, and arbitration.

No I/O and no clock of its own: every method takes ``now_ms`` (local epoch ms), so tests drive it with
synthetic time. Inputs per symbol and feed (primary / backup socket, REST fallback): exchange event
time, receipt time, best bid/ask, connection state and depth resyncs. Output: a :class:`MarketView`
per symbol and :class:`MarketDataDegraded` events when a symbol's quality or a feed's health changes:
feed-level events name the feed (``feed="backup"``), symbol-level ones the active feed and the issue
(``feed="active=none:stale"``, ``feed="active=primary"`` on recovery).

Rules, evaluated per symbol:

* a socket feed is *fresh* when connected and its last receipt is at most ``stale_ms`` old;
* the *active* feed is the fresh socket feed with the newest exchange event time (arbitration);
* no fresh socket feed: a fresh REST quote makes the symbol DEGRADED (never OK, and not good enough
  to open exposure), otherwise STALE;
* a crossed or locked active book, primary/backup mid divergence above ``divergence_bps``, or a depth
  sequence gap not yet resynced make it DEGRADED; otherwise it is OK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded, Severity

__all__ = [
    "Feed",
    "FeedQuality",
    "Issue",
    "MarketView",
    "QualityBook",
    "SymbolThresholds",
]

_BPS = Decimal(10_000)
_TWO = Decimal(2)


class FeedQuality(StrEnum):
    """Data quality of one symbol; opening orders are refused on STALE."""

    OK = "ok"
    DEGRADED = "degraded"
    STALE = "stale"


class Feed(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"
    REST = "rest"


SOCKET_FEEDS = (Feed.PRIMARY, Feed.BACKUP)


class Issue(StrEnum):
    """Why a symbol is not OK (or a feed is unhealthy)."""

    STALE = "stale"
    DISCONNECTED = "disconnected"
    REST_FALLBACK = "rest_fallback"
    CROSSED_BOOK = "crossed_book"
    DIVERGENCE = "divergence"
    DEPTH_GAP = "depth_gap"


# Each issue has its own event condition; the event's ``feed`` also names the feed ("primary:depth_gap").
_CONDITION: dict[Issue, MarketDataCondition] = {
    Issue.STALE: MarketDataCondition.STALE,
    Issue.DISCONNECTED: MarketDataCondition.DISCONNECTED,
    Issue.REST_FALLBACK: MarketDataCondition.REST_FALLBACK,
    Issue.CROSSED_BOOK: MarketDataCondition.CROSSED_BOOK,
    Issue.DIVERGENCE: MarketDataCondition.DIVERGENCE,
    Issue.DEPTH_GAP: MarketDataCondition.SEQUENCE_GAP,
}
_SEVERITY = {FeedQuality.OK: Severity.INFO, FeedQuality.DEGRADED: Severity.WARNING}


@dataclass(frozen=True)
class SymbolThresholds:
    """Staleness threshold (ms since the last receipt) and primary/backup mid divergence limit (bps)."""

    stale_ms: int = 1_500
    divergence_bps: Decimal = Decimal(50)

    def __post_init__(self) -> None:
        if self.stale_ms <= 0 or self.divergence_bps <= 0:
            raise ValueError("stale_ms and divergence_bps must be positive")


@dataclass(frozen=True)
class MarketView:
    """What the risk engine reads for one symbol (prices are Decimal; times in epoch ms)."""

    symbol: str
    quality: FeedQuality
    issues: frozenset[Issue]
    source: Feed | None
    bid: Decimal | None
    ask: Decimal | None
    mid: Decimal | None
    exchange_ms: int | None
    age_ms: int | None  # since the bid/ask of the source feed was received

    @property
    def tradeable_for_opening(self) -> bool:
        """Opening or increasing exposure needs live socket data (not STALE, not REST-polled) and a quote."""
        return self.quality is not FeedQuality.STALE and self.source is not Feed.REST and self.mid is not None


@dataclass
class _FeedState:
    connected: bool = False
    exchange_ms: int | None = None
    receipt_ms: int | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    quote_receipt_ms: int | None = None
    gap_pending: bool = False
    resyncs: int = 0
    messages: int = 0
    disconnects: int = 0
    reported_disconnects: int = 0
    issue: Issue | None = None
    known: bool = False  # health announced at least once (startup is silent until the warm-up ends)

    def fresh(self, now_ms: int, stale_ms: int) -> bool:
        return self.connected and self.receipt_ms is not None and now_ms - self.receipt_ms <= stale_ms

    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / _TWO


@dataclass
class _SymbolState:
    thresholds: SymbolThresholds
    feeds: dict[Feed, _FeedState] = field(default_factory=lambda: {f: _FeedState() for f in Feed})
    quality: FeedQuality = FeedQuality.STALE
    issues: frozenset[Issue] = frozenset({Issue.STALE})
    source: Feed | None = None
    known: bool = False


class QualityBook:
    """Quality state machines of every watched symbol; feed callbacks in, views and events out."""

    def __init__(
        self,
        thresholds: Mapping[str, SymbolThresholds],
        *,
        started_ms: int,
        correlation_id: str = "market-data",
    ) -> None:
        """``started_ms`` opens a warm-up of ``stale_ms`` during which missing data raises no event."""
        if not thresholds:
            raise ValueError("at least one symbol is required")
        self._symbols = {symbol: _SymbolState(t) for symbol, t in thresholds.items()}
        self._started_ms = started_ms
        self._correlation_id = correlation_id

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._symbols)

    def _feed(self, symbol: str, feed: Feed) -> _FeedState:
        return self._symbols[symbol].feeds[feed]

    # -- inputs -------------------------------------------------------------------------------------

    def on_message(
        self,
        symbol: str,
        feed: Feed,
        exchange_ms: int | None,
        now_ms: int,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        depth_synced: bool = False,
    ) -> None:
        """A message arrived on ``feed`` (ticker, trade or book); bid/ask update its top of book.

        ``depth_synced`` marks a consistent order book after a gap: the pending resync is cleared.
        """
        state = self._feed(symbol, feed)
        state.connected = True
        state.messages += 1
        state.receipt_ms = now_ms
        if exchange_ms is not None and (state.exchange_ms is None or exchange_ms >= state.exchange_ms):
            state.exchange_ms = exchange_ms
        if bid is not None and ask is not None:
            state.bid, state.ask, state.quote_receipt_ms = bid, ask, now_ms
        if depth_synced:
            state.gap_pending = False

    def on_disconnected(self, symbol: str, feed: Feed) -> None:
        """The socket of ``feed`` failed; it is unusable until a message arrives again."""
        state = self._feed(symbol, feed)
        state.connected = False
        state.disconnects += 1

    def on_depth_gap(self, symbol: str, feed: Feed) -> None:
        """A depth sequence gap was detected on ``feed``: its book is unusable until resynced."""
        state = self._feed(symbol, feed)
        state.gap_pending = True
        state.resyncs += 1

    # -- outputs ------------------------------------------------------------------------------------

    def needs_rest(self, symbol: str, now_ms: int) -> bool:
        """Whether, past the warm-up, no socket feed of ``symbol`` is fresh (so REST should feed the view)."""
        st = self._symbols[symbol]
        if now_ms < self._started_ms + st.thresholds.stale_ms:
            return False  # sockets are still connecting
        return not any(st.feeds[f].fresh(now_ms, st.thresholds.stale_ms) for f in SOCKET_FEEDS)

    def silence_ms(self, symbol: str, feed: Feed, now_ms: int) -> int | None:
        """How long ``feed`` has delivered nothing since its last message (None before the first one).

        A failed (or recycled) feed keeps counting: a reconnection that stays silent is silence too.
        """
        state = self._feed(symbol, feed)
        if state.receipt_ms is None:
            return None
        return max(0, now_ms - state.receipt_ms)

    def resyncs(self, symbol: str, feed: Feed) -> int:
        return self._feed(symbol, feed).resyncs

    def take_message_count(self, symbol: str, feed: Feed) -> int:
        """Messages received on ``feed`` since the previous call (for a messages/s metric)."""
        state = self._feed(symbol, feed)
        count, state.messages = state.messages, 0
        return count

    def quality(self, symbol: str) -> FeedQuality:
        return self._symbols[symbol].quality

    def view(self, symbol: str, now_ms: int) -> MarketView:
        """The arbitrated quote of ``symbol`` as of the last :meth:`evaluate`, aged to ``now_ms``.

        STALE (no source): the last quote any feed received, with its age, so that positions can still
        be valued and reduced; nothing may open exposure on it (:attr:`MarketView.tradeable_for_opening`).
        """
        st = self._symbols[symbol]
        src = st.feeds[st.source] if st.source is not None else _last_quoted(st.feeds.values())
        bid, ask = (src.bid, src.ask) if src is not None else (None, None)
        mid = src.mid() if src is not None else None
        receipt = src.quote_receipt_ms if src is not None else None
        return MarketView(
            symbol=symbol,
            quality=st.quality,
            issues=st.issues,
            source=st.source,
            bid=bid,
            ask=ask,
            mid=mid,
            exchange_ms=src.exchange_ms if src is not None else None,
            age_ms=max(0, now_ms - receipt) if receipt is not None else None,
        )

    def evaluate(self, symbol: str, now_ms: int) -> list[MarketDataDegraded]:
        """Recompute ``symbol``'s quality; return the events of every change (feed health, then symbol)."""
        st = self._symbols[symbol]
        stale_ms = st.thresholds.stale_ms
        events = [ev for f in SOCKET_FEEDS for ev in self._feed_transitions(symbol, f, now_ms)]
        fresh = [f for f in SOCKET_FEEDS if st.feeds[f].fresh(now_ms, stale_ms)]
        issues: set[Issue] = set()
        if fresh:
            best = max(fresh, key=lambda f: (st.feeds[f].exchange_ms or 0, f is Feed.PRIMARY))
            active = st.feeds[best]
            if active.bid is not None and active.ask is not None and active.bid >= active.ask:
                issues.add(Issue.CROSSED_BOOK)
            if active.gap_pending:
                issues.add(Issue.DEPTH_GAP)
            source: Feed | None = best
            if self._diverged(st, fresh, now_ms):
                issues.add(Issue.DIVERGENCE)
            quality = FeedQuality.DEGRADED if issues else FeedQuality.OK
        elif st.feeds[Feed.REST].fresh(now_ms, stale_ms):
            source, quality = Feed.REST, FeedQuality.DEGRADED
            issues.add(Issue.REST_FALLBACK)
        else:
            source, quality = None, FeedQuality.STALE
            down = all(not st.feeds[f].connected for f in SOCKET_FEEDS)
            issues.add(Issue.DISCONNECTED if down else Issue.STALE)
        st.source = source
        changed = quality is not st.quality or frozenset(issues) != st.issues
        st.quality, st.issues = quality, frozenset(issues)
        if not st.known:
            if quality is not FeedQuality.STALE or now_ms >= self._started_ms + stale_ms:
                st.known = True
                if quality is not FeedQuality.OK:
                    events.append(self._symbol_event(symbol, st, now_ms))
        elif changed:
            events.append(self._symbol_event(symbol, st, now_ms))
        return events

    # -- internals ----------------------------------------------------------------------------------

    def _diverged(self, st: _SymbolState, fresh: list[Feed], now_ms: int) -> bool:
        if len(fresh) < 2:
            return False
        mids = [st.feeds[f].mid() for f in fresh]
        quoted = [st.feeds[f].quote_receipt_ms for f in fresh]
        if any(m is None for m in mids) or any(
            q is None or now_ms - q > st.thresholds.stale_ms for q in quoted
        ):
            return False
        a, b = (m for m in mids if m is not None)
        reference = (a + b) / _TWO
        return reference > 0 and abs(a - b) / reference * _BPS > st.thresholds.divergence_bps

    def _feed_transitions(self, symbol: str, feed: Feed, now_ms: int) -> list[MarketDataDegraded]:
        st = self._symbols[symbol]
        state = st.feeds[feed]
        if not state.connected:
            issue: Issue | None = Issue.DISCONNECTED
        elif not state.fresh(now_ms, st.thresholds.stale_ms):
            issue = Issue.STALE
        else:
            issue = None
        dropped = state.disconnects > state.reported_disconnects
        state.reported_disconnects = state.disconnects
        if not state.known:
            state.issue = issue
            if issue is None or now_ms < self._started_ms + st.thresholds.stale_ms:
                state.known = issue is None
                return []
            state.known = True
            return [self._feed_event(symbol, feed, state, issue, now_ms)]
        events = []
        if dropped and Issue.DISCONNECTED not in (state.issue, issue):
            # dropped and reconnected between two evaluations: still reported
            state.issue = Issue.DISCONNECTED
            events.append(self._feed_event(symbol, feed, state, Issue.DISCONNECTED, now_ms))
        if issue is not state.issue:
            state.issue = issue
            events.append(self._feed_event(symbol, feed, state, issue, now_ms))
        return events

    def _feed_event(
        self, symbol: str, feed: Feed, state: _FeedState, issue: Issue | None, now_ms: int
    ) -> MarketDataDegraded:
        return self._event(
            symbol,
            feed.value,
            _CONDITION[issue] if issue is not None else MarketDataCondition.RECOVERED,
            Severity.WARNING if issue is not None else Severity.INFO,
            self._staleness(state, now_ms),
        )

    def _symbol_event(self, symbol: str, st: _SymbolState, now_ms: int) -> MarketDataDegraded:
        if st.quality is FeedQuality.OK:
            condition, detail = MarketDataCondition.RECOVERED, ""
        else:
            issue = min(st.issues, key=list(Issue).index)
            condition, detail = _CONDITION[issue], f":{issue.value}"
        feed = f"active={st.source.value if st.source is not None else 'none'}"
        staleness = min(
            (s for f in SOCKET_FEEDS if (s := self._staleness(st.feeds[f], now_ms)) is not None),
            default=None,
        )
        severity = _SEVERITY.get(st.quality, Severity.CRITICAL)
        return self._event(symbol, f"{feed}{detail}", condition, severity, staleness)

    @staticmethod
    def _staleness(state: _FeedState, now_ms: int) -> int | None:
        return max(0, now_ms - state.receipt_ms) if state.receipt_ms is not None else None

    def _event(
        self,
        symbol: str,
        feed: str,
        condition: MarketDataCondition,
        severity: Severity,
        staleness_ms: int | None,
    ) -> MarketDataDegraded:
        return MarketDataDegraded(
            correlation_id=self._correlation_id,
            symbol=symbol,
            feed=feed,
            condition=condition,
            staleness_ms=staleness_ms,
            severity=severity,
        )


def _last_quoted(feeds: Iterable[_FeedState]) -> _FeedState | None:
    """The feed with the most recently received two-sided quote, if any has one."""
    quoted = [f for f in feeds if f.mid() is not None and f.quote_receipt_ms is not None]
    return max(quoted, key=lambda f: f.quote_receipt_ms or 0, default=None)

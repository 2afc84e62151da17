"""The drills' consistency checker: the journal, the DynamoDB projections and the venue must tell one story.

:func:`check_books` reads three sides and lists *every* disagreement (not just the first):

* the journal (stream ``orders``, chain verified): the last recorded state of each order;
* the projections: every order (``by_status`` over all states), every fill (``by_symbol``), and the
  stored positions;
* the simulator's ground truth (``/_sim/state``): every order and fill placed with the rig's key.

It checks: no intent (client order id) with two venue orders; no venue order missing from the journal;
the journal's last state of each order equals its projection; every local order that is terminal agrees
with the venue's status and executed quantity, and no local order the venue never saw claims to have
traded; local fills (by venue trade id) equal the venue's; no order left NEW, SUBMITTING, UNKNOWN or
CANCELING; stored positions, local fills and venue fills imply the same net quantity per symbol.
:func:`assert_books_agree` raises with the whole list. Drills wait for settling with
:func:`wait_books_agree` (or ``until(lambda: books_settled(rig), ...)``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import VENUE_STATUS_TO_STATE, Fill, Order, OrderState
from tradeops.domain.reconcile_types import net_positions
from tradeops.domain.values import Side
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalCorrupted, JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.positions import PositionStore

from ._rig import KEY, DrillRig

ORDERS_STREAM = "orders"
VENUE_FINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED})
UNSETTLED = frozenset({OrderState.NEW, OrderState.SUBMITTING, OrderState.UNKNOWN, OrderState.CANCELING})
_PAGE = 500
_STABLE_ATTEMPTS = 5
"""Reads of the three sides until the venue stayed the same across one (:func:`_venue_facts`)."""


@dataclass
class BooksReport:
    """What the checker compared, and every disagreement found (``problems`` empty: the books agree)."""

    intents: int = 0
    local_orders: int = 0
    venue_orders: int = 0
    local_fills: int = 0
    venue_fills: int = 0
    journal_entries: int = 0
    states: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"{self.intents} intents, {self.local_orders} local / {self.venue_orders} venue orders, "
            f"{self.local_fills} local / {self.venue_fills} venue fills, "
            f"{self.journal_entries} journal entries; states {dict(sorted(self.states.items()))}"
        )
        lines = [head, *(f"note: {n}" for n in self.notes)]
        if self.problems:
            lines.append(f"{len(self.problems)} disagreement(s):")
            lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _drain_pages(fetch: Any) -> Iterator[Any]:
    cursor: str | None = None
    while True:
        page = fetch(cursor=cursor, limit=_PAGE)
        yield from page.items
        cursor = page.cursor
        if cursor is None:
            return


def _read_local(
    settings: Settings, symbols: Iterable[str]
) -> tuple[list[Order], list[Fill], dict[str, Decimal]]:
    orders_store, fills_store = OrderStore(settings), FillStore(settings)
    orders = [o for state in OrderState for o in _drain_pages(partial(orders_store.by_status, state))]
    fills = [f for s in symbols for f in _drain_pages(partial(fills_store.by_symbol, s))]
    positions = {p.symbol: p.quantity for p in PositionStore(settings).for_account(settings.account)}
    return orders, fills, positions


def _read_journal(settings: Settings, report: BooksReport) -> dict[str, Order]:
    """The last journaled state of each order (a broken chain is itself a problem)."""
    try:
        entries = JournalStore(settings).read(ORDERS_STREAM)
    except JournalCorrupted as exc:
        report.problems.append(f"journal: {exc}")
        return {}
    report.journal_entries = len(entries)
    last: dict[str, Order] = {}
    for entry in entries:
        if "order" in entry.payload:
            order = Order.from_dict(entry.payload["order"])
            last[order.client_order_id] = order
    return last


def _venue_fill(raw: Mapping[str, Any], cid: str, symbol: str) -> Fill:
    return Fill(
        client_order_id=cid,
        trade_id=str(raw["id"]),
        symbol=symbol,
        side=Side.BUY if raw["isBuyer"] else Side.SELL,
        price=Decimal(raw["price"]),
        quantity=Decimal(raw["qty"]),
        fee=Decimal(raw["commission"]),
        fee_asset=str(raw["commissionAsset"]),
        ts=int(raw["time"]),
        is_maker=bool(raw["isMaker"]),
    )


def _venue_facts(state: Mapping[str, Any]) -> tuple[frozenset[tuple[Any, ...]], int]:
    """What of the venue's state the checker compares: the rig's orders (status, executed) and fills.

    The local sides are read after the venue: a venue that changed meanwhile (an expiry cancel, a resting
    order filled) would show the local side ahead of it, a disagreement of the read, not of the books.
    """
    orders = frozenset(
        (o["orderId"], o["status"], o["executedQty"]) for o in state["orders"] if o["apiKey"] == KEY["apiKey"]
    )
    return orders, sum(1 for f in state["fills"] if f["apiKey"] == KEY["apiKey"])


def _fill_key(fill: Fill) -> tuple[str, str]:
    return fill.symbol, fill.trade_id


def _fill_facts(fill: Fill) -> tuple[str, str, Decimal, Decimal]:
    return fill.client_order_id, str(fill.side), fill.price, fill.quantity


async def check_books(rig: DrillRig, intents: Iterable[TradeIntent] | None = None) -> BooksReport:
    """Compare journal, projections and venue; every disagreement goes into ``report.problems``."""
    report = BooksReport()
    unified = {s.replace("/", ""): s for s in rig.sim.server.config.symbols}
    for _ in range(_STABLE_ATTEMPTS):
        state = await rig.sim_state()
        orders, fills, positions = await asyncio.to_thread(_read_local, rig.settings, unified.values())
        journal = await asyncio.to_thread(_read_journal, rig.settings, report)
        if _venue_facts(await rig.sim_state()) == _venue_facts(state):
            break
        report.problems.clear()
    else:
        report.problems.append(f"the venue changed during each of {_STABLE_ATTEMPTS} reads of the books")
    venue_orders = [o for o in state["orders"] if o["apiKey"] == KEY["apiKey"]]
    local = {o.client_order_id: o for o in orders}
    report.local_orders, report.venue_orders, report.local_fills = len(local), len(venue_orders), len(fills)
    report.states = Counter(o.state.value for o in local.values())
    problems = report.problems

    # 1. one venue order per client order id (the id is derived from the intent and its leg)
    per_cid = Counter(o["clientOrderId"] for o in venue_orders)
    problems += [f"{cid}: {n} venue orders for one client order id" for cid, n in per_cid.items() if n > 1]
    if intents is not None:
        wanted = {i.intent_id: client_order_id(i.intent_id) for i in intents}
        report.intents = len(wanted)
        problems += [
            f"intent {iid}: no local order (never journaled)"
            for iid, cid in wanted.items()
            if cid not in local
        ]
        problems += [
            f"intent {iid}: {per_cid[cid]} venue orders" for iid, cid in wanted.items() if per_cid[cid] > 1
        ]

    # 2. every venue order journaled, with the id the venue gave it
    by_cid = {o["clientOrderId"]: o for o in venue_orders}
    for cid, venue in by_cid.items():
        recorded = journal.get(cid)
        if recorded is None:
            problems.append(
                f"{cid}: venue order {venue['orderId']} ({venue['status']}) missing from the journal"
            )
        elif recorded.venue_order_id not in (None, str(venue["orderId"])):
            problems.append(
                f"{cid}: journal says venue id {recorded.venue_order_id}, venue {venue['orderId']}"
            )

    # 3. the projection is the journal's last word
    for cid in sorted(set(local) | set(journal)):
        mine, recorded = local.get(cid), journal.get(cid)
        if mine is None or recorded is None:
            problems.append(f"{cid}: in the {'journal' if mine is None else 'orders table'} only")
        elif (mine.state, mine.version, mine.filled_quantity) != (
            recorded.state,
            recorded.version,
            recorded.filled_quantity,
        ):
            problems.append(
                f"{cid}: orders table {mine.state.value} v{mine.version} filled {mine.filled_quantity}, "
                f"journal {recorded.state.value} v{recorded.version} filled {recorded.filled_quantity}"
            )

    # 4. settled, and terminal states agree with the venue
    for cid, mine in sorted(local.items()):
        venue = by_cid.get(cid)
        if mine.state in UNSETTLED:
            problems.append(f"{cid}: left {mine.state.value} ({mine.reason or 'no reason'})")
        if venue is None:
            if mine.venue_order_id is not None or mine.filled_quantity > 0:
                problems.append(f"{cid}: local {mine.state.value} with venue id/fills, unknown to the venue")
            elif mine.state not in (OrderState.DENIED, OrderState.REJECTED, *UNSETTLED):
                problems.append(f"{cid}: local {mine.state.value} but the venue never had it")
            continue
        venue_state = VENUE_STATUS_TO_STATE[venue["status"]]
        if mine.is_terminal and mine.state is not venue_state:
            problems.append(
                f"{cid}: local {mine.state.value}, venue {venue['status']} (venue order {venue['orderId']} "
                f"updated {venue['updateTime']}; local id {mine.venue_order_id} updated {mine.updated_at})"
            )
        if mine.is_terminal and mine.filled_quantity != Decimal(venue["executedQty"]):
            problems.append(
                f"{cid}: local filled {mine.filled_quantity}, venue executed {venue['executedQty']}"
            )
        if venue_state in VENUE_FINAL and not mine.is_terminal:
            problems.append(f"{cid}: venue {venue['status']} but local still {mine.state.value}")

    # 5. fills: same trades, same facts
    cid_of = {(o["symbol"], o["orderId"]): o["clientOrderId"] for o in venue_orders}
    venue_fills = [
        _venue_fill(
            f, cid_of.get((f["symbol"], f["orderId"]), f"?order-{f['orderId']}"), unified[f["symbol"]]
        )
        for f in state["fills"]
        if f["apiKey"] == KEY["apiKey"]
    ]
    report.venue_fills = len(venue_fills)
    theirs = {_fill_key(f): f for f in venue_fills}
    ours = {_fill_key(f): f for f in fills}
    if len(ours) != len(fills):
        problems.append(f"fills table: {len(fills) - len(ours)} duplicated trade ids")
    for key in sorted(set(theirs) - set(ours)):
        problems.append(
            f"venue trade {key[0]}#{key[1]} ({theirs[key].client_order_id}) not in the fills table"
        )
    for key in sorted(set(ours) - set(theirs)):
        problems.append(f"local fill {key[0]}#{key[1]} ({ours[key].client_order_id}) unknown to the venue")
    for key in sorted(set(ours) & set(theirs)):
        if _fill_facts(ours[key]) != _fill_facts(theirs[key]):
            problems.append(
                f"trade {key[0]}#{key[1]}: local {_fill_facts(ours[key])}, venue {_fill_facts(theirs[key])}"
            )
    for cid, mine in local.items():
        counted = sum((f.quantity for f in fills if f.client_order_id == cid), Decimal(0))
        if counted != mine.filled_quantity:
            problems.append(f"{cid}: filled {mine.filled_quantity} but its fills sum to {counted}")

    # 6. positions: stored projection, local fills and venue fills imply one net quantity per symbol
    local_net, venue_net = net_positions(fills), net_positions(venue_fills)
    for symbol in sorted(set(local_net) | set(venue_net) | set(positions)):
        implied, truth = local_net.get(symbol, Decimal(0)), venue_net.get(symbol, Decimal(0))
        if implied != truth:
            problems.append(f"position {symbol}: local fills net {implied}, venue fills net {truth}")
        if symbol in positions and positions[symbol] != implied:
            problems.append(f"position {symbol}: stored {positions[symbol]}, fills imply {implied}")
    if not positions:
        report.notes.append("no stored positions (positions table empty): compared fills' net only")
    return report


async def books_settled(rig: DrillRig, intents: Iterable[TradeIntent] | None = None) -> bool:
    """Whether the books agree right now (for ``until``)."""
    return (await check_books(rig, intents)).ok


async def wait_books_agree(
    rig: DrillRig, intents: Iterable[TradeIntent] | None = None, *, timeout_s: float, every_s: float = 1.0
) -> BooksReport:
    """Re-check every ``every_s`` until the books agree; after ``timeout_s`` fail with the last report."""
    wanted = None if intents is None else list(intents)
    deadline = time.monotonic() + timeout_s
    while True:
        report = await check_books(rig, wanted)
        if report.ok:
            return report
        assert time.monotonic() < deadline, f"books still disagree after {timeout_s} s:\n{report.summary()}"
        await asyncio.sleep(every_s)


async def assert_books_agree(rig: DrillRig, intents: Iterable[TradeIntent] | None = None) -> BooksReport:
    """:func:`check_books`, failing with the whole list of disagreements; returns the report."""
    report = await check_books(rig, intents)
    assert report.ok, report.summary()
    return report

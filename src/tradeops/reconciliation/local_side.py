"""Our side of a reconciliation: the projections in DynamoDB -> LocalBook.

Covered symbols: the configured ones plus every symbol with a non-terminal order or a stored position
(always reconciled), found by the same reads the book is built from.

* orders: every non-terminal order (``by_status``) and every order created on a covered symbol inside the
  window (``by_symbol``); :meth:`LocalReader.owners` later loads the orders the venue's trades name;
* fills: every fill on a covered symbol (positions are derived from all of them, not from a window);
* positions: the stored projection per symbol, read *before* the fills so that every fill the projection
  counts is among the fills read (fills recorded in between are the diff's young, not-yet-projected
  fills); a symbol without a stored position is taken at its fills' net (nothing to disagree with);
* balances: the last venue snapshot per asset (balances table) moved by our fills after it; its stamp
  goes with the book (``balances_read_at``), for the diff to weigh fills traded about then and fills
  we lack that traded before it (in the snapshot already: the gateway can read balances before it
  records a fill).
  Without any snapshot for the account there is no baseline: balances are not compared (run summary).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TypeVar

from tradeops.config import Settings
from tradeops.domain.orders import TERMINAL_STATES, OrderState
from tradeops.domain.reconcile_types import LocalBook, balance_delta, net_positions
from tradeops.store.balances import BalanceStore
from tradeops.store.base import Page
from tradeops.store.fills import FillStore
from tradeops.store.orders import OrderStore
from tradeops.store.positions import PositionStore

T = TypeVar("T")
_PAGE = 1000
_MAX_PAGES = 200
_READERS = 8
"""Queries in flight at once during a read (DynamoDB serves them in parallel)."""


class LocalReadError(RuntimeError):
    """A projection too large to read within the bounds of one run."""


@dataclass(frozen=True)
class LocalSnapshot:
    """The LocalBook, the symbols it covers, and whether balances had a baseline to compare with."""

    book: LocalBook
    balances_baselined: bool
    symbols: frozenset[str]


def _parallel(pool: Executor, fetches: Sequence[Callable[..., Page[T]]], what: str) -> list[T]:
    """Every item of each paged query, the queries drained in parallel; items in query order."""
    drains = [pool.submit(_drained, fetch, what) for fetch in fetches]
    return [item for drained in drains for item in drained.result()]


def _drained(fetch: Callable[..., Page[T]], what: str) -> list[T]:
    return list(_drain(fetch, what))


def _drain(fetch: Callable[..., Page[T]], what: str) -> Iterator[T]:
    """Every item of a paged query (``fetch(cursor=..., limit=...)``), bounded."""
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = fetch(cursor=cursor, limit=_PAGE)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor
    raise LocalReadError(f"{what}: more than {_MAX_PAGES * _PAGE} items")


class LocalReader:
    """Reads the projections of ``account`` bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._orders = OrderStore(settings)
        self._fills = FillStore(settings)
        self._positions = PositionStore(settings)
        self._balances = BalanceStore(settings)
        self._account = settings.account

    def read(self, symbols: Iterable[str], since: int, as_of: int) -> LocalSnapshot:
        """The book of ``symbols`` and of every live symbol, orders created in ``[since, as_of]``.

        Queries run in rounds, those of a round in parallel (their order does not matter); the rounds
        keep the order the diff's grace rules assume: positions, orders, fills, balances.
        """
        with ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="recon-read") as pool:
            stored = {p.symbol: p.quantity for p in self._positions.for_account(self._account)}  # first
            live_states = sorted(set(OrderState) - TERMINAL_STATES)
            live = _parallel(
                pool, [partial(self._orders.by_status, state) for state in live_states], "live orders"
            )
            orders = {order.client_order_id: order for order in live}
            covered = sorted({*symbols, *stored, *(order.symbol for order in orders.values())})
            recent = _parallel(
                pool,
                [
                    partial(self._orders.by_symbol, symbol, created_from=since, created_to=as_of)
                    for symbol in covered
                ],
                "recent orders",
            )
            for order in recent:
                orders.setdefault(order.client_order_id, order)
            fills = _parallel(pool, [partial(self._fills.by_symbol, symbol) for symbol in covered], "fills")
        positions = {**net_positions(fills), **stored}
        snapshots = self._balances.for_account(self._account)
        balances: dict[str, Decimal] = defaultdict(Decimal)
        read_at = {snapshot.asset: snapshot.updated_at for snapshot in snapshots}  # one per asset
        for snapshot in snapshots:
            balances[snapshot.asset] += snapshot.total
        if snapshots:  # each fill once: moves an asset after its stamp, a new asset after the first one
            first = min(read_at.values())
            for fill in fills:
                if fill.ts <= first:
                    continue
                for asset, amount in balance_delta(fill).items():
                    if fill.ts > read_at.get(asset, first):
                        balances[asset] += amount
        book = LocalBook(tuple(orders.values()), tuple(fills), positions, dict(balances), read_at)
        return LocalSnapshot(book, bool(snapshots), frozenset(covered))

    def owners(self, book: LocalBook, client_order_ids: Iterable[str]) -> LocalBook:
        """``book`` plus the stored orders among ``client_order_ids`` it lacks (older orders that traded)."""
        known = {order.client_order_id for order in book.orders}
        extra = [
            order
            for coid in sorted(set(client_order_ids) - known)
            if (order := self._orders.get(coid)) is not None
        ]
        if not extra:
            return book
        return replace(book, orders=(*book.orders, *extra))

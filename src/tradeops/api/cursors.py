"""Opaque keyset cursors over one or more newest-first sources (e.g. the orders of every symbol).

A source answers "up to n items with time <= t, newest first". A page merges the sources, takes the
``limit`` newest, and its cursor records the time of the last one taken plus the ids already returned
at that exact time, so the next page resumes there without skipping or repeating an item, however the
sources interleave. Items failing ``keep`` (a filter the index cannot apply) still advance the cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tradeops.store.base import InvalidCursor

T = TypeVar("T")
Source = Callable[[int | None, int], Sequence[T]]
"""``source(ts_to, n)``: up to ``n`` items with time <= ``ts_to`` (no bound when None), newest first."""


@dataclass(frozen=True)
class Position:
    ts: int
    seen: tuple[str, ...]


def encode(position: Position) -> str:
    raw = json.dumps({"t": position.ts, "x": list(position.seen)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
        ts, seen = data["t"], data["x"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}") from exc
    valid = (
        isinstance(ts, int)
        and not isinstance(ts, bool)
        and ts >= 0
        and isinstance(seen, list)
        and len(seen) <= 10_000
        and all(isinstance(item, str) for item in seen)
    )
    if not valid:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}")
    return Position(ts, tuple(seen))


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: list[T]
    cursor: str | None


def merged_page(
    sources: Sequence[Source[T]],
    *,
    time_of: Callable[[T], int],
    id_of: Callable[[T], str],
    limit: int,
    cursor: str | None,
    keep: Callable[[T], bool] = lambda _item: True,
) -> KeysetPage[T]:
    """One newest-first page of ``limit`` positions across ``sources`` (see the module docstring)."""
    position = decode(cursor)
    ts_to = None if position is None else position.ts
    seen = frozenset(() if position is None else position.seen)
    want = limit + len(seen)
    candidates: list[T] = []
    more = False
    for source in sources:
        batch = list(source(ts_to, want))
        more = more or len(batch) >= want
        candidates += [item for item in batch if not (time_of(item) == ts_to and id_of(item) in seen)]
    candidates.sort(key=lambda item: (time_of(item), id_of(item)), reverse=True)
    taken = candidates[:limit]
    more = more or len(candidates) > limit
    if not taken or not more:
        return KeysetPage([item for item in taken if keep(item)], None)
    last_ts = time_of(taken[-1])
    at_last = [id_of(item) for item in taken if time_of(item) == last_ts]
    if last_ts == ts_to:
        at_last = [*seen, *at_last]
    next_cursor = encode(Position(last_ts, tuple(at_last)))
    return KeysetPage([item for item in taken if keep(item)], next_cursor)

"""Keyset pages across several sources: every item exactly once, newest first, whatever the ties."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.api.cursors import Position, Source, decode, encode, merged_page
from tradeops.store.base import InvalidCursor

Item = tuple[int, str]


def source(items: list[Item]) -> Source[Item]:
    ordered = sorted(items, reverse=True)

    def query(ts_to: int | None, n: int) -> Sequence[Item]:
        return [i for i in ordered if ts_to is None or i[0] <= ts_to][:n]

    return query


def drain(sources: list[Source[Item]], limit: int, keep=lambda _i: True) -> list[Item]:  # type: ignore[no-untyped-def]
    seen: list[Item] = []
    cursor = None
    for _ in range(1000):
        page = merged_page(
            sources, time_of=lambda i: i[0], id_of=lambda i: i[1], limit=limit, cursor=cursor, keep=keep
        )
        seen += page.items
        cursor = page.cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 6), max_size=25), min_size=1, max_size=4),
    st.integers(1, 7),
)
def test_pages_return_every_item_once_newest_first(times: list[list[int]], limit: int) -> None:
    per_source = [[(t, f"s{n}-{k}") for k, t in enumerate(ts)] for n, ts in enumerate(times)]
    expected = sorted((item for items in per_source for item in items), reverse=True)
    got = drain([source(items) for items in per_source], limit)
    assert got == expected


def test_filtered_items_still_advance_the_cursor() -> None:
    items = [(t, f"i{t}") for t in range(20)]
    got = drain([source(items)], 3, keep=lambda i: i[0] % 2 == 0)
    assert got == sorted((i for i in items if i[0] % 2 == 0), reverse=True)


@pytest.mark.parametrize("cursor", ["x", "eyJ0IjoiYSJ9", encode(Position(1, ())) + "!!", "bnVsbA"])
def test_bad_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode(cursor)


def test_cursor_round_trip() -> None:
    assert decode(encode(Position(5, ("a", "b")))) == Position(5, ("a", "b"))

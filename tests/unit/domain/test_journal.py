"""The journal hash chain: canonical JSON, append, storage round trip and first-break detection."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.journal import (
    GENESIS_HASH,
    ChainBreak,
    JournalEntry,
    canonical_json,
    compute_hash,
    next_entry,
    verify_chain,
)
from tradeops.domain.orders import OrderState


def build_chain(length: int, stream: str = "orders") -> list[JournalEntry]:
    entries: list[JournalEntry] = []
    for n in range(length):
        entries.append(
            next_entry(
                entries[-1] if entries else None,
                stream=stream,
                kind="order.updated",
                payload={"n": n, "price": Decimal("30000.10"), "state": OrderState.OPEN, "note": "ünïcode"},
                recorded_at=1_700_000_000_000 + n,
                actor="gateway-a",
                fencing_token=3 + n // 4,
            )
        )
    return entries


def rehash(entry: JournalEntry, **changes: Any) -> JournalEntry:
    """A forged entry whose hash is consistent with its own (changed) body."""
    forged = dataclasses.replace(entry, **changes)
    return dataclasses.replace(forged, hash=compute_hash(forged.prev_hash, forged.body()))


def test_canonical_json_rules() -> None:
    value = {"b": Decimal("1.00"), "a": [1, True, None], "é": OrderState.FILLED}
    assert canonical_json(value) == '{"a":[1,true,null],"b":"1.00","é":"FILLED"}'.encode()
    assert canonical_json(Decimal("1.0")) != canonical_json(Decimal("1.00"))
    when = datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert canonical_json(when) == b'"2024-01-02T03:04:05.000000Z"'


@pytest.mark.parametrize("bad", [1.5, {"price": 0.1}, [Decimal(1), 2.0]])
def test_canonical_json_refuses_floats(bad: Any) -> None:
    with pytest.raises(TypeError, match="float"):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [{1: "x"}, {"s": {1, 2}}, datetime(2024, 1, 1), object()])
def test_canonical_json_refuses_ambiguous_values(bad: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json(bad)


def test_canonical_json_refuses_non_finite_decimal() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": Decimal("NaN")})


def test_next_entry_links_and_hashes() -> None:
    first, second = build_chain(2)
    assert (first.seq, first.prev_hash, second.seq, second.prev_hash) == (1, GENESIS_HASH, 2, first.hash)
    assert first.hash == compute_hash(GENESIS_HASH, first.body())
    assert "hash" not in first.body() and set(first.body()) | {"hash"} == {
        f.name for f in dataclasses.fields(first)
    }


def test_next_entry_refuses_other_stream_and_stale_fencing_token() -> None:
    (entry,) = build_chain(1)
    common: dict[str, Any] = {"kind": "k", "payload": {}, "recorded_at": 1, "actor": "a"}
    with pytest.raises(ValueError, match="stream mismatch"):
        next_entry(entry, stream="positions", fencing_token=3, **common)
    with pytest.raises(ValueError, match="stale fencing token"):
        next_entry(entry, stream="orders", fencing_token=2, **common)
    with pytest.raises(TypeError, match="float"):
        next_entry(entry, stream="orders", fencing_token=3, **{**common, "payload": {"qty": 0.1}})


def test_item_round_trip_with_dynamodb_numbers() -> None:
    entries = build_chain(3)
    for entry in entries:
        item = entry.to_item()
        assert isinstance(item["payload"], str) and '"price":"30000.10"' in item["payload"]
        stored = {**item, "seq": Decimal(item["seq"]), "recorded_at": str(item["recorded_at"])}
        stored["fencing_token"] = Decimal(item["fencing_token"])
        restored = JournalEntry.from_item(stored)
        assert restored.seq == entry.seq and restored.hash == entry.hash
    assert verify_chain(JournalEntry.from_item(e.to_item()) for e in entries) is None


def test_intact_chain_and_suffix_verify() -> None:
    entries = build_chain(10)
    assert verify_chain(entries) is None
    assert verify_chain([]) is None
    assert verify_chain(entries[4:], start_prev_hash=entries[3].hash, start_seq=5) is None
    assert verify_chain(entries[4:]) == ChainBreak(
        1, "gap (missing or reordered entry): expected seq 1, found 5"
    )


@given(st.data())
def test_tampering_with_any_field_names_that_seq(data: st.DataObject) -> None:
    entries = build_chain(8)
    index = data.draw(st.integers(0, 7))
    field = data.draw(
        st.sampled_from(["kind", "payload", "recorded_at", "actor", "fencing_token", "prev_hash", "hash"])
    )
    original = entries[index]
    tampered_value: Any = {
        "kind": "order.forged",
        "payload": {**original.payload, "price": Decimal("30000.1")},
        "recorded_at": original.recorded_at + 1,
        "actor": "mallory",
        "fencing_token": original.fencing_token + 1,
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }[field]
    entries[index] = dataclasses.replace(original, **{field: tampered_value})
    result = verify_chain(entries)
    assert result is not None and result.seq == index + 1, result


@given(st.integers(0, 7))
def test_deleting_an_entry_names_the_missing_seq(index: int) -> None:
    entries = build_chain(8)
    del entries[index]
    expected = None if index == 7 else index + 1  # dropping the tail is invisible without an external head
    result = verify_chain(entries)
    assert (result.seq if result else None) == expected


@given(st.integers(0, 8))
def test_inserting_a_forged_entry_is_detected(index: int) -> None:
    entries = build_chain(8)
    prev_hash = entries[index - 1].hash if index else GENESIS_HASH
    token = entries[index - 1].fencing_token if index else 3
    forged = rehash(
        entries[0], seq=index + 1, prev_hash=prev_hash, fencing_token=token, payload={"forged": 1}
    )
    entries.insert(index, forged)
    result = verify_chain(entries)
    # A well-formed forgery links to its predecessor; the chain breaks at the entry it displaced. Appended
    # at the tail it is indistinguishable from a real append: only the writer's lease can prevent that.
    if index < 8:
        assert result is not None and result.seq == index + 2 and "duplicate or out-of-order" in result.reason
    else:
        assert result is None


@given(st.integers(0, 6))
def test_reordering_names_the_first_out_of_place_seq(index: int) -> None:
    entries = build_chain(8)
    entries[index], entries[index + 1] = entries[index + 1], entries[index]
    result = verify_chain(entries)
    assert result is not None and result.seq == index + 1 and f"expected seq {index + 1}" in result.reason


def test_mixed_stream_is_a_break() -> None:
    entries = build_chain(4)
    entries[2] = rehash(entries[2], stream="positions")
    assert verify_chain(entries) == ChainBreak(3, "entry of stream 'positions' inside stream 'orders'")


def test_fencing_token_going_backwards_is_a_break() -> None:
    entries = build_chain(6)
    entries[5] = rehash(entries[5], fencing_token=1)
    result = verify_chain(entries)
    assert result is not None and result.seq == 6 and "fencing token went backwards" in result.reason


def test_float_smuggled_into_stored_payload_is_a_break() -> None:
    entries = build_chain(3)
    item = entries[1].to_item()
    item["payload"] = item["payload"].replace('"30000.10"', "30000.10")
    restored = [entries[0], JournalEntry.from_item(item), entries[2]]
    result = verify_chain(restored)
    assert result is not None and result.seq == 2 and "float" in result.reason


def test_datetime_payload_is_hashed_as_utc_iso() -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    entry = next_entry(
        None, stream="s", kind="k", payload={"at": at}, recorded_at=0, actor="a", fencing_token=0
    )
    assert JournalEntry.from_item(entry.to_item()).payload == {"at": "2024-05-01T00:00:00.000000Z"}
    assert verify_chain([JournalEntry.from_item(entry.to_item())]) is None


def test_known_entries_hash_as_they_always_have() -> None:
    """Golden vectors: archived journals are verified years later, so the canonical form and the chain
    rule must never drift. These hashes were computed with the journal code of 2026-11-24 (the same
    before and after ``body()`` stopped deep-copying the payload); a change that alters them breaks the
    verification of every stored stream (change the code, not the vectors)."""
    payload = {
        "order": {
            "client_order_id": "toen-1",
            "quantity": Decimal("0.0010"),  # kept as given: 0.0010, not 0.001
            "price": Decimal("59000.00"),
            "state": "OPEN",
            "fills": [{"trade_id": "7", "qty": Decimal("1E-3")}],
            "reduce_only": False,
            "note": None,
        },
        "at": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        "actor_name": "Zoë",  # UTF-8, not escaped
    }
    first = next_entry(
        None, stream="orders", kind="order_state", payload=payload,
        recorded_at=1_795_000_000_000, actor="gateway", fencing_token=3,
    )  # fmt: skip
    second = next_entry(
        first, stream="orders", kind="intent", payload={"intent_id": "i-1", "quantity": Decimal("2")},
        recorded_at=1_795_000_000_001, actor="gateway", fencing_token=3,
    )  # fmt: skip
    assert first.hash == "25332fb6f846b529f5003b7fd384d67dedb627ab15abc83014f457e2c85a097a"
    assert second.hash == "6dc6c07947c366530a7eaa2dca1ffc503c293e7b833f2551f7d2694c7093bc52"
    assert first.to_item()["payload"] == (
        '{"actor_name":"Zoë","at":"2026-11-24T12:00:00.000000Z","order":{"client_order_id":"toen-1",'
        '"fills":[{"qty":"0.001","trade_id":"7"}],"note":null,"price":"59000.00","quantity":"0.0010",'
        '"reduce_only":false,"state":"OPEN"}}'
    )
    assert verify_chain([JournalEntry.from_item(e.to_item()) for e in (first, second)]) is None

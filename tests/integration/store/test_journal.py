"""JournalStore against moto: conditional appends, fencing, concurrent writers, tamper detection."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.exceptions import PutError

from tradeops.config import Settings
from tradeops.domain.journal import GENESIS_HASH, verify_chain
from tradeops.store.base import bind_model
from tradeops.store.journal import AppendContention, FencedOut, JournalCorrupted, JournalItem, JournalStore

pytestmark = pytest.mark.integration


def _append_n(store: JournalStore, stream: str, n: int, token: int = 1) -> None:
    for i in range(n):
        store.append(stream, "test", {"i": i, "px": Decimal("1.10")}, actor="tester", fencing_token=token)


def test_append_chains_from_genesis_and_reads_back_exactly(store_settings: Settings) -> None:
    store = JournalStore(store_settings)
    first = store.append("gw", "order", {"qty": Decimal("0.00000001")}, "gateway", 3, recorded_at=1000)
    second = store.append("gw", "fill", {"px": Decimal("12345678.12345678")}, "gateway", 3, recorded_at=1001)
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.payload == {"qty": str(Decimal("0.00000001"))}
    assert second.payload == {"px": "12345678.12345678"}
    assert store.head("gw") == second
    assert store.read("gw") == [first, second]
    assert store.read("gw", from_seq=2) == [second]
    assert store.read("gw", 1, 1) == [first]
    assert store.verify("gw") is None
    assert store.head("other") is None and store.read("other") == []


def test_stored_item_is_never_overwritten(store_settings: Settings) -> None:
    store = JournalStore(store_settings)
    entry = store.append("s", "k", {"a": 1}, "me", 1)
    model = bind_model(JournalItem, store_settings)
    forged = model(**{**entry.to_item(), "payload": '{"a":2}'})
    with pytest.raises(PutError, match="ConditionalCheckFailed"):
        forged.save(condition=model.stream.does_not_exist() & model.seq.does_not_exist())
    assert store.read("s") == [entry]


def test_lower_fencing_token_is_refused_and_writes_nothing(store_settings: Settings) -> None:
    store = JournalStore(store_settings)
    store.append("s", "k", {}, "new-owner", 7)
    with pytest.raises(FencedOut, match="token 6 < head token 7"):
        store.append("s", "k", {}, "old-owner", 6)
    assert [e.seq for e in store.read("s")] == [1]
    assert store.append("s", "k", {}, "newer-owner", 8).seq == 2


def test_two_concurrent_writers_cannot_fork_the_chain(store_settings: Settings) -> None:
    store = JournalStore(store_settings)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _append_n(store, "race", 100)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = store.read("race")
    assert [e.seq for e in entries] == list(range(1, 201))
    assert verify_chain(entries) is None and store.verify("race") is None


def test_bounded_retries_raise_contention(store_settings: Settings, monkeypatch: Any) -> None:
    JournalStore(store_settings).append("s", "k", {}, "me", 1)
    store = JournalStore(store_settings, max_attempts=2)
    monkeypatch.setattr(store, "head", lambda stream: None)  # always builds seq 1, which exists
    with pytest.raises(AppendContention):
        store.append("s", "k", {}, "me", 1)


def test_a_remembered_head_that_another_writer_passed_is_re_read_and_fences(store_settings: Settings) -> None:
    old, new = JournalStore(store_settings), JournalStore(store_settings)
    old.append("s", "k", {"n": 1}, "old", 1)  # old now remembers seq 1 as the head
    new.append("s", "k", {"n": 2}, "new", 1)  # same token: a second process of one tenure
    third = old.append("s", "k", {"n": 3}, "old", 1)  # seq 2 taken: re-read, build on the real head
    assert third.seq == 3
    new.append("s", "k", {"n": 4}, "new", 2)  # a newer tenure writes seq 4
    with pytest.raises(FencedOut):  # old's memory says seq 3 / token 1; the put fails, the re-read fences
        old.append("s", "k", {"n": 5}, "old", 1)
    assert [e.seq for e in new.read("s")] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("payload", {"S": '{"i":99,"px":"1.10"}'}, "hash mismatch"),
        ("actor", {"S": "mallory"}, "hash mismatch"),
        ("payload", {"S": "not json"}, "unreadable"),
    ],
)
def test_tampering_is_named_by_seq(
    store_settings: Settings, dynamodb: Any, attribute: str, value: dict[str, str], reason: str
) -> None:
    store = JournalStore(store_settings)
    _append_n(store, "audit", 5)
    table = store_settings.table_name(JournalItem.SPEC)
    dynamodb.update_item(
        TableName=table,
        Key={"stream": {"S": "audit"}, "seq": {"N": "3"}},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": value},
    )
    chain_break = store.verify("audit")
    assert chain_break is not None and chain_break.seq == 3 and reason in chain_break.reason
    with pytest.raises(JournalCorrupted, match="seq 3"):
        store.read("audit")
    with pytest.raises(JournalCorrupted, match="seq 3"):
        store.read("audit", from_seq=4)  # the anchor (seq 3) is verified too
    assert [e.seq for e in store.read("audit", 1, 2)] == [1, 2]


def test_deleted_entry_is_a_gap(store_settings: Settings, dynamodb: Any) -> None:
    store = JournalStore(store_settings)
    _append_n(store, "audit", 4)
    table = store_settings.table_name(JournalItem.SPEC)
    dynamodb.delete_item(TableName=table, Key={"stream": {"S": "audit"}, "seq": {"N": "2"}})
    chain_break = store.verify("audit")
    assert chain_break is not None and chain_break.seq == 2 and "gap" in chain_break.reason
    with pytest.raises(JournalCorrupted, match="seq 2"):
        store.read("audit", from_seq=3)


def test_streams_lists_every_stream(store_settings: Settings) -> None:
    store = JournalStore(store_settings)
    for name in ("b", "a", "c"):
        _append_n(store, name, 2)
    assert store.streams() == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"stream": ""}, ValueError),
        ({"actor": " "}, ValueError),
        ({"fencing_token": -1}, ValueError),
        ({"fencing_token": True}, ValueError),
        ({"payload": {"px": 1.5}}, TypeError),
    ],
)
def test_bad_input_is_refused_before_writing(
    store_settings: Settings, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    store = JournalStore(store_settings)
    args: dict[str, Any] = {"stream": "s", "kind": "k", "payload": {}, "actor": "me", "fencing_token": 1}
    with pytest.raises(error):
        store.append(**{**args, **kwargs})
    assert store.read("s") == []

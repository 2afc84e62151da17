"""Store plumbing without AWS: exact decimal attributes, cursors, model binding, spec checks."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynamodb.attributes import UnicodeAttribute

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.store.base import (
    MAX_BINDINGS,
    DecimalAttribute,
    DecimalMapAttribute,
    IntAttribute,
    InvalidCursor,
    SchemaMismatch,
    StoreError,
    TableModel,
    bind_model,
    decode_cursor,
    encode_cursor,
    page_size_or_error,
)
from tradeops.store.journal import JournalItem
from tradeops.store.provision import table_definition
from tradeops.store.tables import JOURNAL, ORDERS, SNAPSHOTS, TableSpec

EXACT = ["0.00000001", "12345678.12345678", "1.50", "-0.0", "1E+3", "99999999999999999999.999999999999999999"]


@pytest.mark.parametrize("text", EXACT)
def test_decimal_attribute_round_trips_value_and_scale(text: str) -> None:
    attr = DecimalAttribute()
    back = attr.deserialize(attr.serialize(Decimal(text)))
    assert back == Decimal(text) and str(back) == str(Decimal(text))


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_attribute_is_lossless_for_any_finite_decimal(value: Decimal) -> None:
    attr = DecimalAttribute()
    assert attr.deserialize(attr.serialize(value)).as_tuple() == value.as_tuple()


@pytest.mark.parametrize("bad", [1.5, "1.5", 2, Decimal("NaN"), Decimal("Infinity"), None])
def test_decimal_attribute_refuses_non_decimals(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        DecimalAttribute().serialize(bad)


def test_decimal_attribute_reports_corrupt_storage() -> None:
    with pytest.raises(StoreError):
        DecimalAttribute().deserialize("abc")
    with pytest.raises(StoreError):
        DecimalAttribute().deserialize("NaN")


def test_int_attribute_refuses_floats_and_bools() -> None:
    assert IntAttribute().deserialize(IntAttribute().serialize(2**62)) == 2**62
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError):
            IntAttribute().serialize(bad)


def test_decimal_map_round_trips_and_refuses_floats() -> None:
    attr = DecimalMapAttribute()
    value = {"max_notional": Decimal("10000.00"), "max_qty": Decimal("0.00000001")}
    assert {k: str(v) for k, v in attr.deserialize(attr.serialize(value)).items()} == {
        "max_notional": "10000.00",
        "max_qty": "1E-8",
    }
    with pytest.raises(TypeError):
        attr.serialize({"max_notional": 1.5})
    with pytest.raises(StoreError):
        attr.deserialize('{"a": 1.5}')


def test_cursor_round_trip_and_tamper_refusal() -> None:
    key = {"client_order_id": {"S": "abc"}, "updated_at": {"N": "17"}, "status": {"S": "OPEN"}}
    cursor = encode_cursor(key)
    assert cursor is not None and decode_cursor(cursor) == key
    assert encode_cursor(None) is None and decode_cursor(None) is None
    for bad in ("!!!", cursor[:-3], "e30", "WzFd"):  # garbage, truncated, {}, [1]
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_page_limits_are_validated(limit: int) -> None:
    with pytest.raises(ValueError):
        page_size_or_error(limit)


def test_bind_model_is_cached_and_isolated_per_prefix_and_endpoint() -> None:
    a = Settings(table_prefix="a-", aws_endpoint_url="http://127.0.0.1:1")
    b = Settings(table_prefix="b-", aws_endpoint_url="http://127.0.0.1:1")
    c = Settings(table_prefix="a-", aws_endpoint_url="http://127.0.0.1:2")
    bound_a = bind_model(JournalItem, a)
    assert bind_model(JournalItem, a) is bound_a
    assert bound_a.Meta.table_name == "a-journal" and bound_a.Meta.host == "http://127.0.0.1:1"
    assert bind_model(JournalItem, b).Meta.table_name == "b-journal"
    assert (
        bind_model(JournalItem, c) is not bound_a
        and bind_model(JournalItem, c).Meta.host == "http://127.0.0.1:2"
    )
    assert bound_a._get_connection() is not bind_model(JournalItem, c)._get_connection()
    assert issubclass(bound_a, JournalItem) and JournalItem._connection is None


def test_bindings_share_one_dynamodb_model_and_the_oldest_are_dropped_past_the_bound() -> None:
    settings = [Settings(table_prefix=f"lru{n}-", aws_endpoint_url="http://127.0.0.1:1") for n in range(3)]
    clients = [bind_model(JournalItem, s)._get_connection().connection.client for s in settings[:2]]
    assert clients[0] is not clients[1]  # one connection per binding, as before
    described = [c.meta.service_model._service_description for c in clients]
    assert described[0] is described[1]  # but one copy of the DynamoDB model (the shared loader)
    boto3_model = client("dynamodb", settings[2]).meta.service_model._service_description
    assert boto3_model is described[0]

    first = bind_model(JournalItem, settings[0])
    for n in range(MAX_BINDINGS):
        bind_model(JournalItem, Settings(table_prefix=f"fill{n}-", aws_endpoint_url="http://127.0.0.1:1"))
    assert bind_model(JournalItem, settings[0]) is not first  # dropped, bound again on demand
    assert first.Meta.table_name == "lru0-journal"  # a store holding the old binding still works


def test_bind_model_without_endpoint_targets_aws() -> None:
    bound = bind_model(JournalItem, Settings(table_prefix="prod-", region="eu-west-1"))
    assert (bound.Meta.table_name, bound.Meta.region, bound.Meta.host) == ("prod-journal", "eu-west-1", None)


class _WrongKeys(TableModel):
    SPEC: ClassVar[TableSpec] = JOURNAL

    stream = UnicodeAttribute(hash_key=True)
    seq = UnicodeAttribute(range_key=True)  # the spec says N


class _NoSpec(TableModel):
    name = UnicodeAttribute(hash_key=True)


def test_bind_model_refuses_models_that_disagree_with_their_spec() -> None:
    with pytest.raises(SchemaMismatch, match="seq must be type N"):
        bind_model(_WrongKeys, Settings())
    with pytest.raises(TypeError, match="SPEC"):
        bind_model(_NoSpec, Settings())


def test_table_definition_follows_the_spec() -> None:
    journal = table_definition(JOURNAL, "p-journal")
    assert journal["BillingMode"] == "PAY_PER_REQUEST"
    assert journal["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert journal["KeySchema"] == [
        {"AttributeName": "stream", "KeyType": "HASH"},
        {"AttributeName": "seq", "KeyType": "RANGE"},
    ]
    orders = table_definition(ORDERS, "p-orders")
    assert {i["IndexName"]: i["Projection"] for i in orders["GlobalSecondaryIndexes"]} == {
        "by_status": {"ProjectionType": "ALL"},
        "by_symbol": {"ProjectionType": "ALL"},
    }
    assert {"AttributeName": "updated_at", "AttributeType": "N"} in orders["AttributeDefinitions"]
    assert "StreamSpecification" not in table_definition(SNAPSHOTS, "p-snapshots")

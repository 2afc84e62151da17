"""create_tables against moto: idempotent, TTL and stream as specified, foreign tables refused."""

from __future__ import annotations

from typing import Any

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.store.base import SchemaMismatch
from tradeops.store.journal import JournalStore
from tradeops.store.provision import create_tables
from tradeops.store.tables import JOURNAL, LEASES, SNAPSHOTS, TABLES

pytestmark = pytest.mark.integration


def test_tables_are_created_active_with_ttl_and_stream(store_settings: Settings, dynamodb: Any) -> None:
    for spec in TABLES:
        table = dynamodb.describe_table(TableName=store_settings.table_name(spec))["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
        if spec.ttl_attribute:
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec.ttl_attribute)
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
    journal = dynamodb.describe_table(TableName=store_settings.table_name(JOURNAL))["Table"]
    assert journal["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert journal["LatestStreamArn"]


def test_create_tables_is_idempotent_and_keeps_data(store_settings: Settings) -> None:
    JournalStore(store_settings).append("s", "k", {}, "me", 1)
    create_tables(store_settings)
    create_tables(store_settings, [SNAPSHOTS])
    assert len(JournalStore(store_settings).read("s")) == 1


def test_existing_table_with_other_keys_is_refused(aws_settings: Settings) -> None:
    dynamodb = client("dynamodb", aws_settings)
    dynamodb.create_table(
        TableName=aws_settings.table_name(LEASES),
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(SchemaMismatch, match="leases"):
        create_tables(aws_settings, [LEASES])


def test_two_prefixes_on_one_server_do_not_interfere(
    store_settings: Settings, aws_settings: Settings
) -> None:
    other = aws_settings.model_copy(update={"table_prefix": aws_settings.table_prefix + "x-"})
    create_tables(other, [JOURNAL])
    JournalStore(store_settings).append("s", "k", {"who": "first"}, "me", 1)
    JournalStore(other).append("s", "k", {"who": "second"}, "me", 1)
    assert [e.payload for e in JournalStore(store_settings).read("s")] == [{"who": "first"}]
    assert [e.payload for e in JournalStore(other).read("s")] == [{"who": "second"}]

"""The accounts registry (KYC records in the accounts table) against moto."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.kyc import KycRecord, KycStatus, account_may_trade
from tradeops.store.accounts import AccountStore
from tradeops.store.base import StaleWrite
from tradeops.store.provision import create_tables
from tradeops.store.tables import ACCOUNTS, CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(aws_settings: Settings) -> AccountStore:
    create_tables(aws_settings, specs=(ACCOUNTS, CONTROL))
    return AccountStore(aws_settings)


def test_kyc_records_are_versioned_and_decide_trading(accounts: AccountStore) -> None:
    record = KycRecord("acct-1", KycStatus.PENDING, None, "compliance@tradeops.example", 1)
    assert accounts.get("acct-1") is None
    assert accounts.put(record, expected_version=None) == 1
    with pytest.raises(StaleWrite):
        accounts.put(record, expected_version=None)
    verified = replace(record, status=KycStatus.VERIFIED, expires_on=date(2026, 12, 31), updated_at=2)
    assert accounts.put(verified, expected_version=1) == 2
    with pytest.raises(StaleWrite):
        accounts.put(verified, expected_version=1)
    stored = accounts.get("acct-1")
    assert stored == (verified, 2)
    assert account_may_trade(stored[0], datetime(2026, 6, 1, tzinfo=UTC))
    assert not account_may_trade(stored[0], datetime(2027, 1, 1, tzinfo=UTC))
    accounts.put(KycRecord("acct-0", KycStatus.EXPIRED, date(2025, 1, 1), "c", 3), expected_version=None)
    assert [r.account for r in accounts.all()] == ["acct-0", "acct-1"]


def test_records_live_in_the_accounts_table_keyed_by_account(
    accounts: AccountStore, aws_settings: Settings
) -> None:
    accounts.put(KycRecord("acct-7", KycStatus.PENDING, None, "c", 1), expected_version=None)
    dynamodb = client("dynamodb", aws_settings)
    item = dynamodb.get_item(
        TableName=aws_settings.table_name(ACCOUNTS), Key={"account": {"S": "acct-7"}}, ConsistentRead=True
    )["Item"]
    assert item["kyc_status"] == {"S": "PENDING"} and item["version"] == {"N": "1"}
    # Nothing of the registry is left in the control table any more.
    control = dynamodb.scan(TableName=aws_settings.table_name(CONTROL), ConsistentRead=True)
    assert control["Items"] == []

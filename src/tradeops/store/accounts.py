"""The accounts registry: the KYC record of each trading account, in the ``accounts`` table.

One item per account (partition key ``account``). Each record is versioned like the control records:
writers name the version they read (None: must not exist) and a concurrent change makes the write fail
with :class:`~tradeops.store.base.StaleWrite`.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition

from tradeops.config import Settings
from tradeops.domain.kyc import KycRecord, KycStatus
from tradeops.store.base import IntAttribute, StaleWrite, TableModel, bind_model, is_condition_failure
from tradeops.store.tables import ACCOUNTS, TableSpec


class AccountItem(TableModel):
    SPEC: ClassVar[TableSpec] = ACCOUNTS

    account = UnicodeAttribute(hash_key=True)
    version = IntAttribute()
    kyc_status = UnicodeAttribute()
    expires_on = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute()
    updated_at = IntAttribute()


class AccountStore:
    """KYC records in the accounts table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(AccountItem, settings)

    def get(self, account: str) -> tuple[KycRecord, int] | None:
        """The record of ``account`` and its version, or None if the account is not registered."""
        try:
            item = self._model.get(account, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return _to_record(item), item.version

    def put(self, record: KycRecord, *, expected_version: int | None) -> int:
        """Write ``record`` if its stored version is still ``expected_version``; returns the new version."""
        model = self._model
        condition: Condition
        if expected_version is None:
            condition, version = model.account.does_not_exist(), 1
        else:
            condition, version = model.version == expected_version, expected_version + 1
        item = model(
            record.account,
            version=version,
            kyc_status=record.status.value,
            expires_on=None if record.expires_on is None else record.expires_on.isoformat(),
            updated_by=record.updated_by,
            updated_at=record.updated_at,
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"kyc {record.account!r}: stored version is not {expected_version}") from exc
            raise
        return version

    def all(self) -> list[KycRecord]:
        """Every registered account, by id (a consistent scan of the small accounts table)."""
        return sorted((_to_record(item) for item in self._model.scan(consistent_read=True)), key=_by_account)


def _by_account(record: KycRecord) -> str:
    return record.account


def _to_record(item: AccountItem) -> KycRecord:
    return KycRecord(
        account=item.account,
        status=KycStatus(item.kyc_status),
        expires_on=None if item.expires_on is None else date.fromisoformat(item.expires_on),
        updated_by=item.updated_by,
        updated_at=item.updated_at,
    )

"""KYC status of a trading account (pure): only a VERIFIED, unexpired account may trade.

A verification is valid through its ``expires_on`` date (UTC, inclusive) and EXPIRED from the next day
on, whatever the stored status says; PENDING and EXPIRED accounts never trade. Unknown accounts (no
record) never trade either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum


class KycStatus(StrEnum):
    VERIFIED = "VERIFIED"
    PENDING = "PENDING"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class KycRecord:
    """The KYC state of ``account``; ``expires_on`` is required when VERIFIED."""

    account: str
    status: KycStatus
    expires_on: date | None
    updated_by: str
    updated_at: int
    """Epoch ms of the last change."""

    def __post_init__(self) -> None:
        if not self.account or "#" in self.account:
            raise ValueError(f"bad account id {self.account!r}")
        object.__setattr__(self, "status", KycStatus(self.status))
        if self.status is KycStatus.VERIFIED and self.expires_on is None:
            raise ValueError("a VERIFIED record needs an expiry date")
        if self.expires_on is not None and not isinstance(self.expires_on, date):
            raise TypeError(f"expires_on must be a date, got {self.expires_on!r}")
        if not self.updated_by:
            raise ValueError("a KYC record names who last changed it")


def effective_status(record: KycRecord | None, now: datetime) -> KycStatus:
    """The status in force at ``now`` (aware): past its expiry date it is EXPIRED; no record is PENDING."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if record is None:
        return KycStatus.PENDING
    if record.expires_on is not None and now.astimezone(UTC).date() > record.expires_on:
        return KycStatus.EXPIRED
    return record.status


def account_may_trade(record: KycRecord | None, now: datetime) -> bool:
    """True only for a VERIFIED record whose expiry date has not passed at ``now``."""
    return effective_status(record, now) is KycStatus.VERIFIED

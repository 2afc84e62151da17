"""Single-active leases with monotonically increasing fencing tokens.

Every change is one conditional PutItem on the lease item, conditioned on the exact state that was read
(owner, token, expiry), so two owners can never both hold an unexpired lease: of two racing writers
only the first one's condition holds. The item is never deleted (release only expires it), so the
fencing token keeps increasing across the lease's whole life; writers pass it to the journal, which
refuses tokens older than its head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition

from tradeops.config import Settings
from tradeops.store.base import IntAttribute, TableModel, bind_model, is_condition_failure
from tradeops.store.tables import LEASES, TableSpec


@dataclass(frozen=True)
class Lease:
    """A lease as held: valid while ``now_ms < expires_at_ms``; ``fencing_token`` identifies this tenure."""

    name: str
    owner: str
    fencing_token: int
    expires_at_ms: int

    def is_held(self, now_ms: int) -> bool:
        return bool(self.owner) and now_ms < self.expires_at_ms


class LeaseItem(TableModel):
    SPEC: ClassVar[TableSpec] = LEASES

    lease_name = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()
    fencing_token = IntAttribute()
    expires_at_ms = IntAttribute()


class LeaseStore:
    """Acquire, renew and release named leases in the leases table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(LeaseItem, settings)

    def get(self, name: str) -> Lease | None:
        """The lease record as stored (possibly expired or released), or None if never acquired."""
        try:
            item = self._model.get(name, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return Lease(item.lease_name, item.owner, item.fencing_token, item.expires_at_ms)

    def acquire(self, name: str, owner: str, ttl_ms: int, now_ms: int) -> Lease | None:
        """Take ``name`` for ``owner`` until ``now_ms + ttl_ms`` with the next fencing token.

        Succeeds when the lease is free, expired or already held by ``owner`` (a re-acquire still gets a
        new token). Returns None when another owner holds it unexpired, or won a race for it just now.
        """
        _check(name, owner, ttl_ms, now_ms)
        current = self.get(name)
        if current is not None and current.is_held(now_ms) and current.owner != owner:
            return None
        model = self._model
        if current is None:
            token, unchanged = 1, model.lease_name.does_not_exist()
        else:
            # Conditioned on the exact record read: a renewal or a rival acquire in between wins.
            token = current.fencing_token + 1
            unchanged = self._same_tenure(current) & (model.expires_at_ms == current.expires_at_ms)
        lease = Lease(name, owner, token, now_ms + ttl_ms)
        return lease if self._put(lease, unchanged) else None

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease | None:
        """Extend a lease still held unexpired under the same token; None if it expired or was taken."""
        _check(lease.name, lease.owner, ttl_ms, now_ms)
        model = self._model
        renewed = Lease(lease.name, lease.owner, lease.fencing_token, now_ms + ttl_ms)
        held = self._same_tenure(lease) & (model.expires_at_ms > now_ms)
        return renewed if self._put(renewed, held) else None

    def release(self, lease: Lease) -> bool:
        """Give the lease up (expire it, keeping its token); False if this tenure had already ended."""
        return self._put(Lease(lease.name, "", lease.fencing_token, 0), self._same_tenure(lease))

    def _same_tenure(self, lease: Lease) -> Condition:
        model = self._model
        same: Condition = (model.owner == lease.owner) & (model.fencing_token == lease.fencing_token)
        return same

    def _put(self, new: Lease, condition: Condition) -> bool:
        """Write ``new`` if ``condition`` holds on the stored item; False if it does not."""
        item = self._model(
            new.name, owner=new.owner, fencing_token=new.fencing_token, expires_at_ms=new.expires_at_ms
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True


def _check(name: str, owner: str, ttl_ms: int, now_ms: int) -> None:
    if not name or not owner:
        raise ValueError("lease name and owner must be non-empty")
    for label, value in (("ttl_ms", ttl_ms), ("now_ms", now_ms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if label == "ttl_ms" else 0):
            raise ValueError(f"{label} must be a {'positive' if label == 'ttl_ms' else 'non-negative'} int")

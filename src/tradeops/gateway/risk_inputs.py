"""The risk gate's slow-moving inputs, kept current while trading: approved limits and the account's KYC.

Only approved limit versions reach the limits table (four eyes, :mod:`tradeops.change_management`), so
the gateway re-reads the latest version every ``interval_s`` and swaps it in when the version changed:
an approval takes effect within one interval, without a restart. The account's KYC record
(:mod:`tradeops.domain.kyc`) is re-read on the same beat; an account that is not VERIFIED, or whose
verification expired, has every order denied ``KYC`` (issue 6). A failed re-read keeps the last known
values (logged); the first read, before the session trades, must succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from tradeops.domain.kyc import account_may_trade
from tradeops.gateway.risk_gate import RiskGate
from tradeops.gateway.wiring import load_limits
from tradeops.observability import get_logger
from tradeops.store.accounts import AccountStore
from tradeops.store.limits import LimitStore

__all__ = ["RiskInputs"]

log = get_logger("tradeops.gateway")


class RiskInputs:
    """Refreshes ``gate.limits`` and ``gate.kyc_verified`` for ``account``."""

    def __init__(
        self,
        gate: RiskGate,
        limits: LimitStore,
        accounts: AccountStore,
        account: str,
        *,
        interval_s: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._gate = gate
        self._limits = limits
        self._accounts = accounts
        self._account = account
        self._interval = interval_s
        self._now = now

    async def refresh(self) -> None:
        """Read both once and apply them (raises if a read fails)."""
        limits = await asyncio.to_thread(load_limits, self._limits)
        if limits.version != self._gate.limits.version:
            log.warning(
                "risk limits changed",
                extra={
                    "from": self._gate.limits.version,
                    "to": limits.version,
                    "approved_by": limits.approved_by,
                },
            )
        self._gate.limits = limits
        found = await asyncio.to_thread(self._accounts.get, self._account)
        verified = account_may_trade(None if found is None else found[0], self._now())
        if verified != self._gate.kyc_verified:
            log.warning("account KYC status changed", extra={"account": self._account, "may_trade": verified})
        self._gate.kyc_verified = verified

    async def run(self) -> None:
        """Refresh every interval until cancelled; a failed read keeps the last values."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("risk inputs not refreshed: keeping the last ones", extra={"error": repr(exc)})

"""Key sessions: one ccxt exchange per credentials version, rotated without dropping a call in flight.

A rotation builds a new ccxt exchange (a new key object) for the calls that start afterwards; calls
already sent finish on the old one, which is closed once idle (:meth:`KeySessions.wait_retired_idle`
tells when the old key may be revoked).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ccxt.async_support import binance

from tradeops.observability import get_logger
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials

log = get_logger("tradeops.venue")


@dataclass
class KeySession:
    """One ccxt exchange bound to one key version, with the number of requests it has in flight."""

    exchange: binance
    credentials: ExchangeCredentials
    inflight: int = 0
    retired: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class KeySessions:
    """The current key's exchange and the retired ones still finishing calls.

    ``open_exchange`` builds a configured ccxt exchange for a key version; construction reads the
    current credentials (a blocking Secrets Manager call on first use).
    """

    def __init__(
        self, open_exchange: Callable[[ExchangeCredentials], binance], credentials: CredentialsProvider
    ) -> None:
        self._open_exchange = open_exchange
        self._credentials = credentials
        self._retired: list[KeySession] = []
        self._rotation = asyncio.Lock()
        self.current = KeySession(open_exchange(credentials.current), credentials.current)

    def all(self) -> tuple[KeySession, ...]:
        """The current session and every retired one not yet closed."""
        return (self.current, *self._retired)

    @property
    def inflight(self) -> int:
        """Requests sent and not yet answered, on every key."""
        return sum(session.inflight for session in self.all())

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[binance]:
        """The current exchange for one call: chosen now, so the call keeps the key it was sent with."""
        session = self.current
        session.inflight += 1
        try:
            yield session.exchange
        finally:
            session.inflight -= 1
            await self._close_if_idle(session)

    async def rotate(self, version_id: str | None) -> bool:
        """Load AWSCURRENT and switch new calls to it; returns whether the key changed.

        ``version_id`` (from the "Secret Rotated" event) is logged against the version actually loaded:
        AWSCURRENT is the truth whichever event arrives first.
        """
        async with self._rotation:
            credentials = await self._credentials.reload()
            old = self.current
            if (credentials.api_key, credentials.secret) == (old.credentials.api_key, old.credentials.secret):
                log.info("secret rotated: key unchanged", extra={"version_id": credentials.version_id})
                return False
            new = KeySession(self._open_exchange(credentials), credentials)
            if old.exchange.markets:
                new.exchange.set_markets(old.exchange.markets, old.exchange.currencies)
            self.current = new
            old.retired = True
            self._retired.append(old)
            log.info(
                "secret rotated: new calls use the new key",
                extra={"event_version_id": version_id, "loaded_version_id": credentials.version_id},
            )
            await self._close_if_idle(old)
            return True

    async def wait_retired_idle(self, timeout_s: float) -> None:
        """Wait until no call is in flight on a retired key (then revoking it cannot fail a call).

        Raises ``TimeoutError`` after ``timeout_s``: the old key must not be revoked yet.
        """
        async with asyncio.timeout(timeout_s):
            for session in list(self._retired):
                await session.idle.wait()

    async def _close_if_idle(self, session: KeySession) -> None:
        if session.retired and session.inflight == 0 and not session.idle.is_set():
            session.idle.set()
            if session in self._retired:
                self._retired.remove(session)
            await session.exchange.close()

    async def close(self) -> None:
        """Close every ccxt exchange (current and retired)."""
        for session in (*self._retired, self.current):
            session.idle.set()
            await session.exchange.close()
        self._retired.clear()

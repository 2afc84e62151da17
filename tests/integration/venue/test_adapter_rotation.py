"""Key rotation mid-stream: new key issued, secret rotated, old key revoked, and not one call fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import ccxt.async_support as ccxt
import pytest

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.domain.orders import Order
from tradeops.observability import REDACTED, scrub_text
from tradeops.sim.server import RunningSim
from tradeops.venue.adapter import Accepted
from tradeops.venue.credentials import CredentialsError
from tradeops.venue.sim_exchange import make_ccxt_exchange

from .conftest import API_KEY, API_SECRET, AdapterFactory, Admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
NEW_KEY = "venue-key-0002"
NEW_SECRET = "venue-secret-0002-fedcba9876543210"


async def test_rotation_mid_stream_fails_no_call(
    make_adapter: AdapterFactory,
    limit: Callable[..., Order],
    admin: Admin,
    sim: RunningSim,
    secret_store: Callable[[str, str], str],
) -> None:
    adapter = await make_adapter()
    assert adapter.api_key == API_KEY
    # Every request takes 150 ms, so calls are in flight on the old key when the rotation lands.
    await admin.faults({"kind": "latency", "ms": 150})
    outcomes: list[object] = []
    stop = asyncio.Event()

    async def stream(worker: int) -> None:
        for n in range(40):  # bounded: ~40 x 2 requests x 150 ms at most
            if stop.is_set():
                return
            order = limit("50000.00", client_order_id=f"rot-{worker}-{n:03d}")
            outcomes.append(await adapter.submit(order))
            outcomes.append(await adapter.fetch_order("BTC/USDT", order.client_order_id))

    workers = [asyncio.create_task(stream(w)) for w in range(4)]
    await asyncio.sleep(0.5)
    assert adapter.inflight > 0

    status, body = await admin.call(
        "POST", "/keys", {"api_key": NEW_KEY, "secret": NEW_SECRET, "account_of": API_KEY}
    )
    assert status == 200, body
    version = secret_store(NEW_KEY, NEW_SECRET)
    assert await adapter.on_secret_rotated(version) is True
    assert adapter.api_key == NEW_KEY
    await adapter.wait_retired_idle(timeout_s=10)
    status, body = await admin.call("DELETE", f"/keys/{API_KEY}")
    assert status == 200, body
    await asyncio.sleep(0.6)  # keep streaming on the new key after the old one is gone
    stop.set()
    await asyncio.wait_for(asyncio.gather(*workers), 30)

    failures = [o for o in outcomes if not isinstance(o, Accepted)]
    assert failures == [] and len(outcomes) > 8
    keys_used = {o["apiKey"] for o in (await admin.state())["orders"]}
    assert keys_used == {API_KEY, NEW_KEY}  # both keys really carried orders
    assert scrub_text(f"key {NEW_KEY} secret {NEW_SECRET}") == f"key {REDACTED} secret {REDACTED}"

    # Control: the revoked key really is refused, so the zero above is not luck.
    old = make_ccxt_exchange(sim.url, API_KEY, API_SECRET)
    old.enableRateLimit = False
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await old.fetch_balance()
    finally:
        await old.close()


async def test_rotation_to_the_same_key_changes_nothing(
    make_adapter: AdapterFactory, secret_store: Callable[[str, str], str]
) -> None:
    adapter = await make_adapter()
    version = secret_store(API_KEY, API_SECRET)
    assert await adapter.on_secret_rotated(version) is False
    assert adapter.api_key == API_KEY and isinstance(await adapter.server_time(), Accepted)


async def test_rotation_to_a_malformed_secret_raises_and_keeps_trading_on_the_old_key(
    make_adapter: AdapterFactory, aws_settings: Settings, limit: Callable[..., Order]
) -> None:
    adapter = await make_adapter()
    sm = clients.client("secretsmanager", aws_settings)
    sm.put_secret_value(SecretId=aws_settings.exchange_secret_id, SecretString='{"apiKey": "only-a-key"}')
    with pytest.raises(CredentialsError, match="lacks string field"):
        await adapter.on_secret_rotated("v-bad")
    assert adapter.api_key == API_KEY
    assert isinstance(await adapter.submit(limit("50000.00")), Accepted)

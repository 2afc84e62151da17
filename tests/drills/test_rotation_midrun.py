"""Drill 8 (issue 4): the exchange key rotated while intents stream into a full in-process gateway.

Intents arrive on the bus at ~10/s for ~15 s. Mid-run the key is rotated the way production does it:
the real :class:`~tradeops.aws.rotation.SecretRotator` runs createSecret (a new key issued by
``POST /_sim/keys`` on the same account), setSecret, testSecret (a signed read with the pending key)
and finishSecret (promotion, "Secret Rotated" on the bus); the gateway's event consumer switches its
venue adapter to the new key; once no call is in flight on the old key and its grace has passed, the
revocation sweep revokes it at the venue. Not one order may fail: every intent FILLED, none REJECTED
(least of all for -2014/-2015/-1022), and the venue's ground truth shows each order's key: the old one
before the switch, the new one for every intent published after it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import pytest

from tradeops.aws.rotation import build_rotator
from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import OrderState
from tradeops.domain.values import Side

from ._gateway import trading_gateway
from ._gateway_drills import account_orders, check_essentials, holds, market_data_ok, publish, settled
from ._rig import KEY, intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(240)]
RATE_PER_S = 10
DURATION_S = 15
ROTATE_AFTER = 30  # intents published before the rotation starts (~3 s in)
GRACE_S = 1


@dataclass(frozen=True)
class Sent:
    intent: TradeIntent
    at: float  # monotonic time it was published


async def test_rotating_the_key_mid_run_fails_no_order(aws_settings: Settings) -> None:
    async with open_rig(aws_settings) as rig, trading_gateway(rig) as app:
        await market_data_ok(app)
        sent: list[Sent] = []
        total = RATE_PER_S * DURATION_S

        async def stream() -> None:
            start = time.monotonic()
            for n in range(total):
                side = Side.BUY if n % 2 == 0 else Side.SELL
                one = intent(f"rot-{n:03d}", symbol="BTC/USDT", side=side, quantity="0.001")
                await publish(rig, [one])
                sent.append(Sent(one, time.monotonic()))
                await asyncio.sleep(max(0.0, start + (n + 1) / RATE_PER_S - time.monotonic()))

        streaming = asyncio.create_task(stream())
        await until(lambda: holds(len(sent) >= ROTATE_AFTER), 30, f"{ROTATE_AFTER} intents published")

        rotator = build_rotator(rig.settings, sim_url=rig.sim.url, grace_s=GRACE_S, require_enabled=False)
        secret_id, token = rig.settings.exchange_secret_id, str(uuid.uuid4())
        rotation_started = time.monotonic()
        await asyncio.to_thread(rotator.rotate, secret_id, token)  # the four steps, "Secret Rotated" sent
        rotated = time.monotonic()
        await until(
            lambda: holds(app.adapter.api_key != KEY["apiKey"]), 15, "the gateway switched to the new key"
        )
        switched = time.monotonic()
        new_key = app.adapter.api_key
        await app.adapter.wait_retired_idle(timeout_s=10)  # nothing in flight on the old key
        await asyncio.sleep(GRACE_S + 0.1)
        revoked_versions = await asyncio.to_thread(rotator.revoke_due, secret_id)
        revoked = time.monotonic()
        assert len(revoked_versions) == 1, revoked_versions
        live_keys = rig.sim.server.venue.keys()
        assert KEY["apiKey"] not in live_keys and new_key in live_keys  # revoked at the venue

        await asyncio.wait_for(streaming, DURATION_S + 30)
        intents = [s.intent for s in sent]
        done = await settled(rig, intents, 90)
        failed = {i: (o.state, o.reason) for i, o in done.items() if o.state is not OrderState.FILLED}
        assert failed == {}, failed

        key_of = {o["clientOrderId"]: o["apiKey"] for o in await account_orders(rig)}
        keys = {s.intent.intent_id: key_of[client_order_id(s.intent.intent_id)] for s in sent}
        after_switch = [s.intent.intent_id for s in sent if s.at > switched]
        after_revoke = [s.intent.intent_id for s in sent if s.at > revoked]
        during = [s for s in sent if rotation_started <= s.at <= revoked]
        print(
            f"drill 8: {len(sent)} intents; rotation steps took {rotated - rotation_started:.2f}s, "
            f"the gateway switched {switched - rotated:.2f}s after finishSecret, old key revoked "
            f"{revoked - rotation_started:.2f}s after the rotation started; {len(during)} intents published "
            f"during the rotation, {len(after_revoke)} after the revocation; "
            f"old key {sum(k == KEY['apiKey'] for k in keys.values())} orders, "
            f"new key {sum(k == new_key for k in keys.values())} orders"
        )
        assert set(keys.values()) == {KEY["apiKey"], new_key}  # both keys really carried orders
        assert len(after_revoke) >= 20, "too few intents after the revocation to prove anything"
        assert {keys[i] for i in after_switch} == {new_key}
        await check_essentials(rig, intents)

"""Drill: rotate the exchange key while a VenueAdapter trades; not one order may fail.

The four rotation steps run against moto with keys issued by the simulator; "Secret Rotated" travels
through EventBridge (rule -> SQS) to the adapter, which hot-reloads; the old key is revoked once the
grace period has passed and nothing is in flight on it. The simulator's ground truth names the key of
every order, so "both keys traded" is a fact, not an inference.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest
from ccxt.async_support import binance

from tradeops.aws import clients
from tradeops.aws.events import EventPublisher
from tradeops.aws.rotation import (
    EVENT_SOURCE,
    RotationError,
    SecretRotator,
    SimulatorKeyIssuer,
    build_rotator,
    signed_read_check,
    sim_exchange_factory,
)
from tradeops.config import Settings
from tradeops.domain.orders import Order
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.sim.server import RunningSim
from tradeops.venue.adapter import Accepted, VenueAdapter
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange

from .conftest import API_KEY, API_SECRET, Admin, current_key

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(60)]
ORDERS = 60
GRACE_S = 1


def _order(n: int) -> Order:
    return Order.new(
        client_order_id=f"drill-{n:04d}",
        intent_id=f"drill-intent-{n}",
        strategy="drill",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        limit_price=Decimal("50000.00"),
        time_in_force=TimeInForce.GTC,
        created_at=1,
    )


def _listen(settings: Settings) -> str:
    """A queue receiving every "Secret Rotated" event on the bus (the gateway's subscription)."""
    sqs, events = clients.client("sqs", settings), clients.client("events", settings)
    url: str = sqs.create_queue(QueueName=f"rotated-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"secret-rotated-{uuid.uuid4().hex[:8]}"
    pattern = {"source": ["tradeops.rotation"], "detail-type": ["Secret Rotated"]}
    events.put_rule(Name=rule, EventBusName=settings.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=settings.bus_name, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _receive(settings: Settings, url: str) -> dict[str, object]:
    sqs = clients.client("sqs", settings)
    for _ in range(5):  # bounded: 5 x 1 s long polls
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            envelope: dict[str, object] = json.loads(messages[0]["Body"])
            return envelope
    raise AssertionError("no Secret Rotated event on the bus")


async def test_rotation_during_trading_fails_no_order(
    sim: RunningSim, admin: Admin, provisioned: Settings, captured_logs: io.StringIO
) -> None:
    settings = provisioned
    queue = _listen(settings)

    def factory(credentials: ExchangeCredentials) -> binance:
        return make_ccxt_exchange(sim.url, credentials.api_key, credentials.secret)

    adapter = VenueAdapter(factory, WeightBudget(6000), CredentialsProvider(settings))
    try:
        assert isinstance(await adapter.load_instruments(), Accepted)
        status, body = await admin.call("POST", "/faults", {"faults": [{"kind": "latency", "ms": 40}]})
        assert status == 200, body
        outcomes: list[object] = []
        submitted = 0
        revoked_at: int | None = None

        async def trade() -> None:
            nonlocal submitted
            for _ in range(ORDERS * 2):  # bounded; stops once ORDERS are in and 10 followed the revocation
                if submitted >= ORDERS and revoked_at is not None and submitted >= revoked_at + 10:
                    return
                order = _order(submitted)
                submitted += 1
                outcomes.append(await adapter.submit(order))
                outcomes.append(await adapter.cancel(order.symbol, order.client_order_id))

        workers = [asyncio.create_task(trade()) for _ in range(2)]
        while submitted < 15:
            await asyncio.sleep(0.02)
        rotator = build_rotator(settings, sim_url=sim.url, grace_s=GRACE_S, require_enabled=False)
        token = str(uuid.uuid4())
        await asyncio.to_thread(rotator.rotate, settings.exchange_secret_id, token)
        envelope = await asyncio.to_thread(_receive, settings, queue)
        detail = envelope["detail"]
        assert isinstance(detail, dict) and detail["version_id"] == token
        assert await adapter.on_secret_rotated(detail["version_id"]) is True
        assert adapter.api_key != API_KEY
        await adapter.wait_retired_idle(timeout_s=10)
        await asyncio.sleep(GRACE_S + 0.1)
        revoked = await asyncio.to_thread(rotator.revoke_due, settings.exchange_secret_id)
        assert len(revoked) == 1
        revoked_at = submitted
        await asyncio.wait_for(asyncio.gather(*workers), 40)
    finally:
        await adapter.close()

    failures = [o for o in outcomes if not isinstance(o, Accepted)]
    assert failures == [] and len(outcomes) >= 2 * ORDERS
    new = current_key(settings)
    orders = (await admin.state())["orders"]
    assert {o["apiKey"] for o in orders} == {API_KEY, new["apiKey"]}
    late = [o for o in orders if o["clientOrderId"] >= f"drill-{revoked_at:04d}"]
    assert late and {o["apiKey"] for o in late} == {new["apiKey"]}
    # Control: the old key really is revoked, so zero failures is not luck.
    old = make_ccxt_exchange(sim.url, API_KEY, API_SECRET)
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await old.fetch_balance()
    finally:
        await old.close()
    logs = captured_logs.getvalue()
    assert "rotation step done" in logs and "retired key revoked" in logs
    for value in (API_KEY, API_SECRET, new["apiKey"], new["secret"]):
        assert value not in logs


async def test_a_key_the_venue_refuses_stops_the_rotation(sim: RunningSim, provisioned: Settings) -> None:
    class RevokingIssuer(SimulatorKeyIssuer):
        """Issues a key, then revokes it before testSecret: the signed read must fail."""

        def issue(self, current: ExchangeCredentials) -> ExchangeCredentials:
            issued = super().issue(current)
            self.revoke(issued.api_key)
            return issued

    publisher = EventPublisher(provisioned, EVENT_SOURCE)
    check = signed_read_check(sim_exchange_factory(sim.url))
    sm = clients.client("secretsmanager", provisioned)
    rotator = SecretRotator(sm, RevokingIssuer(sim.url), check, publisher.publish, require_enabled=False)
    with pytest.raises(RotationError, match=r"testSecret: signed read .* failed: AuthenticationError"):
        await asyncio.to_thread(rotator.rotate, provisioned.exchange_secret_id, str(uuid.uuid4()))
    assert current_key(provisioned) == {"apiKey": API_KEY, "secret": API_SECRET}


async def test_simulator_refusals_raise(sim: RunningSim) -> None:
    issuer = SimulatorKeyIssuer(sim.url)
    unknown = ExchangeCredentials(api_key="no-such-key-000", secret="no-such-secret-000", version_id=None)
    with pytest.raises(RotationError, match=r"refused to issue a key \(HTTP 4"):
        await asyncio.to_thread(issuer.issue, unknown)
    assert await asyncio.to_thread(issuer.revoke, "never-issued-key-0")  # 404: already revoked
    start = time.monotonic()
    closed = SimulatorKeyIssuer("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(OSError):
        await asyncio.to_thread(closed.issue, unknown)
    assert time.monotonic() - start < 5

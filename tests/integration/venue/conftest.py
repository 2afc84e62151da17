"""Fixtures: an in-process simulator, the exchange secret in moto, VenueAdapters on both (closed after)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from ccxt.async_support import binance

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.domain.orders import Order
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange

API_KEY = "venue-key-0001"
API_SECRET = "venue-secret-0001-0123456789abcdef"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(seed=11), "127.0.0.1", 0, 0)
    running.venue.add_key(API_KEY, API_SECRET)
    try:
        yield running
    finally:
        await running.close()


class Admin:
    """The simulator's admin API: (status, JSON) per call."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.base}{path}", json=body) as resp:
            return resp.status, await resp.json(content_type=None)

    async def faults(self, *faults: dict[str, Any], mode: str = "replace") -> None:
        status, body = await self.call("POST", "/faults", {"faults": list(faults), "mode": mode})
        assert status == 200, body

    async def state(self) -> dict[str, Any]:
        status, body = await self.call("GET", "/state")
        assert status == 200, body
        result: dict[str, Any] = body
        return result


@pytest.fixture
async def admin(sim: RunningSim) -> AsyncIterator[Admin]:
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.admin_url)


def put_exchange_secret(settings: Settings, api_key: str, secret: str) -> str:
    """Create or update the exchange secret; returns the new AWSCURRENT version id."""
    sm = clients.client("secretsmanager", settings)
    value = json.dumps({"apiKey": api_key, "secret": secret})
    try:
        response = sm.put_secret_value(
            SecretId=settings.exchange_secret_id, SecretString=value, VersionStages=["AWSCURRENT"]
        )
    except sm.exceptions.ResourceNotFoundException:
        response = sm.create_secret(Name=settings.exchange_secret_id, SecretString=value)
    version: str = response["VersionId"]
    return version


AdapterFactory = Callable[..., Awaitable[VenueAdapter]]


@pytest.fixture
async def make_adapter(sim: RunningSim, aws_settings: Settings) -> AsyncIterator[AdapterFactory]:
    """``await make_adapter(limit=..., timeout_ms=...)``: an adapter on the simulator, markets loaded."""
    put_exchange_secret(aws_settings, API_KEY, API_SECRET)
    made: list[VenueAdapter] = []

    async def build(
        limit: int = 6000, timeout_ms: int = 5_000, budget: WeightBudget | None = None, **kwargs: Any
    ) -> VenueAdapter:
        def factory(credentials: ExchangeCredentials) -> binance:
            return make_ccxt_exchange(sim.url, credentials.api_key, credentials.secret)

        adapter = VenueAdapter(
            factory,
            budget or WeightBudget(limit),
            CredentialsProvider(aws_settings),
            timeout_ms=timeout_ms,
            **kwargs,
        )
        made.append(adapter)
        loaded = await adapter.load_instruments()
        assert hasattr(loaded, "value"), loaded
        return adapter

    try:
        yield build
    finally:
        for adapter in made:
            await adapter.close()


_counter = iter(range(1_000_000))


def limit_order(
    price: str, quantity: str = "0.01", side: Side = Side.BUY, client_order_id: str | None = None
) -> Order:
    n = next(_counter)
    return Order.new(
        client_order_id=client_order_id or f"t-{n:06d}",
        intent_id=f"intent-{n}",
        strategy="test",
        symbol="BTC/USDT",
        side=side,
        type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
        time_in_force=TimeInForce.GTC,
        created_at=1,
    )


def market_order(quantity: str, side: Side = Side.BUY, symbol: str = "BTC/USDT") -> Order:
    n = next(_counter)
    return Order.new(
        client_order_id=f"m-{n:06d}",
        intent_id=f"intent-m{n}",
        strategy="test",
        symbol=symbol,
        side=side,
        type=OrderType.MARKET,
        quantity=Decimal(quantity),
        created_at=1,
    )


@pytest.fixture
def limit() -> Callable[..., Order]:
    """``limit(price, quantity="0.01", side=BUY, client_order_id=None)``: a GTC BTC/USDT limit order."""
    return limit_order


@pytest.fixture
def market() -> Callable[..., Order]:
    """``market(quantity, side=BUY, symbol="BTC/USDT")``: a market order."""
    return market_order


@pytest.fixture
def secret_store(aws_settings: Settings) -> Callable[[str, str], str]:
    """``secret_store(api_key, secret)``: put a new AWSCURRENT version of the exchange secret."""
    return lambda api_key, secret: put_exchange_secret(aws_settings, api_key, secret)

"""Fixtures: an in-process simulator, moto provisioned with the simulator's key, a log capture."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.local.provision import provision
from tradeops.observability import ScrubbingFormatter
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim

API_KEY = "rotation-key-0001"
API_SECRET = "rotation-secret-0001-0123456789abcdef"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(seed=5), "127.0.0.1", 0, 0)
    running.venue.add_key(API_KEY, API_SECRET)
    try:
        yield running
    finally:
        await running.close()


@dataclass
class Admin:
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.base}{path}", json=body) as resp:
            return resp.status, await resp.json(content_type=None)

    async def state(self) -> dict[str, Any]:
        status, body = await self.call("GET", "/state")
        assert status == 200, body
        result: dict[str, Any] = body
        return result


@pytest.fixture
async def admin(sim: RunningSim) -> AsyncIterator[Admin]:
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.admin_url)


@pytest.fixture
def provisioned(aws_settings: Settings) -> Settings:
    """moto provisioned from the routing data, the exchange secret holding the simulator's key."""
    provision(
        aws_settings, exchange_key={"apiKey": API_KEY, "secret": API_SECRET}, demo_password="Demo-Pass-1234"
    )
    return aws_settings


@pytest.fixture
def exchange_secret(aws_settings: Settings) -> Settings:
    """Only what the CLI needs (the bus and the exchange secret): faster than a full provision."""
    clients.client("events", aws_settings).create_event_bus(Name=aws_settings.bus_name)
    clients.client("secretsmanager", aws_settings).create_secret(
        Name=aws_settings.exchange_secret_id,
        SecretString=json.dumps({"apiKey": API_KEY, "secret": API_SECRET}),
    )
    return aws_settings


def current_key(settings: Settings) -> dict[str, str]:
    sm = clients.client("secretsmanager", settings)
    value = sm.get_secret_value(SecretId=settings.exchange_secret_id, VersionStage="AWSCURRENT")
    result: dict[str, str] = json.loads(value["SecretString"])
    return result


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the rotation, venue and library loggers write, in the platform's scrubbing format."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(ScrubbingFormatter(service="test"))
    loggers = [logging.getLogger(name) for name in ("tradeops.rotation", "tradeops.venue", "")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)

"""Fixtures: a provisioned moto stack, an in-process simulator with our key, and environment restore."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tradeops.config import Settings
from tradeops.local.provision import provision
from tradeops.sim.config import SimConfig
from tradeops.sim.server import start_sim
from tradeops.venue.sim_exchange import make_ccxt_exchange

from ._stack import API_KEY, API_SECRET, Stack


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
async def stack(aws_settings: Settings) -> AsyncIterator[Stack]:
    resources = provision(aws_settings, exchange_key={"apiKey": API_KEY, "secret": API_SECRET})
    sim = await start_sim(SimConfig(seed=7), "127.0.0.1", 0, 0)
    sim.server.venue.add_key(API_KEY, API_SECRET)
    venue = make_ccxt_exchange(sim.url, API_KEY, API_SECRET)
    venue.enableRateLimit = False
    try:
        await venue.load_markets()
        built = Stack(aws_settings, resources, sim, venue)
        built.gateway_events()  # queue names are not per test: drop what earlier tests left there
        yield built
    finally:
        await venue.close()
        await sim.close()

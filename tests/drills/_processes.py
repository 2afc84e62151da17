"""Helpers of the process drills (2 and 7): ports, readiness of a gateway process, its JSON log lines,
publishing intents the way strategies do, and the orders journal's fencing tokens."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from tradeops.aws.events import EventPublisher
from tradeops.domain.events import TradeIntent
from tradeops.store.journal import JournalEntry, JournalStore

from ._rig import DrillRig

STRATEGY_SOURCE = "tradeops.strategy"
ORDERS_STREAM = "orders"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def is_ready(rig: DrillRig, port: int) -> bool:
    """``/readyz`` answers 200: leader, connected, fresh data and startup reconciliation done."""
    try:
        async with rig.http.get(f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def is_alive(rig: DrillRig, port: int) -> bool:
    try:
        async with rig.http.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def seconds_until_ready(rig: DrillRig, port: int, timeout_s: float, what: str) -> float:
    """Wait for readiness (polling every 100 ms); the seconds it took. Fails naming ``what``."""
    started = time.monotonic()
    while not await is_ready(rig, port):
        assert time.monotonic() - started < timeout_s, f"not ready in {timeout_s} s: {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON records a gateway process wrote (other output, e.g. a traceback, is skipped)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


async def publish(rig: DrillRig, intents: Iterable[TradeIntent]) -> None:
    """Publish Trade Intents on the bus as a strategy does (EventBridge -> intents queue)."""
    publisher = EventPublisher(rig.settings, STRATEGY_SOURCE)
    await asyncio.to_thread(publisher.publish_many, list(intents))


def journal_entries(rig: DrillRig) -> list[JournalEntry]:
    """Every entry of the orders stream (the chain is verified by the read)."""
    store = JournalStore(rig.settings)
    return store.read(ORDERS_STREAM) if store.head(ORDERS_STREAM) is not None else []

"""The rig itself: a gateway child process leads, trades one intent and the venue agrees."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.ids import client_order_id

from ._rig import intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_gateway_process_trades_an_intent_from_the_bus(
    aws_settings: Settings, tmp_path: Path
) -> None:
    async with open_rig(aws_settings) as rig:
        port = free_port()
        proc = rig.spawn_gateway("gw-p", port, tmp_path / "gw.log")

        async def ready() -> bool:
            try:
                async with rig.http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await until(ready, 45, "gateway process ready")
        one = intent(1)
        await asyncio.to_thread(EventPublisher(rig.settings, "tradeops.strategy").publish, one)

        async def filled() -> bool:
            return any(
                o["clientOrderId"] == client_order_id(one.intent_id) and o["status"] == "FILLED"
                for o in await rig.venue_orders()
            )

        await until(filled, 30, "the intent filled on the venue")
        assert proc.poll() is None

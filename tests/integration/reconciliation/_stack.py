"""The stack reconciliation tests run on: moto provisioned like `tradeops up`, an in-process simulator
with our key, a "gateway" that journals orders the way the real one does, and the gateway queue."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ccxt.async_support import binance

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.local.provision import ProvisionedResources
from tradeops.reconciliation.runtime import run_pass
from tradeops.reconciliation.service import ReconcileConfig, RunReport
from tradeops.sim.server import RunningSim
from tradeops.store.balances import BalanceRecord, BalanceStore
from tradeops.store.orders import OrderStore

API_KEY = "recon-key-0123456789"
API_SECRET = "recon-secret-0123456789abcdef"
SYMBOL = "BTC/USDT"
D = Decimal


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Stack:
    settings: Settings
    resources: ProvisionedResources
    sim: RunningSim
    venue: binance
    """Our key on the venue, for test setup (the gateway's or another client's orders)."""

    async def run(self, **config: Any) -> RunReport:
        """One pass; no settle grace by default so a drill is detected within one run."""
        from tradeops.domain.reconcile import Grace

        config.setdefault("grace", Grace(settle_ms=0))
        return await run_pass(
            self.settings, sim_url=self.sim.url, trigger="test", config=ReconcileConfig(**config)
        )

    async def baseline_balances(self) -> None:
        """What the gateway records at startup: the venue's balances, as the local baseline."""
        balance = await self.venue.fetch_balance()
        at, store = now_ms(), BalanceStore(self.settings)
        for asset in sorted(set(balance["free"]) | set(balance["used"])):
            free = D(str(balance["free"].get(asset) or 0))
            locked = D(str(balance["used"].get(asset) or 0))
            store.put(BalanceRecord(self.settings.account, asset, free, locked, at))

    async def gateway_order(
        self, intent: str, *, price: str, qty: str = "0.01", side: Side = Side.BUY
    ) -> Order:
        """Place a GTC limit order as the gateway would and journal it OPEN with its venue id."""
        coid = client_order_id(intent)
        raw = await self.venue.create_order(
            SYMBOL, "limit", side.value, float(qty), float(price), {"newClientOrderId": coid}
        )
        at = now_ms()
        order = (
            Order.new(
                client_order_id=coid,
                intent_id=intent,
                strategy="demo",
                symbol=SYMBOL,
                side=side,
                type=OrderType.LIMIT,
                quantity=D(qty),
                limit_price=D(price),
                time_in_force=TimeInForce.GTC,
                created_at=at,
            )
            .transition(OrderState.SUBMITTING, at)
            .with_venue_order_id(str(raw["id"]), at)
            .transition(OrderState.OPEN, at)
        )
        OrderStore(self.settings).put(order, None)
        return order

    def gateway_events(self) -> list[dict[str, Any]]:
        """Every envelope delivered to the gateway-events queue so far (drained)."""
        sqs = client("sqs", self.settings)
        url = self.resources.queues["gateway-events"]
        found: list[dict[str, Any]] = []
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

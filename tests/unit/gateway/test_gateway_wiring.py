"""Wiring of the gateway process: config from env, limits overlay, fill fan-out, gateway-events dispatch."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from tradeops.domain.events import (
    EVENT_TYPES,
    ControlChanged,
    EventDetail,
    EventSchemaError,
    OrderFilled,
    SecretRotated,
)
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order
from tradeops.domain.values import Side
from tradeops.gateway.gateway_events import GatewayEventConsumer, fill_from_detail
from tradeops.gateway.wiring import FillTap, GatewayConfig, load_limits
from tradeops.store.limits import LimitVersion

FILL = Fill(
    client_order_id="toen-abc",
    trade_id="t-1",
    symbol="SOL/USDT",
    side=Side.BUY,
    price=Decimal("101.25"),
    quantity=Decimal("0.1"),
    fee=Decimal("0.0001"),
    fee_asset="SOL",
    ts=1_700_000_000_000,
    is_maker=False,
)


def test_config_from_env_reads_the_simulator_health_port_demo_flag_and_symbols() -> None:
    env = {
        "TRADEOPS_SIM_URL": "http://127.0.0.1:4701",
        "TRADEOPS_SIM_MD_URL": "http://127.0.0.1:4702",
        "TRADEOPS_GATEWAY_HEALTH_PORT": "4704",
        "TRADEOPS_DEMO_STRATEGY": "1",
        "TRADEOPS_GATEWAY_SYMBOLS": "BTC/USDT, ETH/USDT",
    }
    config = GatewayConfig.from_env(env)
    assert (config.sim_url, config.sim_md_url, config.health_port) == (
        env["TRADEOPS_SIM_URL"],
        env["TRADEOPS_SIM_MD_URL"],
        4704,
    )
    assert (
        config.demo_strategy
        and config.symbols == ("BTC/USDT", "ETH/USDT")
        and config.quote_currency == "USDT"
    )
    assert config.owner  # unique per process when not given
    aws = GatewayConfig.from_env({"TRADEOPS_DEMO_STRATEGY": "0"})
    assert aws.sim_url is None and not aws.demo_strategy and aws.health_port == 8080
    assert aws.health_host == "127.0.0.1"


def test_config_refuses_symbols_with_mixed_quote_currencies() -> None:
    with pytest.raises(ValueError, match="quote"):
        GatewayConfig(symbols=("BTC/USDT", "ETH/BTC"))


class LimitsStub:
    def __init__(self, stored: LimitVersion | None) -> None:
        self.stored = stored

    def latest(self, scope: str) -> LimitVersion | None:
        assert scope == "global"
        return self.stored


def test_limits_fall_back_to_the_demo_defaults_when_none_are_stored() -> None:
    assert load_limits(LimitsStub(None)) == RiskLimits.default_for_demo()  # type: ignore[arg-type]


def test_stored_limits_override_scalar_fields_and_ignore_unknown_keys() -> None:
    stored = LimitVersion(
        "global",
        3,
        {
            "max_order_notional": Decimal("500"),
            "order_burst": Decimal(40),
            "no_such_limit": Decimal(1),
            "max_order_quantity.BTC/USDT": Decimal("0.5"),
            "strategy_allocations.manual": Decimal(20000),
        },
        "risk-a",
        "risk-b",
        "p-3",
        1,
    )
    limits = load_limits(LimitsStub(stored))  # type: ignore[arg-type]
    assert (limits.version, limits.max_order_notional, limits.order_burst) == (3, Decimal("500"), 40)
    assert limits.approved_by == "risk-b"
    defaults = RiskLimits.default_for_demo()
    assert limits.max_order_quantity == {**defaults.max_order_quantity, "BTC/USDT": Decimal("0.5")}
    assert limits.strategy_allocations["manual"] == Decimal(20000)  # per-strategy entries apply too


class Recorder:
    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


class FailingSink:
    def publish(self, event: EventDetail) -> None:
        raise RuntimeError("bus down")


async def test_fill_tap_hands_fills_to_the_loop_even_when_the_bus_refuses_them() -> None:
    loop = asyncio.get_running_loop()
    seen: list[Fill] = []
    event = OrderFilled.from_fill(FILL, correlation_id="c-1")
    recorder = Recorder()
    await asyncio.to_thread(FillTap(recorder, loop, seen.append).publish, event)
    with pytest.raises(RuntimeError, match="bus down"):
        await asyncio.to_thread(FillTap(FailingSink(), loop, seen.append).publish, event)
    await asyncio.sleep(0)
    assert seen == [FILL, FILL] and recorder.events == [event]


class Calls:
    def __init__(self, fail_fill: bool = False) -> None:
        self.control: list[ControlChanged] = []
        self.secrets: list[SecretRotated] = []
        self.fills: list[Fill] = []
        self.fail_fill = fail_fill

    def on_control(self, event: ControlChanged) -> None:
        self.control.append(event)

    async def on_secret(self, event: SecretRotated) -> bool:
        self.secrets.append(event)
        return True

    async def on_fill(self, fill: Fill) -> Order | None:
        if self.fail_fill:
            raise RuntimeError("store unavailable")
        self.fills.append(fill)
        return None


def consumer(calls: Calls) -> GatewayEventConsumer:
    return GatewayEventConsumer(
        None,  # type: ignore[arg-type]  # only run() reads the settings and the queue
        None,
        on_control=calls.on_control,
        on_secret_rotated=calls.on_secret,
        on_fill=calls.on_fill,
    )


def envelope(detail_type: str, detail: dict[str, Any]) -> str:
    return json.dumps({"source": "tradeops.reconcile", "detail-type": detail_type, "detail": detail})


async def test_gateway_events_are_dispatched_by_detail_type() -> None:
    calls = Calls()
    events = consumer(calls)
    control = ControlChanged(
        correlation_id="c", key="trading", value={"state": "HALTED"}, actor="a", reason="r"
    )
    rotated = SecretRotated(correlation_id="c", secret_id="s", version_id="v2")
    fill_detail = {"correlation_id": "c", "break_id": "b-1", **FILL.to_dict()}
    assert await events.handle(envelope("Control Changed", control.model_dump(mode="json")))
    assert await events.handle(envelope("Secret Rotated", rotated.model_dump(mode="json")))
    assert await events.handle(envelope("Fill Discovered", fill_detail))
    assert await events.handle(envelope("Something Else", {"correlation_id": "c"}))
    assert await events.handle("not json")  # unreadable: dropped, never retried forever
    assert calls.control == [control] and calls.secrets == [rotated] and calls.fills == [FILL]
    assert events.handled == 4


async def test_a_gateway_event_that_fails_to_apply_is_left_for_redelivery() -> None:
    calls = Calls(fail_fill=True)
    events = consumer(calls)
    fill_detail = {"correlation_id": "c", "break_id": "b-1", **FILL.to_dict()}
    assert not await events.handle(envelope("Fill Discovered", fill_detail))
    assert not await events.handle(envelope("Control Changed", {"correlation_id": "c", "key": "trading"}))
    assert events.handled == 0


def test_a_discovered_fill_is_read_through_the_event_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    detail = {"correlation_id": "c", "break_id": "b-1", **FILL.to_dict()}
    assert fill_from_detail(detail) == FILL
    with pytest.raises(EventSchemaError):
        fill_from_detail({"correlation_id": "c", **FILL.to_dict()})  # no break id
    monkeypatch.delitem(EVENT_TYPES, "Fill Discovered")  # a schema without the type: skipped, not guessed
    assert fill_from_detail(detail) is None


async def test_fill_tap_hands_a_republished_fill_over_once() -> None:
    loop = asyncio.get_running_loop()
    seen: list[Fill] = []
    tap = FillTap(FailingSink(), loop, seen.append)
    event = OrderFilled.from_fill(FILL, correlation_id="c-1")
    for _ in range(3):  # the background queue retries a refused event
        with pytest.raises(RuntimeError, match="bus down"):
            await asyncio.to_thread(tap.publish, event)
    await asyncio.sleep(0)
    assert seen == [FILL]

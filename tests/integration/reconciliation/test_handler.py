"""functions/reconcile/handler.py on moto + the simulator: schedule firings, idempotent requests, metrics."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.domain.reconcile import Grace
from tradeops.local.lambda_context import make_context
from tradeops.reconciliation.metrics import OPEN_BREAKS, RUN_DURATION_MS, SERVICE
from tradeops.reconciliation.service import ReconcileConfig
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.store.recon import ReconStore, RunOutcome

from ._stack import SYMBOL, Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HANDLER_PATH = Path(__file__).resolve().parents[3] / "functions" / "reconcile" / "handler.py"


def _load_module() -> ModuleType:
    """Import the handler file as the Lambda runtime does (a fresh top-level module)."""
    spec = importlib.util.spec_from_file_location(f"reconcile_handler_{uuid.uuid4().hex[:8]}", HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = _load_module()


def _envelope(detail_type: str, detail: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2025-05-06T07:08:09Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _emf(text: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            if name in record:
                found.append(record)
    return found


async def test_schedule_and_requests(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    await stack.baseline_balances()
    config = ReconcileConfig(symbols=(SYMBOL,), grace=Grace(settle_ms=0))
    handler = MODULE.make_handler(stack.settings, sim_url=stack.sim.url, config=config)
    context = make_context(FUNCTIONS_BY_NAME["reconcile"], region="us-east-1", account_id="123456789012")

    scheduled = _envelope("Scheduled Event", {}, "aws.events")
    result = await asyncio.to_thread(handler, scheduled, context)
    assert result["clean"] is True and result["open_breaks"] == 0

    await stack.venue.create_order(SYMBOL, "limit", "buy", 0.01, 50000.0, {"newClientOrderId": "manual-9"})
    detail = {"correlation_id": "ops-1", "reason": "after takeover", "requested_by": "gateway"}
    requested = _envelope("Reconciliation Requested", detail, "tradeops.gateway")
    first = await asyncio.to_thread(handler, requested, context)
    redelivered = await asyncio.to_thread(handler, requested, context)
    assert first == redelivered and first["open_breaks"] == 1  # the second delivery did not run again

    runs = ReconStore(stack.settings).list_runs(stack.settings.account).items
    assert [run.outcome for run in runs] == [RunOutcome.BREAKS, RunOutcome.CLEAN]
    assert runs[0].trigger == "requested by gateway: after takeover"

    emitted = capsys.readouterr().out
    open_breaks = [record[OPEN_BREAKS] for record in _emf(emitted, OPEN_BREAKS)]
    assert open_breaks == [[0.0], [1.0]]  # EMF values are lists
    durations = _emf(emitted, RUN_DURATION_MS)
    assert len(durations) == 2 and all(record["service"] == SERVICE for record in durations)

    with pytest.raises(MODULE.UnsupportedTrigger):
        await asyncio.to_thread(handler, _envelope("Order Updated", {}, "tradeops.gateway"), context)


def test_symbols_come_from_the_environment() -> None:
    assert MODULE.config_from_env({"TRADEOPS_RECONCILE_SYMBOLS": " ETH/USDT, BTC/USDT ,"}).symbols == (
        "ETH/USDT",
        "BTC/USDT",
    )
    assert MODULE.config_from_env({}).symbols == ("BTC/USDT", "ETH/USDT", "SOL/USDT")

"""`tradeops up` end to end as a subprocess: starts within 60 s, delivers events, stops clean on signals.

The gateway is one of the children: its /healthz is published as ``gateway_health``; with the demo
strategy on (the default) orders appear in the orders table within a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tradeops.local.ports import port_in_use
from tradeops.routes import FUNCTIONS

from .conftest import alive, session_members, write_recording_handler

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 60


def _wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return None


def _launch(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`tradeops up` in its own session, so every process it starts can be found by session id."""
    command = "import typer; from tradeops.local.commands import up; typer.run(up)"
    argv = [sys.executable, "-c", command, "--state-dir", str(tmp_path / "state")]
    argv += ["--functions-dir", str(tmp_path / "functions"), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEOPS_")}
    return subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _endpoints(tmp_path: Path) -> dict[str, Any] | None:
    path = tmp_path / "state" / "endpoints.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    yield from _running_stack(tmp_path, "--no-demo")


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    yield from _running_stack(tmp_path)


def _running_stack(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    for function in FUNCTIONS:
        write_recording_handler(tmp_path / "functions", function.name)
    proc = _launch(tmp_path, "--port-base", "0", "--retry-delay-s", "1", *args)
    try:
        endpoints = _wait_for(lambda: _endpoints(tmp_path) or proc.poll() is not None, START_TIMEOUT_S)
        assert isinstance(endpoints, dict), (
            f"no endpoints.json: {proc.poll()} {proc.stderr.read() if proc.stderr else ''}"
        )
        yield proc, endpoints
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not session_members(proc.pid), 10), "processes left behind"


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _client(endpoints: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoints["aws"],
        region_name=endpoints["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def assert_simulator_trades_with_the_stored_key(endpoints: dict[str, Any]) -> None:
    """The simulator is up on both ports and accepts a signed order with the key in the exchange secret."""
    from tradeops.venue.sim_exchange import make_ccxt_exchange

    assert endpoints["sim"] != endpoints["sim_md"]
    secret = _client(endpoints, "secretsmanager").get_secret_value(SecretId=endpoints["secret_id"])
    key = json.loads(secret["SecretString"])

    async def trade() -> dict[str, Any]:
        exchange = make_ccxt_exchange(endpoints["sim"], key["apiKey"], key["secret"])
        try:
            order: dict[str, Any] = await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
            return order
        finally:
            await exchange.close()

    order = asyncio.run(trade())
    assert order["status"] == "closed" and order["filled"] == 0.001


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_serves_events_and_logins_then_stops_clean_on_a_signal(
    stack: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    proc, endpoints = stack
    assert set(endpoints) >= {"aws", "region", "bus_name", "tables", "buckets", "queues", "secret_id"}
    assert set(endpoints) >= {"alarm_topic_arn", "cognito", "demo_users"}
    assert endpoints["api"] == f"{endpoints['ui']}/api"  # one origin for the UI and the API
    assert len(session_members(proc.pid)) == 6  # up, moto, runner, simulator, gateway, web
    assert _get(f"{endpoints['gateway_health']}/healthz") == 200
    assert_simulator_trades_with_the_stored_key(endpoints)

    _client(endpoints, "events").put_events(
        Entries=[
            {
                "Source": "tradeops.risk",
                "DetailType": "Risk Breach",
                "Detail": json.dumps({"correlation_id": "e2e"}),
                "EventBusName": endpoints["bus_name"],
            }
        ]
    )
    calls = tmp_path / "functions" / "alerts" / "calls.jsonl"
    recorded = lambda: calls.exists() and calls.read_text().endswith("\n")  # noqa: E731  # a whole line
    assert _wait_for(recorded, 20), "the runner did not invoke the handler"
    call = json.loads(calls.read_text().splitlines()[0])
    assert call["event"]["detail"] == {"correlation_id": "e2e"}
    assert call["endpoint"] == endpoints["aws"]  # config reached the function through TRADEOPS_* variables

    user = next(u for u in endpoints["demo_users"] if u["groups"] == ["risk"])
    auth = _client(endpoints, "cognito-idp").initiate_auth(
        ClientId=endpoints["cognito"]["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
    )
    assert auth["AuthenticationResult"]["IdToken"]

    port = int(endpoints["aws"].rsplit(":", 1)[1])
    proc.send_signal(stop_signal)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "demo logins" in out and user["username"] in out
    assert _wait_for(lambda: not session_members(proc.pid), 5)
    assert not port_in_use("127.0.0.1", port)
    assert _endpoints(tmp_path) is None  # a stopped stack leaves no stale endpoints


def test_a_crashed_child_is_restarted_and_sigkill_of_up_leaves_no_orphans(
    stack: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path
) -> None:
    proc, _ = stack
    ready = tmp_path / "state" / "runner.ready"
    runner = json.loads(ready.read_text())["pid"]
    assert runner in session_members(proc.pid)
    os.kill(runner, signal.SIGKILL)
    restarted = _wait_for(lambda: ready.exists() and json.loads(ready.read_text())["pid"] != runner, 30)
    assert restarted, "the runner was not restarted"
    children = [p for p in session_members(proc.pid) if p != proc.pid]
    assert len(children) == 5 and runner not in children

    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: the children must notice on their own
    proc.wait(timeout=10)
    assert _wait_for(lambda: not any(alive(p) for p in children), 10), "children outlived a SIGKILLed up"


def test_the_demo_strategy_trades_through_the_gateway_within_a_minute(
    demo_stack: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path
) -> None:
    proc, endpoints = demo_stack
    assert _get(f"{endpoints['gateway_health']}/healthz") == 200
    dynamodb = _client(endpoints, "dynamodb")
    table = endpoints["tables"]["orders"]

    def demo_orders() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = dynamodb.scan(TableName=table)["Items"]
        return [item for item in items if item["strategy"]["S"] == "demo"]

    assert _wait_for(demo_orders, START_TIMEOUT_S, interval_s=1.0), "no demo order within a minute"
    assert _wait_for(lambda: _get(f"{endpoints['gateway_health']}/readyz") == 200, 10), "gateway not ready"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    gateway_log = (tmp_path / "state" / "logs" / "gateway.log").read_text()
    assert '"message":"lease released"' in gateway_log  # graceful: a standby could take over at once


def test_busy_port_exits_non_zero_naming_it_and_starts_nothing(tmp_path: Path) -> None:
    for function in FUNCTIONS:
        write_recording_handler(tmp_path / "functions", function.name)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _launch(tmp_path, "--port-base", str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"{port} (aws)" in err and "already in use" in err
    assert not session_members(proc.pid)
    assert not (tmp_path / "state" / "logs").exists()  # no child was ever started


def test_missing_function_code_exits_non_zero_naming_it(tmp_path: Path) -> None:
    proc = _launch(tmp_path, "--port-base", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "alerts/handler.py" in err
    assert not session_members(proc.pid)

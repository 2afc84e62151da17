"""`tradeops secrets stage|rotate|revoke-due` on moto and the simulator: staging, promotion, refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tradeops.config import Settings
from tradeops.local.endpoints import settings_env
from tradeops.secrets_commands import secrets_app
from tradeops.sim.server import RunningSim

from .conftest import API_KEY, API_SECRET, Admin, current_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
UI_KEY = {"apiKey": "ui-issued-key-0002", "secret": "ui-issued-secret-0002-fedcba9876543210"}


async def _invoke(settings: Settings, sim: RunningSim, tmp_path: Path, *args: str, stdin: str = "") -> Result:
    env = {**settings_env(settings), "TRADEOPS_SIM_URL": sim.url}
    argv = [*args, "--endpoints", str(tmp_path / "absent.json")]
    return await asyncio.to_thread(CliRunner().invoke, secrets_app, argv, input=stdin, env=env)


def _assert_no_secret(result: Result) -> None:
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    for value in (API_KEY, API_SECRET, *UI_KEY.values()):
        assert value not in text


async def test_stage_then_rotate_promotes_the_operators_key(
    sim: RunningSim, admin: Admin, exchange_secret: Settings, tmp_path: Path
) -> None:
    # The operator created this key in the venue's web UI (here: the simulator, on the same account).
    status, body = await admin.call(
        "POST", "/keys", {"api_key": UI_KEY["apiKey"], "secret": UI_KEY["secret"], "account_of": API_KEY}
    )
    assert status == 200, body
    staged = await _invoke(exchange_secret, sim, tmp_path, "stage", stdin=json.dumps(UI_KEY))
    assert staged.exit_code == 0, staged.output
    assert "as AWSPENDING" in staged.output and current_key(exchange_secret)["apiKey"] == API_KEY
    rotated = await _invoke(exchange_secret, sim, tmp_path, "rotate", "--staged", "--grace-s", "0")
    assert rotated.exit_code == 0, rotated.output
    assert current_key(exchange_secret) == UI_KEY
    revoked = await _invoke(exchange_secret, sim, tmp_path, "revoke-due")
    assert revoked.exit_code == 0 and "revoked the keys of 1 retired version" in revoked.output
    status, body = await admin.call("GET", "/keys")
    assert API_KEY not in body["keys"] and UI_KEY["apiKey"] in body["keys"]
    for result in (staged, rotated, revoked):
        _assert_no_secret(result)


async def test_a_staged_key_the_venue_refuses_is_not_promoted(
    sim: RunningSim, exchange_secret: Settings, tmp_path: Path
) -> None:
    staged = await _invoke(exchange_secret, sim, tmp_path, "stage", stdin=json.dumps(UI_KEY))  # never issued
    assert staged.exit_code == 0, staged.output
    rotated = await _invoke(exchange_secret, sim, tmp_path, "rotate", "--staged")
    assert rotated.exit_code == 1
    assert (
        "rotation failed, AWSCURRENT unchanged" in rotated.output and "AuthenticationError" in rotated.output
    )
    assert current_key(exchange_secret) == {"apiKey": API_KEY, "secret": API_SECRET}
    _assert_no_secret(rotated)


async def test_rotate_staged_without_a_staged_key_fails(
    sim: RunningSim, exchange_secret: Settings, tmp_path: Path
) -> None:
    result = await _invoke(exchange_secret, sim, tmp_path, "rotate", "--staged")
    assert result.exit_code == 1 and "no key staged under AWSPENDING" in result.output


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"apiKey": "short"}', "lacks string field(s) secret"),
        ("not json " + UI_KEY["secret"], "is not JSON"),
        (json.dumps({"apiKey": API_KEY, "secret": API_SECRET}), "the key to stage is the current key"),
    ],
)
async def test_stage_refuses_bad_input_without_echoing_it(
    sim: RunningSim, exchange_secret: Settings, tmp_path: Path, stdin: str, message: str
) -> None:
    result = await _invoke(exchange_secret, sim, tmp_path, "stage", stdin=stdin)
    assert result.exit_code == 1 and message in result.output
    _assert_no_secret(result)


async def test_rotate_with_simulator_keys_from_the_cli(
    sim: RunningSim, exchange_secret: Settings, tmp_path: Path
) -> None:
    result = await _invoke(exchange_secret, sim, tmp_path, "rotate")
    assert result.exit_code == 0, result.output
    new = current_key(exchange_secret)
    issued = sim.venue.keys()
    assert new["apiKey"] != API_KEY and new["apiKey"] in issued
    assert new["apiKey"] not in result.output and new["secret"] not in result.output

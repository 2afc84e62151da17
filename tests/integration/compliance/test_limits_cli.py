"""``tradeops limits`` end to end against moto with a real Cognito pool and the EventBridge bus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.limits_commands import limits_app
from tradeops.local.endpoints import build_endpoints, local_aws_env, write_endpoints
from tradeops.local.provision import provision
from tradeops.store.limits import LimitStore

pytestmark = pytest.mark.integration

PASSWORD = "Demo-Passw0rd-Compliance"


@pytest.fixture
def stack(
    aws_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Settings, Any]:
    settings = aws_settings
    resources = provision(settings, demo_password=PASSWORD)
    path = tmp_path / "endpoints.json"
    write_endpoints(path, build_endpoints(settings, resources))
    for name in local_aws_env(settings):  # the CLI points the process at moto: restore afterwards
        monkeypatch.delenv(name, raising=False)
    return path, settings, resources


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(limits_app, list(args), input=input)
    return result.exit_code, result.output


def test_propose_approve_reject_list_with_cognito_identities(stack: tuple[Path, Settings, Any]) -> None:
    path, settings, resources = stack
    ep = ["--endpoints", str(path)]
    code, out = run(
        "propose", "--scope", "global", "--set", "max_order_notional=12000", "--reason", "tighten",
        "--user", "risk@tradeops.example", *ep,
    )  # fmt: skip
    assert code == 0, out
    assert PASSWORD not in out
    match = re.search(r"(chg-[0-9a-f]+) PENDING", out)
    assert match, out
    proposal_id = match.group(1)

    code, out = run("list", "--user", "viewer@tradeops.example", *ep)
    assert code == 0 and proposal_id in out

    code, out = run("approve", proposal_id, "--user", "risk@tradeops.example", *ep)
    assert code == 1 and "cannot approve" in out
    code, out = run("approve", proposal_id, "--user", "trader@tradeops.example", *ep)
    assert code == 1 and "risk or admin" in out
    assert LimitStore(settings).latest("global") is None

    code, out = run("approve", proposal_id, "--user", "risk2@tradeops.example", *ep)
    assert code == 0 and "APPLIED" in out, out
    version = LimitStore(settings).latest("global")
    assert version is not None
    assert (version.proposed_by, version.approved_by) == ("risk@tradeops.example", "risk2@tradeops.example")

    code, out = run(
        "propose", "--scope", "global", "--set", "price_collar_bps=10000", "--reason", "x",
        "--user", "admin@tradeops.example", *ep,
    )  # fmt: skip
    assert code == 1 and "price_collar_bps" in out

    code, out = run(
        "propose", "--scope", "global", "--set", "order_burst=4", "--reason", "calmer",
        "--user", "admin@tradeops.example", *ep,
    )  # fmt: skip
    second = re.search(r"(chg-[0-9a-f]+)", out)
    assert code == 0 and second, out
    code, out = run("reject", second.group(1), "--note", "not needed", "--user", "risk@tradeops.example", *ep)
    assert code == 0 and "REJECTED" in out
    code, out = run("list", "--status", "rejected", "--user", "auditor@tradeops.example", *ep)
    assert code == 0 and second.group(1) in out and "not needed" in out

    # The gateway's queue got the "Control Changed" event through the bus rule.
    sqs = client("sqs", settings)
    messages = sqs.receive_message(
        QueueUrl=resources.queues["gateway-events"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    changed = [b for b in bodies if b["detail-type"] == "Control Changed"]
    assert [(b["source"], b["detail"]["key"], b["detail"]["actor"]) for b in changed] == [
        ("tradeops.control", "limits#global", "risk2@tradeops.example")
    ]


def test_wrong_password_and_missing_stack_fail_cleanly(
    stack: tuple[Path, Settings, Any], tmp_path: Path
) -> None:
    path, _, _ = stack
    code, out = run(
        "list", "--user", "nobody@tradeops.example", "--endpoints", str(path), input="Wrong-pass-1!"
    )
    assert code == 2 and "login failed" in out and "Wrong-pass-1!" not in out
    code, out = run("list", "--user", "risk@tradeops.example", "--endpoints", str(tmp_path / "missing.json"))
    assert code == 2 and "no embedded stack" in out

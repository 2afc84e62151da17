"""Four eyes through the API; every mutating call journaled (stream "operator") with user and request id."""

from __future__ import annotations

from typing import Any

import pytest

from tradeops.api import build_table
from tradeops.store.journal import JournalStore
from tradeops.store.limits import LimitStore

from ._rig import ROLE_USERS, SECOND_RISK, ApiRig
from ._samples import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
RISK, ADMIN = ROLE_USERS["risk"], ROLE_USERS["admin"]


def state(api_rig: ApiRig, body: dict[str, str]) -> tuple[int, Any]:
    return api_rig.call("POST", "/api/trading-state", user=RISK, body=body)


def test_the_proposer_cannot_approve_and_a_second_risk_user_can(api_rig: ApiRig) -> None:
    body = {"scope": "global", "changes": {"max_order_notional": "9000"}, "reason": "tighten"}
    status, proposal = api_rig.call("POST", "/api/limits/proposals", user=RISK, body=body)
    assert status == 201 and proposal["status"] == "PENDING"
    assert proposal["diff"]["max_order_notional"]["to"] == "9000"
    pid = proposal["proposal_id"]
    status, refused = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=RISK)
    assert status == 403 and refused["error"]["code"] == "four_eyes"
    status, _ = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=ROLE_USERS["trader"])
    assert status == 403
    status, pending = api_rig.call("GET", "/api/limits/proposals?status=PENDING", user=ROLE_USERS["viewer"])
    assert pid in {p["proposal_id"] for p in pending["items"]}

    status, applied = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=SECOND_RISK)
    assert status == 200 and applied["status"] == "APPLIED" and applied["decided_by"] == SECOND_RISK
    latest = LimitStore(api_rig.settings).latest("global")
    assert latest is not None and latest.proposal_id == pid and latest.approved_by == SECOND_RISK
    status, limits = api_rig.call("GET", "/api/limits", user=ROLE_USERS["viewer"])
    notional = next(i for i in limits["items"] if i["name"] == "max_order_notional")
    assert notional["value"] == "9000" and limits["approved_by"] == SECOND_RISK

    status, again = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=ADMIN)
    assert status == 409, again


def test_kill_switch_halts_and_resuming_takes_two_people(api_rig: ApiRig) -> None:
    status, halted = api_rig.call(
        "POST", "/api/kill-switch", user=ROLE_USERS["trader"], body={"reason": "drill", "flatten": True}
    )
    assert status == 202 and halted["state"] == "HALTED" and halted["flatten"] is True
    status, health = api_rig.call("GET", "/api/health", user=ROLE_USERS["viewer"])
    assert health["trading"]["state"] == "HALTED" and health["trading"]["updated_by"] == ROLE_USERS["trader"]

    status, reply = api_rig.call(
        "POST", "/api/trading-state", user=RISK, body={"state": "ACTIVE", "reason": "ok"}
    )
    assert status == 202 and reply["proposal"]["kind"] == "RESUME_TRADING"
    pid = reply["proposal"]["proposal_id"]
    assert api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=RISK)[0] == 403
    status, applied = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=ADMIN)
    assert status == 200 and applied["status"] == "APPLIED"
    assert api_rig.call("GET", "/api/health", user=RISK)[1]["trading"]["state"] == "ACTIVE"

    status, reply = api_rig.call(
        "POST", "/api/trading-state", user=RISK, body={"state": "REDUCING", "reason": "r"}
    )
    assert (status, reply) == (200, {"state": "REDUCING"})
    status, reply = api_rig.call(
        "POST", "/api/trading-state", user=RISK, body={"state": "ACTIVE", "reason": "exposure back in"}
    )
    assert status == 202 and reply["proposal"]["changes"] == {"from_version": "3"}, reply  # v1 halt v2 v3
    pid = reply["proposal"]["proposal_id"]
    status, applied = api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=ADMIN)
    assert status == 200 and applied["status"] == "APPLIED"
    assert api_rig.call("GET", "/api/health", user=RISK)[1]["trading"]["state"] == "ACTIVE"
    status, reply = api_rig.call(
        "POST", "/api/trading-state", user=RISK, body={"state": "PAUSED", "reason": "r"}
    )
    assert status == 400 and "state" in reply["error"]["fields"]


def test_every_mutating_call_is_journaled_with_user_and_request_id(api_rig: ApiRig) -> None:
    table = build_table()
    journal = JournalStore(api_rig.settings)
    for spec in table.routes:
        if not spec.mutating or spec.public:
            continue
        role = sorted(spec.roles)[0]
        path, body = SAMPLES[spec.key](api_rig)
        status, reply, headers = api_rig.exchange(spec.method, path, user=ROLE_USERS[role], body=body)
        assert 200 <= status < 300, (spec.key, reply)
        request_id = headers["X-Request-Id"]
        entries = [e for e in journal.read("operator") if e.payload.get("request_id") == request_id]
        kinds = {e.kind: e for e in entries}
        assert set(kinds) == {"api_request", "api_outcome"}, (spec.key, kinds)
        assert kinds["api_request"].actor == ROLE_USERS[role]
        assert kinds["api_request"].payload["route"] == spec.key
        assert kinds["api_outcome"].payload["status"] == status

    status, _, headers = api_rig.exchange(
        "POST", "/api/kill-switch", user=ROLE_USERS["viewer"], body={"reason": "x"}
    )
    assert status == 403
    denied = [e for e in journal.read("operator") if e.payload.get("request_id") == headers["X-Request-Id"]]
    assert [(e.kind, e.actor) for e in denied] == [("api_denied", ROLE_USERS["viewer"])]
    assert journal.verify("operator") is None


def test_strategies_list_the_allocated_ones_and_show_an_approved_change(api_rig: ApiRig) -> None:
    status, listed = api_rig.call("GET", "/api/strategies", user=ROLE_USERS["viewer"])
    by_name = {item["strategy"]: item for item in listed["items"]}
    assert status == 200 and {"demo", "manual"} <= set(by_name)
    assert by_name["manual"] == {
        "strategy": "manual", "enabled": True, "allocation": "20000", "version": 0,
        "canary": None, "updated_by": None, "updated_at": None,
    }  # fmt: skip

    body = {"enabled": False, "reason": "pause the demo"}
    status, reply = api_rig.call("PATCH", "/api/strategies/demo", user=RISK, body=body)
    assert status == 202, reply
    pid = reply["proposal"]["proposal_id"]
    assert api_rig.call("POST", f"/api/limits/proposals/{pid}/approve", user=ADMIN)[0] == 200
    demo = next(
        i for i in api_rig.call("GET", "/api/strategies", user=RISK)[1]["items"] if i["strategy"] == "demo"
    )
    assert demo["enabled"] is False and demo["version"] >= 1 and demo["updated_by"] == ADMIN
    assert demo["allocation"] == by_name["demo"]["allocation"]  # unchanged: the limits' allocation

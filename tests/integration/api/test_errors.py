"""404, 409 and field-level 400 where they belong; nothing unknown becomes a 500."""

from __future__ import annotations

import pytest

from tradeops.domain.orders import OrderState

from ._rig import ROLE_USERS, ApiRig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
MARKET = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "1"}
TRADER, RISK, VIEWER = ROLE_USERS["trader"], ROLE_USERS["risk"], ROLE_USERS["viewer"]


def test_unknown_things_are_404(api_rig: ApiRig) -> None:
    cases = [
        ("GET", "/api/orders/toen-nope", VIEWER, None),
        ("DELETE", "/api/orders/toen-nope", TRADER, None),
        ("POST", "/api/limits/proposals/chg-nope/approve", RISK, None),
        ("POST", "/api/limits/proposals/chg-nope/reject", RISK, {"note": "x"}),
        ("POST", "/api/alerts/nope/ack", TRADER, {"comment": ""}),
        ("POST", "/api/reconciliation/breaks/rb-nope/resolve", RISK, {"reason": "x"}),
    ]
    for method, path, user, body in cases:
        status, reply = api_rig.call(method, path, user=user, body=body)
        assert status == 404 and reply["error"]["code"] == "not_found", (path, reply)


def test_acting_on_something_already_done_is_409(api_rig: ApiRig) -> None:
    filled = api_rig.seed_order(OrderState.FILLED)
    status, reply = api_rig.call("DELETE", f"/api/orders/{filled.client_order_id}", user=TRADER)
    assert status == 409 and reply["error"]["code"] == "order_terminal"

    alert = api_rig.seed_alert()
    assert (
        api_rig.call("POST", f"/api/alerts/{alert.alert_id}/ack", user=TRADER, body={"comment": "a"})[0]
        == 200
    )
    status, reply = api_rig.call(
        "POST", f"/api/alerts/{alert.alert_id}/ack", user=TRADER, body={"comment": "b"}
    )
    assert status == 409 and reply["error"]["code"] == "alert_not_open"

    break_id = api_rig.seed_break()
    path = f"/api/reconciliation/breaks/{break_id}/resolve"
    assert api_rig.call("POST", path, user=RISK, body={"reason": "explained"})[0] == 200
    status, reply = api_rig.call("POST", path, user=RISK, body={"reason": "again"})
    assert status == 409 and reply["error"]["code"] == "break_not_open"

    proposal = api_rig.seed_proposal()
    reject = f"/api/limits/proposals/{proposal.proposal_id}/reject"
    assert api_rig.call("POST", reject, user=RISK, body={"note": "no"})[0] == 200
    assert api_rig.call("POST", reject, user=RISK, body={"note": "no"})[0] == 409


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/orders", {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": 0.1}, "quantity"),
        ("/api/orders", {"symbol": "btc", "side": "buy", "type": "market", "quantity": "1"}, "symbol"),
        ("/api/orders", {"symbol": "BTC/USDT", "side": "hold", "type": "market", "quantity": "1"}, "side"),
        (
            "/api/orders",
            {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "-1"},
            "quantity",
        ),
        ("/api/orders", {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "1"}, "body"),
        (
            "/api/orders",
            {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "1", "x": 1},
            "x",
        ),
        ("/api/kill-switch", {"flatten": "yes"}, "reason"),
    ],
)
def test_invalid_bodies_name_the_field(
    api_rig: ApiRig, path: str, body: dict[str, object], field: str
) -> None:
    status, reply = api_rig.call("POST", path, user=TRADER, body=body)
    assert status == 400, reply
    assert field in reply["error"]["fields"], reply


def test_invalid_query_strings_name_the_parameter(api_rig: ApiRig) -> None:
    for query, field in [
        ("limit=0", "query.limit"),
        ("limit=x", "query.limit"),
        ("status=NOPE", "query.status"),
        ("from=10&to=5", "query.to"),
        ("cursor=%21%21%21", "query.cursor"),
        ("cursor=eyJ0IjoxfQ", "query.cursor"),
    ]:
        status, reply = api_rig.call("GET", f"/api/orders?{query}", user=VIEWER)
        assert status == 400 and field in reply["error"]["fields"], (query, reply)


def test_list_pages_follow_their_cursors(api_rig: ApiRig) -> None:
    symbol = "SOL/USDT"
    seeded = {api_rig.seed_order(symbol=symbol, at=1_000 + n).client_order_id for n in range(7)}
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        status, page = api_rig.call("GET", f"/api/orders?symbol={symbol}&limit=3{cursor}", user=VIEWER)
        assert status == 200
        seen += [o["client_order_id"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert set(seen) == seeded and len(seen) == len(seeded)

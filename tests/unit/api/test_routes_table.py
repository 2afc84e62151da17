"""The route table is the contract: every contract route exists, declares roles, and is documented."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tradeops.api import build_table
from tradeops.api.openapi import openapi_document
from tradeops.api.rbac import RouteSpec, RouteTable
from tradeops.domain.roles import ROLES

CONTRACT = {
    "GET /api/auth/config", "POST /api/auth/login", "GET /api/openapi.json", "GET /api/me", "GET /api/health",
    "GET /api/portfolio", "GET /api/portfolio/history", "GET /api/positions", "GET /api/orders",
    "GET /api/orders/{client_order_id}", "GET /api/trades", "POST /api/orders",
    "DELETE /api/orders/{client_order_id}", "POST /api/kill-switch", "POST /api/trading-state",
    "GET /api/strategies", "PATCH /api/strategies/{id}", "GET /api/limits", "GET /api/limits/proposals",
    "POST /api/limits/proposals", "POST /api/limits/proposals/{id}/approve",
    "POST /api/limits/proposals/{id}/reject", "GET /api/alerts", "POST /api/alerts/{id}/ack",
    "GET /api/reconciliation", "POST /api/reconciliation/breaks/{id}/resolve", "GET /api/journal",
    "GET /api/audit/verify",
}  # fmt: skip
PUBLIC = {"GET /api/auth/config", "POST /api/auth/login", "GET /api/openapi.json"}


def test_the_table_is_exactly_the_contract() -> None:
    assert {spec.key for spec in build_table().routes} == CONTRACT


def test_only_the_three_public_routes_are_public_and_every_other_names_roles() -> None:
    for spec in build_table().routes:
        assert spec.public == (spec.key in PUBLIC), spec.key
        assert spec.public or (spec.roles and spec.roles <= set(ROLES)), spec.key


def test_role_intent() -> None:
    table = build_table()
    for role in ROLES:
        allowed = set(table.permissions({role}))
        assert "GET /api/health" in allowed
        assert ("POST /api/orders" in allowed) == (role == "trader")
        assert ("POST /api/kill-switch" in allowed) == (role in {"trader", "risk", "admin"})
        assert ("POST /api/limits/proposals/{id}/approve" in allowed) == (role in {"risk", "admin"})
        assert ("GET /api/audit/verify" in allowed) == (role in {"auditor", "admin"})
        assert ("GET /api/journal" in allowed) == (role in {"auditor", "admin"})
    assert table.permissions(set()) == []
    assert table.permissions({"not-a-role"}) == []


def _noop(call: object) -> None:
    return None


@pytest.mark.parametrize(
    "options",
    [{}, {"public": True, "roles": frozenset({"viewer"})}, {"roles": frozenset({"superuser"})}],
    ids=["no-roles", "public-and-roles", "unknown-role"],
)
def test_a_route_cannot_be_open_by_accident(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RouteSpec("GET", "/api/x", _noop, "x", "t", **options)  # type: ignore[arg-type]


def test_a_route_cannot_be_registered_twice() -> None:
    table = RouteTable()
    table.add(RouteSpec("GET", "/api/x", _noop, "x", "t", public=True))
    with pytest.raises(ValueError, match="twice"):
        table.add(RouteSpec("GET", "/api/x", _noop, "x", "t", public=True))


def test_openapi_documents_every_route_with_roles_inputs_and_replies() -> None:
    table = build_table()
    document = openapi_document(table)
    schemas = document["components"]["schemas"]
    for spec in table.routes:
        operation = document["paths"][spec.path][spec.method.lower()]
        assert operation["x-roles"] == ("public" if spec.public else sorted(spec.roles))
        assert operation["security"] == ([] if spec.public else [{"bearer": []}])
        assert str(spec.status) in operation["responses"]
        if not spec.public:
            assert {"401", "403"} <= set(operation["responses"])
        if spec.body is not None:
            assert spec.body.__name__ in schemas
        path_params = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert path_params == set(spec.path_params)
        models: list[type[BaseModel]] = [m for m in (spec.response, *spec.other_responses.values()) if m]
        assert all(model.__name__ in schemas for model in models)
    orders = document["paths"]["/api/orders"]["get"]["parameters"]
    assert {p["name"] for p in orders} == {"cursor", "limit", "status", "symbol", "from", "to"}
    status = next(p for p in orders if p["name"] == "status")
    assert "OPEN" in str(status["schema"])

"""A valid request for every route of the table (path and body), seeding what the route acts on.

The matrix and journaling tests iterate over the route table and look each route up here, so a new
route without a sample fails them instead of escaping them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._rig import PASSWORD, ApiRig

Sample = Callable[[ApiRig], tuple[str, Any]]


def _order(rig: ApiRig) -> tuple[str, Any]:
    return f"/api/orders/{rig.seed_order().client_order_id}", None


def _approve(rig: ApiRig) -> tuple[str, Any]:
    return f"/api/limits/proposals/{rig.seed_proposal().proposal_id}/approve", None


def _reject(rig: ApiRig) -> tuple[str, Any]:
    return f"/api/limits/proposals/{rig.seed_proposal().proposal_id}/reject", {"note": "not now"}


def _ack(rig: ApiRig) -> tuple[str, Any]:
    return f"/api/alerts/{rig.seed_alert().alert_id}/ack", {"comment": "looking"}


def _resolve(rig: ApiRig) -> tuple[str, Any]:
    return f"/api/reconciliation/breaks/{rig.seed_break()}/resolve", {"reason": "explained"}


MANUAL_ORDER = {
    "symbol": "BTC/USDT",
    "side": "buy",
    "type": "limit",
    "quantity": "0.001",
    "limit_price": "100",
}

SAMPLES: dict[str, Sample] = {
    "GET /api/auth/config": lambda rig: ("/api/auth/config", None),
    "POST /api/auth/login": lambda rig: (
        "/api/auth/login",
        {"username": "viewer@tradeops.example", "password": PASSWORD},
    ),
    "GET /api/openapi.json": lambda rig: ("/api/openapi.json", None),
    "GET /api/me": lambda rig: ("/api/me", None),
    "GET /api/health": lambda rig: ("/api/health", None),
    "GET /api/portfolio": lambda rig: ("/api/portfolio", None),
    "GET /api/portfolio/history": lambda rig: ("/api/portfolio/history?from=0&limit=10", None),
    "GET /api/positions": lambda rig: ("/api/positions", None),
    "GET /api/orders": lambda rig: ("/api/orders?limit=5", None),
    "GET /api/orders/{client_order_id}": _order,
    "GET /api/trades": lambda rig: ("/api/trades?symbol=BTC/USDT", None),
    "POST /api/orders": lambda rig: ("/api/orders", MANUAL_ORDER),
    "DELETE /api/orders/{client_order_id}": _order,
    "POST /api/kill-switch": lambda rig: ("/api/kill-switch", {"reason": "matrix", "flatten": False}),
    "POST /api/trading-state": lambda rig: ("/api/trading-state", {"state": "HALTED", "reason": "matrix"}),
    "GET /api/strategies": lambda rig: ("/api/strategies", None),
    "PATCH /api/strategies/{id}": lambda rig: (
        "/api/strategies/demo",
        {"allocation": "1000", "reason": "matrix"},
    ),
    "GET /api/limits": lambda rig: ("/api/limits", None),
    "GET /api/limits/proposals": lambda rig: ("/api/limits/proposals?status=PENDING", None),
    "POST /api/limits/proposals": lambda rig: (
        "/api/limits/proposals",
        {"scope": "global", "changes": {"max_order_notional": "11000"}, "reason": "matrix"},
    ),
    "POST /api/limits/proposals/{id}/approve": _approve,
    "POST /api/limits/proposals/{id}/reject": _reject,
    "GET /api/alerts": lambda rig: ("/api/alerts?status=open", None),
    "POST /api/alerts/{id}/ack": _ack,
    "GET /api/reconciliation": lambda rig: ("/api/reconciliation", None),
    "POST /api/reconciliation/breaks/{id}/resolve": _resolve,
    "GET /api/journal": lambda rig: ("/api/journal?stream=operator&from_seq=1&limit=5", None),
    "GET /api/audit/verify": lambda rig: ("/api/audit/verify?stream=control", None),
}

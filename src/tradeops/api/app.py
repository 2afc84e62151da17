"""The Chalice app of the operator API: every route of the table, dispatched in-app (functions/api/app.py).

:func:`register_routes` adds one Chalice view per route of :func:`build_table`; the services (stores,
Cognito verifier) are built on the first request from the environment (:func:`services_from_env`) unless
given, so ``chalice package`` and a cold import need no AWS. When ``TRADEOPS_COGNITO_USER_POOL_ARN`` is
set at import, protected routes also declare API Gateway's Cognito authorizer (AWS); the app verifies
every token itself either way.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CognitoUserPoolAuthorizer, Response

from tradeops.api.auth import CognitoConfig, JwksCache, TokenVerifier
from tradeops.api.context import Services
from tradeops.api.dispatch import Dispatcher
from tradeops.api.rbac import RouteSpec, RouteTable
from tradeops.api.routes import (
    alerts,
    audit,
    control,
    health,
    limits,
    orders,
    portfolio,
    reconciliation,
    session,
)
from tradeops.config import Settings

APP_NAME = "tradeops-api"
ROUTE_MODULES = (session, health, portfolio, orders, control, limits, alerts, reconciliation, audit)


def build_table() -> RouteTable:
    """Every route of the operator API, in documentation order."""
    table = RouteTable()
    for module in ROUTE_MODULES:
        module.register(table)
    return table


def services_from_env(settings: Settings | None = None) -> Services:
    """Services from ``TRADEOPS_*`` (Settings) and ``TRADEOPS_COGNITO_*`` (CognitoConfig)."""
    cognito = CognitoConfig.from_env()
    return Services(settings or Settings(), cognito, TokenVerifier(cognito, JwksCache(cognito.jwks_url)))


class _LazyDispatcher:
    """Builds the dispatcher on first use (thread-safe), so importing the app needs no configuration."""

    def __init__(self, table: RouteTable, factory: Callable[[], Services]) -> None:
        self._table = table
        self._factory = factory
        self._dispatcher: Dispatcher | None = None
        self._lock = threading.Lock()

    def get(self) -> Dispatcher:
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = Dispatcher(self._table, self._factory())
            return self._dispatcher


def _authorizer() -> CognitoUserPoolAuthorizer | None:
    arn = os.environ.get("TRADEOPS_COGNITO_USER_POOL_ARN")
    if not arn:
        return None
    return CognitoUserPoolAuthorizer("tradeops-operators", provider_arns=[arn])


def register_routes(
    app: Chalice, services: Services | Callable[[], Services] = services_from_env
) -> RouteTable:
    """Add every route to ``app``; ``services`` is the Services or a factory called on first request."""
    table = build_table()
    factory = (lambda: services) if isinstance(services, Services) else services
    lazy = _LazyDispatcher(table, factory)
    authorizer = _authorizer()
    for spec in table.routes:
        _add_view(app, spec, lazy, None if spec.public else authorizer)
    return table


def _add_view(
    app: Chalice, spec: RouteSpec, lazy: _LazyDispatcher, authorizer: CognitoUserPoolAuthorizer | None
) -> None:
    def view(**path: str) -> Response:
        request = app.current_request
        if request is None:
            raise RuntimeError("Chalice called a view without a current request")
        context: dict[str, Any] = request.context or {}
        params = request.query_params
        query = {} if params is None else {key: str(params[key]) for key in params}
        raw = request.raw_body
        status, body, headers = lazy.get().handle(
            spec,
            headers=dict(request.headers),
            path=path,
            query=query,
            raw_body=raw.encode() if isinstance(raw, str) else raw,
            request_id=context.get("requestId"),
        )
        reply_headers: dict[str, str | list[str]] = {**headers, "Content-Type": "application/json"}
        body_text = json.dumps(body, separators=(",", ":"))
        return Response(body=body_text, status_code=status, headers=reply_headers)

    view.__name__ = "api_" + re.sub(r"[^a-z0-9]+", "_", spec.key.lower()).strip("_")
    options: dict[str, Any] = {"methods": [spec.method]}
    if authorizer is not None:
        options["authorizer"] = authorizer
    app.route(spec.path, **options)(view)


def create_app(services: Services | Callable[[], Services] = services_from_env) -> Chalice:
    """A new Chalice app with every route (tests and the local web server pass their Services)."""
    app = Chalice(app_name=APP_NAME)
    register_routes(app, services)
    return app

"""The route table: every route declares its roles (deny by default), its inputs and its reply.

The table is the one source of truth for dispatch (tradeops.api.dispatch), for ``GET /api/me``'s
permissions, for the OpenAPI document (tradeops.api.openapi) and for the route x role matrix test.
A protected route without roles is refused at registration, so nothing is open by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tradeops.domain.roles import ROLES, Role

if TYPE_CHECKING:
    from tradeops.api.context import Call

Handler = Callable[["Call"], Any]
METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_PARAM_RE = re.compile(r"\{([a-z_]+)\}")

EVERYONE = frozenset(ROLES)
TRADERS = frozenset({Role.TRADER.value})
APPROVERS = frozenset({Role.RISK.value, Role.ADMIN.value})
KILL_SWITCH = frozenset({Role.TRADER.value, Role.RISK.value, Role.ADMIN.value})
ALERT_HANDLERS = frozenset({Role.TRADER.value, Role.RISK.value, Role.ADMIN.value})
AUDITORS = frozenset({Role.AUDITOR.value, Role.ADMIN.value})


@dataclass(frozen=True)
class RouteSpec:
    """One route: ``handler(call)`` returns a response model (or a :class:`~tradeops.api.context.Reply`)."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: frozenset[str] = frozenset()
    public: bool = False
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    other_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in METHODS or not self.path.startswith("/api/"):
            raise ValueError(f"bad route {self.method} {self.path}")
        if self.public == bool(self.roles):
            raise ValueError(f"{self.key}: a route is either public or names its roles (deny by default)")
        unknown = self.roles - EVERYONE
        if unknown:
            raise ValueError(f"{self.key}: unknown roles {sorted(unknown)}")

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PARAM_RE.findall(self.path))

    def allows(self, roles: Iterable[str]) -> bool:
        return self.public or bool(self.roles & frozenset(roles))


class RouteTable:
    """Routes in registration order; :meth:`route` is the decorator the route modules use."""

    def __init__(self) -> None:
        self._routes: dict[str, RouteSpec] = {}

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(RouteSpec(method, path, handler, **options))
            return handler

        return register

    def add(self, spec: RouteSpec) -> None:
        if spec.key in self._routes:
            raise ValueError(f"route {spec.key} registered twice")
        self._routes[spec.key] = spec

    @property
    def routes(self) -> tuple[RouteSpec, ...]:
        return tuple(self._routes.values())

    def get(self, method: str, path: str) -> RouteSpec:
        return self._routes[f"{method} {path}"]

    def permissions(self, roles: Iterable[str]) -> list[str]:
        """Every protected ``"METHOD /path"`` the holder of ``roles`` may call (what the UI may offer)."""
        held = frozenset(roles)
        return [spec.key for spec in self._routes.values() if not spec.public and spec.allows(held)]

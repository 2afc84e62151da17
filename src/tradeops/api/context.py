"""What a route handler gets (:class:`Call`) and what the API runs on (:class:`Services`).

:class:`Services` builds each store and client on first use from :class:`~tradeops.config.Settings`, so
importing the app (Chalice packaging, a cold Lambda) touches no AWS endpoint.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from tradeops.api.auth import CognitoConfig, Principal, TokenVerifier
from tradeops.api.errors import Forbidden
from tradeops.api.rbac import RouteTable
from tradeops.aws.events import EventPublisher
from tradeops.change_management import EVENT_SOURCE as CONTROL_SOURCE
from tradeops.change_management import ChangeService, Operator
from tradeops.config import Settings
from tradeops.domain.limits import RiskLimits
from tradeops.kill_switch import KillSwitch
from tradeops.store.alerts import AlertStore
from tradeops.store.control import ControlStore
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.leases import LeaseStore
from tradeops.store.limits import LimitStore
from tradeops.store.orders import OrderStore
from tradeops.store.positions import PositionStore
from tradeops.store.proposals import ProposalStore
from tradeops.store.recon import ReconStore
from tradeops.store.snapshots import SnapshotStore
from tradeops.store.status import StatusStore

API_SOURCE = "tradeops.api"
GATEWAY_LEASE = "gateway"
B = TypeVar("B", bound=BaseModel)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Services:
    """Stores, publishers and clients of one API process, built lazily from ``settings``."""

    def __init__(
        self,
        settings: Settings,
        cognito: CognitoConfig,
        verifier: TokenVerifier,
        *,
        clock_ms: Callable[[], int] = now_ms,
        idp: Any | None = None,
    ) -> None:
        self.settings = settings
        self.cognito = cognito
        self.verifier = verifier
        self.clock_ms = clock_ms
        self._idp = idp

    @property
    def account(self) -> str:
        return self.settings.account

    @functools.cached_property
    def idp(self) -> Any:
        from tradeops.aws.clients import client

        return self._idp if self._idp is not None else client("cognito-idp", self.settings)

    @functools.cached_property
    def events(self) -> EventPublisher:
        return EventPublisher(self.settings, API_SOURCE)

    @functools.cached_property
    def changes(self) -> ChangeService:
        publisher = EventPublisher(self.settings, CONTROL_SOURCE)
        return ChangeService(
            self.settings, publisher, baseline=RiskLimits.default_for_demo(), clock_ms=self.clock_ms
        )

    @functools.cached_property
    def kill_switch(self) -> KillSwitch:
        return KillSwitch(
            self.settings, EventPublisher(self.settings, CONTROL_SOURCE), clock_ms=self.clock_ms
        )

    @functools.cached_property
    def orders(self) -> OrderStore:
        return OrderStore(self.settings)

    @functools.cached_property
    def fills(self) -> FillStore:
        return FillStore(self.settings)

    @functools.cached_property
    def positions(self) -> PositionStore:
        return PositionStore(self.settings)

    @functools.cached_property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.settings)

    @functools.cached_property
    def control(self) -> ControlStore:
        return ControlStore(self.settings)

    @functools.cached_property
    def limits(self) -> LimitStore:
        return LimitStore(self.settings)

    @functools.cached_property
    def proposals(self) -> ProposalStore:
        return ProposalStore(self.settings)

    @functools.cached_property
    def alerts(self) -> AlertStore:
        return AlertStore(self.settings)

    @functools.cached_property
    def journal(self) -> JournalStore:
        return JournalStore(self.settings)

    @functools.cached_property
    def recon(self) -> ReconStore:
        return ReconStore(self.settings, journal=self.journal)

    @functools.cached_property
    def leases(self) -> LeaseStore:
        return LeaseStore(self.settings)

    @functools.cached_property
    def status(self) -> StatusStore:
        return StatusStore(self.settings)


@dataclass(frozen=True)
class Call:
    """One validated request: the caller, the request id, path parameters, query and body."""

    services: Services
    request_id: str
    principal: Principal | None
    path: dict[str, str]
    query: BaseModel | None
    body: BaseModel | None
    table: RouteTable

    @property
    def user(self) -> Principal:
        if self.principal is None:
            raise Forbidden("this route needs an authenticated user")
        return self.principal

    @property
    def operator(self) -> Operator:
        return Operator(self.user.username, self.user.roles)

    def body_as(self, model: type[B]) -> B:
        if not isinstance(self.body, model):
            raise TypeError(f"route body is {type(self.body).__name__}, not {model.__name__}")
        return self.body

    def query_as(self, model: type[B]) -> B:
        if not isinstance(self.query, model):
            raise TypeError(f"route query is {type(self.query).__name__}, not {model.__name__}")
        return self.query


@dataclass(frozen=True)
class Reply:
    """A response model with a status other than the route's default (e.g. 200 vs 202)."""

    body: BaseModel
    status: int

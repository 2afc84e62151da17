"""A provisioned moto stack (real Cognito pool + demo users) with the operator API on Chalice's local gateway.

``ApiRig.call`` sends a request through ``chalice.local.LocalGateway`` (API Gateway's proxy events) and
returns (status, JSON body). Tokens are real: ``initiate_auth`` against moto's Cognito, RS256 signed,
verified by the API against the pool's JWKS. ``seed_*`` helpers write the records a route acts on.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from tradeops.api import create_app
from tradeops.api.auth import CognitoConfig, JwksCache, TokenVerifier
from tradeops.api.context import Services
from tradeops.aws.clients import client
from tradeops.aws.events import EventPublisher
from tradeops.change_management import EVENT_SOURCE, ChangeService, Operator
from tradeops.config import Settings
from tradeops.domain.alerts import ActionKind, Alert, AlertAction
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.reconcile_types import Break, BreakClass, BreakSubject, ProposedAction
from tradeops.domain.values import OrderType, Severity, Side, TimeInForce
from tradeops.local.provision import ProvisionedResources, provision
from tradeops.store.alerts import AlertStore
from tradeops.store.orders import OrderStore
from tradeops.store.proposals import LimitProposal, ProposalKind
from tradeops.store.recon import ReconStore

PASSWORD = "Api-Rig-Passw0rd!"
DOMAIN = "tradeops.example"
ROLE_USERS = {role: f"{role}@{DOMAIN}" for role in ("viewer", "trader", "risk", "admin", "auditor")}
SECOND_RISK = f"risk2@{DOMAIN}"


def settings_for(moto_endpoint: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        aws_endpoint_url=moto_endpoint,
        region="us-east-1",
        table_prefix=f"a{tag}-",
        bus_name=f"api-{tag}",
        worm_bucket=f"worm-{tag}",
        reports_bucket=f"reports-{tag}",
        exchange_secret_id=f"tradeops/{tag}/exchange",
        alarm_topic_name=f"alarms-{tag}",
        queue_prefix=f"a{tag}-",
    )


@dataclass
class ApiRig:
    settings: Settings
    resources: ProvisionedResources
    services: Services
    gateway: LocalGateway
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def cognito(self) -> CognitoConfig:
        return self.services.cognito

    def token(self, username: str) -> str:
        if username not in self.tokens:
            result = client("cognito-idp", self.settings).initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=self.cognito.client_id,
                AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
            )
            self.tokens[username] = result["AuthenticationResult"]["IdToken"]
        return self.tokens[username]

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        token: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        status, payload, _ = self.exchange(method, path, user=user, token=token, body=body)
        return status, payload

    def exchange(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        token: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, response headers) of one request through the local API Gateway."""
        sent = {"content-type": "application/json"}
        bearer = token if token is not None else (self.token(user) if user else None)
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        try:
            reply = self.gateway.handle_request(method, path, sent, raw)
        except LocalGatewayException as exc:
            return exc.CODE, json.loads(exc.body or b"{}"), dict(exc.headers)
        text = reply.get("body") or "null"
        return int(reply["statusCode"]), json.loads(text), dict(reply.get("headers") or {})

    # -- seeds ------------------------------------------------------------------------------------------

    def seed_order(self, state: OrderState = OrderState.OPEN, symbol: str = "BTC/USDT", at: int = 0) -> Order:
        created = at or self.services.clock_ms()
        cid = f"toen-{uuid.uuid4().hex[:26]}"
        order = Order(
            client_order_id=cid,
            intent_id=f"intent-{cid}",
            strategy="demo",
            symbol=symbol,
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.010"),
            limit_price=Decimal("30000.5"),
            time_in_force=TimeInForce.GTC,
            state=state,
            filled_quantity=Decimal(0),
            avg_fill_price=None,
            venue_order_id=None if state is OrderState.NEW else "v-1",
            created_at=created,
            updated_at=created,
            reason=None,
            trade_ids=frozenset(),
            version=1,
        )
        OrderStore(self.settings).put(order, None)
        return order

    def seed_proposal(self, proposer: str = SECOND_RISK, value: str = "12000") -> LimitProposal:
        publisher = EventPublisher(self.settings, EVENT_SOURCE)
        service = ChangeService(self.settings, publisher, baseline=RiskLimits.default_for_demo())
        operator = Operator(proposer, frozenset({"risk"}))
        return service.propose(
            ProposalKind.LIMITS, "global", {"max_order_notional": Decimal(value)}, "rig", operator
        )

    def seed_alert(self) -> Alert:
        key = uuid.uuid4().hex
        action = AlertAction(
            kind=ActionKind.RAISE,
            source="rig",
            key=key,
            title=f"rig alert {key[:6]}",
            severity=Severity.WARNING,
            occurred_at=datetime.now(UTC),
            event_id=key,
            details={"why": "rig"},
        )
        alert = Alert.opened(action)
        AlertStore(self.settings).upsert(alert, None)
        return alert

    def seed_break(self) -> str:
        brk = Break(
            BreakClass.BALANCE_MISMATCH,
            BreakSubject(asset=f"X{uuid.uuid4().hex[:8].upper()}"),
            {"local": "1", "venue": "2"},
            Severity.WARNING,
            ProposedAction.ALERT_ONLY,
        )
        ReconStore(self.settings).observe(brk, self.services.clock_ms())
        return brk.break_id


def open_api_rig(moto_endpoint: str) -> ApiRig:
    settings = settings_for(moto_endpoint)
    resources = provision(settings, demo_password=PASSWORD)
    assert resources.cognito is not None
    cognito = CognitoConfig(
        issuer=resources.cognito.issuer,
        client_id=resources.cognito.client_id,
        jwks_url=resources.cognito.jwks_url,
    )
    services = Services(settings, cognito, TokenVerifier(cognito, JwksCache(cognito.jwks_url)))
    app = create_app(services)
    return ApiRig(settings, resources, services, LocalGateway(app, Config.create()))

"""Public routes (auth config, login, the OpenAPI document) and ``GET /api/me``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tradeops.api import responses as r
from tradeops.api.auth import InvalidToken
from tradeops.api.context import Call
from tradeops.api.errors import Unauthorized
from tradeops.api.openapi import openapi_document
from tradeops.api.rbac import EVERYONE, RouteTable
from tradeops.api.requests import LoginBody


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/auth/config", public=True, tag="session", response=r.AuthConfigOut,
        summary="How the UI logs in: password (embedded Cognito) or the hosted UI",
    )  # fmt: skip
    def auth_config(call: Call) -> r.AuthConfigOut:
        cognito = call.services.cognito
        mode = "hosted" if cognito.hosted_ui_url else "password"
        return r.AuthConfigOut(mode=mode, hosted_ui_url=cognito.hosted_ui_url, client_id=cognito.client_id)

    @table.route(
        "POST", "/api/auth/login", public=True, tag="session", body=LoginBody, response=r.LoginOut,
        errors=(401,), summary="Username/password login (USER_PASSWORD_AUTH); returns the ID token",
    )  # fmt: skip
    def login(call: Call) -> r.LoginOut:
        body = call.body_as(LoginBody)
        services = call.services
        try:
            result = services.idp.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=services.cognito.client_id,
                AuthParameters={"USERNAME": body.username, "PASSWORD": body.password},
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NotAuthorizedException", "UserNotFoundException", "InvalidParameterException"}:
                raise Unauthorized("wrong username or password") from None
            raise
        tokens = result.get("AuthenticationResult")
        if not isinstance(tokens, dict) or "IdToken" not in tokens:
            raise Unauthorized(
                f"login needs a challenge the API does not support ({result.get('ChallengeName')})"
            )
        token = str(tokens["IdToken"])
        try:
            principal = services.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(f"Cognito returned a token the API does not accept: {exc}") from None
        return r.LoginOut(
            token=token,
            expires_at=principal.expires_at,
            username=principal.username,
            roles=sorted(principal.roles),
        )

    @table.route(
        "GET", "/api/openapi.json", public=True, tag="session",
        summary="This document (OpenAPI 3.1), generated from the route table",
    )  # fmt: skip
    def openapi(call: Call) -> dict[str, Any]:
        return openapi_document(call.table)

    @table.route(
        "GET", "/api/me", roles=EVERYONE, tag="session", response=r.MeOut,
        summary="The caller, their roles and every route they may call",
    )  # fmt: skip
    def me(call: Call) -> r.MeOut:
        user = call.user
        return r.MeOut(
            username=user.username, roles=sorted(user.roles), permissions=call.table.permissions(user.roles)
        )

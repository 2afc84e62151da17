"""Who is acting: an :class:`Operator` (username and Cognito groups), and a login against Cognito.

:func:`login` runs ``InitiateAuth`` (``USER_PASSWORD_AUTH``) and takes the username and groups from the
returned ID token's claims. It checks the claims (``token_use``, ``aud``, ``iss``, ``exp``) but NOT the
signature: this is for the CLI on the embedded stack, which got the token straight from Cognito over the
connection it opened. The operator API must verify the RS256 signature against the pool's JWKS (DESIGN
§4.5) before trusting any claim. The password and the tokens are never logged or returned.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tradeops.domain.roles import Role

APPROVER_ROLES = frozenset({Role.RISK.value, Role.ADMIN.value})
"""Groups whose members may propose, approve and reject control changes."""


class AuthenticationFailed(PermissionError):
    """Cognito refused the login, or its ID token does not carry the expected claims."""


@dataclass(frozen=True)
class Operator:
    """An authenticated person: the username (unique in the pool) and their Cognito groups."""

    username: str
    groups: frozenset[str]

    def __post_init__(self) -> None:
        if not self.username or not self.username.strip():
            raise ValueError("an operator needs a username")
        object.__setattr__(self, "groups", frozenset(self.groups))

    @property
    def may_approve(self) -> bool:
        return bool(self.groups & APPROVER_ROLES)


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWT, decoded WITHOUT verifying its signature (see the module doc)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationFailed("the ID token is not a compact JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationFailed("the ID token payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise AuthenticationFailed("the ID token payload is not a JSON object")
    return claims


def operator_from_claims(
    claims: Mapping[str, Any], *, client_id: str, issuer: str, now_s: float | None = None
) -> Operator:
    """The operator an ID token's claims name, after checking use, audience, issuer and expiry."""
    if claims.get("token_use") != "id":
        raise AuthenticationFailed("not an ID token")
    if claims.get("aud") != client_id:
        raise AuthenticationFailed("the ID token was issued for another app client")
    if claims.get("iss") != issuer:
        raise AuthenticationFailed("the ID token was issued by another user pool")
    expiry = claims.get("exp")
    if not isinstance(expiry, int) or expiry <= (time.time() if now_s is None else now_s):
        raise AuthenticationFailed("the ID token has expired")
    username = claims.get("cognito:username")
    groups = claims.get("cognito:groups", [])
    if not isinstance(username, str) or not username:
        raise AuthenticationFailed("the ID token has no cognito:username")
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise AuthenticationFailed("the ID token's cognito:groups is not a list of names")
    return Operator(username, frozenset(groups))


def login(idp: Any, *, client_id: str, issuer: str, username: str, password: str) -> Operator:
    """Authenticate ``username`` with ``idp`` (a boto3 cognito-idp client) and return the operator."""
    from botocore.exceptions import ClientError

    try:
        response = idp.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise AuthenticationFailed(f"Cognito refused the login of {username} ({code})") from None
    result = response.get("AuthenticationResult")
    if not isinstance(result, dict) or "IdToken" not in result:
        challenge = response.get("ChallengeName", "none")
        raise AuthenticationFailed(f"Cognito asked {username} for a challenge ({challenge})")
    return operator_from_claims(decode_jwt_claims(result["IdToken"]), client_id=client_id, issuer=issuer)

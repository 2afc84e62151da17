"""ID token claims -> Operator: use, audience, issuer and expiry are checked (the signature is not)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tradeops.change_management.identity import (
    AuthenticationFailed,
    Operator,
    decode_jwt_claims,
    operator_from_claims,
)

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x"
CLAIMS: dict[str, Any] = {
    "token_use": "id",
    "aud": "client",
    "iss": ISSUER,
    "exp": 2_000,
    "cognito:username": "risk@tradeops.example",
    "cognito:groups": ["risk"],
}


def token(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


def test_claims_make_an_operator() -> None:
    operator = operator_from_claims(
        decode_jwt_claims(token(CLAIMS)), client_id="client", issuer=ISSUER, now_s=1_000
    )
    assert operator == Operator("risk@tradeops.example", frozenset({"risk"}))
    assert operator.may_approve
    assert not Operator("trader@tradeops.example", frozenset({"trader"})).may_approve


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"token_use": "access"}, "not an ID token"),
        ({"aud": "other"}, "another app client"),
        ({"iss": "https://evil"}, "another user pool"),
        ({"exp": 999}, "expired"),
        ({"cognito:username": ""}, "cognito:username"),
        ({"cognito:groups": "risk"}, "cognito:groups"),
    ],
)
def test_bad_claims_are_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(AuthenticationFailed, match=problem):
        operator_from_claims({**CLAIMS, **change}, client_id="client", issuer=ISSUER, now_s=1_000)


@pytest.mark.parametrize("bad", ["abc", "a.!!!.c", f"a.{base64.urlsafe_b64encode(b'[1]').decode()}.c"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(AuthenticationFailed):
        decode_jwt_claims(bad)

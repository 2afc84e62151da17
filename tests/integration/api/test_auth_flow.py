"""Authentication end to end: login against moto's Cognito, and forged tokens refused with 401."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ._rig import PASSWORD, ROLE_USERS, ApiRig

SHARED_SECRET = "a-shared-secret-long-enough-for-hs256!"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_login_returns_a_token_the_api_accepts(api_rig: ApiRig) -> None:
    status, body = api_rig.call(
        "POST", "/api/auth/login", body={"username": ROLE_USERS["risk"], "password": PASSWORD}
    )
    assert status == 200 and body["username"] == ROLE_USERS["risk"] and body["roles"] == ["risk"]
    assert body["expires_at"] > time.time() * 1000
    status, me = api_rig.call("GET", "/api/me", token=body["token"])
    assert status == 200 and me["username"] == ROLE_USERS["risk"]
    assert "POST /api/limits/proposals" in me["permissions"] and "POST /api/orders" not in me["permissions"]


def test_login_with_a_wrong_password_or_unknown_user_is_401(api_rig: ApiRig) -> None:
    for username, password in (
        (ROLE_USERS["risk"], "Wrong-Passw0rd!"),
        ("nobody@tradeops.example", PASSWORD),
    ):
        status, body = api_rig.call(
            "POST", "/api/auth/login", body={"username": username, "password": password}
        )
        assert status == 401, body
        assert PASSWORD not in json.dumps(body)


def test_login_validates_its_body(api_rig: ApiRig) -> None:
    status, body = api_rig.call("POST", "/api/auth/login", body={"username": ""})
    assert status == 400 and set(body["error"]["fields"]) == {"username", "password"}
    status, body = api_rig.call("POST", "/api/auth/login", body=b"{not json")
    assert status == 400 and body["error"]["fields"] == {"body": "not valid JSON"}


def _claims(api_rig: ApiRig, **overrides: object) -> dict[str, object]:
    real = jwt.decode(api_rig.token(ROLE_USERS["admin"]), options={"verify_signature": False})
    return {**real, **overrides}


def test_forged_tokens_are_401(api_rig: ApiRig) -> None:
    real = api_rig.token(ROLE_USERS["admin"])
    kid = jwt.get_unverified_header(real)["kid"]
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, _, signature = real.split(".")
    elevated = (
        base64.urlsafe_b64encode(
            json.dumps(_claims(api_rig, **{"cognito:groups": ["admin", "risk"]})).encode()
        )
        .decode()
        .rstrip("=")
    )
    forged = {
        "self-signed": jwt.encode(_claims(api_rig), stranger, algorithm="RS256", headers={"kid": kid}),
        "tampered-claims": f"{header}.{elevated}.{signature}",
        "alg-none": jwt.encode(_claims(api_rig), None, algorithm="none", headers={"kid": kid}),
        "hs256": jwt.encode(_claims(api_rig), SHARED_SECRET, algorithm="HS256", headers={"kid": kid}),
        "expired": jwt.encode(_claims(api_rig, exp=int(time.time()) - 5), stranger, algorithm="RS256",
                              headers={"kid": kid}),
        "truncated": real[:-10],
    }  # fmt: skip
    for name, token in forged.items():
        status, body = api_rig.call("GET", "/api/me", token=token)
        assert status == 401, (name, body)
    status, _ = api_rig.call("GET", "/api/me", token=real)
    assert status == 200

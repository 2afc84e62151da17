"""Token verification with self-signed keys: every way a token must be refused, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tradeops.api.auth import CognitoConfig, InvalidToken, JwksCache, TokenVerifier, bearer_token

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
CLIENT = "client-1"
CONFIG = CognitoConfig(ISSUER, CLIENT, f"{ISSUER}/.well-known/jwks.json")


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY_A, KEY_B = new_key(), new_key()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


class FakeJwks:
    """The pool's JWKS endpoint: the keys it serves now, and how often it was asked."""

    def __init__(self, *keys: tuple[rsa.RSAPrivateKey, str]) -> None:
        self.keys = list(keys)
        self.calls = 0

    def __call__(self, url: str) -> dict[str, Any]:
        assert url == CONFIG.jwks_url
        self.calls += 1
        return {"keys": [jwk(key, kid) for key, kid in self.keys]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": CLIENT,
        "token_use": "id",
        "exp": now + 600,
        "iat": now,
        "cognito:username": "risk@tradeops.example",
        "cognito:groups": ["risk", "not-a-role"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey = KEY_A, kid: str = "a", alg: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def verifier(fetch: FakeJwks | None = None, clock: list[float] | None = None) -> TokenVerifier:
    ticks = clock if clock is not None else [0.0]
    cache = JwksCache(
        CONFIG.jwks_url, fetch=fetch or FakeJwks((KEY_A, "a")), min_refetch_s=30, clock=lambda: ticks[0]
    )
    return TokenVerifier(CONFIG, cache)


def test_a_valid_id_token_names_the_user_and_only_known_roles() -> None:
    principal = verifier().verify(sign(claims()))
    assert principal.username == "risk@tradeops.example"
    assert principal.roles == frozenset({"risk"})
    assert principal.expires_at > time.time() * 1000


def test_an_access_token_is_checked_against_client_id() -> None:
    access = claims(token_use="access", aud=None, client_id=CLIENT, username="u1")
    access.pop("cognito:username")
    assert verifier().verify(sign(access)).username == "u1"
    with pytest.raises(InvalidToken, match="another app client"):
        verifier().verify(sign({**access, "client_id": "other"}))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (claims(exp=int(time.time()) - 1), "expired"),
        (claims(aud="someone-else"), "another app client"),
        (claims(iss="https://cognito-idp.us-east-1.amazonaws.com/other"), "another user pool"),
        (claims(token_use="refresh"), "token_use"),
        (claims(token_use=None), "invalid token"),
        (claims(exp=None), "invalid token"),
        (claims(**{"cognito:username": None}), "names no user"),
        (claims(**{"cognito:groups": "risk"}), "not a list"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "refresh-token", "no-token-use", "no-exp", "no-user",
         "groups-not-list"],
)  # fmt: skip
def test_claims_that_must_be_refused(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verifier().verify(sign(payload))


def test_a_signature_by_another_key_under_the_same_kid_is_refused() -> None:
    with pytest.raises(InvalidToken, match="signature"):
        verifier().verify(sign(claims(), key=KEY_B, kid="a"))


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(**{"cognito:groups": ["admin"]})).encode())
    with pytest.raises(InvalidToken, match="signature"):
        verifier().verify(f"{header}.{forged.decode().rstrip('=')}.{signature}")


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(), key=None, algorithm="none", headers={"kid": "a"})
    with pytest.raises(InvalidToken, match="RS256"):
        verifier().verify(unsigned)


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """The classic key-confusion forgery: HMAC keyed with the (public) RSA key."""
    pem = KEY_A.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "a"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    mac = hmac.new(pem, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    with pytest.raises(InvalidToken, match="RS256"):
        verifier().verify(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x.y"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verifier().verify(token)


def test_a_token_without_kid_is_refused() -> None:
    token = jwt.encode(claims(), KEY_A, algorithm="RS256")
    with pytest.raises(InvalidToken, match="key id"):
        verifier().verify(token)


def test_key_rotation_refetches_once_and_unknown_kids_do_not_hammer_the_pool() -> None:
    jwks = FakeJwks((KEY_A, "a"))
    clock = [0.0]
    check = verifier(jwks, clock)
    check.verify(sign(claims()))
    assert jwks.calls == 1
    jwks.keys.append((KEY_B, "b"))  # the pool rotates: a new key appears
    clock[0] = 31.0
    assert check.verify(sign(claims(), key=KEY_B, kid="b")).username
    assert jwks.calls == 2
    for _ in range(5):  # garbage kids within min_refetch_s: no refetch
        with pytest.raises(InvalidToken, match="unknown key"):
            check.verify(sign(claims(), key=KEY_B, kid="zzz"))
    assert jwks.calls == 2
    clock[0] = 62.0
    with pytest.raises(InvalidToken, match="unknown key"):
        check.verify(sign(claims(), key=KEY_B, kid="zzz"))
    assert jwks.calls == 3


def test_bearer_header_parsing() -> None:
    assert bearer_token({"Authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "bearer  abc "}) == "abc"
    for headers in ({}, {"authorization": ""}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}):
        with pytest.raises(InvalidToken):
            bearer_token(headers)


def test_config_from_env_derives_the_jwks_url() -> None:
    config = CognitoConfig.from_env(
        {"TRADEOPS_COGNITO_ISSUER": ISSUER + "/", "TRADEOPS_COGNITO_CLIENT_ID": "c"}
    )
    assert config.jwks_url == f"{ISSUER}/.well-known/jwks.json"
    assert config.hosted_ui_url is None and config.user_pool_id == "us-east-1_pool"

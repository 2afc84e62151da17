"""Cognito JWT verification in the app (DESIGN §4.5), in addition to the API Gateway authorizer in AWS.

A token is accepted only if: its header names ``RS256`` and a ``kid`` (``none`` and HMAC algorithms are
refused before anything else, so a forged HS256 token signed with the public key cannot pass), the
signature verifies with that key from the pool's JWKS, ``iss`` is the configured issuer, ``exp`` lies
ahead, ``token_use`` is ``id`` (then ``aud`` must be the app client id) or ``access`` (then
``client_id`` must be), and it names a user. Roles are the user's ``cognito:groups`` that are roles.

The JWKS is cached (``ttl_s``); a token with an unknown ``kid`` (key rotation) refetches it once, at
most every ``min_refetch_s``, so garbage kids cannot make the API hammer Cognito.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from tradeops.domain.roles import ROLES

ALGORITHM = "RS256"
TOKEN_USES = frozenset({"id", "access"})


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired or not ours (the reason is safe to return)."""


class ConfigurationError(RuntimeError):
    """The API's Cognito settings are missing or inconsistent."""


@dataclass(frozen=True)
class CognitoConfig:
    """Where tokens come from: ``TRADEOPS_COGNITO_ISSUER``, ``_CLIENT_ID``, ``_JWKS_URL`` (default: the
    issuer's ``/.well-known/jwks.json``) and ``_HOSTED_UI_URL`` (set in AWS: the UI then logs in there)."""

    issuer: str
    client_id: str
    jwks_url: str
    hosted_ui_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CognitoConfig:
        values = os.environ if env is None else env
        issuer = values.get("TRADEOPS_COGNITO_ISSUER", "").rstrip("/")
        client_id = values.get("TRADEOPS_COGNITO_CLIENT_ID", "")
        if not issuer or not client_id:
            raise ConfigurationError("TRADEOPS_COGNITO_ISSUER and TRADEOPS_COGNITO_CLIENT_ID must be set")
        jwks_url = values.get("TRADEOPS_COGNITO_JWKS_URL") or f"{issuer}/.well-known/jwks.json"
        return cls(issuer, client_id, jwks_url, values.get("TRADEOPS_COGNITO_HOSTED_UI_URL") or None)

    @property
    def user_pool_id(self) -> str:
        return self.issuer.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Principal:
    """The verified caller: username, roles (Cognito groups that are roles) and token expiry (ms)."""

    username: str
    roles: frozenset[str]
    expires_at: int


def fetch_json(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """GET ``url`` and parse its JSON object (the JWKS document)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"JWKS URL must be http(s), got {url!r}")
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        document = json.loads(response.read())
    if not isinstance(document, dict):
        raise ValueError("JWKS document is not a JSON object")
    return document


class JwksCache:
    """The signing keys of ``url`` by ``kid``, refreshed every ``ttl_s`` and on an unknown kid."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_json,
        ttl_s: float = 3600.0,
        min_refetch_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._min_refetch_s = min_refetch_s
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> jwt.PyJWK:
        """The key named ``kid``; InvalidToken if the JWKS (refetched at most once) does not have it."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._ttl_s:
                self._refresh(now)
            elif kid not in self._keys and now - self._fetched_at >= self._min_refetch_s:
                self._refresh(now)  # a rotated key: fetch the new set once
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token signed with an unknown key")
        return key

    def _refresh(self, now: float) -> None:
        try:
            document = self._fetch(self._url)
        except Exception as exc:
            if self._keys:  # keep serving the keys we have; try again after min_refetch_s
                self._fetched_at = now - self._ttl_s + self._min_refetch_s
                return
            raise InvalidToken("signing keys unavailable") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            try:
                keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm=ALGORITHM)
            except jwt.PyJWKError:
                continue
        self._keys = keys
        self._fetched_at = now
        self.fetches += 1


class TokenVerifier:
    """Verifies Cognito tokens for one user pool and app client (see the module docstring)."""

    def __init__(
        self,
        config: CognitoConfig,
        jwks: JwksCache,
        *,
        leeway_s: int = 0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._jwks = jwks
        self._leeway_s = leeway_s
        self._now = now

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; InvalidToken naming the first problem otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"token algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token header has no key id")
        key = self._jwks.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self._config.issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token issued by another user pool") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("token signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token ({type(exc).__name__})") from exc
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        use = claims.get("token_use")
        if use not in TOKEN_USES:
            raise InvalidToken("token_use must be id or access")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if audience != self._config.client_id:
            raise InvalidToken("token issued for another app client")
        exp = claims["exp"]
        if not isinstance(exp, int) or exp <= self._now() - self._leeway_s:
            raise InvalidToken("token expired")
        username = claims.get("cognito:username") if use == "id" else claims.get("username")
        if not isinstance(username, str) or not username:
            raise InvalidToken("token names no user")
        groups = claims.get("cognito:groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidToken("cognito:groups is not a list of names")
        return Principal(username, frozenset(groups) & frozenset(ROLES), exp * 1000)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; InvalidToken when there is none."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        raise InvalidToken("missing bearer token")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization must be 'Bearer <token>'")
    return token.strip()

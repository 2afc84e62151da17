"""Binance request authentication: API key, HMAC-SHA256 signature, timestamp within recvWindow."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from tradeops.sim.errors import SimError, illegal_chars, invalid_key, mandatory

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
AHEAD_TOLERANCE_MS = 1_000

SecretLookup = Callable[[str], "str | None"]


def parse_params(query: str, body: str) -> dict[str, str]:
    """Parameters from the query string and a form-encoded body; duplicates and empties are refused."""
    params: dict[str, str] = {}
    for raw in (query, body):
        if not raw:
            continue
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, max_num_fields=100)
        except ValueError:
            raise SimError(-1100, "Illegal characters found in a parameter.") from None
        for key, value in pairs:
            if key in params:
                raise SimError(-1101, f"Duplicate values for parameter '{key}'.")
            if value == "":
                raise SimError(-1105, f"Parameter '{key}' was empty.")
            params[key] = value
    return params


def signed_payload(query: str, body: str) -> str:
    """What Binance signs: the query string then the body, each without its ``signature`` pair."""
    return _strip_signature(query) + _strip_signature(body)


def _strip_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def hmac_hex(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``payload`` under ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def authenticate_key(api_key: str | None, secret_for: SecretLookup) -> str:
    """The secret of ``api_key``; -2014 if the header is missing or malformed, -2015 if unknown/revoked."""
    if not api_key or len(api_key) > 128 or not api_key.isprintable():
        raise SimError(-2014, "API-key format invalid.", 401)
    secret = secret_for(api_key)
    if secret is None:
        raise invalid_key()
    return secret


def check_timestamp(params: Mapping[str, str], server_ms: int) -> None:
    """Enforce ``timestamp``/``recvWindow`` exactly as Binance (-1102, -1100, -1131, -1021)."""
    raw_ts = params.get("timestamp")
    if raw_ts is None:
        raise mandatory("timestamp")
    if not raw_ts.isdigit() or len(raw_ts) > 20:
        raise illegal_chars("timestamp", "^[0-9]{1,20}$")
    raw_window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    try:
        window = float(raw_window)
    except ValueError:
        raise illegal_chars("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$") from None
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise SimError(-1131, "recvWindow must be less than 60000")
    timestamp = int(raw_ts)
    if timestamp >= server_ms + AHEAD_TOLERANCE_MS:
        raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - timestamp > window:
        raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")


def verify_rest(
    api_key: str | None,
    params: Mapping[str, str],
    query: str,
    body: str,
    secret_for: SecretLookup,
    server_ms: int,
) -> None:
    """Authenticate a SIGNED REST request; raises :class:`SimError` with Binance's code when it fails."""
    secret = authenticate_key(api_key, secret_for)
    signature = params.get("signature")
    if signature is None:
        raise mandatory("signature")
    expected = hmac_hex(secret, signed_payload(query, body))
    if not hmac.compare_digest(expected, signature.lower()):
        raise SimError(-1022, "Signature for this request is not valid.")
    check_timestamp(params, server_ms)


def ws_params_payload(params: Mapping[str, object]) -> str:
    """The WS-API signing payload: every parameter but ``signature``, sorted by name, ``k=v&...``."""
    return "&".join(f"{k}={_ws_value(v)}" for k, v in sorted(params.items()) if k != "signature")


def _ws_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def verify_ws(params: Mapping[str, object], secret_for: SecretLookup, server_ms: int) -> str:
    """Authenticate a signed WS-API request; returns its API key."""
    api_key = params.get("apiKey")
    if not isinstance(api_key, str):
        raise SimError(-2014, "API-key format invalid.", 401)
    secret = authenticate_key(api_key, secret_for)
    signature = params.get("signature")
    if not isinstance(signature, str) or not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(hmac_hex(secret, ws_params_payload(params)), signature.lower()):
        raise SimError(-1022, "Signature for this request is not valid.")
    check_timestamp({k: _ws_value(v) for k, v in params.items()}, server_ms)
    return api_key

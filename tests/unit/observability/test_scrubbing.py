"""Secrets never reach a log line, whatever path they take (message, args, extra, nested, exception)."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import uuid
from typing import Any

import pytest

from tradeops.observability import (
    REDACTED,
    WIRE_LOGGERS,
    configure_process_logging,
    get_logger,
    register_secret,
    scrub,
    scrub_text,
)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# The exchange credentials: the gateway registers them when it loads them, so they are redacted even
# bare. Every other value below is never registered and must be caught by its key or its shape.
EXCHANGE_KEY = secrets.token_hex(32)  # Binance-style 64-char key
EXCHANGE_SECRET = secrets.token_urlsafe(48)
register_secret(EXCHANGE_KEY)
register_secret(EXCHANGE_SECRET)
API_KEY = secrets.token_hex(32)
API_SECRET = secrets.token_urlsafe(48)
SIGNATURE = secrets.token_hex(32)
PASSWORD = "Tr4d3-" + secrets.token_urlsafe(12)
JWT = ".".join(
    (
        _b64({"alg": "RS256", "kid": "k1"}),
        _b64({"sub": "alice", "cognito:groups": ["admin"]}),
        secrets.token_urlsafe(64),
    )
)
RUNTIME_SECRET = "rt-" + secrets.token_urlsafe(24)  # a value loaded at runtime, in no known key
register_secret(RUNTIME_SECRET)
ALL_SECRETS = (EXCHANGE_KEY, EXCHANGE_SECRET, API_KEY, API_SECRET, SIGNATURE, PASSWORD, JWT, RUNTIME_SECRET)


def _logger() -> tuple[Any, io.StringIO]:
    stream = io.StringIO()
    return get_logger(f"scrub-{uuid.uuid4().hex[:8]}", stream=stream), stream


def _assert_clean(output: str) -> None:
    assert output, "nothing was logged"
    for value in ALL_SECRETS:
        assert value not in output
    for line in output.splitlines():
        json.loads(line)  # still one valid JSON document per line


def test_secrets_in_the_message_and_format_args_are_redacted() -> None:
    logger, stream = _logger()
    logger.info(f"GET /api/v3/account?timestamp=1&signature={SIGNATURE} X-MBX-APIKEY: {API_KEY}")
    logger.info("login with password=%s and Authorization: Bearer %s", PASSWORD, JWT)
    logger.warning("loaded secret %s from the vault", RUNTIME_SECRET)
    logger.info(f"token={JWT}")
    _assert_clean(stream.getvalue())
    assert REDACTED in stream.getvalue()


def test_secrets_in_extra_and_nested_structures_are_redacted() -> None:
    logger, stream = _logger()
    headers = {"X-MBX-APIKEY": API_KEY, "Authorization": f"Bearer {JWT}", "Accept": "application/json"}
    logger.info(
        "request",
        extra={
            "headers": headers,
            "params": {"symbol": "BTCUSDT", "signature": SIGNATURE, "nested": [{"apiKey": API_KEY}]},
            "secret_response": {"SecretString": json.dumps({"apiKey": API_KEY, "secret": API_SECRET})},
            "note": f"rotated to {RUNTIME_SECRET}",
            "quantity": 3,
        },
    )
    logger.info({"event": "dict message", "credentials": {"password": PASSWORD, "user": "alice"}})
    output = stream.getvalue()
    _assert_clean(output)
    first = json.loads(output.splitlines()[0])
    assert first["headers"]["Accept"] == "application/json" and first["quantity"] == 3
    assert first["params"]["symbol"] == "BTCUSDT" and first["params"]["signature"] == REDACTED
    assert json.loads(output.splitlines()[1])["message"]["credentials"] == {
        "password": REDACTED,
        "user": "alice",
    }


def test_secrets_in_exception_text_and_stack_trace_are_redacted() -> None:
    logger, stream = _logger()
    try:
        raise PermissionError(f"venue refused key {EXCHANGE_KEY} with secret={API_SECRET} ({RUNTIME_SECRET})")
    except PermissionError:
        logger.exception("call failed for %s", {"apiKey": API_KEY})
    output = stream.getvalue()
    _assert_clean(output)
    record = json.loads(output)
    assert record["exception_name"] == "PermissionError" and "venue refused key" in record["exception"]
    assert "stack_trace" in record


def test_library_loggers_of_a_long_running_process_share_the_format_and_the_scrubbing() -> None:
    stream = io.StringIO()
    service = f"proc-{uuid.uuid4().hex[:8]}"
    root = logging.getLogger()
    before = list(root.handlers), root.level
    early_stream = io.StringIO()
    early = get_logger(f"early-{uuid.uuid4().hex[:8]}", stream=early_stream)  # e.g. a handler module
    try:
        logger = configure_process_logging(service, stream=stream)
        early.info("from a logger made before the process was configured")
        logging.getLogger("ccxt.base.exchange").warning(
            "POST https://api.binance.com signature=%s", SIGNATURE
        )
        logging.getLogger("botocore.endpoint").warning({"headers": {"Authorization": f"Bearer {JWT}"}})
        logger.info("service line with %s / %s", EXCHANGE_KEY, EXCHANGE_SECRET)
    finally:
        for handler in root.handlers:
            if handler not in before[0]:
                root.removeHandler(handler)
        root.setLevel(before[1])
    lines = stream.getvalue().splitlines()
    _assert_clean(stream.getvalue())
    assert len(lines) == 3, "service loggers' lines must not be duplicated through the root logger"
    assert len(early_stream.getvalue().splitlines()) == 1
    assert {json.loads(line)["service"] for line in lines} == {service}
    assert {json.loads(line)["level"] for line in lines} == {"WARNING", "INFO"}


def test_wire_libraries_never_log_bodies_even_when_the_process_runs_at_debug() -> None:
    """botocore logs a GetSecretValue response body at DEBUG, before the key can be registered."""
    stream = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in WIRE_LOGGERS}
    body = '{"SecretString": "{\\"apiKey\\": \\"unregistered-key-0123456789\\"}"}'
    try:
        configure_process_logging(f"proc-{uuid.uuid4().hex[:8]}", level="DEBUG", stream=stream)
        logging.getLogger("botocore.parsers").debug("Response body:\n%s", body)
        logging.getLogger("tradeops.own.module").debug("our own debug line still shows")
    finally:
        for handler in root.handlers:
            if handler not in before[0]:
                root.removeHandler(handler)
        root.setLevel(before[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert "unregistered-key-0123456789" not in stream.getvalue()
    assert "our own debug line still shows" in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("apiKey=abcdef123456&symbol=BTCUSDT", "symbol=BTCUSDT"),
        ("{'secret': 'hunter2hunter2', 'side': 'buy'}", "'side': 'buy'"),
        ('{"password": "p@ss word!"}', '"password": "***'),
        ("aws key AKIAABCDEFGHIJKLMNOP used", "aws key"),
        ("wrong signature -> -1022", "wrong signature -> -1022"),
        ("fencing_token=42 correlation_id=abc", "fencing_token=42 correlation_id=abc"),
    ],
)
def test_text_patterns_redact_values_and_keep_the_rest(text: str, kept: str) -> None:
    scrubbed = scrub_text(text)
    assert kept in scrubbed
    for value in ("abcdef123456", "hunter2hunter2", "p@ss", "AKIAABCDEFGHIJKLMNOP"):
        assert value not in scrubbed


def test_scrub_keeps_plain_json_types_and_stringifies_the_rest() -> None:
    from decimal import Decimal

    assert scrub({"n": 1, "x": 1.5, "ok": True, "none": None, "px": Decimal("1.10"), "t": (1, 2)}) == {
        "n": 1,
        "x": 1.5,
        "ok": True,
        "none": None,
        "px": "1.10",
        "t": [1, 2],
    }
    assert scrub({"Api-Key": {"nested": "anything"}}) == {"Api-Key": REDACTED}
    assert scrub(RUNTIME_SECRET.encode()) == REDACTED


def test_short_secrets_are_refused_rather_than_garbling_every_line() -> None:
    with pytest.raises(ValueError, match="at least"):
        register_secret("abc")

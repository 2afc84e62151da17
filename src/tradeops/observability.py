"""Observability base: one JSON log format everywhere, correlation ids, secret scrubbing, EMF metrics.

* :func:`get_logger` returns an aws-lambda-powertools ``Logger`` whose formatter is
  :class:`ScrubbingFormatter`. Functions and long-running processes (gateway, simulator, runner) use
  the same call, so every log line has the same JSON shape; processes also call
  :func:`configure_process_logging` so third-party loggers (ccxt, botocore, aiohttp) go through the
  same formatter.
* The correlation id lives in a context variable (:func:`correlation_scope`), so it is kept through a
  call and isolated between threads and asyncio tasks; the formatter adds it to every line.
* Scrubbing happens on the structured record just before serialization, so it covers the message,
  ``extra`` keys, nested dicts and lists, exception text and stack-trace values alike. It redacts
  values under known secret keys, ``Bearer`` credentials, JWT-looking tokens, AWS access key ids,
  ``key=value`` secrets inside free text, and every value registered with :func:`register_secret`.
* :func:`metrics` returns powertools ``Metrics`` (CloudWatch EMF); :func:`emit_metric` writes one metric
  with its own dimensions (e.g. severity) immediately.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

__all__ = [
    "REDACTED",
    "MetricUnit",
    "ScrubbingFormatter",
    "configure_process_logging",
    "correlation_id",
    "correlation_id_from_event",
    "correlation_scope",
    "emit_metric",
    "get_logger",
    "metrics",
    "register_secret",
    "scrub",
    "scrub_text",
]

REDACTED = "***"
MIN_SECRET_LENGTH = 8
"""Registered secrets shorter than this are refused: scrubbing them would garble ordinary text."""

# Keys whose values are always secret, compared lower-cased with '-' and '_' removed.
_SECRET_KEYS = frozenset(
    {
        "apikey",
        "xmbxapikey",
        "apisecret",
        "secret",
        "secretkey",
        "secretstring",
        "clientsecret",
        "secretaccesskey",
        "awssecretaccesskey",
        "sessiontoken",
        "awssessiontoken",
        "signature",
        "password",
        "passwd",
        "passphrase",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "privatekey",
    }
)
_KEY_ALTERNATION = (
    r"x-mbx-apikey|api[_-]?key|api[_-]?secret|secret[_-]?key|client[_-]?secret|secret[_-]?access[_-]?key"
    r"|session[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|private[_-]?key"
    r"|secret[_-]?string|signature|password|passwd|passphrase|secret"
)
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers in any rendering: the whole credential up to the end of the value.
    (re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\g<1> {REDACTED}"),
    # JWTs (header.payload.signature) and anything that starts like a base64url JSON header.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    # key=value, key: value, "key": "value", 'key': 'value' (query strings, reprs, JSON text).
    (
        re.compile(rf"(?i)\b({_KEY_ALTERNATION})([\"']?\s*[:=]\s*[\"']?)[^\"'\s&,;)}}\]]+"),
        rf"\g<1>\g<2>{REDACTED}",
    ),
)

_registered: set[str] = set()
_registered_pattern: re.Pattern[str] | None = None
_registry_lock = threading.Lock()

_correlation: ContextVar[str | None] = ContextVar("tradeops_correlation_id", default=None)


def register_secret(value: str) -> None:
    """Redact ``value`` wherever it appears in any later log line (e.g. an API key loaded at runtime)."""
    global _registered_pattern
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"a secret to scrub must have at least {MIN_SECRET_LENGTH} characters")
    with _registry_lock:
        if value in _registered:
            return
        _registered.add(value)
        ordered = sorted(_registered, key=len, reverse=True)
        _registered_pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def scrub_text(text: str) -> str:
    """``text`` with registered secrets, tokens and ``key=value`` secrets replaced by ``***``."""
    pattern = _registered_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _TEXT_PATTERNS:
        text = regex.sub(replacement, text)
    return text


def scrub(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with every secret redacted (mappings, sequences, any object)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            (scrub_text(k) if isinstance(k, str) else str(k)): REDACTED if _is_secret_key(k) else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item) for item in value]
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return scrub_text(str(value))


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """The powertools JSON formatter plus the correlation id and secret scrubbing of the whole record."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("utc", True)
        kwargs.setdefault("use_rfc3339", True)
        super().__init__(**kwargs)

    def serialize(self, log: Any) -> str:
        record = dict(log)
        current = _correlation.get()
        if current is not None:
            record["correlation_id"] = current
        return str(super().serialize(scrub(record)))


def get_logger(service: str, *, level: str | int | None = None, stream: IO[str] | None = None) -> Logger:
    """The JSON logger of ``service``; every call with one name shares it (the first call configures it).

    Its records do not propagate to the root logger: they are written once, by its own handler.
    """
    logger = Logger(service=service, level=level, stream=stream, logger_formatter=ScrubbingFormatter())
    logging.getLogger(service).propagate = False
    return logger


WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "aiohttp", "ccxt")
"""Libraries that log raw request and response bodies at DEBUG (e.g. a GetSecretValue response holding
the exchange key, before it can be registered for scrubbing): never below INFO, whatever the level."""


def configure_process_logging(
    service: str, *, level: str | int = "INFO", stream: IO[str] | None = None
) -> Logger:
    """For long-running processes: route the root logger (libraries) through the same scrubbing JSON format.

    Returns the service's logger (whose own records never reach the root handler, so none is doubled).
    Wire-level libraries stay at INFO or above even when ``level`` is DEBUG (:data:`WIRE_LOGGERS`).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "tradeops_handler", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(ScrubbingFormatter(service=service))
    handler.tradeops_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in WIRE_LOGGERS:
        library = logging.getLogger(name)
        library.setLevel(max(library.getEffectiveLevel(), logging.INFO))
    return get_logger(service, level=level, stream=stream)


def correlation_id() -> str | None:
    """The correlation id of the current call (None outside a :func:`correlation_scope`)."""
    return _correlation.get()


@contextmanager
def correlation_scope(value: str | None) -> Iterator[str | None]:
    """Tag every log line written inside the block (this thread or task only) with ``value``."""
    token = _correlation.set(value)
    try:
        yield value
    finally:
        _correlation.reset(token)


def correlation_id_from_event(event: Mapping[str, Any]) -> str | None:
    """``detail.correlation_id`` of an EventBridge envelope (or of a bare detail), if it is a string."""
    detail = event.get("detail")
    holder = detail if isinstance(detail, Mapping) else event
    value = holder.get("correlation_id")
    return value if isinstance(value, str) and value else None


def metrics(namespace: str = "tradeops", service: str = "tradeops") -> Metrics:
    """Powertools EMF metrics for ``service`` (flushed by ``log_metrics`` or ``flush_metrics``)."""
    return Metrics(namespace=namespace, service=service)


def emit_metric(
    m: Metrics,
    name: str,
    value: float = 1,
    unit: MetricUnit = MetricUnit.Count,
    **dimensions: str,
) -> None:
    """Write one EMF metric now, with the service dimension of ``m`` plus ``dimensions``."""
    default = {"service": str(m.service)} if m.service else {}
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=str(m.namespace),
        default_dimensions={**default, **dimensions},
    ):
        pass

"""Outcome classification: every venue call ends as Accepted, Rejected, Unknown or Retryable.

* ``Rejected``: the venue definitively refused the request (nothing happened); carries the Binance code.
* ``Unknown``: a submit or cancel whose effect is not known (timeout, 5xx, dropped connection). The
  caller resolves it by querying by client order id; it never re-sends blindly.
* ``Retryable``: nothing happened and the same request may be sent again: a read that failed in
  transit, or any request refused by the rate limiter (HTTP 429/418, -1003, -1015) before processing.

The Binance error code in the response body decides first, because ccxt's exception class depends on
the host and on history: on non-binance hosts -1013 filter failures arrive as ``BadRequest`` (not
``InvalidOrder``), -2015 after an earlier successful call arrives as ``DDoSProtection``, and -1021
(a definitive timestamp refusal) arrives as ``InvalidNonce``, a ``NetworkError`` subclass. The ccxt
class decides only when the body carries no code.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import aiohttp
import ccxt.async_support as ccxt

T = TypeVar("T")


class CallKind(StrEnum):
    SUBMIT = "submit"
    CANCEL = "cancel"
    READ = "read"


@dataclass(frozen=True)
class Accepted(Generic[T]):
    """The venue did it; ``value`` is its answer mapped to domain types."""

    value: T


@dataclass(frozen=True)
class Rejected:
    """Definitive refusal: nothing happened at the venue."""

    code: int | None
    message: str
    error_type: str


@dataclass(frozen=True)
class Unknown:
    """A submit or cancel whose outcome is not known: resolve by querying, never by re-sending."""

    message: str
    error_type: str
    code: int | None = None


@dataclass(frozen=True)
class Retryable:
    """Nothing happened; the same request may be sent again (after ``retry_after_s`` when given)."""

    message: str
    error_type: str
    code: int | None = None
    retry_after_s: float | None = None


Failure = Rejected | Unknown | Retryable


DEADLINE_PASSED = "DeadlinePassed"
"""``Rejected.error_type`` of a request not sent because its deadline (the intent's expiry) came first."""


class NotSent(Exception):
    """Raised before any request left (bad input caught locally): the outcome is a definitive Rejected."""

    def __init__(self, message: str, error_type: str = "InvalidOrder") -> None:
        super().__init__(message)
        self.error_type = error_type


# Binance 10xx "server or network" codes after which the request's effect is not known.
UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1001, -1006, -1007, -1016})
# Refused by a rate limit before processing: safe to send again, for every call kind.
THROTTLE_CODES = frozenset({-1003, -1008, -1015})

_CODE_IN_JSON = re.compile(r"\{[^{}]*\"code\"\s*:\s*-?\d+[^{}]*\}")
# ccxt subclasses that mean "the venue understood the request and refused it".
_DEFINITIVE: tuple[type[Exception], ...] = (
    ccxt.AuthenticationError,  # PermissionDenied, AccountSuspended
    ccxt.InvalidOrder,  # OrderNotFound, DuplicateOrderId, OrderImmediatelyFillable, ...
    ccxt.InsufficientFunds,
    ccxt.BadRequest,  # BadSymbol
    ccxt.ArgumentsRequired,
    ccxt.NotSupported,
    ccxt.OperationRejected,
    ccxt.InvalidNonce,
)
# Exceptions raised below ccxt (or by our own deadline) that mean "lost in transit".
_TRANSPORT: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
_IN_TRANSIT: tuple[type[BaseException], ...] = (ccxt.NetworkError, ccxt.OperationFailed, *_TRANSPORT)


def binance_error(text: str) -> tuple[int | None, str | None]:
    """The ``(code, msg)`` of the Binance error JSON embedded in a ccxt exception message, if any."""
    for match in _CODE_IN_JSON.finditer(text):
        try:
            body = json.loads(match.group(0))
        except ValueError:
            continue
        code = body.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            msg = body.get("msg")
            return code, msg if isinstance(msg, str) else None
    return None, None


def _in_transit(
    kind: CallKind, message: str, error_type: str, code: int | None, retry_after_s: float | None
) -> Failure:
    if kind is CallKind.READ:
        return Retryable(message, error_type, code, retry_after_s)
    return Unknown(message, error_type, code)


def classify(
    exc: Exception,
    kind: CallKind,
    *,
    status: int | None = None,
    body: str | None = None,
    retry_after_s: float | None = None,
) -> Failure:
    """The outcome class of a venue call that raised ``exc`` (see the module docstring for the rules).

    ``status`` and ``body`` are the HTTP response behind ``exc`` when there was one (ccxt drops the
    body from exceptions it matched by message); ``retry_after_s`` is the wait the rate limiter learned
    from the response's Retry-After header.
    """
    if isinstance(exc, NotSent):
        return Rejected(None, str(exc), exc.error_type)
    error_type = type(exc).__name__
    text = str(exc)
    code, msg = binance_error(body) if body is not None and (status or 0) >= 400 else (None, None)
    if code is None:
        code, msg = binance_error(text)
    message = msg or text
    if status in (418, 429) or code in THROTTLE_CODES:
        return Retryable(message, error_type, code, retry_after_s)
    if (status is not None and status >= 500) or code in UNKNOWN_OUTCOME_CODES:
        return _in_transit(kind, message, error_type, code, retry_after_s)
    if code is not None:
        return Rejected(code, message, error_type)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return Retryable(message, error_type, None, retry_after_s)
    if isinstance(exc, _DEFINITIVE):
        return Rejected(None, message, error_type)
    if isinstance(exc, _IN_TRANSIT) or isinstance(exc.__cause__, _TRANSPORT):
        return _in_transit(kind, message, error_type, None, retry_after_s)
    if isinstance(exc, ccxt.BaseError):
        # An exchange error without a code or a known class: the effect of a write is not known.
        return _in_transit(kind, message, error_type, None, retry_after_s)
    # Not a venue failure at all (a defect on our side): a write may still have left, a read failed.
    if kind is CallKind.READ:
        return Rejected(None, message, error_type)
    return Unknown(message, error_type)

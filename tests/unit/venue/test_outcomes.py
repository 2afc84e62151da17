"""The classification table: every ccxt exception that matters, per call kind, to exactly one class."""

from __future__ import annotations

import json

import aiohttp
import ccxt.async_support as ccxt
import pytest

from tradeops.venue.outcomes import (
    CallKind,
    NotSent,
    Rejected,
    Retryable,
    Unknown,
    binance_error,
    classify,
)

S, C, R = CallKind.SUBMIT, CallKind.CANCEL, CallKind.READ


def body(code: int, msg: str) -> str:
    return "binance " + json.dumps({"code": code, "msg": msg})


def _network_cause() -> Exception:
    exc: Exception = ccxt.ExchangeError("binance GET http://x/api/v3/order")
    exc.__cause__ = aiohttp.ClientPayloadError("payload")
    return exc


# (exception, {kind: (expected class, expected code)})
TABLE: list[tuple[Exception, dict[CallKind, tuple[type, int | None]]]] = [
    # Definitive refusals, by class when there is no code ...
    (ccxt.InvalidOrder("binance bad"), {S: (Rejected, None), C: (Rejected, None), R: (Rejected, None)}),
    (ccxt.InsufficientFunds("binance Account has insufficient balance"), {S: (Rejected, None)}),
    (ccxt.BadSymbol("binance does not have market symbol X/Y"), {S: (Rejected, None), R: (Rejected, None)}),
    (ccxt.BadRequest("binance bad"), {S: (Rejected, None), R: (Rejected, None)}),
    (
        ccxt.AuthenticationError("binance key"),
        {S: (Rejected, None), C: (Rejected, None), R: (Rejected, None)},
    ),
    (ccxt.PermissionDenied("binance no"), {S: (Rejected, None), R: (Rejected, None)}),
    (ccxt.AccountSuspended("binance no"), {S: (Rejected, None)}),
    (ccxt.OrderNotFound("binance gone"), {C: (Rejected, None), R: (Rejected, None)}),
    (ccxt.ArgumentsRequired("binance needs symbol"), {S: (Rejected, None), R: (Rejected, None)}),
    (ccxt.NotSupported("binance no"), {S: (Rejected, None)}),
    (NotSent("off grid"), {S: (Rejected, None), C: (Rejected, None)}),
    # ... and by the Binance code whatever class ccxt chose on a non-binance host.
    (ccxt.BadRequest(body(-1013, "Filter failure: LOT_SIZE")), {S: (Rejected, -1013)}),
    (ccxt.InvalidOrder(body(-2010, "Duplicate order sent.")), {S: (Rejected, -2010)}),
    (ccxt.OrderNotFound(body(-2011, "Unknown order sent.")), {C: (Rejected, -2011)}),
    (ccxt.OrderNotFound(body(-2013, "Order does not exist.")), {R: (Rejected, -2013), C: (Rejected, -2013)}),
    (
        ccxt.DDoSProtection(body(-2015, "Invalid API-key, IP, or permissions for action.")),
        {S: (Rejected, -2015)},
    ),
    (
        ccxt.InvalidNonce(body(-1021, "Timestamp outside of the recvWindow.")),
        {S: (Rejected, -1021), R: (Rejected, -1021)},
    ),
    (
        ccxt.AuthenticationError(body(-1022, "Signature for this request is not valid.")),
        {S: (Rejected, -1022)},
    ),
    (ccxt.BadSymbol(body(-1121, "Invalid symbol.")), {S: (Rejected, -1121), R: (Rejected, -1121)}),
    (ccxt.ExchangeError(body(-1102, "Mandatory parameter was not sent.")), {S: (Rejected, -1102)}),
    # Outcome not known for writes, retryable for reads.
    (ccxt.RequestTimeout("binance POST url"), {S: (Unknown, None), C: (Unknown, None), R: (Retryable, None)}),
    (ccxt.NetworkError("binance reset"), {S: (Unknown, None), C: (Unknown, None), R: (Retryable, None)}),
    (
        ccxt.ExchangeNotAvailable("binance 503"),
        {S: (Unknown, None), C: (Unknown, None), R: (Retryable, None)},
    ),
    (ccxt.OnMaintenance("binance maintenance"), {S: (Unknown, None), R: (Retryable, None)}),
    (ccxt.BadResponse("binance not json"), {S: (Unknown, None), R: (Retryable, None)}),
    (ccxt.NullResponse("binance empty"), {C: (Unknown, None), R: (Retryable, None)}),
    (ccxt.CancelPending("binance pending"), {C: (Unknown, None)}),
    (ccxt.ExchangeError("binance something new"), {S: (Unknown, None), R: (Retryable, None)}),
    (_network_cause(), {S: (Unknown, None), R: (Retryable, None)}),
    (TimeoutError(), {S: (Unknown, None), C: (Unknown, None), R: (Retryable, None)}),
    (ConnectionResetError("reset"), {S: (Unknown, None), R: (Retryable, None)}),
    (
        ccxt.OperationFailed(body(-1001, "Internal error; unable to process your request.")),
        {S: (Unknown, -1001), R: (Retryable, -1001)},
    ),
    (ccxt.OperationFailed(body(-1006, "Unexpected response.")), {S: (Unknown, -1006), C: (Unknown, -1006)}),
    (
        ccxt.RequestTimeout(body(-1007, "Timeout waiting for response.")),
        {S: (Unknown, -1007), R: (Retryable, -1007)},
    ),
    # Refused by a rate limit before processing: safe to send again, whatever the kind.
    (
        ccxt.DDoSProtection(
            "binance 429 Too Many Requests " + json.dumps({"code": -1003, "msg": "Too much weight"})
        ),
        {S: (Retryable, -1003), C: (Retryable, -1003), R: (Retryable, -1003)},
    ),
    (ccxt.RateLimitExceeded(body(-1015, "Too many new orders.")), {S: (Retryable, -1015)}),
    (ccxt.DDoSProtection("binance 418 I'm a teapot"), {S: (Retryable, None), R: (Retryable, None)}),
    (ccxt.RateLimitExceeded("binance 429"), {C: (Retryable, None), R: (Retryable, None)}),
    # A defect on our side: a write may have left; a read failed definitively.
    (TypeError("bug"), {S: (Unknown, None), R: (Rejected, None)}),
]


@pytest.mark.parametrize(
    ("exc", "kind", "expected", "code"),
    [(exc, kind, cls, code) for exc, row in TABLE for kind, (cls, code) in row.items()],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_classification_table(exc: Exception, kind: CallKind, expected: type, code: int | None) -> None:
    outcome = classify(exc, kind, retry_after_s=7.0)
    assert type(outcome) is expected
    assert outcome.code == code
    if isinstance(outcome, Retryable):
        assert outcome.retry_after_s == 7.0


def test_http_status_and_body_decide_over_the_exception_class() -> None:
    """ccxt drops the body of message-matched errors; the response captured by the adapter has it."""
    exc = ccxt.InsufficientFunds("binance Account has insufficient balance for requested action.")
    raw = json.dumps({"code": -2010, "msg": "Account has insufficient balance for requested action."})
    assert classify(exc, S, status=400, body=raw) == Rejected(
        -2010, "Account has insufficient balance for requested action.", "InsufficientFunds"
    )
    five_xx = ccxt.ExchangeError(body(-1102, "odd"))
    assert isinstance(classify(five_xx, S, status=502, body="bad gateway"), Unknown)
    assert isinstance(classify(five_xx, R, status=502, body="bad gateway"), Retryable)
    assert isinstance(classify(ccxt.ExchangeError("x"), S, status=429, body=""), Retryable)
    # A stale success body (status < 400) never lends its content to a later transport error.
    assert isinstance(classify(ccxt.RequestTimeout("t"), S, status=200, body='{"code": -2010}'), Unknown)


def _raised_by_ccxt(code: int, msg: str, *, authenticated: bool) -> Exception:
    exchange = ccxt.binance()
    exchange.options["hasAlreadyAuthenticatedSuccessfully"] = authenticated
    raw = json.dumps({"code": code, "msg": msg})
    url = "http://127.0.0.1:9999/api/v3/order"  # a simulator host: ccxt's spot table does not apply
    with pytest.raises(ccxt.BaseError) as info:
        exchange.handle_errors(400, "Bad Request", url, "POST", {}, raw, json.loads(raw), {}, "")
    raised: Exception = info.value
    return raised


def test_ccxt_quirks_on_non_binance_hosts_are_classified_by_code() -> None:
    filter_failure = _raised_by_ccxt(-1013, "Filter failure: MIN_NOTIONAL", authenticated=False)
    assert type(filter_failure) is ccxt.BadRequest
    assert classify(filter_failure, S) == Rejected(-1013, "Filter failure: MIN_NOTIONAL", "BadRequest")
    revoked = _raised_by_ccxt(-2015, "Invalid API-key, IP, or permissions for action.", authenticated=True)
    assert type(revoked) is ccxt.DDoSProtection  # ccxt's temporary-ban guess ...
    outcome = classify(revoked, S)
    assert isinstance(outcome, Rejected) and outcome.code == -2015  # ... but -2015 is a refusal
    stale = _raised_by_ccxt(
        -1021, "Timestamp for this request is outside of the recvWindow.", authenticated=True
    )
    assert isinstance(stale, ccxt.NetworkError)
    assert isinstance(classify(stale, S), Rejected)


def test_binance_error_extraction() -> None:
    assert binance_error('binance {"code":-2010,"msg":"Duplicate order sent."}') == (
        -2010,
        "Duplicate order sent.",
    )
    assert binance_error("binance 503 Service Unavailable") == (None, None)
    assert binance_error('binance {"code": "x"} {"code": -1, "msg": 5}') == (-1, None)
    assert binance_error('binance {"code":-1 oops}') == (None, None)

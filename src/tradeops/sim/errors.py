"""Binance-style errors raised by the simulated venue (code, message, HTTP status)."""

from __future__ import annotations

from typing import Any

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INTEGER_RANGE = r"^[0-9]{1,20}$"
SYMBOL_RANGE = r"^[A-Z0-9-_.]{1,20}$"
CLIENT_ID_RANGE = r"^[a-zA-Z0-9-_.]{1,36}$"


class SimError(Exception):
    """An error the venue answers with, exactly as Binance would: `{"code": ..., "msg": ...}`."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def illegal_chars(param: str, legal: str) -> SimError:
    return SimError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def mandatory(param: str) -> SimError:
    return SimError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def not_required(param: str) -> SimError:
    return SimError(-1106, f"Parameter '{param}' sent when not required.")


def filter_failure(name: str) -> SimError:
    return SimError(-1013, f"Filter failure: {name}")


def rejected(msg: str) -> SimError:
    return SimError(-2010, msg)


def invalid_symbol() -> SimError:
    return SimError(-1121, "Invalid symbol.")


def invalid_parameter() -> SimError:
    return SimError(-1130, "Invalid data sent for a parameter.")


def bad_combination() -> SimError:
    return SimError(-1128, "Combination of optional parameters invalid.")


def invalid_key() -> SimError:
    return SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Order would trigger immediately."
DUPLICATE = "Duplicate order sent."
BAD_PRICES = "The relationship of the prices for the orders is not correct."
UNKNOWN_ORDER = "Unknown order sent."
NO_SUCH_ORDER = "Order does not exist."
UNKNOWN_LIST = "Order list does not exist."

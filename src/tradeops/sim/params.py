"""Parsing and validation of request parameters as Binance receives them (all strings)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from tradeops.sim.errors import (
    CLIENT_ID_RANGE,
    DECIMAL_RANGE,
    INTEGER_RANGE,
    SimError,
    illegal_chars,
    mandatory,
    not_required,
)

_DECIMAL = re.compile(DECIMAL_RANGE)
_INTEGER = re.compile(INTEGER_RANGE)
_CLIENT_ID = re.compile(CLIENT_ID_RANGE)

SIDES = ("BUY", "SELL")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")


class Params:
    """Read-only view of one request's parameters with Binance's validation rules."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, object]) -> None:
        if not isinstance(raw, Mapping):
            raise SimError(-1130, "Invalid data sent for a parameter.")
        self._raw = raw

    def text(self, name: str) -> str | None:
        """The parameter's value, None when absent; non-strings are rendered like a form field."""
        value = self._raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str | int | Decimal):
            raise illegal_chars(name, "string")
        return str(value)

    def has(self, name: str) -> bool:
        return self.text(name) not in (None, "")

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None or value == "":
            raise mandatory(name)
        return value

    def forbid(self, *names: str) -> None:
        for name in names:
            if self.has(name):
                raise not_required(name)

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.required(name) if required else self.text(name)
        if value is None or value == "":
            return None
        if not _DECIMAL.fullmatch(value):
            raise illegal_chars(name, DECIMAL_RANGE)
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
            raise illegal_chars(name, DECIMAL_RANGE) from exc

    def must_decimal(self, name: str) -> Decimal:
        value = self.decimal(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.required(name) if required else self.text(name)
        if value is None or value == "":
            return None
        if not _INTEGER.fullmatch(value):
            raise illegal_chars(name, INTEGER_RANGE)
        return int(value)

    def enum(
        self, name: str, allowed: tuple[str, ...], code: int, msg: str, *, default: str | None = None
    ) -> str:
        value = self.text(name)
        if value is None or value == "":
            if default is not None:
                return default
            raise mandatory(name)
        if value not in allowed:
            raise SimError(code, msg)
        return value

    def client_id(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if value == "":
            raise SimError(-1105, f"Parameter '{name}' was empty.")
        if not _CLIENT_ID.fullmatch(value):
            raise illegal_chars(name, CLIENT_ID_RANGE)
        return value

    def side(self, name: str = "side") -> str:
        return self.enum(name, SIDES, -1117, "Invalid side.")

    def time_in_force(self, name: str = "timeInForce") -> str:
        return self.enum(name, TIME_IN_FORCE, -1115, "Invalid timeInForce.")

    def resp_type(self, default: str) -> str:
        return self.enum(
            "newOrderRespType", RESP_TYPES, -1130, "Invalid data sent for a parameter.", default=default
        )

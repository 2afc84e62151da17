"""Deterministic client order ids: the same intent and leg give the same id in every process, forever.

An id is ``to<leg code>-<26 base32 chars>``: 130 bits of a domain-separated SHA-256 of the intent id
and the leg, so a replayed intent maps to the order already sent instead of a second one. Every id
matches Binance's ``newClientOrderId`` rule ``^[.A-Z:/a-z0-9_-]{1,36}$``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from enum import StrEnum

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_DOMAIN = b"tradeops.client-order-id.v1"
_DIGEST_CHARS = 26  # base32: 5 bits each -> 130 bits


class OrderLeg(StrEnum):
    ENTRY = "entry"
    STOP = "stop"
    TAKE_PROFIT = "take-profit"
    EXIT = "exit"


_LEG_CODES: dict[OrderLeg, str] = {
    OrderLeg.ENTRY: "en",
    OrderLeg.STOP: "sl",
    OrderLeg.TAKE_PROFIT: "tp",
    OrderLeg.EXIT: "ex",
}


def client_order_id(intent_id: str, leg: str = OrderLeg.ENTRY) -> str:
    """The client order id of one leg of an intent (see the module docstring)."""
    if not intent_id or not intent_id.strip():
        raise ValueError("intent_id must be a non-empty string")
    try:
        order_leg = OrderLeg(leg)
    except ValueError:
        raise ValueError(
            f"unknown order leg {leg!r}; expected one of {[m.value for m in OrderLeg]}"
        ) from None
    message = b"\x00".join((_DOMAIN, intent_id.encode("utf-8"), order_leg.value.encode("ascii")))
    digest = base64.b32encode(hashlib.sha256(message).digest()).decode("ascii").lower()[:_DIGEST_CHARS]
    return f"to{_LEG_CODES[order_leg]}-{digest}"


def leg_of(order_id: str) -> OrderLeg | None:
    """The leg encoded in one of our ids, or None for an id tradeops did not generate."""
    for leg, code in _LEG_CODES.items():
        prefix = f"to{code}-"
        if order_id.startswith(prefix) and len(order_id) == len(prefix) + _DIGEST_CHARS:
            return leg
    return None

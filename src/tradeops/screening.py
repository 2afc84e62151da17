"""Sanctions screening of withdrawal and transfer destinations: a hit blocks and raises a compliance alert.

The alert is a "Risk Breach" with ``rule="sanctions"`` (severity critical, limit 0, value 1), so the
existing alerts function routes it without a new event type. Callers must not send the withdrawal or
transfer unless :attr:`ScreeningResult.allowed`; if the alert cannot be published the exception
propagates and the action stays blocked (fail closed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tradeops.domain.events import EventDetail, RiskBreach
from tradeops.domain.sanctions import Hit, SanctionsList
from tradeops.domain.values import Severity

SANCTIONS_RULE = "sanctions"
ALERT_SOURCE = "tradeops.compliance"


class EventSink(Protocol):
    def publish(self, event: EventDetail) -> None: ...


@dataclass(frozen=True)
class ScreeningResult:
    """The decision for one destination; ``hit`` is the SDN listing when blocked."""

    address: str
    currency: str
    hit: Hit | None

    @property
    def allowed(self) -> bool:
        return self.hit is None


class DestinationScreener:
    """Screens destinations against ``sanctions`` and alerts through ``events`` on a hit."""

    def __init__(self, sanctions: SanctionsList, events: EventSink) -> None:
        self._sanctions = sanctions
        self._events = events

    def screen_destination(
        self, address: str, currency: str, *, correlation_id: str | None = None
    ) -> ScreeningResult:
        """Screen ``address`` for ``currency``; on a hit publish the alert, then return a blocked result."""
        hit = self._sanctions.screen(address, currency)
        result = ScreeningResult(address.strip(), currency.strip().upper(), hit)
        if hit is not None:
            self._events.publish(
                RiskBreach(
                    correlation_id=correlation_id or f"screen-{uuid.uuid4().hex}",
                    rule=SANCTIONS_RULE,
                    symbol=None,
                    limit=Decimal(0),
                    value=Decimal(1),
                    severity=Severity.CRITICAL,
                    message=(
                        f"{result.currency} destination {hit.address} is on the OFAC SDN list "
                        f"(entry {hit.entry_uid}, {hit.name}, programs {', '.join(hit.programs) or '-'}, "
                        f"listed under {hit.currency}): action blocked"
                    ),
                )
            )
        return result

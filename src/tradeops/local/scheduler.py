"""Fires every ScheduleSpec on a local clock: moto stores schedules but never runs them.

Only ``rate(...)`` expressions run locally (cron needs a real calendar scheduler and is refused with a
clear error). Each firing sends what the function would receive in AWS to its queue, where the runner
picks it up like any rule delivery: the schedule's constant ``input`` as it is (EventBridge replaces the
event with a target's constant input), or, without input, the "Scheduled Event" envelope.
The first firing is at start, then every period; missed periods (a sleeping laptop) fire once.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tradeops.routes import ScheduleSpec

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+?)(s?)\s*\)$")

Envelope = dict[str, Any]
Sender = Callable[[ScheduleSpec, Envelope], None]
ErrorHandler = Callable[[ScheduleSpec, Exception], None]


class ScheduleExpressionError(ValueError):
    """A schedule expression the local scheduler cannot run."""


def parse_rate(expression: str) -> int:
    """The period in seconds of ``rate(N unit[s])``; AWS's singular/plural rule is enforced."""
    text = expression.strip()
    if text.startswith("cron("):
        raise ScheduleExpressionError(
            f"{expression!r}: cron schedules run only in AWS; the local scheduler supports rate(...) only"
        )
    match = _RATE.match(text)
    if match is None or match.group(2) not in _UNITS:
        raise ScheduleExpressionError(f"{expression!r}: expected rate(N second[s]|minute[s]|hour[s]|day[s])")
    value, unit, plural = int(match.group(1)), match.group(2), match.group(3)
    if value < 1:
        raise ScheduleExpressionError(f"{expression!r}: the rate must be at least 1")
    if (value == 1) == bool(plural):
        expected = f"rate(1 {unit})" if value == 1 else f"rate({value} {unit}s)"
        raise ScheduleExpressionError(f"{expression!r}: write {expected}")
    return value * _UNITS[unit]


def scheduled_event(
    schedule: ScheduleSpec, *, region: str, account_id: str, bus_name: str, now: float
) -> Envelope:
    """What one firing delivers: the constant ``input`` if any, else the Scheduled Event envelope."""
    if schedule.input:
        return dict(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{bus_name}/{schedule.name}"],
        "detail": {},
    }


@dataclass
class _Slot:
    schedule: ScheduleSpec
    period_s: int
    next_at: float


class Scheduler:
    """Fires due schedules through ``send``; time comes only from the injected ``clock``.

    A failed send is passed to ``on_error`` (or raised when there is none) and retried on the next tick.
    """

    def __init__(
        self,
        schedules: Iterable[ScheduleSpec],
        send: Sender,
        *,
        region: str,
        account_id: str,
        bus_name: str,
        clock: Callable[[], float] = time.time,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self._send = send
        self._on_error = on_error
        self._region = region
        self._account_id = account_id
        self._bus_name = bus_name
        self._clock = clock
        start = clock()
        self._slots = [_Slot(s, parse_rate(s.expression), start) for s in schedules]

    def tick(self) -> list[ScheduleSpec]:
        """Fire every schedule due now; returns the ones fired, in definition order."""
        now = self._clock()
        fired: list[ScheduleSpec] = []
        for slot in self._slots:
            if now < slot.next_at:
                continue
            envelope = scheduled_event(
                slot.schedule,
                region=self._region,
                account_id=self._account_id,
                bus_name=self._bus_name,
                now=now,
            )
            try:
                self._send(slot.schedule, envelope)
            except Exception as exc:
                if self._on_error is None:
                    raise
                self._on_error(slot.schedule, exc)
                continue
            fired.append(slot.schedule)
            missed = int((now - slot.next_at) // slot.period_s)
            slot.next_at += (missed + 1) * slot.period_s
        return fired

    def seconds_until_next(self) -> float:
        if not self._slots:
            return float("inf")
        return max(0.0, min(s.next_at for s in self._slots) - self._clock())

    def run(self, stop: threading.Event, *, max_sleep_s: float = 1.0) -> None:
        """Tick until ``stop`` is set (at least every ``max_sleep_s``)."""
        while not stop.is_set():
            self.tick()
            stop.wait(min(max_sleep_s, self.seconds_until_next()))

"""Typed fault configuration (``POST /_sim/faults``) and a seeded injector the transport consults."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

_ENDPOINT = re.compile(r"^(\*|(?:(?:GET|POST|PUT|DELETE) )?/[A-Za-z0-9/_.\-]*)$")
Port = Literal["main", "md", "*"]


class _Windowed(BaseModel):
    """A fault active from ``start_after_s`` after it was armed, for ``duration_s`` (forever if None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start_after_s: float = Field(0.0, ge=0)
    duration_s: float | None = Field(None, gt=0)


class _Random(_Windowed):
    """A fault that fires with ``probability`` per opportunity, at most ``count`` times (None: no cap)."""

    probability: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1)


class _EndpointScoped(_Random):
    endpoint: str = "*"

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        if not _ENDPOINT.match(value):
            raise ValueError("endpoint must be '*', a path like '/api/v3/order' or 'POST /api/v3/order'")
        return value

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request ``method path``."""
        if self.endpoint == "*":
            return True
        if " " in self.endpoint:
            return self.endpoint == f"{method} {path}"
        return self.endpoint == path


class Latency(_EndpointScoped):
    kind: Literal["latency"]
    ms: int = Field(ge=0, le=120_000)
    jitter_ms: int = Field(0, ge=0, le=60_000)


class HttpError(_EndpointScoped):
    kind: Literal["http_error"]
    status: int = Field(500, ge=500, le=599)
    body: Literal["text", "json"] = "text"
    after_processing: bool = False


class SubmitTimeout(_Random):
    """The order is processed (it may fill) but the response never arrives: hold, then close."""

    kind: Literal["submit_timeout"]
    hold_ms: int = Field(15_000, ge=0, le=300_000)


class CancelTimeout(_Random):
    """The cancel is processed but the response never arrives: hold, then close."""

    kind: Literal["cancel_timeout"]
    hold_ms: int = Field(15_000, ge=0, le=300_000)


class DropUserEvents(_Random):
    kind: Literal["drop_user_events"]
    event_types: list[str] = Field(default_factory=lambda: ["executionReport"], min_length=1)
    api_key: str | None = None


class StreamDisconnect(_Windowed):
    """Close matching market-stream sockets once they have been open ``every_s`` seconds."""

    kind: Literal["stream_disconnect"]
    every_s: float = Field(gt=0)
    port: Port = "*"
    connection: int | None = None


class StreamStall(_Windowed):
    """Keep matching market-stream sockets open but send nothing while active."""

    kind: Literal["stream_stall"]
    port: Port = "*"
    connection: int | None = None


class ClockSkew(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["clock_skew"]
    ms: int = Field(ge=-86_400_000, le=86_400_000)


class WeightLimit(BaseModel):
    """Request weight allowed per minute; a client that keeps going while limited is banned (418)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["weight_limit"]
    per_minute: int = Field(ge=1)
    ban_after: int = Field(5, ge=1)
    ban_s: int = Field(60, ge=1, le=86_400)


class Maintenance(_Windowed):
    kind: Literal["maintenance"]


Fault = Annotated[
    Latency
    | HttpError
    | SubmitTimeout
    | CancelTimeout
    | DropUserEvents
    | StreamDisconnect
    | StreamStall
    | ClockSkew
    | WeightLimit
    | Maintenance,
    Field(discriminator="kind"),
]


class FaultPlan(BaseModel):
    """The body of ``POST /_sim/faults``: ``replace`` swaps the whole set, ``add`` appends to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    faults: list[Fault]
    mode: Literal["replace", "add"] = "replace"
    seed: int | None = None


class FaultPlanError(ValueError):
    """A fault plan that does not validate; the message says which field and why."""


def parse_plan(data: Any) -> FaultPlan:
    """Validate a JSON document as a :class:`FaultPlan`, raising :class:`FaultPlanError` with clear text."""
    try:
        return FaultPlan.model_validate(data)
    except ValidationError as exc:
        raise FaultPlanError(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    """One line naming every invalid field and why (``faults.0.probability: ...; ...``)."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@dataclass
class _Armed:
    id: int
    spec: Fault
    armed_at: float
    fired: int = 0

    def active(self, now: float) -> bool:
        spec = self.spec
        if not isinstance(spec, _Windowed):
            return True
        elapsed = now - self.armed_at
        if elapsed < spec.start_after_s:
            return False
        if spec.duration_s is not None and elapsed >= spec.start_after_s + spec.duration_s:
            return False
        return not (isinstance(spec, _Random) and spec.count is not None and self.fired >= spec.count)


class FaultInjector:
    """The armed faults plus a seeded RNG; every decision the transport makes about faults goes here."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._armed: list[_Armed] = []
        self._next_id = 1

    def configure(self, plan: FaultPlan) -> None:
        """Arm ``plan`` (replacing or extending the current set); windows start now."""
        if plan.seed is not None:
            self._rng.seed(plan.seed)
        if plan.mode == "replace":
            self._armed = []
        now = time.monotonic()
        for spec in plan.faults:
            self._armed.append(_Armed(self._next_id, spec, now))
            self._next_id += 1

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed = []

    def describe(self) -> list[dict[str, Any]]:
        """Every armed fault with its id, how often it fired and whether it is active now."""
        now = time.monotonic()
        return [
            {"id": a.id, "fired": a.fired, "active": a.active(now), **a.spec.model_dump()}
            for a in self._armed
        ]

    def _roll(self, probability: float) -> bool:
        return probability >= 1.0 or self._rng.random() < probability

    def _fire(self, kind: type[_Random], accept: Any = None) -> _Armed | None:
        now = time.monotonic()
        for armed in self._armed:
            spec = armed.spec
            if (
                isinstance(spec, kind)
                and armed.active(now)
                and (accept is None or accept(spec))
                and self._roll(spec.probability)
            ):
                armed.fired += 1
                return armed
        return None

    def latency_s(self, method: str, path: str) -> float:
        """Seconds to delay this request (sum of firing latency faults, with jitter)."""
        total = 0.0
        now = time.monotonic()
        for armed in self._armed:
            spec = armed.spec
            if (
                isinstance(spec, Latency)
                and armed.active(now)
                and spec.matches(method, path)
                and self._roll(spec.probability)
            ):
                armed.fired += 1
                total += max(0.0, spec.ms + self._rng.uniform(-spec.jitter_ms, spec.jitter_ms)) / 1000
        return total

    def http_error(self, method: str, path: str) -> HttpError | None:
        """The 5xx fault to answer this request with, if one fires."""
        armed = self._fire(HttpError, lambda s: s.matches(method, path))
        return armed.spec if armed is not None and isinstance(armed.spec, HttpError) else None

    def submit_timeout_ms(self) -> int | None:
        """Hold time for an order submission whose response is lost, if the fault fires."""
        armed = self._fire(SubmitTimeout)
        return armed.spec.hold_ms if armed is not None and isinstance(armed.spec, SubmitTimeout) else None

    def cancel_timeout_ms(self) -> int | None:
        """Hold time for a cancel whose response is lost, if the fault fires."""
        armed = self._fire(CancelTimeout)
        return armed.spec.hold_ms if armed is not None and isinstance(armed.spec, CancelTimeout) else None

    def drop_user_event(self, api_key: str | None, event_type: str) -> bool:
        """Whether to lose this user-stream event."""
        return (
            self._fire(
                DropUserEvents,
                lambda s: event_type in s.event_types and (s.api_key is None or s.api_key == api_key),
            )
            is not None
        )

    def maintenance(self) -> bool:
        """Whether a maintenance window is open (every request answers 503)."""
        now = time.monotonic()
        return any(isinstance(a.spec, Maintenance) and a.active(now) for a in self._armed)

    def clock_skew_ms(self) -> int:
        """Total server clock skew of the armed clock faults."""
        return sum(a.spec.ms for a in self._armed if isinstance(a.spec, ClockSkew))

    def weight_limit(self) -> WeightLimit | None:
        """The armed request-weight limit, if any (the last one wins)."""
        limits = [a.spec for a in self._armed if isinstance(a.spec, WeightLimit)]
        return limits[-1] if limits else None

    def stream_faults(self, port: str, connection: int) -> tuple[bool, float | None]:
        """(stalled, disconnect-every seconds) for one market-stream connection right now."""
        now = time.monotonic()
        stalled, every = False, None
        for armed in self._armed:
            spec = armed.spec
            if not isinstance(spec, StreamStall | StreamDisconnect) or not armed.active(now):
                continue
            if spec.port not in ("*", port) or spec.connection not in (None, connection):
                continue
            if isinstance(spec, StreamStall):
                stalled = True
            else:
                every = spec.every_s if every is None else min(every, spec.every_s)
        return stalled, every

    def armed_since(self, kind: str) -> float | None:
        """Monotonic time the newest fault of ``kind`` was armed (used to time stream disconnects)."""
        times = [a.armed_at for a in self._armed if getattr(a.spec, "kind", None) == kind]
        return max(times) if times else None

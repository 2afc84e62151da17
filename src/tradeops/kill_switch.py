"""The kill switch: one call halts trading everywhere; resuming takes two people (four-eyes RESUME).

:meth:`KillSwitch.engage` writes HALTED to the control table (a versioned write), journals the request
on the ``control`` stream with the actor, and publishes "Control Changed" (the gateway re-reads the
table at once, cancels every open order and, with ``flatten``, closes its positions with market orders
within limits) and "Kill Switch Engaged". The operator API, the CLI and the risk monitor all call it.

Idempotent by ``request_id`` (default: a fresh id per call). Engaging while already HALTED is no second
halt: nothing is written, the attempt is journaled, and only a ``flatten`` request is announced (the
gateway flattens once per request). A retry of the same request after a partial failure finds its own
halt (the request id is in the record's reason) and re-announces it with the same event ids, which
consumers deduplicate. :meth:`KillSwitch.restrict` is the milder REDUCING step of the risk monitor,
with the same rules; neither ever lowers a stricter state.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tradeops.change_management import CONTROL_STREAM, RESUME_SCOPE, ChangeService, EventSink, Operator
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged, EventDetail, KillSwitchEngaged
from tradeops.domain.limits import RiskLimits
from tradeops.store.base import StaleWrite
from tradeops.store.control import TRADING_KEY, ControlStore, TradingControl
from tradeops.store.journal import JournalStore
from tradeops.store.proposals import LimitProposal, ProposalKind

__all__ = ["FLATTEN_FIELD", "Engagement", "KillSwitch", "event_id_for", "severity_rank"]

FLATTEN_FIELD = "flatten"
"""Key of the "Control Changed" value asking the gateway to close its positions (with ``request_id``)."""
_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
_WRITE_ATTEMPTS = 3


def severity_rank(state: TradingState | None) -> int:
    """ACTIVE (or unset) 0 < REDUCING 1 < HALTED 2: a control step only ever moves up this order."""
    return 0 if state is None else _RANK[TradingState(state)]


def event_id_for(request_id: str, kind: str) -> str:
    """A stable event id for one kind of event of one request (redeliveries carry the same id)."""
    return hashlib.sha256(f"{kind}:{request_id}".encode()).hexdigest()[:32]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Engagement:
    """What a kill-switch (or restrict) call did.

    ``changed`` is True when this request set the state (also when a retry finds its own write);
    False when the state was already at least as strict. ``control`` is the record after the call.
    """

    request_id: str
    state: TradingState
    changed: bool
    flatten: bool
    control: TradingControl
    event_ids: tuple[str, ...]


class KillSwitch:
    """Kill switch and REDUCING step on the control plane bound by ``settings``.

    ``events`` publishes with the caller's source (the CLI and API: ``tradeops.control``; the risk
    monitor its own). Operator actions hold no lease: the ``control`` journal stream uses token 0.
    """

    def __init__(
        self,
        settings: Settings,
        events: EventSink,
        *,
        clock_ms: Callable[[], int] = _now_ms,
        fencing_token: int = 0,
    ) -> None:
        self._settings = settings
        self._events = events
        self._control = ControlStore(settings)
        self._journal = JournalStore(settings)
        self._clock_ms = clock_ms
        self._fencing_token = fencing_token

    def status(self) -> TradingControl | None:
        """The trading state record (None before it was ever set: the gateway then trades)."""
        return self._control.trading()

    def engage(
        self, reason: str, actor: str, *, flatten: bool = False, request_id: str | None = None
    ) -> Engagement:
        """Halt trading (see the module docstring); raises ValueError for an empty reason or actor."""
        return self._escalate(TradingState.HALTED, reason, actor, flatten, request_id or uuid.uuid4().hex)

    def restrict(self, reason: str, actor: str, *, request_id: str | None = None) -> Engagement:
        """Move ACTIVE to REDUCING (only orders that reduce exposure); a stricter state is left alone."""
        return self._escalate(TradingState.REDUCING, reason, actor, False, request_id or uuid.uuid4().hex)

    def request_resume(self, reason: str, user: Operator) -> LimitProposal:
        """Propose resuming (HALTED or REDUCING -> ACTIVE); a different risk/admin user approves it through
        :meth:`tradeops.change_management.ChangeService.approve`. Raises NotAnApprover, ChangeConflict."""
        changes = ChangeService(self._settings, self._events, baseline=RiskLimits.default_for_demo())
        return changes.propose(ProposalKind.RESUME_TRADING, RESUME_SCOPE, {}, reason, user)

    # -- the one way a control step is taken ------------------------------------------------------------

    def _escalate(
        self, target: TradingState, reason: str, actor: str, flatten: bool, request_id: str
    ) -> Engagement:
        if not reason.strip() or not actor.strip():
            raise ValueError("a kill switch needs a reason and an actor")
        marker = f"[{request_id}]"
        for _ in range(_WRITE_ATTEMPTS):
            current = self._control.trading()
            if current is not None and severity_rank(current.state) >= severity_rank(target):
                mine = current.state is target and current.reason.endswith(marker)
                return self._announce(target, reason, actor, flatten, request_id, current, changed=mine)
            try:
                record = self._control.put_trading(
                    target,
                    reason=f"{reason} {marker}",
                    updated_by=actor,
                    updated_at=self._clock_ms(),
                    expected_version=None if current is None else current.version,
                )
            except StaleWrite:
                continue  # someone else changed it meanwhile: re-read and decide again
            return self._announce(target, reason, actor, flatten, request_id, record, changed=True)
        raise StaleWrite(f"trading state: {_WRITE_ATTEMPTS} writes lost their race")

    def _announce(
        self,
        target: TradingState,
        reason: str,
        actor: str,
        flatten: bool,
        request_id: str,
        record: TradingControl,
        *,
        changed: bool,
    ) -> Engagement:
        flatten = flatten and record.state is TradingState.HALTED
        kind = "kill_switch_engaged" if target is TradingState.HALTED else "trading_restricted"
        payload: dict[str, Any] = {
            "request_id": request_id,
            "requested_state": target.value,
            "state": record.state.value,
            "version": record.version,
            "changed": changed,
            "flatten": flatten,
            "reason": reason,
        }
        ids: list[str] = []
        failure: Exception | None = None
        if changed or flatten:  # first: the gateway acts on it (the table is the truth, this the hint)
            value: dict[str, Any] = {"state": record.state.value, "version": record.version}
            value.update(request_id=request_id, **({FLATTEN_FIELD: True} if flatten else {}))
            hint = ControlChanged(
                event_id=event_id_for(request_id, "control-changed"),
                correlation_id=request_id,
                key=TRADING_KEY,
                value=value,
                actor=actor,
                reason=reason,
            )
            failure = self._publish(hint, ids)
        self._journal.append(CONTROL_STREAM, kind, payload, actor, self._fencing_token)
        if changed and target is TradingState.HALTED:
            engaged = KillSwitchEngaged(
                event_id=event_id_for(request_id, "kill-switch-engaged"),
                correlation_id=request_id,
                reason=reason,
                actor=actor,
                flatten=flatten,
            )
            failure = self._publish(engaged, ids) or failure
        if failure is not None:
            raise failure  # written and journaled; a retry with the same request_id re-announces it
        return Engagement(request_id, record.state, changed, flatten, record, tuple(ids))

    def _publish(self, event: EventDetail, published: list[str]) -> Exception | None:
        try:
            self._events.publish(event)
        except Exception as exc:  # reported to the caller once the journal has the step
            return exc
        published.append(event.event_id)
        return None

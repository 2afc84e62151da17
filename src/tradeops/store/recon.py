"""Reconciliation runs and breaks (issue 7): what each run saw, and every break's lifecycle.

Runs: one item per (account, started_at ms), written at start (``outcome = running``) and completed at the
end with counts by class and the outcome (``clean`` / ``breaks`` / ``failed``).

Breaks: one item per stable ``break_id`` (``tradeops.domain.reconcile_types.break_id``), so every run of
every process upserts the same item. Status ``open`` while observed; a break no longer observed becomes
``applied`` when its action was safe (the gateway applied it) and ``resolved`` (by the reconciler)
otherwise. An operator resolves an open break with a reason, journaled with the user's identity; an
operator-resolved break observed again with the same evidence stays resolved (acknowledged), with
different evidence it reopens. Every write is conditioned on the ``version`` read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tradeops.config import Settings
from tradeops.domain.reconcile_types import Break
from tradeops.store.base import (
    IntAttribute,
    Page,
    StaleWrite,
    StoreError,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    is_condition_failure,
    page_size_or_error,
)
from tradeops.store.journal import JournalStore
from tradeops.store.tables import RECON_BREAKS, RECON_RUNS, TableSpec

JOURNAL_STREAM = "reconciliation"
RECONCILER = "tradeops.reconcile"
_MAX_SCAN_PAGES = 100


class BreakStatus(StrEnum):
    OPEN = "open"
    APPLIED = "applied"
    RESOLVED = "resolved"


class RunOutcome(StrEnum):
    RUNNING = "running"
    CLEAN = "clean"
    BREAKS = "breaks"
    FAILED = "failed"


class Upsert(StrEnum):
    """What recording an observed break did; NEW, CHANGED and REOPENED are worth publishing."""

    NEW = "new"
    CHANGED = "changed"
    REOPENED = "reopened"
    UNCHANGED = "unchanged"
    ACKNOWLEDGED = "acknowledged"
    """Resolved by an operator and observed again with the same evidence: stays resolved."""


class BreakNotFound(StoreError, KeyError):
    """No break with that id."""


class BreakNotOpen(StoreError):
    """Only an open break can be resolved by an operator."""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def fingerprint(brk: Break) -> str:
    """A digest of what the break says (class, subject, evidence, action): changes mean republish."""
    return hashlib.sha256(_dumps(brk.event_fields()).encode()).hexdigest()[:32]


class RunItem(TableModel):
    SPEC: ClassVar[TableSpec] = RECON_RUNS

    account = UnicodeAttribute(hash_key=True)
    started_at = IntAttribute(range_key=True)
    run_id = UnicodeAttribute()
    trigger = UnicodeAttribute()
    outcome = UnicodeAttribute()
    finished_at = IntAttribute(null=True)
    summary = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)


class _ByStatus(GlobalSecondaryIndex["BreakItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = IntAttribute(range_key=True)


class BreakItem(TableModel):
    SPEC: ClassVar[TableSpec] = RECON_BREAKS

    break_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    updated_at = IntAttribute()
    break_class = UnicodeAttribute()
    severity = UnicodeAttribute()
    proposed_action = UnicodeAttribute()
    safe = UnicodeAttribute()
    symbol = UnicodeAttribute(null=True)
    client_order_id = UnicodeAttribute(null=True)
    evidence = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    first_seen = IntAttribute()
    last_seen = IntAttribute()
    occurrences = IntAttribute()
    published_at = IntAttribute(null=True)
    published_fingerprint = UnicodeAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)
    resolved_at = IntAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    version = IntAttribute()

    by_status = _ByStatus()


@dataclass(frozen=True)
class RunRecord:
    account: str
    started_at: int
    run_id: str
    trigger: str
    outcome: RunOutcome
    finished_at: int | None
    summary: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class BreakRecord:
    break_id: str
    status: BreakStatus
    break_class: str
    severity: str
    proposed_action: str
    safe: bool
    symbol: str | None
    client_order_id: str | None
    evidence: dict[str, str]
    fingerprint: str
    first_seen: int
    last_seen: int
    occurrences: int
    updated_at: int
    published_at: int | None
    published_fingerprint: str | None
    resolved_by: str | None
    resolved_at: int | None
    reason: str | None
    version: int


def _run(item: RunItem) -> RunRecord:
    values = {name: getattr(item, name) for name in RunRecord.__dataclass_fields__}
    values.update(outcome=RunOutcome(item.outcome), summary=json.loads(item.summary) if item.summary else {})
    return RunRecord(**values)


def _record(item: BreakItem) -> BreakRecord:
    values = {name: getattr(item, name) for name in BreakRecord.__dataclass_fields__}
    values.update(
        status=BreakStatus(item.status), safe=item.safe == "true", evidence=json.loads(item.evidence)
    )
    return BreakRecord(**values)


class ReconStore:
    """Runs and breaks of the reconciliation tables bound by ``settings``."""

    def __init__(self, settings: Settings, *, journal: JournalStore | None = None) -> None:
        self._runs = bind_model(RunItem, settings)
        self._breaks = bind_model(BreakItem, settings)
        self._settings = settings
        self._journal = journal

    # ---- runs ---------------------------------------------------------------------------------------
    def start_run(self, account: str, started_at: int, run_id: str, trigger: str) -> None:
        """Record a run as started; StaleWrite if a run of ``account`` started at the same ms exists."""
        item = self._runs(account, started_at, run_id=run_id, trigger=trigger, outcome=RunOutcome.RUNNING)
        try:
            item.save(condition=self._runs.started_at.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"a run of {account} started at {started_at} exists") from exc
            raise

    def finish_run(
        self,
        account: str,
        started_at: int,
        *,
        outcome: RunOutcome,
        finished_at: int,
        summary: dict[str, Any],
        error: str | None = None,
    ) -> None:
        """Complete the run record with its outcome, end time and counts."""
        if outcome is RunOutcome.RUNNING:
            raise ValueError("a finished run needs a final outcome")
        item = self._runs.get(account, started_at, consistent_read=True)
        item.outcome, item.finished_at = outcome.value, finished_at
        item.summary, item.error = _dumps(summary), error
        item.save()

    def get_run(self, account: str, started_at: int) -> RunRecord | None:
        try:
            return _run(self._runs.get(account, started_at, consistent_read=True))
        except self._runs.DoesNotExist:
            return None

    def list_runs(self, account: str, *, limit: int = 50, cursor: str | None = None) -> Page[RunRecord]:
        """Runs of ``account``, newest first, one page."""
        results = self._runs.query(
            account,
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=False,
        )
        return collect_page(results, _run)

    # ---- breaks -------------------------------------------------------------------------------------
    def get_break(self, break_id: str) -> BreakRecord | None:
        try:
            return _record(self._breaks.get(break_id, consistent_read=True))
        except self._breaks.DoesNotExist:
            return None

    def list_breaks(
        self, status: BreakStatus = BreakStatus.OPEN, *, limit: int = 100, cursor: str | None = None
    ) -> Page[BreakRecord]:
        """Breaks in ``status``, most recently updated first, one page (eventually consistent index)."""
        results = self._breaks.by_status.query(
            BreakStatus(status).value,
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=False,
        )
        return collect_page(results, _record)

    def all_breaks(self, status: BreakStatus) -> Iterator[BreakRecord]:
        """Every break in ``status`` (bounded: at most 100 pages of 1000)."""
        cursor: str | None = None
        for _ in range(_MAX_SCAN_PAGES):
            page = self.list_breaks(status, limit=1000, cursor=cursor)
            yield from page.items
            if page.cursor is None:
                return
            cursor = page.cursor
        raise StoreError(f"more than {_MAX_SCAN_PAGES * 1000} {status} breaks")

    def observe(self, brk: Break, seen_at: int) -> Upsert:
        """Record ``brk`` as observed by a run at ``seen_at`` (ms) and say what changed."""
        print_ = fingerprint(brk)
        fields = brk.event_fields()
        current = self._get_item(brk.break_id)
        if current is None:
            item = self._breaks(
                brk.break_id,
                status=BreakStatus.OPEN,
                updated_at=seen_at,
                break_class=brk.break_class.value,
                severity=brk.severity.value,
                proposed_action=brk.proposed_action.value,
                safe=str(brk.safe).lower(),
                symbol=brk.subject.symbol,
                client_order_id=brk.subject.client_order_id,
                evidence=_dumps(fields["evidence"]),
                fingerprint=print_,
                first_seen=seen_at,
                last_seen=seen_at,
                occurrences=1,
                version=1,
            )
            self._save(item, None)
            return Upsert.NEW
        status, same = BreakStatus(current.status), current.fingerprint == print_
        if status is BreakStatus.OPEN:
            outcome = Upsert.UNCHANGED if same else Upsert.CHANGED
        elif status is BreakStatus.RESOLVED and same and current.resolved_by != RECONCILER:
            outcome = Upsert.ACKNOWLEDGED
        else:
            outcome = Upsert.REOPENED
        expected = current.version
        if outcome is not Upsert.ACKNOWLEDGED:
            current.status = BreakStatus.OPEN.value
            current.severity, current.proposed_action = brk.severity.value, brk.proposed_action.value
            current.safe, current.evidence = str(brk.safe).lower(), _dumps(fields["evidence"])
            current.fingerprint = print_
            current.updated_at = max(current.updated_at, seen_at)
        if outcome is Upsert.REOPENED:
            current.resolved_by = current.resolved_at = current.reason = None
        current.last_seen = max(current.last_seen, seen_at)
        current.occurrences += 1
        current.version = expected + 1
        self._save(current, expected)
        return outcome

    def mark_published(self, break_id: str, published_fingerprint: str, at: int) -> None:
        """Remember when and which version of the break was last published (for republishing)."""

        def published(item: BreakItem) -> None:
            item.published_at, item.published_fingerprint = at, published_fingerprint

        self._update(break_id, published)

    def close_unobserved(self, run_started_at: int, observed: set[str], at: int) -> list[BreakRecord]:
        """Close open breaks last seen before this run and not observed by it: applied or cleared."""
        closed = []
        for record in self.all_breaks(BreakStatus.OPEN):
            if record.break_id in observed or record.last_seen >= run_started_at:
                continue

            def close(item: BreakItem) -> None:
                if item.status != BreakStatus.OPEN or item.last_seen >= run_started_at:
                    raise _Skip
                item.status = (BreakStatus.APPLIED if item.safe == "true" else BreakStatus.RESOLVED).value
                item.updated_at, item.resolved_at = max(item.updated_at, at), at
                if item.status == BreakStatus.RESOLVED:
                    item.resolved_by, item.reason = RECONCILER, "no longer observed by reconciliation"

            try:
                closed.append(self._update(record.break_id, close))
            except _Skip:
                continue
        return closed

    def resolve(self, break_id: str, *, user: str, reason: str, at: int) -> BreakRecord:
        """An operator resolves an open break with a reason; journaled (stream ``reconciliation``) first."""
        if not user.strip() or not reason.strip():
            raise ValueError("resolving a break needs a user and a reason")
        current = self._get_item(break_id)
        if current is None:
            raise BreakNotFound(break_id)
        if current.status != BreakStatus.OPEN:
            raise BreakNotOpen(f"break {break_id} is {current.status}, not open")
        journal = self._journal or JournalStore(self._settings)
        payload = {
            "break_id": break_id,
            "break_class": current.break_class,
            "reason": reason,
            "resolved_by": user,
            "version": current.version,
        }
        journal.append(JOURNAL_STREAM, "break_resolved", payload, actor=user, fencing_token=0, recorded_at=at)
        expected = current.version
        current.status, current.resolved_by, current.reason = BreakStatus.RESOLVED.value, user, reason
        current.resolved_at, current.updated_at = at, max(current.updated_at, at)
        current.version = expected + 1
        self._save(current, expected)
        return _record(current)

    # ---- plumbing -----------------------------------------------------------------------------------
    def _get_item(self, break_id: str) -> BreakItem | None:
        try:
            return self._breaks.get(break_id, consistent_read=True)
        except self._breaks.DoesNotExist:
            return None

    def _save(self, item: BreakItem, expected_version: int | None) -> None:
        model = self._breaks
        condition = (
            model.break_id.does_not_exist() if expected_version is None else model.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"break {item.break_id} changed since version {expected_version}") from exc
            raise

    def _update(self, break_id: str, change: Callable[[BreakItem], None]) -> BreakRecord:
        item = self._get_item(break_id)
        if item is None:
            raise BreakNotFound(break_id)
        expected = item.version
        change(item)
        item.version = expected + 1
        self._save(item, expected)
        return _record(item)


class _Skip(Exception):
    """A concurrent run saw the break again: leave it open."""

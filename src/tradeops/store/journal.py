"""The hash-chained journal in DynamoDB: conditional appends, fenced writers, verified reads.

Each entry is written with one PutItem conditioned on its (stream, seq) not existing, so an entry is
never overwritten and two writers racing for the same seq cannot fork the chain: the loser re-reads the
head and builds on the winner. Writer roles need PutItem/GetItem/Query only (no Update or Delete).

A store remembers the head it last wrote per stream, so a single writer appends with one request; a
remembered head that another writer has since passed only costs a failed condition and a re-read, which
is also where a newer fencing token is found (the fence never depends on the memory).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from tradeops.config import Settings
from tradeops.domain.journal import GENESIS_HASH, ChainBreak, JournalEntry, next_entry, verify_chain
from tradeops.store.base import IntAttribute, StoreError, TableModel, bind_model, is_condition_failure
from tradeops.store.tables import JOURNAL, TableSpec


class FencedOut(StoreError):
    """The writer's fencing token is older than the one at the stream's head: it lost its lease."""


class AppendContention(StoreError):
    """Every attempt to append lost the race for the next seq (more than one active writer)."""


class JournalCorrupted(StoreError):
    """A read found the chain broken (tampered, missing or unreadable entry)."""

    def __init__(self, stream: str, chain_break: ChainBreak) -> None:
        super().__init__(f"journal stream {stream!r} broken at seq {chain_break.seq}: {chain_break.reason}")
        self.stream = stream
        self.chain_break = chain_break


class JournalItem(TableModel):
    """One journal entry as stored (``payload`` is the canonical JSON string of the entry's payload)."""

    SPEC: ClassVar[TableSpec] = JOURNAL

    stream = UnicodeAttribute(hash_key=True)
    seq = IntAttribute(range_key=True)
    kind = UnicodeAttribute()
    payload = UnicodeAttribute()
    recorded_at = IntAttribute()
    actor = UnicodeAttribute()
    fencing_token = IntAttribute()
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()


_MAX_REMEMBERED_HEADS = 4096


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class JournalStore:
    """Append to and read the journal table bound by ``settings``."""

    def __init__(
        self, settings: Settings, *, max_attempts: int = 64, clock_ms: Callable[[], int] = _now_ms
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._model = bind_model(JournalItem, settings)
        self._max_attempts = max_attempts
        self._clock_ms = clock_ms
        self._heads: dict[str, JournalEntry] = {}

    def append(
        self,
        stream: str,
        kind: str,
        payload: Mapping[str, Any],
        actor: str,
        fencing_token: int,
        recorded_at: int | None = None,
    ) -> JournalEntry:
        """Append one entry after the current head and return it exactly as readers will see it.

        Raises :class:`FencedOut` if ``fencing_token`` is lower than the head's, and
        :class:`AppendContention` if ``max_attempts`` conditional puts all lost their race.
        """
        _require_text("stream", stream)
        _require_text("kind", kind)
        _require_text("actor", actor)
        if isinstance(fencing_token, bool) or not isinstance(fencing_token, int) or fencing_token < 0:
            raise ValueError(f"fencing_token must be a non-negative int, got {fencing_token!r}")
        for attempt in range(self._max_attempts):
            remembered = self._heads.get(stream) if attempt == 0 else None
            head = remembered if remembered is not None else self.head(stream)
            if head is not None and fencing_token < head.fencing_token:
                raise FencedOut(
                    f"stream {stream!r}: token {fencing_token} < head token {head.fencing_token} "
                    f"(seq {head.seq}); this writer has been fenced out"
                )
            entry = next_entry(
                head,
                stream=stream,
                kind=kind,
                payload=dict(payload),
                recorded_at=self._clock_ms() if recorded_at is None else recorded_at,
                actor=actor,
                fencing_token=fencing_token,
            )
            stored = entry.to_item()
            item = self._model(**stored)
            try:
                item.save(condition=self._model.stream.does_not_exist() & self._model.seq.does_not_exist())
            except PutError as exc:
                if not is_condition_failure(exc):
                    raise
                # Another writer took this seq: back off briefly, re-read the head, build on it.
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                continue
            # Return what readers will see: Decimals in the payload are stored (and hashed) as strings.
            written = JournalEntry.from_item(stored)
            if len(self._heads) >= _MAX_REMEMBERED_HEADS and stream not in self._heads:
                self._heads.clear()
            self._heads[stream] = written
            return written
        raise AppendContention(f"stream {stream!r}: {self._max_attempts} appends lost the race for the head")

    def head(self, stream: str) -> JournalEntry | None:
        """The latest entry of ``stream`` (strongly consistent read), or None if it is empty."""
        for item in self._model.query(stream, consistent_read=True, scan_index_forward=False, limit=1):
            return JournalEntry.from_item(item.attribute_values)
        return None

    def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None) -> list[JournalEntry]:
        """Entries ``from_seq..to_seq`` (inclusive), verified against each other and their predecessor.

        Raises :class:`JournalCorrupted` naming the first bad seq if the range does not verify.
        """
        if from_seq < 1 or (to_seq is not None and to_seq < from_seq):
            raise ValueError(f"bad seq range {from_seq}..{to_seq}")
        anchor_seq = max(1, from_seq - 1)
        entries, chain_break = self._load(stream, anchor_seq, to_seq)
        if chain_break is None and entries:
            anchor = entries[0]
            # The anchor (seq from_seq-1) is checked too: its own hash, and genesis when it is seq 1.
            start_prev = GENESIS_HASH if anchor.seq == 1 else anchor.prev_hash
            chain_break = verify_chain(entries, start_prev_hash=start_prev, start_seq=anchor.seq)
            if chain_break is None and anchor.seq != anchor_seq:
                chain_break = ChainBreak(anchor_seq, f"entry missing (first stored seq is {anchor.seq})")
        if chain_break is not None:
            raise JournalCorrupted(stream, chain_break)
        return [entry for entry in entries if entry.seq >= from_seq]

    def verify(self, stream: str) -> ChainBreak | None:
        """The first break of the whole stream from genesis, or None if every entry verifies."""
        entries, chain_break = self._load(stream, 1, None)
        if chain_break is not None:
            return chain_break
        return verify_chain(entries, start_prev_hash=GENESIS_HASH, start_seq=1)

    def streams(self) -> list[str]:
        """Every stream with a genesis entry, sorted (a filtered scan: meant for audits, not hot paths)."""
        scan = self._model.scan(self._model.seq == 1, attributes_to_get=["stream"])
        return sorted({item.stream for item in scan})

    def _load(
        self, stream: str, from_seq: int, to_seq: int | None
    ) -> tuple[list[JournalEntry], ChainBreak | None]:
        """Entries in seq order; stops at the first item that does not parse and reports it as a break."""
        condition = (
            self._model.seq >= from_seq if to_seq is None else self._model.seq.between(from_seq, to_seq)
        )
        entries: list[JournalEntry] = []
        for item in self._model.query(stream, condition, consistent_read=True):
            try:
                entries.append(JournalEntry.from_item(item.attribute_values))
            except (ValueError, TypeError, KeyError) as exc:
                return entries, ChainBreak(item.seq, f"unreadable entry: {exc}")
        return entries, None


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")

"""The journal hash chain (DESIGN §4.3): canonical JSON, entries, append and verification.

Each entry's ``hash = sha256(prev_hash.encode() + canonical_json(body))`` where ``body`` is every field
of the entry except ``hash`` itself. The first entry of a stream chains to ``GENESIS_HASH``.

Canonical JSON: keys sorted, separators ``(",", ":")``, UTF-8 without ASCII escaping. ``Decimal`` is
encoded as the JSON string ``str(d)``, exactly as given: ``Decimal("1.0")`` and ``Decimal("1.00")``
hash differently, so a writer must journal the value it decided on and readers must not re-quantize.
Since a Decimal becomes a string, a payload read back from storage (``"1.0"``) hashes like the
Decimal that was written. Floats are refused (``TypeError``): money never enters the chain as float.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tradeops.domain.values import to_int

GENESIS_HASH = "0" * 64


def _jsonable(value: Any, path: str) -> Any:
    """Lower a value to JSON-native types (dict/list/str/int/bool/None), refusing anything ambiguous."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _jsonable(value.value, path)
    if isinstance(value, str | int):
        return value
    if isinstance(value, float):
        raise TypeError(f"float at {path or '$'} refused in canonical JSON ({value!r}): use Decimal or str")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal at {path or '$'}: {value}")
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime at {path or '$'}: timestamps must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, Mapping):
        lowered: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"non-string key {key!r} at {path or '$'}: JSON object keys must be str")
            lowered[key] = _jsonable(item, f"{path}.{key}")
        return lowered
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{type(value).__name__} at {path or '$'} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """The exact bytes hashed into the chain (see the module docstring for the encoding rules)."""
    return json.dumps(
        _jsonable(value, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """sha256 hex of ``prev_hash`` (its ASCII hex) followed by the canonical JSON of ``body``."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class JournalEntry:
    """One link of a stream's chain. ``seq`` is 1-based and gapless within the stream."""

    stream: str
    seq: int
    kind: str
    payload: dict[str, Any]
    recorded_at: int
    actor: str
    fencing_token: int
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field but ``hash``: what the hash covers (the payload is this entry's own, not a copy)."""
        return {name: getattr(self, name) for name in _BODY_FIELDS}

    def to_item(self) -> dict[str, Any]:
        """Storage form; the payload is kept as its canonical JSON string so no store reinterprets numbers."""
        item = self.body()
        item["payload"] = canonical_json(self.payload).decode("utf-8")
        item["hash"] = self.hash
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> JournalEntry:
        """Inverse of ``to_item``; integers may come back as Decimal or str (DynamoDB)."""
        payload = item["payload"]
        if isinstance(payload, str):
            # A float in a stored payload can only come from tampering or a foreign writer: it is kept
            # as float so that verification reports this entry as a break (canonical JSON refuses it).
            payload = json.loads(payload)
        if not isinstance(payload, dict):
            raise TypeError(f"journal payload must be a JSON object, got {type(payload).__name__}")
        return cls(
            stream=str(item["stream"]),
            seq=to_int(item["seq"]),
            kind=str(item["kind"]),
            payload=payload,
            recorded_at=to_int(item["recorded_at"]),
            actor=str(item["actor"]),
            fencing_token=to_int(item["fencing_token"]),
            prev_hash=str(item["prev_hash"]),
            hash=str(item["hash"]),
        )


_BODY_FIELDS = tuple(f.name for f in fields(JournalEntry) if f.name != "hash")


def next_entry(
    prev: JournalEntry | None,
    *,
    stream: str,
    kind: str,
    payload: dict[str, Any],
    recorded_at: int,
    actor: str,
    fencing_token: int,
) -> JournalEntry:
    """The entry that follows ``prev`` (or starts the stream), hashed; refuses a stale fencing token."""
    if not stream or not kind or not actor:
        raise ValueError("stream, kind and actor must be non-empty")
    if recorded_at < 0 or fencing_token < 0:
        raise ValueError(f"recorded_at ({recorded_at}) and fencing_token ({fencing_token}) must be >= 0")
    if prev is not None:
        if prev.stream != stream:
            raise ValueError(f"stream mismatch: previous entry is in {prev.stream!r}, not {stream!r}")
        if fencing_token < prev.fencing_token:
            raise ValueError(
                f"stale fencing token {fencing_token} < {prev.fencing_token} on {stream!r}: lease lost"
            )
    body: dict[str, Any] = {
        "stream": stream,
        "seq": prev.seq + 1 if prev else 1,
        "kind": kind,
        "payload": payload,
        "recorded_at": recorded_at,
        "actor": actor,
        "fencing_token": fencing_token,
        "prev_hash": prev.hash if prev else GENESIS_HASH,
    }
    return JournalEntry(**body, hash=compute_hash(body["prev_hash"], body))


@dataclass(frozen=True)
class ChainBreak:
    """Where verification stopped: every entry before ``seq`` is proven, the one at ``seq`` is not."""

    seq: int
    reason: str


def verify_chain(
    entries: Iterable[JournalEntry], *, start_prev_hash: str = GENESIS_HASH, start_seq: int = 1
) -> ChainBreak | None:
    """Recompute the chain in iteration order and name the first break, or None if it is intact.

    Detects a gap, duplicate or reordered seq, a wrong ``prev_hash``, a hash that does not match the
    body, an entry of another stream and a fencing token that goes backwards. ``start_prev_hash`` and
    ``start_seq`` verify a suffix (e.g. DynamoDB after the archived part).
    """
    expected_seq, expected_prev = start_seq, start_prev_hash
    stream: str | None = None
    last_token: int | None = None
    for entry in entries:
        stream = entry.stream if stream is None else stream
        if entry.stream != stream:
            return ChainBreak(expected_seq, f"entry of stream {entry.stream!r} inside stream {stream!r}")
        if entry.seq != expected_seq:
            kind = (
                "gap (missing or reordered entry)"
                if entry.seq > expected_seq
                else "duplicate or out-of-order seq"
            )
            return ChainBreak(expected_seq, f"{kind}: expected seq {expected_seq}, found {entry.seq}")
        if entry.prev_hash != expected_prev:
            return ChainBreak(
                expected_seq, f"prev_hash {entry.prev_hash!r} does not link to {expected_prev!r}"
            )
        try:
            recomputed = compute_hash(entry.prev_hash, entry.body())
        except (TypeError, ValueError) as exc:
            return ChainBreak(expected_seq, f"body has no canonical form: {exc}")
        if recomputed != entry.hash:
            return ChainBreak(
                expected_seq, f"hash mismatch: stored {entry.hash!r}, recomputed {recomputed!r}"
            )
        if last_token is not None and entry.fencing_token < last_token:
            return ChainBreak(
                expected_seq, f"fencing token went backwards: {entry.fencing_token} < {last_token}"
            )
        last_token = entry.fencing_token
        expected_seq, expected_prev = expected_seq + 1, entry.hash
    return None

"""The journal's WORM archive on S3 Object Lock: format, writer and reader (DESIGN §4.3).

Layout per journal stream (the stream name is percent-encoded in keys; manifests carry it verbatim)::

    journal/<stream>/<first_seq:012d>-<last_seq:012d>.jsonl          one entry per line
    journal/<stream>/<first_seq:012d>-<last_seq:012d>.manifest.json  a BatchManifest

A batch line is the canonical JSON of ``JournalEntry.to_item()``, so every hash recomputes from the
archive alone. Objects are written with ``If-None-Match: *`` and ``Content-MD5``; the bucket's default
retention (COMPLIANCE) locks each version, no retention header is sent. A key that already exists with
the same content is a no-op (redelivery); different content raises :class:`ArchiveConflict` and is never
overwritten. :class:`JournalArchiver` keeps the archive gap-free and duplicate-free: entries at or below
the archived tail must equal what is archived, and a gap before the first new entry is filled from the
journal table first, so out-of-order stream delivery still yields one contiguous chain.

moto (the embedded stack) refuses deleting a locked version but lets ``PutObjectRetention`` shorten
COMPLIANCE retention, which real S3 refuses: immutability is asserted on the CDK template and bucket
policy (tests/infra), never proven by moto alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from tradeops.config import Settings
from tradeops.domain.journal import GENESIS_HASH, JournalEntry, canonical_json, verify_chain

PREFIX = "journal/"
BATCH_SUFFIX = ".jsonl"
MANIFEST_SUFFIX = ".manifest.json"
MAX_BATCH_ENTRIES = 1000
"""Largest batch written as one object; longer runs are split (each with its manifest)."""


class ArchiveError(Exception):
    """Base of the archive's integrity errors (raised, never swallowed: the delivery is retried)."""


class ArchiveConflict(ArchiveError):
    """An object already exists under the key with different content: never overwritten."""


class ArchiveChainBroken(ArchiveError):
    """Entries to archive do not continue the archived chain, or disagree with archived entries."""


@dataclass(frozen=True)
class BatchManifest:
    """What a batch holds, and the hash of its bytes."""

    stream: str
    first_seq: int
    last_seq: int
    first_prev_hash: str
    first_hash: str
    last_hash: str
    count: int
    sha256: str
    created_at: str

    @property
    def batch_key(self) -> str:
        return batch_key(self.stream, self.first_seq, self.last_seq)

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.stream, self.first_seq, self.last_seq)

    def identity(self) -> dict[str, Any]:
        """Every field but ``created_at``: equal identities describe the same batch."""
        fields = asdict(self)
        del fields["created_at"]
        return fields

    def to_json(self) -> bytes:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> BatchManifest:
        data = json.loads(raw)
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def stream_prefix(stream: str) -> str:
    return f"{PREFIX}{quote(stream, safe='')}/"


def batch_key(stream: str, first_seq: int, last_seq: int) -> str:
    return f"{stream_prefix(stream)}{first_seq:012d}-{last_seq:012d}{BATCH_SUFFIX}"


def manifest_key(stream: str, first_seq: int, last_seq: int) -> str:
    return f"{stream_prefix(stream)}{first_seq:012d}-{last_seq:012d}{MANIFEST_SUFFIX}"


def encode_batch(entries: Sequence[JournalEntry]) -> bytes:
    """One canonical JSON line per entry (storage form, payload as its canonical JSON string)."""
    return b"".join(canonical_json(entry.to_item()) + b"\n" for entry in entries)


def decode_batch(raw: bytes) -> list[JournalEntry]:
    """Inverse of :func:`encode_batch`; raises ValueError/TypeError/KeyError on a malformed line."""
    return [JournalEntry.from_item(json.loads(line)) for line in raw.splitlines() if line]


def build_manifest(entries: Sequence[JournalEntry], body: bytes, created_at: datetime) -> BatchManifest:
    first, last = entries[0], entries[-1]
    return BatchManifest(
        stream=first.stream,
        first_seq=first.seq,
        last_seq=last.seq,
        first_prev_hash=first.prev_hash,
        first_hash=first.hash,
        last_hash=last.hash,
        count=len(entries),
        sha256=hashlib.sha256(body).hexdigest(),
        created_at=created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class WormArchive:
    """Reads and writes batches in the WORM bucket of ``settings`` (``s3`` client injectable)."""

    def __init__(self, settings: Settings, *, s3: Any = None, bucket: str | None = None) -> None:
        from tradeops.aws.clients import client

        self._s3 = s3 if s3 is not None else client("s3", settings)
        self.bucket = bucket or settings.worm_bucket

    def _keys(self, prefix: str, **extra: Any) -> Iterator[str]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, **extra
        ):
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def streams(self) -> list[str]:
        """Every stream with at least one archived object, sorted."""
        found: set[str] = set()
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=PREFIX, Delimiter="/"
        ):
            for common in page.get("CommonPrefixes", []):
                found.add(unquote(str(common["Prefix"])[len(PREFIX) : -1]))
        return sorted(found)

    def manifests(self, stream: str, *, start_after: str | None = None) -> list[BatchManifest]:
        """The stream's manifests in seq order (keys sort by zero-padded first seq)."""
        extra = {"StartAfter": start_after} if start_after else {}
        keys = [k for k in self._keys(stream_prefix(stream), **extra) if k.endswith(MANIFEST_SUFFIX)]
        return [BatchManifest.from_json(self.get(key)) for key in keys]

    def batch_keys(self, stream: str) -> list[str]:
        return [k for k in self._keys(stream_prefix(stream)) if k.endswith(BATCH_SUFFIX)]

    def version_counts(self, stream: str) -> dict[str, int]:
        """Key -> number of versions (including delete markers): more than one means it was overwritten."""
        counts: dict[str, int] = {}
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=stream_prefix(stream)):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                counts[item["Key"]] = counts.get(item["Key"], 0) + 1
        return counts

    def get(self, key: str) -> bytes:
        body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def read_batch(self, manifest: BatchManifest) -> bytes:
        return self.get(manifest.batch_key)

    def put_once(self, key: str, body: bytes, *, same: Callable[[bytes], bool]) -> bool:
        """Create ``key`` unless it exists; True if written, False if an equal object was there.

        ``same(existing)`` decides equality; an existing object that differs raises ArchiveConflict.
        """
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentMD5=md5,
                ContentType="application/json",
                IfNoneMatch="*",
            )
            return True
        except ClientError as exc:
            if _error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
        existing = self.get(key)
        if not same(existing):
            raise ArchiveConflict(f"s3://{self.bucket}/{key} exists with different content: not overwritten")
        return False

    def write_batch(
        self, entries: Sequence[JournalEntry], created_at: datetime
    ) -> tuple[BatchManifest, bool]:
        """Write one batch then its manifest; returns (manifest, whether anything new was written)."""
        body = encode_batch(entries)
        manifest = build_manifest(entries, body, created_at)
        wrote_batch = self.put_once(manifest.batch_key, body, same=lambda old: old == body)
        wrote_manifest = self.put_once(
            manifest.manifest_key,
            manifest.to_json(),
            same=lambda old: BatchManifest.from_json(old).identity() == manifest.identity(),
        )
        return manifest, wrote_batch or wrote_manifest


@dataclass(frozen=True)
class ArchiveResult:
    """What one ``archive`` call did for one stream."""

    stream: str
    written: tuple[BatchManifest, ...]
    duplicates: int
    """Entries that were already archived (redelivery), checked equal to the archive."""
    filled_from_table: int
    """Entries read from the journal table to close a gap before the delivered ones."""


class JournalReader(Protocol):
    """The part of JournalStore the archiver needs (verified reads of a seq range)."""

    def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None) -> list[JournalEntry]: ...


class JournalArchiver:
    """Appends delivered journal entries to the archive: contiguous, idempotent, chain-checked."""

    def __init__(
        self,
        archive: WormArchive,
        journal: JournalReader,
        *,
        max_batch: int = MAX_BATCH_ENTRIES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._archive = archive
        self._journal = journal
        self._max_batch = max_batch
        self._clock = clock
        self._tails: dict[str, BatchManifest] = {}

    def tail(self, stream: str) -> BatchManifest | None:
        """The last archived batch of ``stream`` (listed after the cached tail on a warm instance)."""
        cached = self._tails.get(stream)
        newer = self._archive.manifests(stream, start_after=cached.manifest_key if cached else None)
        tail = newer[-1] if newer else cached
        if tail is not None:
            self._tails[stream] = tail
        return tail

    def archive(self, stream: str, delivered: Sequence[JournalEntry]) -> ArchiveResult:
        """Archive ``delivered`` (any order, duplicates allowed) after the stream's archived tail."""
        by_seq: dict[int, JournalEntry] = {}
        for entry in delivered:
            if entry.stream != stream:
                raise ArchiveChainBroken(f"entry of stream {entry.stream!r} delivered as {stream!r}")
            if by_seq.setdefault(entry.seq, entry) != entry:
                raise ArchiveChainBroken(
                    f"stream {stream!r}: two different entries delivered for seq {entry.seq}"
                )
        tail = self.tail(stream)
        next_seq = tail.last_seq + 1 if tail else 1
        old = sorted(seq for seq in by_seq if seq < next_seq)
        if old:
            self._check_archived(stream, [by_seq[seq] for seq in old])
        new = sorted(seq for seq in by_seq if seq >= next_seq)
        if not new:
            return ArchiveResult(stream, (), len(old), 0)
        entries = [by_seq[seq] for seq in new]
        filled = 0
        if new != list(range(next_seq, new[-1] + 1)):
            table = self._journal.read(stream, next_seq, new[-1])
            for entry in table:
                if entry.seq in by_seq and by_seq[entry.seq] != entry:
                    raise ArchiveChainBroken(
                        f"stream {stream!r} seq {entry.seq}: delivered entry differs from the journal table"
                    )
            filled = len(table) - len(entries)
            entries = table
        chain_break = verify_chain(
            entries, start_prev_hash=tail.last_hash if tail else GENESIS_HASH, start_seq=next_seq
        )
        if chain_break is not None:
            raise ArchiveChainBroken(
                f"stream {stream!r} seq {chain_break.seq} does not continue the archive: {chain_break.reason}"
            )
        written: list[BatchManifest] = []
        for start in range(0, len(entries), self._max_batch):
            manifest, _ = self._archive.write_batch(entries[start : start + self._max_batch], self._clock())
            written.append(manifest)
            self._tails[stream] = manifest
        return ArchiveResult(stream, tuple(written), len(old), filled)

    def _check_archived(self, stream: str, entries: Sequence[JournalEntry]) -> None:
        """Redelivered entries must be byte-for-byte what the archive holds for their seqs."""
        wanted = {entry.seq: entry for entry in entries}
        for key in self._archive.batch_keys(stream):
            first, last = (int(part) for part in key.rsplit("/", 1)[1][: -len(BATCH_SUFFIX)].split("-"))
            if not any(first <= seq <= last for seq in wanted):
                continue
            for archived in decode_batch(self._archive.get(key)):
                entry = wanted.pop(archived.seq, None)
                if entry is not None and entry != archived:
                    raise ArchiveChainBroken(
                        f"stream {stream!r} seq {archived.seq}: redelivered entry differs from the archive"
                    )
        if wanted:
            raise ArchiveChainBroken(
                f"stream {stream!r}: seqs {sorted(wanted)[:5]} below the tail are not archived"
            )


class UnexpectedStreamEvent(ArchiveError):
    """A MODIFY or REMOVE on the append-only journal, or a record without a new image."""


def entries_from_stream_records(records: Sequence[dict[str, Any]]) -> dict[str, list[JournalEntry]]:
    """Journal entries of a DynamoDB stream batch, grouped by journal stream, in delivery order.

    Only INSERTs are valid on the append-only journal: anything else raises UnexpectedStreamEvent.
    """
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    grouped: dict[str, list[JournalEntry]] = {}
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage")
        if record.get("eventName") != "INSERT" or not image:
            keys = record.get("dynamodb", {}).get("Keys")
            raise UnexpectedStreamEvent(
                f"{record.get('eventName')} on the append-only journal (keys {keys}, "
                f"event {record.get('eventID')})"
            )
        entry = JournalEntry.from_item(
            {name: deserializer.deserialize(value) for name, value in image.items()}
        )
        grouped.setdefault(entry.stream, []).append(entry)
    return grouped

"""``tradeops audit verify``: recompute the journal chain across the WORM archive and DynamoDB.

Per stream, the archive is checked batch by batch in seq order: contiguous from seq 1 (no gap, no
overlap), one version per object (a second version means an overwrite), the batch's sha256 equal to
its manifest's, the manifest's fields equal to the batch's first/last entries, and the chain recomputed
across every batch. The journal table is verified from genesis (JournalStore.verify). Where both hold a
seq, the entries must be identical, so a table rewritten with a recomputed chain is still caught; every
archived seq must still exist in the table (deleting the table's tail breaks no chain, but is caught
here). Table entries newer than the archive are the archiver's normal lag, reported but not a failure.
The first finding (lowest seq) per stream is reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tradeops.aws.archive import BatchManifest, WormArchive, decode_batch
from tradeops.domain.journal import GENESIS_HASH, JournalEntry, verify_chain
from tradeops.store.journal import JournalCorrupted, JournalStore


@dataclass(frozen=True)
class Finding:
    """The first seq of ``stream`` that is not proven, and why."""

    stream: str
    seq: int
    reason: str


@dataclass
class StreamReport:
    stream: str
    archived_through: int = 0
    batches: int = 0
    table_head: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def first_finding(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.seq) if self.findings else None

    @property
    def intact(self) -> bool:
        return not self.findings


def _check_batch(
    archive: WormArchive, manifest: BatchManifest, versions: dict[str, int], seq: int, prev_hash: str
) -> list[JournalEntry] | tuple[int, str]:
    """The batch's entries if it continues the chain at (seq, prev_hash), else (bad seq, reason)."""
    if manifest.first_seq > seq:
        return seq, f"missing from the archive (next batch starts at {manifest.first_seq})"
    if manifest.first_seq < seq:
        return manifest.first_seq, f"overlaps the previous batch (which ends at {seq - 1})"
    for key in (manifest.manifest_key, manifest.batch_key):
        if versions.get(key, 0) != 1:
            return seq, f"{key} has {versions.get(key, 0)} versions (overwritten)"
    body = archive.read_batch(manifest)
    if hashlib.sha256(body).hexdigest() != manifest.sha256:
        return seq, "batch sha256 differs from its manifest (tampered)"
    try:
        entries = decode_batch(body)
    except (ValueError, TypeError, KeyError) as exc:
        return seq, f"unreadable batch: {exc}"
    chain_break = verify_chain(entries, start_prev_hash=prev_hash, start_seq=seq)
    if chain_break is not None:
        return chain_break.seq, chain_break.reason
    if not entries:
        return seq, "empty batch"
    first, last = entries[0], entries[-1]
    described = (manifest.last_seq, manifest.count, manifest.first_prev_hash, manifest.first_hash)
    if described != (last.seq, len(entries), first.prev_hash, first.hash) or manifest.last_hash != last.hash:
        return seq, "manifest does not describe its batch"
    return entries


def _check_archive(archive: WormArchive, report: StreamReport) -> dict[tuple[int, int], list[JournalEntry]]:
    """Verify the stream's archive; returns the verified batches by (first, last) seq."""
    stream = report.stream
    verified: dict[tuple[int, int], list[JournalEntry]] = {}
    versions = archive.version_counts(stream)
    unpaired = set(versions)
    seq, prev_hash = 1, GENESIS_HASH
    for manifest in archive.manifests(stream):
        report.batches += 1
        unpaired -= {manifest.manifest_key, manifest.batch_key}
        if manifest.stream != stream:
            checked: list[JournalEntry] | tuple[int, str] = (seq, f"manifest names {manifest.stream!r}")
        else:
            checked = _check_batch(archive, manifest, versions, seq, prev_hash)
        if isinstance(checked, tuple):
            bad_seq, reason = checked
            report.findings.append(Finding(stream, bad_seq, f"archive {manifest.batch_key}: {reason}"))
            return verified
        verified[(manifest.first_seq, manifest.last_seq)] = checked
        seq, prev_hash = manifest.last_seq + 1, manifest.last_hash
        report.archived_through = manifest.last_seq
    for key in sorted(unpaired):
        report.findings.append(Finding(stream, seq, f"archive {key}: object without its manifest or batch"))
    return verified


def _check_table(
    journal: JournalStore, report: StreamReport, verified: dict[tuple[int, int], list[JournalEntry]]
) -> None:
    """Verify the table's chain and that it agrees with every verified archive batch."""
    stream = report.stream
    head = journal.head(stream)
    report.table_head = head.seq if head else 0
    chain_break = journal.verify(stream)
    if chain_break is not None:
        report.findings.append(Finding(stream, chain_break.seq, f"journal table: {chain_break.reason}"))
    trusted_below = chain_break.seq if chain_break else report.table_head + 1
    for (first, last), archived in sorted(verified.items()):
        if first >= trusted_below:
            break
        try:
            table = journal.read(stream, first, min(last, trusted_below - 1))
        except JournalCorrupted as exc:
            report.findings.append(Finding(stream, exc.chain_break.seq, f"journal table: {exc}"))
            return
        for index, entry in enumerate(archived):
            if entry.seq >= trusted_below:
                break
            if index >= len(table):
                reason = "archived but missing from the journal table"
                report.findings.append(Finding(stream, entry.seq, reason))
                return
            if table[index] != entry:
                reason = "journal table entry differs from the archived entry"
                report.findings.append(Finding(stream, entry.seq, reason))
                return
    if chain_break is None and report.archived_through > report.table_head:
        reason = (
            f"archived through {report.archived_through}, but the journal table ends at {report.table_head}"
        )
        report.findings.append(Finding(stream, report.table_head + 1, reason))


def verify_stream(archive: WormArchive, journal: JournalStore, stream: str) -> StreamReport:
    report = StreamReport(stream)
    verified = _check_archive(archive, report)
    _check_table(journal, report, verified)
    return report


def verify(
    archive: WormArchive, journal: JournalStore, streams: Sequence[str] | None = None
) -> list[StreamReport]:
    """A report per stream (the given ones, or every stream found in the table or the archive)."""
    names: Iterable[str] = streams if streams else sorted({*journal.streams(), *archive.streams()})
    return [verify_stream(archive, journal, name) for name in names]

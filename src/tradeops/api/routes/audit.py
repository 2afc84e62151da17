"""The auditor's view: the journal browser and the chain verification of ``tradeops audit verify``."""

from __future__ import annotations

from tradeops.api import responses as r
from tradeops.api.context import Call
from tradeops.api.errors import Conflict
from tradeops.api.rbac import AUDITORS, RouteTable
from tradeops.api.requests import AuditQuery, JournalQuery
from tradeops.api.serializers import journal_entry_out
from tradeops.audit import verify
from tradeops.aws.archive import WormArchive
from tradeops.store.journal import JournalCorrupted


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/journal", roles=AUDITORS, tag="audit", query=JournalQuery, response=r.JournalPage,
        errors=(409,), summary="Journal entries of a stream from a seq (verified against each other)",
    )  # fmt: skip
    def journal(call: Call) -> r.JournalPage:
        query = call.query_as(JournalQuery)
        store = call.services.journal
        streams = store.streams()
        stream = query.stream if query.stream is not None else (streams[0] if streams else None)
        if stream is None:
            return r.JournalPage(stream=None, streams=streams, items=[], next_from_seq=query.from_seq)
        try:
            entries = store.read(stream, query.from_seq, query.from_seq + query.limit - 1)
        except JournalCorrupted as exc:
            raise Conflict(str(exc), code="journal_corrupted") from None
        next_from = entries[-1].seq + 1 if entries else query.from_seq
        return r.JournalPage(
            stream=stream,
            streams=streams,
            items=[journal_entry_out(entry) for entry in entries],
            next_from_seq=next_from,
        )

    @table.route(
        "GET", "/api/audit/verify", roles=AUDITORS, tag="audit", query=AuditQuery, response=r.AuditOut,
        summary="Recompute the hash chain across the WORM archive and the journal table",
    )  # fmt: skip
    def audit_verify(call: Call) -> r.AuditOut:
        query = call.query_as(AuditQuery)
        services = call.services
        streams = None if query.stream is None else [query.stream]
        reports = verify(WormArchive(services.settings), services.journal, streams)
        items = []
        for report in reports:
            finding = report.first_finding
            items.append(
                r.StreamAudit(
                    stream=report.stream,
                    entries=report.table_head,
                    first_broken_seq=None if finding is None else finding.seq,
                    detail=None if finding is None else finding.reason,
                )
            )
        return r.AuditOut(intact=all(item.first_broken_seq is None for item in items), streams=items)

// Audit: hash-chain verification per stream and a journal browser by stream.
import { useState } from "preact/hooks";
import { api, query } from "../api";
import { Empty, Section } from "../components";
import { useCan } from "../context";
import { json, time } from "../format";
import { usePoll } from "../hooks";
import type { AuditVerify, Journal } from "../types";

function Verification() {
  const verify = usePoll<AuditVerify>(() => api("GET", "/api/audit/verify"), 0);
  return (
    <section class="card" aria-labelledby="verify-title">
      <h2 id="verify-title">
        Chain verification{" "}
        <button type="button" class="small" onClick={verify.refresh} disabled={verify.loading}>
          Verify again
        </button>
      </h2>
      <Section what="the verification" loaded={verify}>
        {(result) => (
          <>
            <p class={`badge ${result.intact ? "ok" : "down"}`} data-testid="audit-intact">
              {result.intact ? "Intact: every chain verifies" : "BROKEN: see the first broken entry below"}
            </p>
            <table>
              <thead>
                <tr>
                  <th>Stream</th>
                  <th class="num">Entries</th>
                  <th class="num">First broken seq</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
                {result.streams.map((s) => (
                  <tr key={s.stream}>
                    <td>{s.stream}</td>
                    <td class="num">{s.entries}</td>
                    <td class="num">{s.first_broken_seq ?? "—"}</td>
                    <td>{s.detail ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Section>
    </section>
  );
}

function JournalBrowser() {
  const [stream, setStream] = useState("");
  const [fromSeqs, setFromSeqs] = useState<(number | null)[]>([null]);
  const fromSeq = fromSeqs[fromSeqs.length - 1];
  const journal = usePoll<Journal>(() => api("GET", `/api/journal${query({ stream, from_seq: fromSeq, limit: 50 })}`), 0, [stream, fromSeq]);
  const streams = journal.data?.streams ?? [];
  return (
    <section class="card" aria-labelledby="journal-title">
      <h2 id="journal-title">Journal</h2>
      <div class="filters">
        <label>
          Stream
          <select
            name="stream"
            value={stream || journal.data?.stream || ""}
            onChange={(e) => {
              setStream(e.currentTarget.value);
              setFromSeqs([null]);
            }}
          >
            {streams.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setFromSeqs(fromSeqs.slice(0, -1))} disabled={fromSeqs.length < 2}>
          ← Previous
        </button>
        <button
          type="button"
          onClick={() => journal.data?.next_from_seq != null && setFromSeqs([...fromSeqs, journal.data.next_from_seq])}
          disabled={journal.data?.next_from_seq == null}
        >
          Next →
        </button>
      </div>
      <Section what="the journal" loaded={journal}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>This stream has no entries.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th class="num">Seq</th>
                  <th>Time (UTC)</th>
                  <th>Kind</th>
                  <th>Actor</th>
                  <th class="num">Fencing</th>
                  <th>Hash</th>
                  <th>Payload</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((e) => (
                  <tr key={e.seq}>
                    <td class="num">{e.seq}</td>
                    <td>{time(e.ts)}</td>
                    <td>{e.kind}</td>
                    <td>{e.actor}</td>
                    <td class="num">{e.fencing_token ?? "—"}</td>
                    <td>
                      <code title={e.hash}>{e.hash?.slice(0, 12) ?? ""}</code>
                    </td>
                    <td>
                      <code class="payload">{json(e.payload)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Section>
    </section>
  );
}

export function Audit() {
  const can = useCan();
  return (
    <>
      <h1>Audit</h1>
      {can("GET /api/audit/verify") && <Verification />}
      {can("GET /api/journal") && <JournalBrowser />}
    </>
  );
}

// Reconciliation: recent runs and open breaks; resolve a break with a reason.
import { useState } from "preact/hooks";
import { api } from "../api";
import { Empty, Fields, ReasonDialog, Section } from "../components";
import { useCan } from "../context";
import { time } from "../format";
import { usePoll } from "../hooks";
import type { ReconBreak, Reconciliation as Recon } from "../types";

export function Reconciliation() {
  const can = useCan();
  const recon = usePoll<Recon>(() => api("GET", "/api/reconciliation"), 2000);
  const [resolving, setResolving] = useState<ReconBreak | null>(null);
  const mayResolve = can("POST /api/reconciliation/breaks/{id}/resolve");
  return (
    <>
      <h1>Reconciliation</h1>
      <Section what="reconciliation" loaded={recon}>
        {(data) => (
          <>
            <section class="card" aria-labelledby="breaks-title">
              <h2 id="breaks-title">Open breaks</h2>
              {data.open_breaks.length === 0 ? (
                <Empty>No open breaks: the book matches the venue.</Empty>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th>Class</th>
                      <th>Symbol</th>
                      <th>Evidence</th>
                      <th>Proposed action</th>
                      <th>Status</th>
                      <th>First / last seen (UTC)</th>
                      {mayResolve && <th>Action</th>}
                    </tr>
                  </thead>
                  <tbody>
                    {data.open_breaks.map((b) => (
                      <tr key={b.break_id}>
                        <td>{b.break_class}</td>
                        <td>{b.symbol ?? "—"}</td>
                        <td>
                          <Fields value={b.evidence} />
                        </td>
                        <td>{b.proposed_action ?? "—"}</td>
                        <td>{b.status}</td>
                        <td>
                          {time(b.first_seen)} / {time(b.last_seen)}
                        </td>
                        {mayResolve && (
                          <td>
                            <button type="button" class="small" data-control="resolve-break" onClick={() => setResolving(b)}>
                              Resolve…
                            </button>
                          </td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <section class="card" aria-labelledby="runs-title">
              <h2 id="runs-title">Runs</h2>
              {data.runs.length === 0 ? (
                <Empty>No reconciliation run yet.</Empty>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th>Started (UTC)</th>
                      <th>Finished (UTC)</th>
                      <th>Trigger</th>
                      <th>Status</th>
                      <th>Counts</th>
                      <th>Breaks</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.runs.map((r) => (
                      <tr key={r.run_id}>
                        <td>{time(r.started_at)}</td>
                        <td>{time(r.finished_at)}</td>
                        <td>{r.trigger}</td>
                        <td>{r.status}</td>
                        <td>
                          <Fields value={r.counts} />
                        </td>
                        <td>{r.breaks.length ? r.breaks.join(", ") : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </Section>
      {resolving && (
        <ReasonDialog
          title={`Resolve ${resolving.break_class}${resolving.symbol ? ` on ${resolving.symbol}` : ""}`}
          label="Reason (recorded in the journal)"
          confirm="Resolve"
          onClose={() => setResolving(null)}
          onSubmit={async (reason) => {
            await api("POST", `/api/reconciliation/breaks/${encodeURIComponent(resolving.break_id)}/resolve`, { reason });
            recon.refresh();
          }}
        />
      )}
    </>
  );
}

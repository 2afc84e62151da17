// Four-eyes proposals (limits, strategies, resume): who proposed, who decided; approve or reject.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Empty, ErrorBox, ReasonDialog, Section } from "../components";
import { useApp, useCan } from "../context";
import { json, time } from "../format";
import { usePoll } from "../hooks";
import type { Page, Proposal, ProposalStatus } from "../types";

const APPROVE = "POST /api/limits/proposals/{id}/approve";
const REJECT = "POST /api/limits/proposals/{id}/reject";
const STATUSES: ProposalStatus[] = ["PENDING", "APPLIED", "REJECTED", "APPROVED", "CANCELED", "EXPIRED"];

/** `{"name": {"from": "1", "to": "2"}}` -> "name: 1 → 2"; otherwise the requested changes as JSON. */
function describeChange(proposal: Proposal): string {
  const diff = proposal.diff as Record<string, { from?: unknown; to?: unknown }> | null;
  if (diff && typeof diff === "object" && Object.values(diff).every((d) => d && typeof d === "object" && "to" in d)) {
    return Object.entries(diff)
      .map(([name, d]) => `${name}: ${d.from ?? "—"} → ${d.to ?? "—"}`)
      .join("\n");
  }
  return json(proposal.changes);
}

export function Proposals({ refreshKey, onDecided }: { refreshKey: number; onDecided: () => void }) {
  const { me } = useApp();
  const can = useCan();
  const [status, setStatus] = useState<ProposalStatus>("PENDING");
  const [rejecting, setRejecting] = useState<Proposal | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const proposals = usePoll<Page<Proposal>>(() => api("GET", `/api/limits/proposals?status=${status}`), 2000, [status]);
  useEffect(() => proposals.refresh(), [refreshKey]);
  const decide = async (proposal: Proposal, action: "approve" | "reject", note?: string) => {
    setError(null);
    try {
      await api("POST", `/api/limits/proposals/${encodeURIComponent(proposal.proposal_id)}/${action}`, action === "reject" ? { note } : {});
      proposals.refresh();
      onDecided();
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
      if (action === "reject") throw exc;
    }
  };
  const mayDecide = can(APPROVE) || can(REJECT);
  return (
    <section class="card" aria-labelledby="proposals-title">
      <h2 id="proposals-title">Proposals (four eyes)</h2>
      <label class="inline">
        Status{" "}
        <select name="proposal-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as ProposalStatus)}>
          {STATUSES.map((value) => (
            <option key={value} value={value}>
              {value.toLowerCase()}
            </option>
          ))}
        </select>
      </label>
      <ErrorBox error={error} context="Decision refused" />
      <Section what="proposals" loaded={proposals}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No {status.toLowerCase()} proposals.</Empty>
          ) : (
            <table data-testid="proposals-table">
              <thead>
                <tr>
                  <th>Created (UTC)</th>
                  <th>Kind</th>
                  <th>Scope</th>
                  <th>Changes</th>
                  <th>Reason</th>
                  <th>Proposed by</th>
                  <th>Status</th>
                  <th>Decided by</th>
                  {mayDecide && <th>Decision</th>}
                </tr>
              </thead>
              <tbody>
                {page.items.map((p) => {
                  const own = p.proposed_by === me.username;
                  const why = own ? "You proposed this: a different user must approve it (four eyes)." : undefined;
                  return (
                    <tr key={p.proposal_id} data-proposal-id={p.proposal_id}>
                      <td>{time(p.created_at)}</td>
                      <td>{p.kind}</td>
                      <td>{p.scope}</td>
                      <td>
                        <code class="payload">{describeChange(p)}</code>
                      </td>
                      <td>{p.reason}</td>
                      <td>{p.proposed_by}</td>
                      <td>{p.status}</td>
                      <td>{p.decided_by ? `${p.decided_by}${p.note ? ` (${p.note})` : ""}` : "—"}</td>
                      {mayDecide && (
                        <td class="actions">
                          {p.status === "PENDING" && (
                            <>
                              {can(APPROVE) && (
                                <button type="button" class="small primary" data-control="approve" disabled={own} title={why} aria-describedby={own ? `own-${p.proposal_id}` : undefined} onClick={() => void decide(p, "approve")}>
                                  Approve
                                </button>
                              )}
                              {can(REJECT) && (
                                <button type="button" class="small" data-control="reject" onClick={() => setRejecting(p)}>
                                  Reject…
                                </button>
                              )}
                              {own && (
                                <span class="hint" id={`own-${p.proposal_id}`}>
                                  {why}
                                </span>
                              )}
                            </>
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Section>
      {rejecting && (
        <ReasonDialog
          title={`Reject proposal ${rejecting.proposal_id}`}
          label="Note for the proposer"
          confirm="Reject"
          danger
          onClose={() => setRejecting(null)}
          onSubmit={(note) => decide(rejecting, "reject", note)}
        />
      )}
    </section>
  );
}

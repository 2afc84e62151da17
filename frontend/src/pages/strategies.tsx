// Strategies: enabled state, allocation, version and canary; changes become four-eyes proposals.
import { useState } from "preact/hooks";
import { api } from "../api";
import { Empty, Notice, Num, ReasonDialog, Section } from "../components";
import { useCan } from "../context";
import { ago } from "../format";
import { usePoll } from "../hooks";
import type { Page, Proposal, Strategy } from "../types";

type Change = { strategy: Strategy; kind: "toggle" | "allocation" };

export function Strategies() {
  const can = useCan();
  const strategies = usePoll<Page<Strategy>>(() => api("GET", "/api/strategies"), 2000);
  const [change, setChange] = useState<Change | null>(null);
  const [allocation, setAllocation] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const mayChange = can("PATCH /api/strategies/{id}");
  const submit = async (reason: string) => {
    if (!change) return;
    const body =
      change.kind === "toggle" ? { enabled: !change.strategy.enabled, reason } : { allocation: allocation.trim(), reason };
    const result = await api<{ proposal: Proposal }>("PATCH", `/api/strategies/${encodeURIComponent(change.strategy.strategy)}`, body);
    setNotice(`Proposal ${result.proposal.proposal_id} created: another risk user must approve it (Risk page).`);
  };
  return (
    <>
      <h1>Strategies</h1>
      <Notice text={notice} onDismiss={() => setNotice(null)} />
      <Section what="strategies" loaded={strategies}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No strategies are registered.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Strategy</th>
                  <th>Enabled</th>
                  <th class="num">Allocation</th>
                  <th>Version</th>
                  <th>Canary</th>
                  <th>Last change</th>
                  {mayChange && <th>Change (four eyes)</th>}
                </tr>
              </thead>
              <tbody>
                {page.items.map((s) => (
                  <tr key={s.strategy}>
                    <td>{s.strategy}</td>
                    <td>
                      <span class={`badge ${s.enabled ? "ok" : "off"}`}>{s.enabled ? "enabled" : "disabled"}</span>
                    </td>
                    <td class="num"><Num value={s.allocation} /></td>
                    <td>{s.version === 0 ? <span class="muted">defaults</span> : s.version}</td>
                    <td>{s.canary ? "canary" : "—"}</td>
                    <td>{s.updated_by ? `${s.updated_by}, ${ago(s.updated_at)}` : "—"}</td>
                    {mayChange && (
                      <td class="actions">
                        <button type="button" class="small" data-control="strategy-toggle" onClick={() => setChange({ strategy: s, kind: "toggle" })}>
                          {s.enabled ? "Disable…" : "Enable…"}
                        </button>
                        <button
                          type="button"
                          class="small"
                          data-control="strategy-allocation"
                          onClick={() => {
                            setAllocation(s.allocation ?? "");
                            setChange({ strategy: s, kind: "allocation" });
                          }}
                        >
                          Allocation…
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Section>
      {change && (
        <ReasonDialog
          title={
            change.kind === "toggle"
              ? `${change.strategy.enabled ? "Disable" : "Enable"} ${change.strategy.strategy}`
              : `Allocation of ${change.strategy.strategy}`
          }
          label="Reason"
          confirm="Propose"
          onClose={() => setChange(null)}
          onSubmit={submit}
        >
          <p>This creates a proposal; a different risk user must approve it.</p>
          {change.kind === "allocation" && (
            <label>
              New allocation
              <input name="allocation" inputMode="decimal" required value={allocation} onInput={(e) => setAllocation(e.currentTarget.value)} />
            </label>
          )}
        </ReasonDialog>
      )}
    </>
  );
}

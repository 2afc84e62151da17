// Risk: limits with utilisation bars, the four-eyes proposals, and a form to propose a change.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Empty, ErrorBox, Notice, Num, Section } from "../components";
import { useCan } from "../context";
import { percent } from "../format";
import { usePoll } from "../hooks";
import type { Limit, Limits, Proposal } from "../types";
import { Proposals } from "./proposals";

function Utilisation({ limit }: { limit: Limit }) {
  const value = percent(limit.utilisation);
  if (value === null) return <span class="muted">—</span>;
  const level = value >= 90 ? "down" : value >= 70 ? "warn" : "ok";
  return (
    <span class="bar" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(value)} aria-label={`${limit.name} utilisation`}>
      <span class={`fill ${level}`} style={{ width: `${value}%` }} />
      <span class="bar-label">{value.toFixed(0)}%</span>
    </span>
  );
}

function ProposeForm({ limits, onProposed }: { limits: Limit[]; onProposed: (p: Proposal) => void }) {
  const names = [...new Set(limits.map((l) => l.name))];
  const scopes = [...new Set(limits.map((l) => l.scope))];
  const [form, setForm] = useState({ name: names[0] ?? "", scope: scopes[0] ?? "global", value: "", reason: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const set = (field: keyof typeof form) => (event: JSX.TargetedEvent<HTMLInputElement | HTMLSelectElement>) =>
    setForm({ ...form, [field]: event.currentTarget.value });
  const submit = async (event: JSX.TargetedEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { scope: form.scope.trim(), changes: { [form.name.trim()]: form.value.trim() }, reason: form.reason.trim() };
      onProposed(await api<Proposal>("POST", "/api/limits/proposals", body));
      setForm({ ...form, value: "", reason: "" });
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form-grid" onSubmit={submit} aria-labelledby="propose-title">
      <h2 id="propose-title">Propose a limit change</h2>
      <label>
        Limit
        <input name="limit-name" list="limit-names" required value={form.name} onInput={set("name")} />
        <datalist id="limit-names">
          {names.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
      </label>
      <label>
        Scope
        <input name="limit-scope" list="limit-scopes" required value={form.scope} onInput={set("scope")} />
        <datalist id="limit-scopes">
          {scopes.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </label>
      <label>
        New value
        <input name="limit-value" inputMode="decimal" required value={form.value} onInput={set("value")} />
      </label>
      <label class="span">
        Reason
        <input name="limit-reason" required value={form.reason} onInput={set("reason")} />
      </label>
      <ErrorBox error={error} context="Proposal refused" />
      <footer>
        <button type="submit" class="primary" data-control="propose-limit" disabled={busy}>
          {busy ? "Proposing…" : "Propose"}
        </button>
      </footer>
    </form>
  );
}

export function Risk() {
  const can = useCan();
  const [refreshKey, setRefreshKey] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  const limits = usePoll<Limits>(() => api("GET", "/api/limits"), 2000);
  const changed = () => {
    setRefreshKey((k) => k + 1);
    limits.refresh();
  };
  return (
    <>
      <h1>Risk</h1>
      <Notice text={notice} onDismiss={() => setNotice(null)} />
      <Section what="limits" loaded={limits}>
        {(data) => (
          <section class="card" aria-labelledby="limits-title">
            <h2 id="limits-title">
              Limits <span class="muted">version {data.version}{data.approved_by ? `, approved by ${data.approved_by}` : ""}</span>
            </h2>
            {data.items.length === 0 ? (
              <Empty>No limits are configured.</Empty>
            ) : (
              <table data-testid="limits-table">
                <thead>
                  <tr>
                    <th>Limit</th>
                    <th>Scope</th>
                    <th class="num">Value</th>
                    <th class="num">Current</th>
                    <th>Utilisation</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((l) => (
                    <tr key={`${l.scope}/${l.name}`} data-limit={l.name} data-scope={l.scope}>
                      <td>{l.name}</td>
                      <td>{l.scope}</td>
                      <td class="num limit-value" data-value={l.value}><Num value={l.value} /></td>
                      <td class="num"><Num value={l.current} digits={2} /></td>
                      <td>
                        <Utilisation limit={l} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {can("POST /api/limits/proposals") && (
              <ProposeForm
                limits={data.items}
                onProposed={(p) => {
                  setNotice(`Proposal ${p.proposal_id} created: a different risk user must approve it.`);
                  changed();
                }}
              />
            )}
          </section>
        )}
      </Section>
      <Proposals refreshKey={refreshKey} onDecided={changed} />
    </>
  );
}

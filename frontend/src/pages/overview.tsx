// Overview: live equity curve, PnL today, drawdown, exposure, trading state with the kill switch, health.
import { useEffect, useState } from "preact/hooks";
import { allPages, api } from "../api";
import { EquityChart } from "../chart";
import { Empty, ErrorBox, Loading, Notice, Num, ReasonDialog, Section } from "../components";
import { useApp, useCan } from "../context";
import { ago, dec, pnlClass } from "../format";
import { usePoll } from "../hooks";
import type { EquityPoint, Health, Portfolio, Proposal, TradingState } from "../types";

const HISTORY_WINDOW_MS = 6 * 3600 * 1000;
const MAX_POINTS = 20000;

function useEquityCurve(portfolio: Portfolio | null) {
  const history = usePoll<EquityPoint[]>(
    () => allPages<EquityPoint>(`/api/portfolio/history?from=${Date.now() - HISTORY_WINDOW_MS}&limit=1000`),
    0,
  );
  const [points, setPoints] = useState<EquityPoint[]>([]);
  useEffect(() => {
    if (history.data) setPoints([...history.data].sort((a, b) => a.ts - b.ts));
  }, [history.data]);
  useEffect(() => {
    if (!portfolio) return;
    setPoints((current) => {
      const last = current[current.length - 1];
      if (last && last.ts >= portfolio.ts) return current;
      const next = [...current, { ts: portfolio.ts, equity: portfolio.equity }];
      return next.length > MAX_POINTS ? next.slice(next.length - MAX_POINTS) : next;
    });
  }, [portfolio?.ts]);
  return { points, history };
}

function Stat(props: { label: string; value: string | null; pnl?: boolean; testid?: string; digits?: number }) {
  const { label, value, pnl = false, testid, digits = 2 } = props;
  return (
    <div class="stat">
      <span class="label">{label}</span>
      <span class={pnl ? pnlClass(value) : "num"} data-testid={testid}>
        {dec(value, digits)}
      </span>
    </div>
  );
}

function TradingControls({ health }: { health: Health }) {
  const can = useCan();
  const [dialog, setDialog] = useState<"kill" | TradingState | null>(null);
  const [flatten, setFlatten] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const state = health.trading.state;
  const changeState = async (target: TradingState, reason: string) => {
    const result = await api<{ state?: string; proposal?: Proposal }>("POST", "/api/trading-state", { state: target, reason });
    setNotice(
      result.proposal
        ? `Proposal ${result.proposal.proposal_id} to move to ${target} created: another risk user must approve it (Risk page).`
        : `Trading state is now ${result.state ?? target}.`,
    );
  };
  const targets = (["ACTIVE", "REDUCING", "HALTED"] as TradingState[]).filter((s) => s !== state);
  return (
    <section class="card trading" aria-labelledby="trading-title">
      <h2 id="trading-title">Trading</h2>
      <p>
        <span class={`badge state-${state}`} data-testid="trading-state">
          {state}
        </span>{" "}
        <span class="muted">
          {health.trading.reason ?? ""}
          {health.trading.updated_by ? ` · ${health.trading.updated_by}, ${ago(health.trading.updated_at)}` : ""}
        </span>
      </p>
      <Notice text={notice} onDismiss={() => setNotice(null)} />
      <div class="actions">
        {can("POST /api/kill-switch") && state !== "HALTED" && (
          <button type="button" class="danger" data-control="kill-switch" onClick={() => setDialog("kill")}>
            Kill switch…
          </button>
        )}
        {can("POST /api/trading-state") &&
          targets.map((target) => (
            <button type="button" key={target} data-control="trading-state" onClick={() => setDialog(target)}>
              {target === "ACTIVE" ? "Request resume…" : `Move to ${target}…`}
            </button>
          ))}
      </div>
      {dialog === "kill" && (
        <ReasonDialog
          title="Engage the kill switch"
          label="Reason (recorded in the journal)"
          confirm="Halt trading"
          danger
          onClose={() => setDialog(null)}
          onSubmit={async (reason) => {
            await api("POST", "/api/kill-switch", { reason, flatten });
            setNotice(flatten ? "Trading halted; open orders cancelled and positions being flattened." : "Trading halted; open orders cancelled.");
          }}
        >
          <p>Halts all trading at once: new intents are denied and open orders are cancelled.</p>
          <label class="inline">
            <input type="checkbox" name="flatten" checked={flatten} onChange={(e) => setFlatten(e.currentTarget.checked)} /> Also
            flatten every position
          </label>
        </ReasonDialog>
      )}
      {dialog && dialog !== "kill" && (
        <ReasonDialog
          title={dialog === "ACTIVE" ? "Request resume" : `Move to ${dialog}`}
          label="Reason"
          confirm={dialog === "ACTIVE" ? "Propose resume" : `Move to ${dialog}`}
          onClose={() => setDialog(null)}
          onSubmit={(reason) => changeState(dialog, reason)}
        >
          {dialog === "ACTIVE" && <p>Leaving {state} needs a second approver (four eyes).</p>}
        </ReasonDialog>
      )}
    </section>
  );
}

function HealthStrip({ health }: { health: Health }) {
  const gateway = health.gateway;
  const lastRun = health.reconciliation.last_run;
  const gatewayState = gateway.stale ? "down" : gateway.ready ? "ok" : "warn";
  return (
    <section class="health" aria-label="Health" data-testid="health-strip">
      <span class={`pill ${gatewayState}`}>
        Gateway: {gateway.stale ? "down" : gateway.ready ? "ready" : "not ready"} · leader {gateway.leader ?? "none"}
      </span>
      {health.feeds.length === 0 && <span class="pill warn">No feeds</span>}
      {health.feeds.map((feed) => (
        <span key={feed.symbol} class={`pill ${feed.state === "OK" ? "ok" : feed.state === "DEGRADED" ? "warn" : "down"}`}>
          {feed.symbol} {feed.state}
          {feed.staleness_ms !== null ? ` ${(feed.staleness_ms / 1000).toFixed(1)} s` : ""}
        </span>
      ))}
      <span class="pill">Clock offset {health.clock.offset_ms ?? "?"} ms</span>
      <span class={`pill ${health.broker.connected === false ? "down" : health.broker.connected ? "ok" : ""}`}>
        Broker {health.broker.connected === null ? "unknown" : health.broker.connected ? "connected" : "disconnected"}
      </span>
      <span class={`pill ${health.reconciliation.open_breaks ? "warn" : ""}`}>
        Reconciliation {lastRun ? `${lastRun.status} ${ago(lastRun.finished_at ?? lastRun.started_at)}` : "never run"} ·{" "}
        {health.reconciliation.open_breaks} open breaks
      </span>
    </section>
  );
}

export function Overview() {
  const { health } = useApp();
  const portfolio = usePoll<Portfolio>(() => api("GET", "/api/portfolio"), 1000);
  const { points, history } = useEquityCurve(portfolio.data);
  return (
    <>
      <h1>Overview</h1>
      {health.data ? <HealthStrip health={health.data} /> : <ErrorBox error={health.error} context="Health unavailable" />}
      <div class="grid">
        <section class="card wide" aria-labelledby="equity-title">
          <h2 id="equity-title">Equity</h2>
          <ErrorBox error={history.error} context="Could not load the equity history" />
          {history.loading && <Loading what="equity history" />}
          <EquityChart points={points} />
        </section>
        {health.data && <TradingControls health={health.data} />}
      </div>
      <Section what="the portfolio" loaded={portfolio}>
        {(p) => (
          <>
            <div class="stats">
              <Stat label="Equity" value={p.equity} testid="equity" />
              <Stat label="PnL today" value={p.pnl_today} pnl testid="pnl-today" />
              <Stat label="Drawdown" value={p.drawdown} digits={4} testid="drawdown" />
              <Stat label="Realized PnL" value={p.realized_pnl} pnl />
              <Stat label="Unrealized PnL" value={p.unrealized_pnl} pnl />
              <Stat label="Cash" value={p.cash} />
              <Stat label="Gross exposure" value={p.gross_exposure} />
              <Stat label="Net exposure" value={p.net_exposure} />
            </div>
            <section class="card" aria-labelledby="exposure-title">
              <h2 id="exposure-title">Exposure by symbol</h2>
              {p.exposure.length === 0 ? (
                <Empty>No exposure: the book is flat.</Empty>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th>Symbol</th>
                      <th class="num">Quantity</th>
                      <th class="num">Mark</th>
                      <th class="num">Notional</th>
                    </tr>
                  </thead>
                  <tbody>
                    {p.exposure.map((row) => (
                      <tr key={row.symbol}>
                        <td>{row.symbol}</td>
                        <td class="num"><Num value={row.quantity} /></td>
                        <td class="num"><Num value={row.mark_price} digits={2} /></td>
                        <td class="num"><Num value={row.notional} digits={2} /></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </Section>
    </>
  );
}

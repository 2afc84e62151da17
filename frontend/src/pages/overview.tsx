// Overview: live equity curve, PnL today, drawdown, exposure, trading state with the kill switch, health.
import { useEffect, useState } from "preact/hooks";
import { allPages, api } from "../api";
import { EquityChart } from "../chart";
import { Empty, ErrorBox, Loading, Notice, Num, ReasonDialog, Section } from "../components";
import { useApp, useCan } from "../context";
import { ago, dec, money, pnlClass } from "../format";
import { usePoll } from "../hooks";
import type { Alert, EquityPoint, Health, Order, Page, Portfolio, Position, Proposal, TradingState } from "../types";

const HISTORY_WINDOW_MS = 6 * 3600 * 1000;
const MAX_POINTS = 20000;
const MAX_COUNTED = 500;

interface Book {
  openOrders: Order[];
  more: boolean; // more open orders than one page counts
  openAlerts: Alert[];
}

/** What is working in the market and what needs attention: open orders and open alerts. */
function useBook() {
  const can = useCan();
  return usePoll<Book>(async () => {
    const states = ["OPEN", "PARTIALLY_FILLED"];
    const pages = await Promise.all(
      states.map((state) => api<Page<Order>>("GET", `/api/orders?status=${state}&limit=${MAX_COUNTED}`)),
    );
    const alerts = can("GET /api/alerts") ? await api<Page<Alert>>("GET", "/api/alerts?status=open&limit=100") : null;
    return {
      openOrders: pages.flatMap((page) => page.items),
      more: pages.some((page) => page.next_cursor !== null),
      openAlerts: alerts?.items ?? [],
    };
  }, 2000);
}

function drawdownPercent(p: Portfolio): string | null {
  const hwm = Number(p.high_water_mark);
  const drawdown = Number(p.drawdown);
  if (!Number.isFinite(hwm) || !Number.isFinite(drawdown) || hwm <= 0) return null;
  return `${((drawdown / hwm) * 100).toFixed(3)} % of ${money(p.high_water_mark)}`;
}

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

function Stat(props: { label: string; value: string | null; pnl?: boolean; testid?: string; digits?: number; sub?: string | null }) {
  const { label, value, pnl = false, testid, digits = 2, sub } = props;
  return (
    <div class="stat">
      <span class="label">{label}</span>
      <span class={pnl ? pnlClass(value) : "num"} data-testid={testid}>
        {dec(value, digits, digits)}
      </span>
      {sub && <span class="sub muted">{sub}</span>}
    </div>
  );
}

function BookFacts({ book }: { book: Book | null }) {
  if (!book) return null;
  const protective = book.openOrders.filter((o) => o.type !== "limit" && o.type !== "market").length;
  const critical = book.openAlerts.filter((a) => a.severity === "critical").length;
  const alertClass = critical ? "down" : book.openAlerts.length ? "warn" : "ok";
  return (
    <dl class="book" data-testid="book">
      <dt>Open orders</dt>
      <dd>
        <a href="#/ledger" data-testid="open-orders">
          {book.openOrders.length}
          {book.more ? "+" : ""}
        </a>
        {protective ? <span class="muted"> ({protective} stop-loss/take-profit)</span> : null}
      </dd>
      <dt>Open alerts</dt>
      <dd>
        <a href="#/alerts" class={`pill ${alertClass}`} data-testid="open-alerts">
          {book.openAlerts.length ? `${book.openAlerts.length} open${critical ? `, ${critical} critical` : ""}` : "none"}
        </a>
      </dd>
    </dl>
  );
}

function TradingControls({ health, book }: { health: Health; book: Book | null }) {
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
      <BookFacts book={book} />
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
            setNotice(
              flatten
                ? "Trading halted: every order cancelled and positions being flattened."
                : "Trading halted: working orders cancelled; positions keep their stop-loss/take-profit orders.",
            );
          }}
        >
          <p>
            Halts all trading at once: new intents are denied and working orders are cancelled. The stop-loss/take-profit
            orders protecting open positions stay, unless you also flatten.
          </p>
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

function Exposure({ portfolio, positions, book }: { portfolio: Portfolio; positions: Position[]; book: Book | null }) {
  const bySymbol = new Map(positions.map((position) => [position.symbol, position]));
  const ordersBySymbol = new Map<string, number>();
  for (const order of book?.openOrders ?? []) ordersBySymbol.set(order.symbol, (ordersBySymbol.get(order.symbol) ?? 0) + 1);
  const symbols = [...new Set([...portfolio.exposure.map((row) => row.symbol), ...ordersBySymbol.keys()])].sort();
  const exposure = new Map(portfolio.exposure.map((row) => [row.symbol, row]));
  return (
    <section class="card" aria-labelledby="exposure-title">
      <h2 id="exposure-title">Book by symbol</h2>
      {symbols.length === 0 ? (
        <Empty>No exposure and no open orders: the book is flat.</Empty>
      ) : (
        <table data-testid="exposure">
          <thead>
            <tr>
              <th>Symbol</th>
              <th>Side</th>
              <th class="num">Quantity</th>
              <th class="num">Avg entry</th>
              <th class="num">Mark</th>
              <th class="num">Notional</th>
              <th class="num">Unrealized PnL</th>
              <th class="num">Open orders</th>
            </tr>
          </thead>
          <tbody>
            {symbols.map((symbol) => {
              const row = exposure.get(symbol);
              const position = bySymbol.get(symbol);
              const quantity = row?.quantity ?? position?.quantity ?? "0";
              const side = quantity.trim().startsWith("-") ? "short" : Number(quantity) === 0 ? "flat" : "long";
              return (
                <tr key={symbol}>
                  <td>{symbol}</td>
                  <td>
                    <span class={`side-${side}`}>{side}</span>
                  </td>
                  <td class="num"><Num value={quantity} /></td>
                  <td class="num"><Num value={position?.avg_entry_price} digits={2} /></td>
                  <td class="num"><Num value={row?.mark_price ?? position?.mark_price} digits={2} /></td>
                  <td class="num"><Num value={row?.notional} digits={2} fixed /></td>
                  <td class="num"><Num value={position?.unrealized_pnl} digits={2} fixed pnl /></td>
                  <td class="num">{ordersBySymbol.get(symbol) ?? 0}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function Overview() {
  const { health } = useApp();
  const portfolio = usePoll<Portfolio>(() => api("GET", "/api/portfolio"), 1000);
  const positions = usePoll<Page<Position>>(() => api("GET", "/api/positions"), 2000);
  const book = useBook();
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
        {health.data && <TradingControls health={health.data} book={book.data} />}
      </div>
      <Section what="the portfolio" loaded={portfolio}>
        {(p) => (
          <>
            <div class="stats">
              <Stat label="Equity" value={p.equity} testid="equity" />
              <Stat label="PnL today" value={p.pnl_today} pnl testid="pnl-today" />
              <Stat label="Drawdown" value={p.drawdown} testid="drawdown" sub={drawdownPercent(p)} />
              <Stat label="Realized PnL" value={p.realized_pnl} pnl />
              <Stat label="Unrealized PnL" value={p.unrealized_pnl} pnl />
              <Stat label="Gross exposure" value={p.gross_exposure} />
              <Stat label="Net exposure" value={p.net_exposure} />
              <Stat label="Cash" value={p.cash} />
            </div>
            <ErrorBox error={book.error} context="Could not load the open orders" />
            <Exposure portfolio={p} positions={positions.data?.items ?? []} book={book.data} />
          </>
        )}
      </Section>
    </>
  );
}

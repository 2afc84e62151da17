// Orders & trades: filters, search over the loaded rows, cursor paging, CSV export, manual orders.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { api, ApiError, query } from "../api";
import { Empty, ErrorBox, Notice, Num, Section } from "../components";
import { useCan } from "../context";
import { download, inputToMs, time, toCsv } from "../format";
import { usePoll } from "../hooks";
import type { Order, Page, Trade } from "../types";
import { OrderForm } from "./order_form";

export { OrderPage } from "./order_detail";

const ORDER_STATES = ["NEW", "DENIED", "SUBMITTING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELING", "CANCELED", "REJECTED", "EXPIRED", "UNKNOWN"];
const CANCELABLE = new Set(["NEW", "SUBMITTING", "OPEN", "PARTIALLY_FILLED"]);
const ORDER_COLUMNS = ["created_at", "client_order_id", "strategy", "symbol", "side", "type", "quantity", "limit_price", "filled_quantity", "avg_fill_price", "state", "reason", "venue_order_id", "intent_id", "updated_at"];
const TRADE_COLUMNS = ["ts", "trade_id", "client_order_id", "symbol", "side", "quantity", "price", "fee", "fee_asset"];

interface Filters {
  status: string;
  symbol: string;
  from: string;
  to: string;
  limit: string;
}

/** A cursor-paged list: `cursors[i]` opens page i (page 0 has none). */
function usePaged<T>(path: string, filters: Record<string, string | number | null>) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [index, setIndex] = useState(0);
  const key = JSON.stringify(filters);
  const [lastKey, setLastKey] = useState(key);
  if (key !== lastKey) {
    setLastKey(key);
    setCursors([null]);
    setIndex(0);
  }
  const cursor = key === lastKey ? cursors[index] : null;
  const page = usePoll<Page<T>>(() => api("GET", `${path}${query({ ...filters, cursor })}`), 2000, [key, cursor]);
  const next = page.data?.next_cursor ?? null;
  return {
    page,
    index,
    hasNext: !!next,
    goNext: () => {
      if (!next) return;
      setCursors([...cursors.slice(0, index + 1), next]);
      setIndex(index + 1);
    },
    goPrev: () => setIndex(Math.max(0, index - 1)),
  };
}

function matches(row: object, search: string): boolean {
  if (!search) return true;
  const needle = search.toLowerCase();
  return Object.values(row).some((v) => v !== null && String(v).toLowerCase().includes(needle));
}

function Pager(props: { index: number; hasNext: boolean; goPrev: () => void; goNext: () => void; onExport: () => void; count: number }) {
  return (
    <div class="pager">
      <button type="button" onClick={props.goPrev} disabled={props.index === 0}>
        ← Previous
      </button>
      <span>Page {props.index + 1}</span>
      <button type="button" onClick={props.goNext} disabled={!props.hasNext}>
        Next →
      </button>
      <button type="button" onClick={props.onExport} disabled={props.count === 0}>
        Export CSV ({props.count} rows)
      </button>
    </div>
  );
}

function FilterBar(props: { filters: Filters; setFilters: (f: Filters) => void; search: string; setSearch: (s: string) => void; statuses: boolean; children?: ComponentChildren }) {
  const { filters, setFilters } = props;
  const set = (field: keyof Filters) => (event: { currentTarget: { value: string } }) => setFilters({ ...filters, [field]: event.currentTarget.value });
  return (
    <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
      {props.statuses && (
        <label>
          Status
          <select name="status" value={filters.status} onChange={set("status")}>
            <option value="">any</option>
            {ORDER_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        Symbol
        <input name="symbol" placeholder="BTC/USDT" value={filters.symbol} onChange={set("symbol")} />
      </label>
      <label>
        From (UTC)
        <input name="from" type="datetime-local" value={filters.from} onChange={set("from")} />
      </label>
      <label>
        To (UTC)
        <input name="to" type="datetime-local" value={filters.to} onChange={set("to")} />
      </label>
      <label>
        Per page
        <select name="limit" value={filters.limit} onChange={set("limit")}>
          {["25", "50", "100", "200"].map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </label>
      <label>
        Search loaded rows
        <input name="search" type="search" value={props.search} onInput={(e) => props.setSearch(e.currentTarget.value)} />
      </label>
      {props.children}
    </form>
  );
}

function Orders({ filters, search }: { filters: Filters; search: string }) {
  const can = useCan();
  const [notice, setNotice] = useState<string | null>(null);
  const [cancelError, setCancelError] = useState<ApiError | null>(null);
  const params = { status: filters.status, symbol: filters.symbol.trim(), from: inputToMs(filters.from), to: inputToMs(filters.to), limit: filters.limit };
  const paged = usePaged<Order>("/api/orders", params);
  const cancel = async (id: string) => {
    setCancelError(null);
    try {
      await api("DELETE", `/api/orders/${encodeURIComponent(id)}`);
      setNotice(`Cancel requested for ${id}.`);
      paged.page.refresh();
    } catch (exc) {
      setCancelError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
    }
  };
  const mayCancel = can("DELETE /api/orders/{client_order_id}");
  return (
    <>
      <Notice text={notice} onDismiss={() => setNotice(null)} />
      <ErrorBox error={cancelError} context="Cancel refused" />
      <Section what="orders" loaded={paged.page}>
        {(page) => {
          const rows = page.items.filter((o) => matches(o, search));
          return (
            <>
              <Pager {...paged} count={rows.length} onExport={() => download("orders.csv", toCsv(rows as never, ORDER_COLUMNS))} />
              {rows.length === 0 ? (
                <Empty>{page.items.length ? "No loaded order matches the search." : "No orders match these filters."}</Empty>
              ) : (
                <table data-testid="orders-table">
                  <thead>
                    <tr>
                      <th>Created (UTC)</th>
                      <th>Client order id</th>
                      <th>Strategy</th>
                      <th>Symbol</th>
                      <th>Side</th>
                      <th>Type</th>
                      <th class="num">Qty</th>
                      <th class="num">Limit</th>
                      <th class="num">Filled</th>
                      <th class="num">Avg fill</th>
                      <th>State</th>
                      <th>Reason</th>
                      {mayCancel && <th>Action</th>}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((o) => (
                      <tr key={o.client_order_id} data-order-id={o.client_order_id}>
                        <td>{time(o.created_at)}</td>
                        <td>
                          <a href={`#/orders/${encodeURIComponent(o.client_order_id)}`}>{o.client_order_id}</a>
                        </td>
                        <td>{o.strategy}</td>
                        <td>{o.symbol}</td>
                        <td class={o.side === "buy" ? "gain" : "loss"}>{o.side}</td>
                        <td>{o.type}</td>
                        <td class="num"><Num value={o.quantity} /></td>
                        <td class="num"><Num value={o.limit_price} /></td>
                        <td class="num"><Num value={o.filled_quantity} /></td>
                        <td class="num"><Num value={o.avg_fill_price} /></td>
                        <td class="order-state">{o.state}</td>
                        <td>{o.reason ?? ""}</td>
                        {mayCancel && (
                          <td>
                            {CANCELABLE.has(o.state) && (
                              <button type="button" class="small" data-control="cancel-order" aria-label={`Cancel order ${o.client_order_id}`} onClick={() => void cancel(o.client_order_id)}>
                                Cancel
                              </button>
                            )}
                          </td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          );
        }}
      </Section>
    </>
  );
}

function Trades({ filters, search }: { filters: Filters; search: string }) {
  const params = { symbol: filters.symbol.trim(), from: inputToMs(filters.from), to: inputToMs(filters.to), limit: filters.limit };
  const paged = usePaged<Trade>("/api/trades", params);
  return (
    <Section what="trades" loaded={paged.page}>
      {(page) => {
        const rows = page.items.filter((t) => matches(t, search));
        return (
          <>
            <Pager {...paged} count={rows.length} onExport={() => download("trades.csv", toCsv(rows as never, TRADE_COLUMNS))} />
            {rows.length === 0 ? (
              <Empty>{page.items.length ? "No loaded trade matches the search." : "No trades match these filters."}</Empty>
            ) : (
              <table data-testid="trades-table">
                <thead>
                  <tr>
                    <th>Time (UTC)</th>
                    <th>Trade id</th>
                    <th>Order</th>
                    <th>Symbol</th>
                    <th>Side</th>
                    <th class="num">Qty</th>
                    <th class="num">Price</th>
                    <th class="num">Fee</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((t) => (
                    <tr key={t.trade_id}>
                      <td>{time(t.ts)}</td>
                      <td>{t.trade_id}</td>
                      <td>
                        <a href={`#/orders/${encodeURIComponent(t.client_order_id)}`}>{t.client_order_id}</a>
                      </td>
                      <td>{t.symbol}</td>
                      <td class={t.side === "buy" ? "gain" : "loss"}>{t.side}</td>
                      <td class="num"><Num value={t.quantity} /></td>
                      <td class="num"><Num value={t.price} /></td>
                      <td class="num">
                        <Num value={t.fee} /> {t.fee_asset ?? ""}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        );
      }}
    </Section>
  );
}

export function Ledger() {
  const can = useCan();
  const [tab, setTab] = useState<"orders" | "trades">("orders");
  const [filters, setFilters] = useState<Filters>({ status: "", symbol: "", from: "", to: "", limit: "50" });
  const [search, setSearch] = useState("");
  const [placing, setPlacing] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <>
      <h1>Orders & trades</h1>
      <div class="tabs" role="tablist">
        {(["orders", "trades"] as const).map((t) => (
          <button type="button" role="tab" key={t} aria-selected={tab === t} onClick={() => setTab(t)}>
            {t === "orders" ? "Orders" : "Trades"}
          </button>
        ))}
        {can("POST /api/orders") && (
          <button type="button" class="primary" data-control="new-order" onClick={() => setPlacing(true)}>
            New order…
          </button>
        )}
      </div>
      <Notice text={notice} onDismiss={() => setNotice(null)} />
      <FilterBar filters={filters} setFilters={setFilters} search={search} setSearch={setSearch} statuses={tab === "orders"} />
      {tab === "orders" ? <Orders filters={filters} search={search} /> : <Trades filters={filters} search={search} />}
      {placing && <OrderForm onClose={() => setPlacing(false)} onPlaced={(a) => setNotice(`Order accepted: ${a.client_order_id}`)} />}
    </>
  );
}

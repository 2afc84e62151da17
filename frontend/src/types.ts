// Shapes of the operator API (docs/api.md). Amounts are decimal strings, timestamps integer ms.

export type Dec = string;
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
export interface Session {
  token: string;
  expires_at: number;
  username: string;
  roles: string[];
}
export interface AuthConfig {
  mode: "password" | "hosted";
  hosted_ui_url: string | null;
  client_id: string;
}
export interface Me {
  username: string;
  roles: string[];
  permissions: string[];
}
export type TradingState = "ACTIVE" | "REDUCING" | "HALTED";
export interface Health {
  gateway: {
    leader: string | null;
    lease_expires_at: number | null;
    ready: boolean;
    failing: string[];
    updated_at: number | null;
    stale: boolean;
  };
  feeds: { symbol: string; state: "OK" | "DEGRADED" | "STALE"; staleness_ms: number | null; source: string | null }[];
  clock: { offset_ms: number | null };
  broker: { connected: boolean | null };
  trading: { state: TradingState; reason: string | null; updated_by: string | null; updated_at: number | null };
  reconciliation: { last_run: ReconRun | null; open_breaks: number };
}
export interface Portfolio {
  ts: number;
  equity: Dec;
  cash: Dec;
  realized_pnl: Dec;
  unrealized_pnl: Dec;
  pnl_today: Dec;
  drawdown: Dec;
  high_water_mark: Dec;
  gross_exposure: Dec;
  net_exposure: Dec;
  exposure: { symbol: string; quantity: Dec; mark_price: Dec | null; notional: Dec }[];
}
export interface EquityPoint {
  ts: number;
  equity: Dec;
  realized_pnl?: Dec;
  unrealized_pnl?: Dec;
}
export interface Position {
  symbol: string;
  quantity: Dec;
  avg_entry_price: Dec | null;
  mark_price: Dec | null;
  unrealized_pnl: Dec | null;
  realized_pnl: Dec | null;
  updated_at: number | null;
}
export interface Order {
  client_order_id: string;
  intent_id: string;
  strategy: string;
  symbol: string;
  side: string;
  type: string;
  quantity: Dec;
  limit_price: Dec | null;
  filled_quantity: Dec;
  avg_fill_price: Dec | null;
  state: string;
  venue_order_id: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}
export interface JournalEntry {
  seq: number;
  kind: string;
  actor: string;
  ts: number;
  fencing_token?: number | null;
  hash?: string;
  prev_hash?: string;
  payload: unknown;
}
export interface OrderDetail extends Order {
  history: JournalEntry[];
}
export interface Trade {
  trade_id: string;
  client_order_id: string;
  symbol: string;
  side: string;
  quantity: Dec;
  price: Dec;
  fee: Dec | null;
  fee_asset: string | null;
  ts: number;
}
export interface Strategy {
  strategy: string;
  enabled: boolean;
  allocation: Dec | null;
  version: number; // 0: no approved change yet (the gateway's defaults and the limits' allocation)
  canary: boolean | null;
  updated_by: string | null;
  updated_at: number | null;
}
export interface Limit {
  name: string;
  scope: string;
  value: Dec;
  current: Dec | null;
  utilisation: Dec | null;
}
export interface Limits {
  version: number | string;
  approved_by: string | null;
  items: Limit[];
}
/** Approving applies at once and answers APPLIED; APPROVED only while applying has not finished. */
export type ProposalStatus = "PENDING" | "APPROVED" | "APPLIED" | "REJECTED" | "CANCELED" | "EXPIRED";
export interface Proposal {
  proposal_id: string;
  kind: string;
  scope: string;
  changes: Record<string, unknown>;
  reason: string;
  proposed_by: string;
  created_at: number;
  status: ProposalStatus;
  decided_by: string | null;
  decided_at: number | null;
  note: string | null;
  diff: unknown;
}
/** Lowercase: the alert lifecycle's own values (every other status of the API is uppercase). */
export type AlertStatus = "open" | "acked" | "resolved";
export interface Alert {
  alert_id: string;
  severity: "info" | "warning" | "critical";
  title: string;
  detail: Record<string, unknown>; // the fields of the event that raised it
  status: AlertStatus;
  opened_at: number;
  acked_by: string | null;
  acked_at: number | null;
  comment: string | null;
}
export interface ReconRun {
  run_id: string;
  trigger: string;
  started_at: number;
  finished_at: number | null;
  status: string;
  counts: Record<string, unknown>;
  breaks: string[];
}
export interface ReconBreak {
  break_id: string;
  break_class: string;
  symbol: string | null;
  evidence: Record<string, unknown>;
  proposed_action: string | null;
  status: string;
  first_seen: number;
  last_seen: number;
}
export interface Reconciliation {
  runs: ReconRun[];
  open_breaks: ReconBreak[];
}
export interface Journal {
  stream: string;
  streams: string[];
  items: JournalEntry[];
  next_from_seq: number | null;
}
export interface AuditVerify {
  intact: boolean;
  streams: { stream: string; entries: number; first_broken_seq: number | null; detail: string | null }[];
}

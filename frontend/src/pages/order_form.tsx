// The manual order dialog: a Trade Intent through the same path and risk checks as every strategy.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Dialog, ErrorBox } from "../components";
import { useApp } from "../context";

interface Accepted {
  intent_id: string;
  client_order_id: string;
}

export function OrderForm({ onClose, onPlaced }: { onClose: () => void; onPlaced: (accepted: Accepted) => void }) {
  const { health } = useApp();
  const symbols = health.data?.feeds.map((f) => f.symbol) ?? [];
  const [form, setForm] = useState({ symbol: symbols[0] ?? "", side: "buy", type: "limit", quantity: "", limit_price: "", time_in_force: "GTC" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const set = (field: keyof typeof form) => (event: JSX.TargetedEvent<HTMLInputElement | HTMLSelectElement>) =>
    setForm({ ...form, [field]: event.currentTarget.value });

  const submit = async (event: JSX.TargetedEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body: Record<string, string> = { symbol: form.symbol.trim(), side: form.side, type: form.type, quantity: form.quantity.trim() };
    if (form.type === "limit") {
      body.limit_price = form.limit_price.trim();
      body.time_in_force = form.time_in_force;
    }
    try {
      onPlaced(await api<Accepted>("POST", "/api/orders", body));
      onClose();
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="New manual order" onClose={onClose}>
      <form onSubmit={submit} class="form-grid">
        <label>
          Symbol
          <input name="symbol" list="symbols" required value={form.symbol} onInput={set("symbol")} />
          <datalist id="symbols">
            {symbols.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label>
          Side
          <select name="side" value={form.side} onChange={set("side")}>
            <option value="buy">buy</option>
            <option value="sell">sell</option>
          </select>
        </label>
        <label>
          Type
          <select name="type" value={form.type} onChange={set("type")}>
            <option value="limit">limit</option>
            <option value="market">market</option>
          </select>
        </label>
        <label>
          Quantity
          <input name="quantity" inputMode="decimal" required pattern="[0-9]*\.?[0-9]+" value={form.quantity} onInput={set("quantity")} />
        </label>
        {form.type === "limit" && (
          <>
            <label>
              Limit price
              <input
                name="limit_price"
                inputMode="decimal"
                required
                pattern="[0-9]*\.?[0-9]+"
                value={form.limit_price}
                onInput={set("limit_price")}
              />
            </label>
            <label>
              Time in force
              <select name="time_in_force" value={form.time_in_force} onChange={set("time_in_force")}>
                <option value="GTC">GTC</option>
                <option value="IOC">IOC</option>
                <option value="FOK">FOK</option>
              </select>
            </label>
          </>
        )}
        <ErrorBox error={error} context="Order refused" />
        <footer>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Placing…" : "Place order"}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

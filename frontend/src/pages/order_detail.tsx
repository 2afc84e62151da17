// One order with its journal history (every event of its life, oldest first).
import { api } from "../api";
import { Empty, Num, Section } from "../components";
import { json, time } from "../format";
import { usePoll } from "../hooks";
import type { OrderDetail } from "../types";

export function OrderPage({ clientOrderId }: { clientOrderId: string }) {
  const order = usePoll<OrderDetail>(() => api("GET", `/api/orders/${encodeURIComponent(clientOrderId)}`), 2000, [clientOrderId]);
  return (
    <>
      <p>
        <a href="#/ledger">← Orders & trades</a>
      </p>
      <h1>
        Order <code>{clientOrderId}</code>
      </h1>
      <Section what="the order" loaded={order}>
        {(o) => (
          <>
            <dl class="facts">
              <dt>State</dt>
              <dd data-testid="order-state">{o.state}</dd>
              <dt>Strategy</dt>
              <dd>{o.strategy}</dd>
              <dt>Symbol</dt>
              <dd>{o.symbol}</dd>
              <dt>Side / type</dt>
              <dd>
                {o.side} {o.type}
              </dd>
              <dt>Quantity</dt>
              <dd><Num value={o.quantity} /></dd>
              <dt>Limit price</dt>
              <dd><Num value={o.limit_price} /></dd>
              <dt>Filled</dt>
              <dd>
                <Num value={o.filled_quantity} /> at <Num value={o.avg_fill_price} />
              </dd>
              <dt>Intent</dt>
              <dd><code>{o.intent_id}</code></dd>
              <dt>Venue order id</dt>
              <dd>{o.venue_order_id ?? "—"}</dd>
              <dt>Reason</dt>
              <dd>{o.reason ?? "—"}</dd>
              <dt>Created / updated (UTC)</dt>
              <dd>
                {time(o.created_at)} / {time(o.updated_at)}
              </dd>
            </dl>
            <h2>History</h2>
            {o.history.length === 0 ? (
              <Empty>No journal entries for this order yet.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th class="num">Seq</th>
                    <th>Time (UTC)</th>
                    <th>Kind</th>
                    <th>Actor</th>
                    <th>Payload</th>
                  </tr>
                </thead>
                <tbody>
                  {o.history.map((entry) => (
                    <tr key={entry.seq}>
                      <td class="num">{entry.seq}</td>
                      <td>{time(entry.ts)}</td>
                      <td>{entry.kind}</td>
                      <td>{entry.actor}</td>
                      <td>
                        <code class="payload">{json(entry.payload)}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Section>
    </>
  );
}

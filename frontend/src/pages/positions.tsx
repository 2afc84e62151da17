// Positions: quantity, entry, mark and PnL per symbol, refreshed every 2 s.
import { api } from "../api";
import { Empty, Num, Section } from "../components";
import { time } from "../format";
import { usePoll } from "../hooks";
import type { Page, Position } from "../types";

export function Positions() {
  const positions = usePoll<Page<Position>>(() => api("GET", "/api/positions"), 2000);
  return (
    <>
      <h1>Positions</h1>
      <Section what="positions" loaded={positions}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No positions: the book is flat.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Symbol</th>
                  <th class="num">Quantity</th>
                  <th class="num">Avg entry</th>
                  <th class="num">Mark</th>
                  <th class="num">Unrealized PnL</th>
                  <th class="num">Realized PnL</th>
                  <th>Updated (UTC)</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((p) => (
                  <tr key={p.symbol}>
                    <td>{p.symbol}</td>
                    <td class="num"><Num value={p.quantity} /></td>
                    <td class="num"><Num value={p.avg_entry_price} digits={2} /></td>
                    <td class="num"><Num value={p.mark_price} digits={2} /></td>
                    <td class="num"><Num value={p.unrealized_pnl} digits={2} pnl /></td>
                    <td class="num"><Num value={p.realized_pnl} digits={2} pnl /></td>
                    <td>{time(p.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Section>
    </>
  );
}

// Alerts: the list by status, acknowledge with a comment.
import { useState } from "preact/hooks";
import { allPages, api } from "../api";
import { Empty, Fields, ReasonDialog, Section } from "../components";
import { useCan } from "../context";
import { time } from "../format";
import { usePoll } from "../hooks";
import type { Alert, AlertStatus } from "../types";

export function Alerts() {
  const can = useCan();
  const [status, setStatus] = useState<AlertStatus | "">("open");
  const [acking, setAcking] = useState<Alert | null>(null);
  const alerts = usePoll<Alert[]>(() => allPages<Alert>(`/api/alerts${status ? `?status=${status}` : ""}`, 5), 2000, [status]);
  const mayAck = can("POST /api/alerts/{id}/ack");
  return (
    <>
      <h1>Alerts</h1>
      <label class="inline">
        Status{" "}
        <select name="alert-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as AlertStatus | "")}>
          <option value="open">open</option>
          <option value="acked">acknowledged</option>
          <option value="resolved">resolved</option>
          <option value="">all</option>
        </select>
      </label>
      <Section what="alerts" loaded={alerts}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No {status ? status.toLowerCase() : ""} alerts.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Opened (UTC)</th>
                  <th>Severity</th>
                  <th>Title</th>
                  <th>Detail</th>
                  <th>Status</th>
                  <th>Acknowledged</th>
                  {mayAck && <th>Action</th>}
                </tr>
              </thead>
              <tbody>
                {items.map((a) => (
                  <tr key={a.alert_id}>
                    <td>{time(a.opened_at)}</td>
                    <td>
                      <span class={`badge sev-${a.severity}`}>{a.severity}</span>
                    </td>
                    <td>{a.title}</td>
                    <td>
                      <Fields value={a.detail} />
                    </td>
                    <td>{a.status}</td>
                    <td>{a.acked_by ? `${a.acked_by}, ${time(a.acked_at)}${a.comment ? `: ${a.comment}` : ""}` : "—"}</td>
                    {mayAck && (
                      <td>
                        {!a.acked_by && (
                          <button type="button" class="small" data-control="ack-alert" onClick={() => setAcking(a)}>
                            Acknowledge…
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Section>
      {acking && (
        <ReasonDialog
          title={`Acknowledge: ${acking.title}`}
          label="Comment"
          confirm="Acknowledge"
          onClose={() => setAcking(null)}
          onSubmit={async (comment) => {
            await api("POST", `/api/alerts/${encodeURIComponent(acking.alert_id)}/ack`, { comment });
            alerts.refresh();
          }}
        />
      )}
    </>
  );
}

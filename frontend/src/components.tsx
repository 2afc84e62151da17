// Small shared pieces: states (loading, empty, error), numbers, modal dialogs, forms of a reason.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { dec, pnlClass } from "./format";
import type { Dec } from "./types";

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="state empty">{children}</p>;
}

export function ErrorBox({ error, context }: { error: ApiError | null; context?: string }) {
  if (!error) return null;
  const reason = error.status === 0 ? "API unreachable" : `HTTP ${error.status} ${error.code}`;
  const fields = Object.entries(error.fields ?? {});
  return (
    <div class="state error" role="alert">
      <strong>{context ? `${context}: ` : ""}</strong>
      {error.message} <span class="muted">({reason})</span>
      {fields.length > 0 && (
        <ul>
          {fields.map(([field, problem]) => (
            <li key={field}>
              <code>{field}</code>: {problem}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const ENVELOPE_FIELDS = new Set(["event_id", "correlation_id", "schema_version", "occurred_at"]);

/** An object's fields as compact `name value` pairs (event envelope ids left out; nested values as JSON). */
export function Fields({ value }: { value: Record<string, unknown> | null | undefined }) {
  const entries = Object.entries(value ?? {}).filter(([name, v]) => !ENVELOPE_FIELDS.has(name) && v !== null && v !== "");
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <dl class="fields">
      {entries.map(([name, v]) => (
        <div key={name}>
          <dt>{name.replace(/_/g, " ")}</dt>
          <dd>{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A polled section: loading on first load, the error above stale data, then the content. */
export function Section<T>(props: {
  what: string;
  loaded: { data: T | null; error: ApiError | null; loading: boolean };
  children: (data: T) => ComponentChildren;
}) {
  const { data, error, loading } = props.loaded;
  return (
    <>
      <ErrorBox error={error} context={`Could not load ${props.what}`} />
      {data === null ? loading && <Loading what={props.what} /> : props.children(data)}
    </>
  );
}

export function Num(props: { value: Dec | null | undefined; digits?: number; pnl?: boolean; fixed?: boolean }) {
  const { value, digits = 8, pnl = false, fixed = false } = props;
  return <span class={pnl ? pnlClass(value) : "num"}>{dec(value, digits, fixed ? digits : 0)}</span>;
}

const FOCUSABLE = "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])";

/** A modal <dialog>: focus stays inside while open (Tab wraps), Escape closes it. */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return undefined;
    const previous = document.activeElement as HTMLElement | null;
    if (!dialog.open) dialog.showModal();
    const onCancel = (event: Event) => {
      event.preventDefault();
      props.onClose();
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Tab") return;
      const focusable = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((e) => !e.hasAttribute("disabled"));
      if (!focusable.length) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey ? document.activeElement === first : document.activeElement === last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
    };
    dialog.addEventListener("cancel", onCancel);
    dialog.addEventListener("keydown", onKey);
    return () => {
      dialog.removeEventListener("cancel", onCancel);
      dialog.removeEventListener("keydown", onKey);
      if (dialog.open) dialog.close();
      previous?.focus?.();
    };
  }, []);
  return (
    <dialog ref={ref} class={props.wide ? "wide" : ""} aria-labelledby="dialog-title">
      <header>
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

/** A dialog asking for a required text (a reason, a comment, a note) before `onSubmit` runs. */
export function ReasonDialog(props: {
  title: string;
  label: string;
  confirm: string;
  danger?: boolean;
  children?: ComponentChildren;
  onSubmit: (text: string) => Promise<unknown>;
  onClose: () => void;
}) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (event: JSX.TargetedEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit(text.trim());
      props.onClose();
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form onSubmit={submit}>
        {props.children}
        <label>
          {props.label}
          <textarea name="reason" required rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <ErrorBox error={error} />
        <footer>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? "danger" : "primary"} disabled={busy || !text.trim()}>
            {busy ? "Working…" : props.confirm}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

/** Notice after a mutation (e.g. "proposal created"), dismissible. */
export function Notice({ text, onDismiss }: { text: string | null; onDismiss: () => void }) {
  if (!text) return null;
  return (
    <div class="state notice" role="status">
      {text}{" "}
      <button type="button" class="link" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}

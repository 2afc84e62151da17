// Display helpers: decimal strings are formatted as exact decimals (no float rounding of amounts).
import type { Dec } from "./types";

const formatters = new Map<string, Intl.NumberFormat>();

/** `dec("1234.5678", 2)` -> "1,234.57"; null/invalid -> "—". `minDigits` pads (money: `dec(v, 2, 2)`). */
export function dec(value: Dec | null | undefined, maxDigits = 8, minDigits = 0): string {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${minDigits}/${maxDigits}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.NumberFormat("en-US", { minimumFractionDigits: minDigits, maximumFractionDigits: maxDigits });
    formatters.set(key, formatter);
  }
  // Intl formats a numeric string exactly (no conversion to a double first).
  const text = formatter.format(value as unknown as number);
  return text === "NaN" ? value : text;
}

/** An amount of the quote currency: always two decimals. */
export function money(value: Dec | null | undefined): string {
  return dec(value, 2, 2);
}

export function isNegative(value: Dec | null | undefined): boolean {
  return !!value && value.trim().startsWith("-");
}

export function isZero(value: Dec | null | undefined): boolean {
  return !value || /^-?0*(\.0*)?$/.test(value.trim());
}

/** CSS class for a PnL value: red below zero, green above. */
export function pnlClass(value: Dec | null | undefined): string {
  if (isZero(value)) return "num";
  return isNegative(value) ? "num loss" : "num gain";
}

export function time(ms: number | null | undefined): string {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").slice(0, 19);
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return "never";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** "0.42" -> 42 (percent, clamped 0..100) for utilisation bars. */
export function percent(fraction: Dec | null | undefined): number | null {
  if (fraction === null || fraction === undefined || fraction === "") return null;
  const value = Number(fraction) * 100;
  return Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : null;
}

export function json(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `datetime-local` input value -> ms (UTC), or null. */
export function inputToMs(value: string): number | null {
  if (!value) return null;
  const ms = Date.parse(`${value}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** Rows -> CSV text (RFC 4180 quoting), columns in the given order. */
export function toCsv(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (value: unknown): string => {
    const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((row) => columns.map((c) => cell(row[c])).join(","))].join("\r\n");
}

export function download(filename: string, text: string, type = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Data hooks: one-shot and polled loads that keep the last good data when a refresh fails.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  refresh: () => void;
}

function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, "client", error instanceof Error ? error.message : String(error));
}

/** Load with `fetcher`, again every `intervalMs` (0 = once) and whenever `deps` change. */
export function usePoll<T>(fetcher: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const inFlight = useRef(false);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;

  const load = useCallback(async (gen: number) => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      const result = await fetcherRef.current();
      if (gen === generation.current) {
        setData(result);
        setError(null);
      }
    } catch (exc) {
      if (gen === generation.current) setError(asApiError(exc));
    } finally {
      inFlight.current = false;
      if (gen === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    const gen = ++generation.current;
    inFlight.current = false;
    setLoading(true);
    setData(null);
    setError(null);
    void load(gen);
    if (!intervalMs) return undefined;
    const timer = window.setInterval(() => void load(gen), intervalMs);
    return () => window.clearInterval(timer);
  }, deps);

  const refresh = useCallback(() => void load(generation.current), []);
  return { data, error, loading, refresh };
}

/** A mutation: `run` resolves to the result or null (the error is kept in `error`). */
export function useAction<A extends unknown[], R>(action: (...args: A) => Promise<R>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (...args: A): Promise<R | null> => {
    setBusy(true);
    setError(null);
    try {
      return await action(...args);
    } catch (exc) {
      setError(asApiError(exc));
      return null;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clearError: () => setError(null) };
}

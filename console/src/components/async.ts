import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';

export type Loadable<T> =
  | { state: 'loading'; data?: T }
  | { state: 'ready'; data: T }
  | { state: 'failed'; error: ApiError; data?: T };

/**
 * Loads with `load` whenever `deps` change; `reload` runs it again keeping the
 * data shown meanwhile. An answer that arrives after a newer request is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loadable<T>, () => Promise<void>] {
  const [value, setValue] = useState<Loadable<T>>({ state: 'loading' });
  const generation = useRef(0);
  const run = useCallback(async () => {
    const mine = ++generation.current;
    setValue((previous) => ({ state: 'loading', data: previous.data }));
    try {
      const data = await load();
      if (mine === generation.current) setValue({ state: 'ready', data });
    } catch (error) {
      if (mine !== generation.current) return;
      setValue((previous) => ({ state: 'failed', error: asApiError(error), data: previous.data }));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    void run();
  }, [run]);
  return [value, run];
}

export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, error instanceof Error ? error.message : 'Something went wrong.');
}

/** A submit in flight, its error, and a guard against double submits. */
export function useSubmit(): {
  busy: boolean;
  error: ApiError | null;
  setError: (error: ApiError | null) => void;
  run: <T>(action: () => Promise<T>) => Promise<T | undefined>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const running = useRef(false);
  const run = useCallback(async <T,>(action: () => Promise<T>) => {
    if (running.current) return undefined;
    running.current = true;
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(asApiError(caught));
      return undefined;
    } finally {
      running.current = false;
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

import { cloneElement, createContext, type ComponentChildren, type JSX } from 'preact';
import { useCallback, useContext, useEffect, useId, useRef, useState } from 'preact/hooks';
import { useSession } from './session';

/** The page-wide message line: what an action did, or why it failed. */
export interface Notice {
  kind: 'info' | 'error';
  text: string;
}
export const NoticeContext = createContext<(notice: Notice) => void>(() => undefined);
export const useNotify = (): ((notice: Notice) => void) => useContext(NoticeContext);

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Loads on mount and whenever `deps` change; again every `refreshMs` if given (quietly, keeping what is shown). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && setState({ data, loading: false }),
      (error: Error) => current && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (!refreshMs) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, reload]);
  return { ...state, reload } as Loaded<T>;
}

/** Loading, error and empty states around whatever shows the data. */
export function Loadable<T>({ state, empty, isEmpty, children }: {
  state: Loaded<T>;
  empty: string;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ComponentChildren;
}): JSX.Element {
  if (state.error && state.data === undefined) return <p class="error" role="alert">Could not load: {state.error.message}</p>;
  if (state.data === undefined) return <p class="muted" aria-busy="true">Loading…</p>;
  return (
    <>
      {state.error && <p class="error" role="alert">Could not refresh: {state.error.message}</p>}
      {isEmpty?.(state.data) ? <p class="muted empty">{empty}</p> : children(state.data)}
    </>
  );
}

export interface Column<R> {
  label: string;
  cell: (row: R) => ComponentChildren;
}

/** A table that scrolls sideways on a narrow screen rather than squeezing its columns. */
export function Table<R>({ caption, columns, rows, rowKey, selected }: {
  caption: string;
  columns: Column<R>[];
  rows: R[];
  rowKey: (row: R) => string;
  selected?: string;
}): JSX.Element {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>{columns.map((c) => <th scope="col" key={c.label}>{c.label}</th>)}</tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} class={selected === rowKey(row) ? 'selected' : undefined}>
              {columns.map((c) => <td key={c.label} data-label={c.label}><div>{c.cell(row)}</div></td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A button that changes something on the hub. With a key that may not (a `read` key, or no
 * `admin` for keys), it stays visible but disabled, saying why. While its call runs it is busy;
 * its outcome goes to the notice line.
 */
export function Action({ label, run, needs = 'write', disabledReason, danger }: {
  label: string;
  run: () => Promise<string | void>;
  needs?: 'write' | 'admin';
  disabledReason?: string;
  danger?: boolean;
}): JSX.Element {
  const session = useSession();
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);
  const allowed = needs === 'admin' ? session.isAdmin : session.canWrite;
  const why = !allowed ? `Needs an API key with scope ${needs === 'admin' ? 'admin' : 'subscriptions'}` : disabledReason;
  return (
    <button
      type="button"
      class={danger ? 'danger' : undefined}
      disabled={busy || why !== undefined}
      title={why}
      aria-busy={busy}
      onClick={async () => {
        setBusy(true);
        try {
          const text = await run();
          if (text) notify({ kind: 'info', text });
        } catch (err) {
          notify({ kind: 'error', text: `${label}: ${(err as Error).message}` });
        } finally {
          if (mounted.current) setBusy(false);
        }
      }}
    >
      {label}
    </button>
  );
}

/** A labelled form control (its one child); `hint` is its description, read out after the label. */
export function Field({ label, hint, children }: { label: string; hint?: ComponentChildren; children: JSX.Element }): JSX.Element {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {cloneElement(children, { id, 'aria-describedby': hint ? `${id}-hint` : undefined })}
      {hint && <small id={`${id}-hint`} class="hint">{hint}</small>}
    </div>
  );
}

/** A secret shown once (a webhook secret, a new key): selectable, with a copy button. */
export function Secret({ title, value, onDone }: { title: string; value: string; onDone: () => void }): JSX.Element {
  return (
    <div class="secret" role="status">
      <strong>{title}</strong> <span class="muted">(shown only now: copy it)</span>
      <code data-testid="secret">{value}</code>
      <button type="button" onClick={() => void navigator.clipboard?.writeText(value).catch(() => undefined)}>Copy</button>
      <button type="button" onClick={onDone}>Done</button>
    </div>
  );
}

export const time = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '—');
export const value = (v: unknown): string => (v === null || v === undefined || v === '' ? '—' : String(v));
/** A comma- or space-separated list as typed into a field. */
export const list = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);
/** A `datetime-local` field's value as an ISO instant (local time), or undefined when empty. */
export const isoOf = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

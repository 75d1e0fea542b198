import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import type { ApiError } from '../api/client';
import { textOn } from '../format';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

/** An error from the API, as one sentence; `onRetry` offers to try again. */
export function ErrorNotice({ error, onRetry }: { error: ApiError | null; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert">
      <p>{error.message}</p>
      {onRetry && error.transient && (
        <button type="button" class="secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'success' | 'warning'; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === 'info' ? 'status' : 'status'}>
      {children}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

interface FieldProps {
  label: string;
  error?: string | undefined;
  hint?: ComponentChildren;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => JSX.Element;
}

/** A labelled control with its hint and the API's complaint about it, if any. */
export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children({ id, describedBy, invalid: Boolean(error) })}
      {hint && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

const EFFECT_LABEL: Record<string, string> = { allow: 'Allow', warn: 'Warn', block: 'Block' };
export function EffectBadge({ effect }: { effect: string | null | undefined }) {
  if (!effect) return <span class="badge badge-none">Not scanned</span>;
  return <span class={`badge badge-${effect}`}>{EFFECT_LABEL[effect] ?? effect}</span>;
}

const STATUS_LABEL: Record<string, string> = {
  unassessed: 'Unassessed',
  assessed: 'Assessed',
  expired: 'Expired — reassess',
};
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-status-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

export function SeverityBadge({ severity }: { severity: string }) {
  return <span class={`badge badge-severity-${severity}`}>{severity[0]?.toUpperCase() + severity.slice(1)}</span>;
}

/** An assessment type's name on its own colour, with text that keeps contrast. */
export function TypeBadge({ name, color }: { name: string; color?: string | null }) {
  if (!color) return <span class="badge badge-type">{name}</span>;
  return (
    <span class="badge badge-type" style={{ backgroundColor: color, color: textOn(color), borderColor: color }}>
      {name}
    </span>
  );
}

interface DialogProps {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}

/** A modal on the native <dialog>: focus moves in, Escape closes, focus returns. */
export function Dialog({ title, open, onClose, children, wide }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      class={wide ? 'dialog dialog-wide' : 'dialog'}
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {open && children}
    </dialog>
  );
}

interface PagerProps {
  /** Cursors of the pages before this one ('' for the first). */
  hasPrevious: boolean;
  nextCursor: string | null | undefined;
  onPrevious: () => void;
  onNext: (cursor: string) => void;
  label: string;
}

/** Pages through the API's cursors: forwards with next_cursor, back by memory. */
export function Pager({ hasPrevious, nextCursor, onPrevious, onNext, label }: PagerProps) {
  if (!hasPrevious && !nextCursor) return null;
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" class="secondary" disabled={!hasPrevious} onClick={onPrevious}>
        Previous page
      </button>
      <button type="button" class="secondary" disabled={!nextCursor} onClick={() => nextCursor && onNext(nextCursor)}>
        Next page
      </button>
    </nav>
  );
}

export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      {children && <div class="page-actions">{children}</div>}
    </div>
  );
}

export interface Tab {
  href: string;
  label: string;
  current: boolean;
}

export function Tabs({ tabs, label }: { tabs: Tab[]; label: string }) {
  return (
    <nav class="tabs" aria-label={label}>
      {tabs.map((tab) => (
        <a key={tab.href} href={tab.href} aria-current={tab.current ? 'page' : undefined}>
          {tab.label}
        </a>
      ))}
    </nav>
  );
}

/** Keeps a stack of cursors so a list can page back as well as forward. */
export function cursorStack(stack: string[]) {
  return {
    current: stack[stack.length - 1] || undefined,
    hasPrevious: stack.length > 1,
    next: (cursor: string) => [...stack, cursor],
    previous: () => stack.slice(0, -1),
  };
}

/** The versions of a package that fix the finding, as its sources know them (OSV does; OSS Index does not). */
export function FixedIn({ versions }: { versions: string[] }) {
  return (
    <div class="fixed-in">
      Fixed in{' '}
      {versions.map((version, index) => (
        <span key={version}>
          {index > 0 && ', '}
          <code>{version}</code>
        </span>
      ))}
    </div>
  );
}

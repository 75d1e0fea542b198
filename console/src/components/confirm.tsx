// "Are you sure?" before an action that cannot be taken back (a delete, a
// revoke, a detach): one modal for every screen, which stays open to say why
// the action failed.
import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api/client';
import { Dialog, ErrorNotice } from './ui';

interface ConfirmProps {
  title: string;
  open: boolean;
  confirmLabel: string;
  /** The action is under way: its button is disabled and says `busyLabel`. */
  busy?: boolean;
  busyLabel?: string;
  /** The action's failure, said with <ErrorNotice> unless `failure` says it otherwise. */
  error?: ApiError | null;
  /** Shown instead of `error`'s notice, e.g. a 409 explained with what to do about it. */
  failure?: ComponentChildren;
  /** The refusal stands until something else changes (a 409): no confirm button, and Cancel becomes OK. */
  blocked?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  /** What will happen. */
  children: ComponentChildren;
}

export function Confirm(props: ConfirmProps) {
  const { title, open, confirmLabel, busy, busyLabel = 'Working…', error, failure, blocked } = props;
  return (
    <Dialog title={title} open={open} onClose={props.onCancel}>
      <div class="dialog-body">
        {props.children}
        {failure ?? <ErrorNotice error={error ?? null} />}
        <div class="form-actions">
          {!blocked && (
            <button type="button" class="danger" disabled={busy} onClick={props.onConfirm}>
              {busy ? busyLabel : confirmLabel}
            </button>
          )}
          <button type="button" class="secondary" onClick={props.onCancel}>
            {blocked ? 'OK' : 'Cancel'}
          </button>
        </div>
      </div>
    </Dialog>
  );
}

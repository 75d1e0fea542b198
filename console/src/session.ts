// The signed-in key lives in sessionStorage only: never in a URL, a cookie or
// localStorage, and it is gone when the tab closes or the person signs out.
import { signal } from '@preact/signals';

const KEY = 'feedguard.key';

export interface Identity {
  id: string;
  name: string;
  admin: boolean;
}

/** Why the person is on the sign-in page (a 401, signing out), if anything. */
export const signInReason = signal<string | null>(null);
export const identity = signal<Identity | null>(null);
/** The place the person was sent to sign in from, to return to afterwards. */
export const returnTo = signal<string | null>(null);

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export const session = {
  key(): string | null {
    return storage()?.getItem(KEY) ?? null;
  },
  start(key: string, who: Identity): void {
    storage()?.setItem(KEY, key);
    signInReason.value = null;
    identity.value = who;
  },
  /** Sign out: forget the key. */
  end(reason: string | null = null): void {
    storage()?.removeItem(KEY);
    identity.value = null;
    signInReason.value = reason;
  },
  /** The API refused the key (401): back to the sign-in page with a message. */
  expire(reason: string): void {
    if (!storage()?.getItem(KEY) && !identity.value) return;
    session.end(reason);
  },
};

import { useState } from 'preact/hooks';
import { asApiError } from '../components/async';
import { Field, Notice } from '../components/ui';
import { signInMessage, whoIs } from '../identity';
import { session, signInReason } from '../session';

export function SignIn() {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    const typed = key.trim();
    if (!typed) {
      setError('Paste an API key to sign in.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const who = await whoIs(typed);
      session.start(typed, who);
      // The app takes the person on, to where they were going or to the feeds.
      setKey('');
    } catch (caught) {
      setError(signInMessage(asApiError(caught)));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="signin">
      <div class="signin-card">
        <h1>
          <span class="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          feedguard
        </h1>
        <p>Triage the vulnerabilities of your feeds. Sign in with the admin key or a key you were given.</p>
        {signInReason.value && <Notice kind="warning">{signInReason.value}</Notice>}
        <form onSubmit={submit} noValidate>
          <Field
            label="API key"
            error={error ?? undefined}
            hint="Kept in this browser tab only, and forgotten when you sign out or close the tab."
          >
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="password"
                name="api-key"
                autoComplete="off"
                spellcheck={false}
                value={key}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onInput={(event) => setKey(event.currentTarget.value)}
              />
            )}
          </Field>
          <button type="submit" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}

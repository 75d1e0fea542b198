// API keys: a new key is shown once, in the answer that created it (only its
// hash is stored), so the console offers to copy it and then forgets it.
import { useRef, useState } from 'preact/hooks';
import { call, client, type Schemas } from '../../api/client';
import { useSubmit } from '../../components/async';
import { Confirm } from '../../components/confirm';
import { Dialog, Empty, ErrorNotice, Field, Loading, Notice } from '../../components/ui';
import { formatDate } from '../../format';
import { FormError, usePagedList } from './common';

type Key = Schemas['KeyView'];
type IssuedKey = Schemas['IssuedKeyView'];

function NewKeyForm({ onCreated }: { onCreated: (key: IssuedKey) => void }) {
  const [name, setName] = useState('');
  const [checked, setChecked] = useState<string | undefined>(undefined);
  const { busy, error, setError, run } = useSubmit();
  const nameError = checked ?? (error?.status === 422 ? error.fieldErrors().name : undefined);

  async function submit(event: Event) {
    event.preventDefault();
    const typed = name.trim();
    if (!typed) {
      setChecked('Give the key a name that says who or what uses it.');
      setError(null);
      return;
    }
    setChecked(undefined);
    const created = await run(() => call(client.POST('/api-keys', { body: { name: typed } })));
    if (!created) return;
    setName('');
    onCreated(created);
  }

  return (
    <form onSubmit={submit} noValidate aria-label="New API key">
      <FormError error={error} shown={['name']} />
      <Field label="Name" error={nameError} hint="Who or what uses the key, e.g. ci-bot or alice.">
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            type="text"
            name="name"
            autoComplete="off"
            value={name}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={(event) => setName(event.currentTarget.value)}
          />
        )}
      </Field>
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

/** The new key, once: copy it to the clipboard, or select it to copy by hand. */
function IssuedKeyPanel({ issued }: { issued: IssuedKey }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'copied' | 'selected' | null>(null);

  function selectKey() {
    field.current?.focus();
    field.current?.select();
  }

  async function copy() {
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
      await navigator.clipboard.writeText(issued.key);
      setCopied('copied');
    } catch {
      selectKey();
      setCopied('selected');
    }
  }

  return (
    <div class="dialog-body">
      <Notice kind="warning">
        <p>
          <strong>Copy this key now: it will not be shown again.</strong> feedguard keeps only its hash. If it is lost,
          delete it and create another.
        </p>
      </Notice>
      <Field label={`API key for ${issued.name}`}>
        {({ id, describedBy }) => (
          <div class="key-reveal">
            <input
              ref={field}
              id={id}
              type="text"
              class="mono"
              readOnly
              spellcheck={false}
              autoComplete="off"
              value={issued.key}
              aria-describedby={describedBy}
              onFocus={(event) => event.currentTarget.select()}
            />
            <button type="button" onClick={() => void copy()}>
              Copy
            </button>
          </div>
        )}
      </Field>
      <p class={`copy-status${copied === 'copied' ? ' copied' : ''}`} role="status" aria-live="polite">
        {copied === 'copied' && '✓ Copied to the clipboard.'}
        {copied === 'selected' &&
          'The clipboard is not available here: the key is selected, press Ctrl+C (⌘C) to copy it.'}
      </p>
      <dl class="facts">
        <dt>Key id</dt>
        <dd class="mono">{issued.id}</dd>
      </dl>
      <p class="hint">A feed's manager grants this key a role on the feed by its id.</p>
    </div>
  );
}

export function KeysSection() {
  const list = usePagedList(
    (cursor) => call(client.GET('/api-keys', { params: { query: cursor ? { cursor } : {} } })),
    'Pages of API keys',
  );
  const [issued, setIssued] = useState<IssuedKey | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Key | null>(null);
  const removal = useSubmit();

  function closeDelete() {
    setDeleting(null);
    removal.setError(null);
  }

  async function remove() {
    if (!deleting) return;
    const gone = deleting;
    const done = await removal.run(async () => {
      await call(client.DELETE('/api-keys/{id}', { params: { path: { id: gone.id } } }));
      return true;
    });
    if (!done) return;
    setDeleting(null);
    setMessage(`Key ${gone.name} (${gone.id}) deleted: it no longer works.`);
    await list.afterDelete((list.loaded.data?.items.length ?? 1) - 1);
  }

  const { loaded } = list;
  const keys = loaded.data?.items;
  return (
    <>
      <h2>API keys</h2>
      <p class="lead">
        Keys for people and CI. A new key can do nothing until a feed's manager grants it a role on that feed, by the
        key's id.
      </p>
      {message && <Notice kind="success">{message}</Notice>}
      {loaded.state === 'failed' && <ErrorNotice error={loaded.error} onRetry={list.reload} />}
      {!keys && loaded.state === 'loading' && <Loading label="Loading keys…" />}
      {keys && keys.length === 0 && list.firstPage && <Empty>No API keys yet. The admin key is the only one.</Empty>}
      {keys && keys.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key id</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>
                    <strong>{key.name}</strong>
                  </td>
                  <td class="mono">{key.id}</td>
                  <td>{formatDate(key.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      class="secondary"
                      aria-label={`Delete ${key.name}`}
                      onClick={() => setDeleting(key)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.pager}

      <section class="panel admin-create" aria-labelledby="new-key-title">
        <h3 id="new-key-title">Create an API key</h3>
        <NewKeyForm
          onCreated={(key) => {
            setMessage(null);
            setIssued(key);
            void list.reload();
          }}
        />
      </section>

      <Dialog
        title={issued ? `Key ${issued.name} created` : 'Key created'}
        open={issued !== null}
        onClose={() => setIssued(null)}
      >
        {issued && <IssuedKeyPanel issued={issued} />}
        <div class="dialog-body dialog-foot">
          <button type="button" class="secondary" onClick={() => setIssued(null)}>
            Done, I have copied it
          </button>
        </div>
      </Dialog>

      <Confirm
        title={deleting ? `Delete the key ${deleting.name}?` : 'Delete key?'}
        open={deleting !== null}
        busy={removal.busy}
        busyLabel="Deleting…"
        error={removal.error}
        confirmLabel="Delete key"
        onConfirm={() => void remove()}
        onCancel={closeDelete}
      >
        <p>
          The key <strong>{deleting?.name}</strong> (<span class="mono">{deleting?.id}</span>) stops working at once:
          whatever uses it gets refused from its next request. This cannot be undone.
        </p>
      </Confirm>
    </>
  );
}

// Vulnerability sources: where feeds' scans look packages up. An OSS Index
// source's token goes to the API once and is never shown again: the list says
// only "token set". An OSV source is free and takes no credentials at all.
import { useState } from 'preact/hooks';
import { ApiError, call, client, type Schemas } from '../../api/client';
import { useSubmit } from '../../components/async';
import { Confirm } from '../../components/confirm';
import { Dialog, Empty, ErrorNotice, Field, Loading, Notice } from '../../components/ui';
import { formatDate } from '../../format';
import { href } from '../../router';
import { FormError, usePagedList } from './common';

type Source = Schemas['SourceView'];
type Auth = 'bearer' | 'basic';
type Kind = Source['kind'];

export const DEFAULT_SOURCE_URL = 'https://api.guide.sonatype.com';
/** Where an OSV source asks when it is given no URL (the API's default). */
export const DEFAULT_OSV_URL = 'https://api.osv.dev';
export const KIND_LABEL: Record<string, string> = { ossindex: 'Sonatype OSS Index', osv: 'OSV' };
const AUTH_LABEL: Record<string, string> = { bearer: 'Bearer token', basic: 'Basic (username and token)' };

type Health = Source['health'];

/** What the source last did, as scans, the gate and its credential test saw it. */
export function SourceHealth({ health }: { health: Health }) {
  const error = health.last_error;
  const failing = error !== null && (!health.last_success_at || error.at >= health.last_success_at);
  return (
    <>
      {health.credits_exhausted && <span class="badge badge-block">Credits exhausted</span>}
      {failing && error && (
        <div>
          Failing: {error.message}
          <div class="meta">
            since <time dateTime={error.at}>{formatDate(error.at)}</time>
          </div>
        </div>
      )}
      {!failing && health.last_success_at && (
        <div>
          Answered <time dateTime={health.last_success_at}>{formatDate(health.last_success_at)}</time>
        </div>
      )}
      {!failing && !health.last_success_at && <div class="meta">Not asked yet</div>}
    </>
  );
}

interface SourceValues {
  kind: Kind;
  name: string;
  url: string;
  auth: Auth;
  username: string;
  token: string;
}

const EMPTY: SourceValues = {
  kind: 'ossindex',
  name: '',
  url: DEFAULT_SOURCE_URL,
  auth: 'bearer',
  username: '',
  token: '',
};
const FIELDS = ['kind', 'name', 'url', 'auth', 'username', 'token'];

function valuesOf(source: Source): SourceValues {
  return {
    kind: source.kind,
    name: source.name,
    url: source.url,
    auth: source.auth === 'basic' ? 'basic' : 'bearer',
    username: source.username ?? '',
    token: '',
  };
}

/** What the person left out, said before anything is sent. */
function missing(values: SourceValues, creating: boolean): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!values.name.trim()) errors.name = 'Give the source a name.';
  // OSV needs nothing more: its URL defaults to osv.dev's and it takes no credentials.
  if (values.kind === 'osv') return errors;
  if (!values.url.trim()) errors.url = `Enter the source's URL (${DEFAULT_SOURCE_URL} for Sonatype Guide).`;
  if (values.auth === 'basic' && !values.username.trim()) {
    errors.username = "Basic authentication needs a username (OSS Index's is the account's e-mail).";
  }
  if (creating && !values.token) errors.token = 'Paste the token the source gave you.';
  return errors;
}

interface SourceFormProps {
  /** The source being edited; none to create one. */
  source?: Source;
  onSaved: (source: Source & { warnings?: unknown }) => void;
  onCancel?: () => void;
}

function SourceForm({ source, onSaved, onCancel }: SourceFormProps) {
  const creating = !source;
  const [values, setValues] = useState<SourceValues>(source ? valuesOf(source) : EMPTY);
  const [checked, setChecked] = useState<Record<string, string>>({});
  const { busy, error, setError, run } = useSubmit();
  const set = (name: keyof SourceValues) => (event: { currentTarget: { value: string } }) => {
    const value = event.currentTarget.value;
    setValues((previous) => ({ ...previous, [name]: value }));
  };
  const errors = { ...(error?.status === 422 ? error.fieldErrors() : {}), ...checked };
  const osv = values.kind === 'osv';

  /** A new kind: the URL follows it while it is still the other kind's default. */
  function chooseKind(kind: Kind) {
    setValues((previous) => {
      let url = previous.url;
      if (kind === 'osv' && url.trim() === DEFAULT_SOURCE_URL) url = '';
      if (kind === 'ossindex' && (!url.trim() || url.trim() === DEFAULT_OSV_URL)) url = DEFAULT_SOURCE_URL;
      return { ...previous, kind, url };
    });
    setChecked({});
  }

  async function submit(event: Event) {
    event.preventDefault();
    const problems = missing(values, creating);
    setChecked(problems);
    if (Object.keys(problems).length > 0) {
      setError(null);
      return;
    }
    const name = values.name.trim();
    const url = values.url.trim();
    const username = values.auth === 'basic' ? values.username.trim() : null;
    const saved = await run(() => {
      if (!source && osv) {
        // No token, auth or username: the API refuses them for osv (422). No URL: osv.dev's.
        return call(client.POST('/sources', { body: { name, kind: 'osv', ...(url ? { url } : {}) } }));
      }
      if (!source) {
        return call(
          client.POST('/sources', {
            body: {
              name,
              kind: 'ossindex',
              url,
              auth: values.auth,
              ...(username ? { username } : {}),
              token: values.token,
            },
          }),
        );
      }
      // Only what changed; an empty token keeps the current one.
      const changes: Schemas['SourceChanges'] = {};
      if (name !== source.name) changes.name = name;
      // An emptied OSV URL goes back to osv.dev's.
      const newUrl = url || (source.kind === 'osv' ? DEFAULT_OSV_URL : url);
      if (newUrl !== source.url) changes.url = newUrl;
      // An osv source takes no credentials: only its name and url change here.
      const credentials = source.kind !== 'osv';
      if (credentials && values.auth !== source.auth) changes.auth = values.auth;
      if (credentials && username !== (source.username ?? null)) changes.username = username;
      if (credentials && values.token) changes.token = values.token;
      if (Object.keys(changes).length === 0) return Promise.resolve(source);
      return call(client.PATCH('/sources/{id}', { params: { path: { id: source.id } }, body: changes }));
    });
    if (!saved) return;
    // The token is never kept past the answer: a new form starts empty.
    // A new form keeps the kind just used, with that kind's URL.
    const fresh = { ...EMPTY, kind: values.kind, url: values.kind === 'osv' ? '' : DEFAULT_SOURCE_URL };
    setValues(source ? { ...values, token: '' } : fresh);
    onSaved(saved);
  }

  return (
    <form onSubmit={submit} noValidate aria-label={creating ? 'New vulnerability source' : `Edit ${source.name}`}>
      <FormError error={error} shown={FIELDS} />
      <div class="form-grid">
        {creating && (
          <Field
            label="Kind"
            error={errors.kind}
            hint="OSS Index needs a Sonatype token; OSV (osv.dev) is free and takes no credentials."
          >
            {({ id, describedBy, invalid }) => (
              <select
                id={id}
                name="kind"
                value={values.kind}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onChange={(event) => chooseKind(event.currentTarget.value as Kind)}
              >
                <option value="ossindex">{KIND_LABEL.ossindex}</option>
                <option value="osv">{KIND_LABEL.osv}</option>
              </select>
            )}
          </Field>
        )}
        <Field label="Name" error={errors.name}>
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="text"
              name="name"
              autoComplete="off"
              value={values.name}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={set('name')}
            />
          )}
        </Field>
        <Field
          label={osv ? 'URL (optional)' : 'URL'}
          error={errors.url}
          hint={
            osv ? (
              <>
                Leave empty for osv.dev, <code>{DEFAULT_OSV_URL}</code>.
              </>
            ) : (
              <>
                Sonatype Guide, OSS Index's current home, is <code>{DEFAULT_SOURCE_URL}</code>;{' '}
                <code>https://ossindex.sonatype.org</code> also works.
              </>
            )
          }
        >
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="url"
              name="url"
              autoComplete="off"
              spellcheck={false}
              value={values.url}
              placeholder={osv ? DEFAULT_OSV_URL : undefined}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={set('url')}
            />
          )}
        </Field>
        {!osv && (
          <Field
            label="Authentication"
            error={errors.auth}
            hint="Bearer sends a Sonatype personal access token; basic sends username and token."
          >
            {({ id, describedBy, invalid }) => (
              <select
                id={id}
                name="auth"
                value={values.auth}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onChange={set('auth')}
              >
                <option value="bearer">{AUTH_LABEL.bearer}</option>
                <option value="basic">{AUTH_LABEL.basic}</option>
              </select>
            )}
          </Field>
        )}
        {!osv && values.auth === 'basic' && (
          <Field label="Username" error={errors.username} hint="For OSS Index, the account's e-mail address.">
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="text"
                name="username"
                autoComplete="off"
                spellcheck={false}
                value={values.username}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onInput={set('username')}
              />
            )}
          </Field>
        )}
        {!osv && (
          <Field
            label={creating ? 'Token' : 'New token'}
            error={errors.token}
            hint={
              creating
                ? 'Kept in the secret store and never shown again, here or anywhere.'
                : 'Leave empty to keep the current token. A token you enter replaces it and is never shown again.'
            }
          >
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="password"
                name="token"
                autoComplete="new-password"
                spellcheck={false}
                value={values.token}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onInput={set('token')}
              />
            )}
          </Field>
        )}
      </div>
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : creating ? 'Add source' : 'Save changes'}
        </button>
        {onCancel && (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** Why a source could not be deleted: the feeds still using it, by name. */
function StillAttached({ source, error }: { source: Source; error: ApiError }) {
  const feeds = error.details.filter((feed): feed is string => typeof feed === 'string');
  if (feeds.length === 0) {
    return (
      <div class="notice notice-error" role="alert">
        <p>
          {error.message} A source cannot be deleted while a feed uses it: detach it from that feed first (the feed's
          Settings tab).
        </p>
      </div>
    );
  }
  return (
    <div class="notice notice-error" role="alert">
      <div>
        <p>
          <strong>{source.name}</strong> is still attached to {feeds.length === 1 ? 'the feed' : 'these feeds'}:{' '}
          {feeds.map((feed, index) => (
            <span key={feed}>
              {index > 0 && ', '}
              <a href={href({ name: 'feed', feed, tab: 'settings' })}>{feed}</a>
            </span>
          ))}
          .
        </p>
        <p>
          A source cannot be deleted while a feed uses it. Detach it from{' '}
          {feeds.length === 1 ? 'that feed' : 'each of them'} first (the feed's Settings tab, Sources), then delete it
          here.
        </p>
      </div>
    </div>
  );
}

export function SourcesSection() {
  const list = usePagedList(
    (cursor) => call(client.GET('/sources', { params: { query: cursor ? { cursor } : {} } })),
    'Pages of sources',
  );
  const [saved, setSaved] = useState<{ text: string; warnings: string[] } | null>(null);
  const [editing, setEditing] = useState<Source | null>(null);
  const [deleting, setDeleting] = useState<Source | null>(null);
  const removal = useSubmit();

  function announce(source: Source & { warnings?: unknown }, verb: string) {
    const warnings = Array.isArray(source.warnings) ? source.warnings.map(String) : [];
    setSaved({ text: `Source ${source.name} ${verb}.`, warnings });
    void list.reload();
  }

  function closeDelete() {
    setDeleting(null);
    removal.setError(null);
  }

  async function remove() {
    if (!deleting) return;
    const gone = deleting;
    const done = await removal.run(async () => {
      await call(client.DELETE('/sources/{id}', { params: { path: { id: gone.id } } }));
      return true;
    });
    if (!done) return;
    setDeleting(null);
    setSaved({ text: `Source ${gone.name} deleted.`, warnings: [] });
    const remaining = (list.loaded.data?.items.length ?? 1) - 1;
    await list.afterDelete(remaining);
  }

  const { loaded } = list;
  const sources = loaded.data?.items;
  return (
    <>
      <h2>Vulnerability sources</h2>
      <p class="lead">
        Where scans look a feed's packages up. Attach a source to a feed on the feed's Settings tab; a feed with no
        source is never scanned.
      </p>
      {saved && (
        <Notice kind="success">
          <p>{saved.text}</p>
          {saved.warnings.map((warning) => (
            <p key={warning}>{warning}</p>
          ))}
        </Notice>
      )}
      {loaded.state === 'failed' && <ErrorNotice error={loaded.error} onRetry={list.reload} />}
      {!sources && loaded.state === 'loading' && <Loading label="Loading sources…" />}
      {sources && sources.length === 0 && list.firstPage && (
        <Empty>No vulnerability sources yet. Add one below to start scanning feeds.</Empty>
      )}
      {sources && sources.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Vulnerability sources</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">URL</th>
                <th scope="col">Authentication</th>
                <th scope="col">Health</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sources.map((source) => (
                <tr key={source.id}>
                  <td>
                    <strong>{source.name}</strong>
                    <div class="meta mono">{source.id}</div>
                  </td>
                  <td>{KIND_LABEL[source.kind] ?? source.kind}</td>
                  <td class="mono source-url">{source.url}</td>
                  <td>
                    {source.auth ? (AUTH_LABEL[source.auth] ?? source.auth) : 'No credentials'}
                    {source.username && <div class="meta">as {source.username}</div>}
                    <div class="meta">{source.token_set ? 'token set' : 'no token'}</div>
                  </td>
                  <td>
                    <SourceHealth health={source.health} />
                  </td>
                  <td>{formatDate(source.created_at)}</td>
                  <td>
                    <div class="row-actions">
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`Edit ${source.name}`}
                        onClick={() => setEditing(source)}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`Delete ${source.name}`}
                        onClick={() => setDeleting(source)}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.pager}

      <section class="panel admin-create" aria-labelledby="new-source-title">
        <h3 id="new-source-title">Add a vulnerability source</h3>
        <SourceForm
          onSaved={(source) =>
            announce(
              source,
              source.kind === 'osv' ? 'added' : 'added; its token is stored and will not be shown again',
            )
          }
        />
      </section>

      <Dialog
        title={editing ? `Edit ${editing.name}` : 'Edit source'}
        open={editing !== null}
        onClose={() => setEditing(null)}
      >
        {editing && (
          <div class="dialog-body">
            <SourceForm
              source={editing}
              onCancel={() => setEditing(null)}
              onSaved={(source) => {
                setEditing(null);
                announce(source, 'saved');
              }}
            />
          </div>
        )}
      </Dialog>

      <Confirm
        title={deleting ? `Delete ${deleting.name}?` : 'Delete source?'}
        open={deleting !== null}
        busy={removal.busy}
        busyLabel="Deleting…"
        error={removal.error}
        confirmLabel="Delete source"
        onConfirm={() => void remove()}
        onCancel={closeDelete}
        blocked={removal.error?.status === 409}
        failure={
          deleting && removal.error?.status === 409 ? (
            <StillAttached source={deleting} error={removal.error} />
          ) : undefined
        }
      >
        <p>
          The source <strong>{deleting?.name}</strong> and its token will be deleted. Feeds can no longer be scanned
          with it.
        </p>
      </Confirm>
    </>
  );
}

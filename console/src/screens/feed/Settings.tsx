// A feed's settings: its sources (attach, detach) and permissions (grant,
// revoke) for its managers and the admin; its description, the effect of
// unassessed findings and deleting it for the admin only, as the contract has
// feeds themselves admin-only to change. Everyone else reads them.
import { useState } from 'preact/hooks';
import { call, client, everyPage, type Schemas } from '../../api/client';
import { useLoad, useSubmit } from '../../components/async';
import { Confirm } from '../../components/confirm';
import { Dialog, Empty, ErrorNotice, Field, Loading, Notice } from '../../components/ui';
import { formatDate } from '../../format';
import { canManage } from '../../roles';
import { href, navigate } from '../../router';
import { identity } from '../../session';
import type { FeedTabProps } from './FeedScreen';
import { EFFECTS, type FeedEffect } from './parts';

type SourceView = Schemas['SourceView'];
type PermissionView = Schemas['PermissionView'];
type Grantable = Schemas['NewRole']['role'];

const ROLES: { value: Grantable; label: string; hint: string }[] = [
  { value: 'viewer', label: 'Viewer', hint: 'reads the feed and checks purls' },
  { value: 'assessor', label: 'Assessor', hint: 'also assesses findings' },
  { value: 'manager', label: 'Manager', hint: 'also changes packages, sources, permissions and scans' },
];

export function SettingsTab(props: FeedTabProps) {
  const admin = Boolean(identity.value?.admin);
  const manager = canManage(props.role) || admin;
  return (
    <>
      <SourcesSection {...props} manager={manager} admin={admin} />
      <PermissionsSection {...props} manager={manager} admin={admin} />
      <FeedSection {...props} admin={admin} />
      {admin && <DeleteFeed feed={props.feed} />}
    </>
  );
}

interface SectionProps extends FeedTabProps {
  manager: boolean;
  admin: boolean;
}

function SourcesSection({ feed, detail, reloadFeed, manager, admin }: SectionProps) {
  const [sources, reloadSources] = useLoad(
    () => everyPage((cursor) => call(client.GET('/sources', { params: { query: { limit: 500, cursor } } }))),
    [],
  );
  const [chosen, setChosen] = useState('');
  const [detaching, setDetaching] = useState<string | null>(null);
  const attach = useSubmit();
  const detach = useSubmit();

  const known = new Map((sources.data ?? []).map((source) => [source.id, source]));
  const attached = detail.sources;
  const attachable = (sources.data ?? []).filter((source) => !attached.includes(source.id));

  async function attachChosen(event: Event) {
    event.preventDefault();
    if (!chosen) return;
    const done = await attach.run(async () => {
      await call(client.PUT('/feeds/{feed}/sources/{source_id}', { params: { path: { feed, source_id: chosen } } }));
      return true;
    });
    if (done) {
      setChosen('');
      await reloadFeed();
    }
  }

  async function detachChosen() {
    if (!detaching) return;
    const source_id = detaching;
    const done = await detach.run(async () => {
      await call(client.DELETE('/feeds/{feed}/sources/{source_id}', { params: { path: { feed, source_id } } }));
      return true;
    });
    if (done) {
      setDetaching(null);
      await reloadFeed();
    }
  }

  let list;
  if (attached.length === 0) {
    list = (
      <Empty>
        No source is attached: this feed is never scanned.
        {manager ? ' Attach one below.' : ''}
      </Empty>
    );
  } else {
    list = (
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Sources attached to {feed}</caption>
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Kind</th>
              <th scope="col">URL</th>
              {manager && (
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {attached.map((id) => {
              const source = known.get(id);
              return (
                <tr key={id}>
                  <th scope="row" class="plain-head">
                    {source ? source.name : <code>{id}</code>}
                  </th>
                  <td>{source?.kind ?? '—'}</td>
                  <td class="source-url">{source ? <code>{source.url}</code> : '—'}</td>
                  {manager && (
                    <td>
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`Detach ${source?.name ?? id}`}
                        onClick={() => setDetaching(id)}
                      >
                        Detach
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  }

  return (
    <section class="panel" aria-labelledby="sources-heading">
      <h2 id="sources-heading">Vulnerability sources</h2>
      <p class="hint">A scan asks every attached source about the feed's packages.</p>
      {sources.state === 'failed' && <ErrorNotice error={sources.error} onRetry={reloadSources} />}
      {sources.state === 'loading' && !sources.data ? <Loading label="Loading sources…" /> : list}
      {manager && sources.data && (
        <>
          {attachable.length > 0 ? (
            <form class="inline-form" onSubmit={attachChosen} noValidate>
              <Field label="Source to attach">
                {({ id, describedBy, invalid }) => (
                  <select
                    id={id}
                    value={chosen}
                    aria-describedby={describedBy}
                    aria-invalid={invalid}
                    onChange={(event) => setChosen(event.currentTarget.value)}
                  >
                    <option value="">Choose a source…</option>
                    {attachable.map((source) => (
                      <option key={source.id} value={source.id}>
                        {source.name} ({source.url})
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <button type="submit" disabled={!chosen || attach.busy}>
                {attach.busy ? 'Attaching…' : 'Attach source'}
              </button>
            </form>
          ) : (
            <p class="hint">
              {(sources.data ?? []).length === 0 ? 'There is no source yet. ' : 'Every source is attached. '}
              {admin ? (
                <a href={href({ name: 'admin', section: 'sources' })}>Create a source under Administration.</a>
              ) : (
                'The admin creates sources.'
              )}
            </p>
          )}
          <ErrorNotice error={attach.error} />
          <Confirm
            title="Detach a source"
            open={detaching !== null}
            confirmLabel="Detach source"
            busy={detach.busy}
            error={detach.error}
            onConfirm={() => void detachChosen()}
            onCancel={() => {
              detach.setError(null);
              setDetaching(null);
            }}
          >
            <p>
              Detach {detaching ? (known.get(detaching)?.name ?? detaching) : ''} from {feed}? Scans stop asking it
              about this feed's packages; findings it reported stay until a scan no longer reports them.
            </p>
          </Confirm>
        </>
      )}
    </section>
  );
}

function PermissionsSection({ feed, role, reloadFeed, manager, admin }: SectionProps) {
  const [permissions, reload] = useLoad(
    () =>
      manager
        ? everyPage((cursor) =>
            call(
              client.GET('/feeds/{feed}/permissions', { params: { path: { feed }, query: { limit: 500, cursor } } }),
            ),
          )
        : Promise.resolve([] as PermissionView[]),
    [feed, manager],
  );
  // The admin may list keys, so picks one by name; a manager types its id.
  const [keys] = useLoad(
    () =>
      admin
        ? everyPage((cursor) => call(client.GET('/api-keys', { params: { query: { limit: 500, cursor } } })))
        : Promise.resolve([]),
    [admin],
  );
  const [keyId, setKeyId] = useState('');
  const [grantRole, setGrantRole] = useState<Grantable>('viewer');
  const [keyProblem, setKeyProblem] = useState<string | null>(null);
  const [granted, setGranted] = useState<PermissionView | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const grant = useSubmit();
  const revoke = useSubmit();

  if (!manager) {
    return (
      <section class="panel" aria-labelledby="permissions-heading">
        <h2 id="permissions-heading">Permissions</h2>
        <p>
          Your key is {role ? <strong>{role}</strong> : 'without a role'} on this feed. Only its managers and the admin
          see and change who else may use it.
        </p>
      </section>
    );
  }

  const nameOf = new Map((keys.data ?? []).map((key) => [key.id, key.name]));

  async function grantTyped(event: Event) {
    event.preventDefault();
    const key_id = keyId.trim();
    if (!key_id) {
      setKeyProblem('Give the id of the key to grant a role to.');
      return;
    }
    setKeyProblem(null);
    setGranted(null);
    const answer = await grant.run(() =>
      call(
        client.PUT('/feeds/{feed}/permissions/{key_id}', {
          params: { path: { feed, key_id } },
          body: { role: grantRole },
        }),
      ),
    );
    if (answer) {
      setGranted(answer);
      setKeyId('');
      await reload();
      await reloadFeed();
    }
  }

  async function revokeChosen() {
    if (!revoking) return;
    const key_id = revoking;
    const done = await revoke.run(async () => {
      await call(client.DELETE('/feeds/{feed}/permissions/{key_id}', { params: { path: { feed, key_id } } }));
      return true;
    });
    if (done) {
      setRevoking(null);
      await reload();
      await reloadFeed();
    }
  }

  const error = grant.error;
  const fields = error?.status === 422 ? error.fieldErrors() : {};
  // A 404 here names the key: there is no key with that id.
  const keyError = keyProblem ?? (error?.status === 404 ? error.message : fields.key_id);
  const roleError = fields.role;
  const shownByField = Boolean(keyError && !keyProblem) || Boolean(roleError);
  const items = permissions.data;

  return (
    <section class="panel" aria-labelledby="permissions-heading">
      <h2 id="permissions-heading">Permissions</h2>
      <p class="hint">The keys with a role on this feed. The admin may do everything without one.</p>
      {permissions.state === 'failed' && <ErrorNotice error={permissions.error} onRetry={reload} />}
      {!items ? (
        permissions.state === 'loading' && <Loading label="Loading permissions…" />
      ) : items.length === 0 ? (
        <Empty>No key has a role on this feed yet.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Keys with a role on {feed}</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">Granted</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((permission) => {
                const name = nameOf.get(permission.key_id);
                return (
                  <tr key={permission.key_id}>
                    <th scope="row" class="plain-head">
                      {name && <strong>{name} </strong>}
                      <code>{permission.key_id}</code>
                    </th>
                    <td>{permission.role}</td>
                    <td class="when">{formatDate(permission.granted_at)}</td>
                    <td>
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`Revoke the role of ${name ?? permission.key_id}`}
                        onClick={() => setRevoking(permission.key_id)}
                      >
                        Revoke
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <h3>Grant a role</h3>
      <form class="inline-form" onSubmit={grantTyped} noValidate>
        {admin && (
          <Field label="Key" hint={keys.state === 'failed' ? 'The keys could not be listed; type the id.' : undefined}>
            {({ id, describedBy }) => (
              <select
                id={id}
                aria-describedby={describedBy}
                value={nameOf.has(keyId.trim()) ? keyId.trim() : ''}
                onChange={(event) => setKeyId(event.currentTarget.value)}
              >
                <option value="">Choose a key…</option>
                {(keys.data ?? []).map((key) => (
                  <option key={key.id} value={key.id}>
                    {key.name} ({key.id})
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        <Field
          label="Key id"
          error={keyError}
          hint="The key's id, as its owner or the admin gives it (not the key itself)."
        >
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              name="key_id"
              value={keyId}
              autoComplete="off"
              spellcheck={false}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={(event) => setKeyId(event.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Role" error={roleError} hint={ROLES.find((r) => r.value === grantRole)?.hint}>
          {({ id, describedBy, invalid }) => (
            <select
              id={id}
              name="role"
              value={grantRole}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={(event) => setGrantRole(event.currentTarget.value as Grantable)}
            >
              {ROLES.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" disabled={grant.busy}>
          {grant.busy ? 'Granting…' : 'Grant role'}
        </button>
      </form>
      {!shownByField && <ErrorNotice error={error} />}
      {granted && (
        <Notice kind="success">
          <p>
            {nameOf.get(granted.key_id) ?? granted.key_id} is now {granted.role} on {feed}.
          </p>
        </Notice>
      )}
      <Confirm
        title="Revoke a role"
        open={revoking !== null}
        confirmLabel="Revoke role"
        busy={revoke.busy}
        error={revoke.error}
        onConfirm={() => void revokeChosen()}
        onCancel={() => {
          revoke.setError(null);
          setRevoking(null);
        }}
      >
        <p>
          Take the role of {revoking ? (nameOf.get(revoking) ?? revoking) : ''} on {feed} away? The key no longer sees
          this feed.
        </p>
      </Confirm>
    </section>
  );
}

function FeedSection({ feed, detail, reloadFeed, admin }: FeedTabProps & { admin: boolean }) {
  const [description, setDescription] = useState(detail.description ?? '');
  const [effect, setEffect] = useState<FeedEffect>(detail.unassessed_effect);
  const [saved, setSaved] = useState(false);
  const submit = useSubmit();

  if (!admin) {
    return (
      <section class="panel" aria-labelledby="feed-heading">
        <h2 id="feed-heading">Feed</h2>
        <dl class="facts">
          <dt>Description</dt>
          <dd>{detail.description || '—'}</dd>
          <dt>Effect of unassessed findings</dt>
          <dd>{EFFECTS.find((e) => e.value === detail.unassessed_effect)?.label ?? detail.unassessed_effect}</dd>
          <dt>Created</dt>
          <dd>{formatDate(detail.created_at)}</dd>
        </dl>
        <p class="hint">Only the admin changes a feed itself.</p>
      </section>
    );
  }

  async function save(event: Event) {
    event.preventDefault();
    setSaved(false);
    const answer = await submit.run(() =>
      call(
        client.PATCH('/feeds/{feed}', {
          params: { path: { feed } },
          body: { description: description.trim() || null, unassessed_effect: effect },
        }),
      ),
    );
    if (answer) {
      setSaved(true);
      await reloadFeed();
    }
  }

  const error = submit.error;
  const fields = error?.status === 422 ? error.fieldErrors() : {};
  const shownByField = Boolean(fields.description || fields.unassessed_effect);
  return (
    <section class="panel" aria-labelledby="feed-heading">
      <h2 id="feed-heading">Feed</h2>
      <form onSubmit={save} noValidate>
        <Field label="Description" error={fields.description}>
          {({ id, describedBy, invalid }) => (
            <textarea
              id={id}
              class="plain"
              rows={3}
              value={description}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={(event) => {
                setDescription(event.currentTarget.value);
                setSaved(false);
              }}
            />
          )}
        </Field>
        <Field
          label="Effect of unassessed findings"
          error={fields.unassessed_effect}
          hint="What the gate answers for a finding nobody has assessed yet, or whose assessment expired."
        >
          {({ id, describedBy, invalid }) => (
            <select
              id={id}
              value={effect}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={(event) => {
                setEffect(event.currentTarget.value as FeedEffect);
                setSaved(false);
              }}
            >
              {EFFECTS.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        {!shownByField && <ErrorNotice error={error} />}
        <div class="form-actions">
          <button type="submit" disabled={submit.busy}>
            {submit.busy ? 'Saving…' : 'Save changes'}
          </button>
        </div>
        {saved && (
          <Notice kind="success">
            <p>Saved.</p>
          </Notice>
        )}
      </form>
    </section>
  );
}

function DeleteFeed({ feed }: { feed: string }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  const submit = useSubmit();

  async function remove(event: Event) {
    event.preventDefault();
    if (typed !== feed) return;
    const done = await submit.run(async () => {
      await call(client.DELETE('/feeds/{feed}', { params: { path: { feed } } }));
      return true;
    });
    if (done) navigate(href({ name: 'feeds' }));
  }

  return (
    <section class="panel danger-zone" aria-labelledby="delete-heading">
      <h2 id="delete-heading">Delete this feed</h2>
      <p>
        Its packages, findings, assessments and permissions go with it. A feed created later under the same name
        starts empty.
      </p>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Delete feed…
      </button>
      <Dialog
        title={`Delete ${feed}`}
        open={open}
        onClose={() => {
          setOpen(false);
          submit.setError(null);
        }}
      >
        <form onSubmit={remove} noValidate>
          <Field label={`Type the feed's name, ${feed}, to confirm`}>
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                autofocus
                value={typed}
                autoComplete="off"
                spellcheck={false}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onInput={(event) => setTyped(event.currentTarget.value)}
              />
            )}
          </Field>
          <ErrorNotice error={submit.error} />
          <div class="form-actions">
            <button type="submit" class="danger" disabled={typed !== feed || submit.busy}>
              {submit.busy ? 'Deleting…' : 'Delete feed'}
            </button>
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setOpen(false);
                submit.setError(null);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </section>
  );
}

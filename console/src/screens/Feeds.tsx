// The feeds this key has a role on: each with its counts by status and its
// last scan (GET /feeds/{feed} for every row shown, in parallel), and, for
// the admin, creating a feed.
import { useState } from 'preact/hooks';
import { call, client, type Schemas } from '../api/client';
import { useLoad, useSubmit } from '../components/async';
import {
  cursorStack,
  Dialog,
  EffectBadge,
  Empty,
  ErrorNotice,
  Field,
  Loading,
  PageHeader,
  Pager,
} from '../components/ui';
import { href, navigate } from '../router';
import { identity } from '../session';
import { EFFECTS, type FeedEffect, LastScanText, lastScanOf } from './feed/parts';

type FeedView = Schemas['FeedView'];

/** Feeds a page: each row loads its own counts, so a page stays small. */
export const FEEDS_PAGE = 25;

/** The contract's feed name pattern. */
export const FEED_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const FEED_NAME_HINT =
  "Lowercase letters, digits, '.', '_' and '-', starting with a letter or digit; at most 64 characters. " +
  'It cannot be changed later.';

export function FeedsScreen() {
  const admin = Boolean(identity.value?.admin);
  const [stack, setStack] = useState<string[]>(['']);
  const [creating, setCreating] = useState(false);
  const pages = cursorStack(stack);
  const [loaded, reload] = useLoad(
    () => call(client.GET('/feeds', { params: { query: { limit: FEEDS_PAGE, cursor: pages.current } } })),
    [pages.current],
  );

  const feeds = loaded.data?.items;
  let body;
  if (!feeds) {
    body =
      loaded.state === 'failed' ? (
        <ErrorNotice error={loaded.error} onRetry={reload} />
      ) : (
        <Loading label="Loading feeds…" />
      );
  } else if (feeds.length === 0 && !pages.hasPrevious) {
    body = (
      <Empty>
        {admin ? (
          <>
            <p>There is no feed yet. Create one, then attach a source and add its packages.</p>
            <button type="button" onClick={() => setCreating(true)}>
              Create feed
            </button>
          </>
        ) : (
          <p>No feed is shared with your key. Ask the admin or a feed's manager to give your key a role on a feed.</p>
        )}
      </Empty>
    );
  } else {
    body = (
      <>
        {loaded.state === 'failed' && <ErrorNotice error={loaded.error} onRetry={reload} />}
        <div class="table-wrap">
          <table class="feeds-table">
            <caption class="visually-hidden">Feeds, with their findings by status and their last scan</caption>
            <thead>
              <tr>
                <th scope="col">Feed</th>
                <th scope="col">Your role</th>
                <th scope="col">Unassessed findings</th>
                <th scope="col" class="num">
                  Unassessed
                </th>
                <th scope="col" class="num">
                  Assessed
                </th>
                <th scope="col" class="num">
                  Expired
                </th>
                <th scope="col">Last scan</th>
              </tr>
            </thead>
            <tbody>
              {feeds.map((feed) => (
                <FeedRow key={feed.name} feed={feed} />
              ))}
            </tbody>
          </table>
        </div>
        <Pager
          label="Pages of feeds"
          hasPrevious={pages.hasPrevious}
          nextCursor={loaded.data?.next_cursor}
          onPrevious={() => setStack(pages.previous())}
          onNext={(cursor) => setStack(pages.next(cursor))}
        />
      </>
    );
  }

  return (
    <>
      <PageHeader title="Feeds">
        {admin && (
          <button type="button" onClick={() => setCreating(true)}>
            Create feed
          </button>
        )}
      </PageHeader>
      {body}
      {admin && <CreateFeedDialog open={creating} onClose={() => setCreating(false)} />}
    </>
  );
}

/** One feed; its counts and last scan come from its own GET /feeds/{feed}. */
function FeedRow({ feed }: { feed: FeedView }) {
  const [detail, reload] = useLoad(
    () => call(client.GET('/feeds/{feed}', { params: { path: { feed: feed.name } } })),
    [feed.name],
  );
  const counts = detail.data?.counts;
  return (
    <tr>
      <th scope="row" class="feed-name">
        <a href={href({ name: 'feed', feed: feed.name, tab: 'vulnerabilities' })}>{feed.name}</a>
        {feed.description && <span class="feed-description">{feed.description}</span>}
      </th>
      <td>{feed.role ?? '—'}</td>
      <td>
        <EffectBadge effect={feed.unassessed_effect} />
      </td>
      {counts ? (
        <>
          <td class="num">{counts.unassessed}</td>
          <td class="num">{counts.assessed}</td>
          <td class="num">{counts.expired}</td>
          <td>
            <LastScanText scan={detail.data ? lastScanOf(detail.data) : undefined} />
          </td>
        </>
      ) : detail.state === 'failed' ? (
        <td colSpan={4} class="row-failed">
          <span role="alert">Counts not loaded: {detail.error.message}</span>{' '}
          <button type="button" class="link" aria-label={`Try again for ${feed.name}`} onClick={() => void reload()}>
            Try again
          </button>
        </td>
      ) : (
        <td colSpan={4} class="row-loading">
          <span class="spinner" aria-hidden="true" /> Loading counts…
        </td>
      )}
    </tr>
  );
}

function CreateFeedDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [effect, setEffect] = useState<FeedEffect>('block');
  const [nameProblem, setNameProblem] = useState<string | null>(null);
  const submit = useSubmit();

  async function create(event: Event) {
    event.preventDefault();
    const wanted = name.trim();
    if (!FEED_NAME.test(wanted)) {
      setNameProblem(
        wanted
          ? "This name does not fit: use lowercase letters, digits, '.', '_' and '-', " +
              'starting with a letter or digit (at most 64).'
          : 'Give the feed a name.',
      );
      return;
    }
    setNameProblem(null);
    const created = await submit.run(() =>
      call(
        client.POST('/feeds', {
          body: { name: wanted, description: description.trim() || null, unassessed_effect: effect },
        }),
      ),
    );
    if (created) navigate(href({ name: 'feed', feed: created.name, tab: 'settings' }));
  }

  const error = submit.error;
  const fields = error?.status === 422 ? error.fieldErrors() : {};
  const nameError = nameProblem ?? (error?.status === 409 ? error.message : fields.name);
  // Errors the fields do not show: the network, a 5xx, a 422 naming no field here.
  const shownByField = error && (error.status === 409 || Object.keys(fields).some((f) => FIELDS.has(f)));
  return (
    <Dialog title="Create a feed" open={open} onClose={onClose}>
      <form onSubmit={create} noValidate>
        <Field label="Name" error={nameError} hint={FEED_NAME_HINT}>
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              name="name"
              autofocus
              value={name}
              autoComplete="off"
              spellcheck={false}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={(event) => setName(event.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Description (optional)" error={fields.description}>
          {({ id, describedBy, invalid }) => (
            <textarea
              id={id}
              name="description"
              rows={3}
              class="plain"
              value={description}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={(event) => setDescription(event.currentTarget.value)}
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
              name="unassessed_effect"
              value={effect}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={(event) => setEffect(event.currentTarget.value as FeedEffect)}
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
            {submit.busy ? 'Creating…' : 'Create feed'}
          </button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

const FIELDS = new Set(['name', 'description', 'unassessed_effect']);

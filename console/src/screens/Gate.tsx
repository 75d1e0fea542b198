// The gate, as CI asks it: paste purls, pick a feed, and see each purl's
// verdict with the findings behind it. More than 128 purls go in several
// requests of 128, in order; the raw answer is there to compare with CI's.
import { useId, useState } from 'preact/hooks';
import { ApiError, call, client, everyPage, type Schemas } from '../api/client';
import { useLoad, useSubmit } from '../components/async';
import {
  EffectBadge,
  Empty,
  ErrorNotice,
  Field,
  FixedIn,
  Loading,
  Notice,
  PageHeader,
  StatusBadge,
} from '../components/ui';
import { formatScore } from '../format';
import { href, navigate } from '../router';

type CheckResult = Schemas['CheckResult'] & { lookup?: string | null };

/** The most purls one check request may carry (the contract's limit). */
export const CHECK_CHUNK = 128;

/** The purls of a pasted text: one a line, blank lines and surrounding spaces ignored. */
export function purlsOf(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

interface Rejection {
  purl: string;
  message: string;
}

/** The purls a 422 names, when its details are `{purl, message}` entries. */
function rejectionsOf(error: ApiError | null): Rejection[] {
  if (!error || error.status !== 422) return [];
  const out: Rejection[] = [];
  for (const detail of error.details) {
    if (!detail || typeof detail !== 'object') continue;
    const { purl, message, msg } = detail as { purl?: unknown; message?: unknown; msg?: unknown };
    const text = typeof message === 'string' ? message : typeof msg === 'string' ? msg : null;
    if (typeof purl === 'string' && text) out.push({ purl, message: text });
  }
  return out;
}

function purlsHint(count: number, requests: number): string {
  if (!count) {
    return `One a line, with a version: pkg:npm/lodash@4.17.20. More than ${CHECK_CHUNK} are sent in several requests.`;
  }
  const split = requests > 1 ? `, sent in ${requests} requests of at most ${CHECK_CHUNK}` : '';
  return `${count} ${count === 1 ? 'purl' : 'purls'}${split}.`;
}

interface Checked {
  feed: string;
  results: CheckResult[];
  requests: number;
}

export function GateScreen({ query }: { query: URLSearchParams }) {
  const [feeds, reloadFeeds] = useLoad(
    () => everyPage((cursor) => call(client.GET('/feeds', { params: { query: { limit: 500, cursor } } }))),
    [],
  );
  const [text, setText] = useState('');
  const [checked, setChecked] = useState<Checked | null>(null);
  const [purlsError, setPurlsError] = useState<string | null>(null);
  const submit = useSubmit();
  const rejectedId = useId();

  const asked = query.get('feed') ?? '';
  const list = feeds.data ?? [];
  const feed = list.some((item) => item.name === asked) ? asked : (list[0]?.name ?? '');
  const chosen = list.find((item) => item.name === feed);
  const purls = purlsOf(text);
  const requestCount = Math.ceil(purls.length / CHECK_CHUNK);

  function chooseFeed(name: string) {
    navigate(href({ name: 'gate' }, { feed: name }), { replace: true });
  }

  async function check(event: Event) {
    event.preventDefault();
    if (!feed) return;
    if (purls.length === 0) {
      setPurlsError('Paste at least one purl, one a line (pkg:npm/lodash@4.17.20).');
      return;
    }
    setPurlsError(null);
    await submit.run(async () => {
      const results: CheckResult[] = [];
      const parts = chunks(purls, CHECK_CHUNK);
      // One request after another, so the answers keep the order of the lines.
      for (const part of parts) {
        const answer = await call(
          client.POST('/feeds/{feed}/check', { params: { path: { feed } }, body: { purls: part } }),
        );
        results.push(...answer.results);
      }
      setChecked({ feed, results, requests: parts.length });
    });
  }

  if (!feeds.data) {
    return (
      <>
        <PageHeader title="Gate" />
        {feeds.state === 'failed' ? (
          <ErrorNotice error={feeds.error} onRetry={reloadFeeds} />
        ) : (
          <Loading label="Loading your feeds…" />
        )}
      </>
    );
  }

  const rejections = rejectionsOf(submit.error);
  const fieldErrors = submit.error?.fieldErrors() ?? {};
  const purlsProblem =
    purlsError ??
    (rejections.length
      ? submit.error?.message
      : (fieldErrors['purls'] ?? Object.entries(fieldErrors).find(([name]) => name.startsWith('purls'))?.[1]));

  return (
    <>
      <PageHeader title="Gate" />
      <p class="lead">
        Check packages against a feed the way CI does (<code>POST /feeds/{'{feed}'}/check</code>): each purl's verdict
        is the strongest effect of its findings.
      </p>
      {asked && feed && asked !== feed && (
        <Notice kind="warning">
          <p>
            Your key has no feed named <code>{asked}</code>; checking against <code>{feed}</code> instead.
          </p>
        </Notice>
      )}
      {list.length === 0 ? (
        <Empty>
          <p>You have no feeds to check against yet. A feed's manager or the admin can give your key a role on one.</p>
        </Empty>
      ) : (
        <form class="gate-form panel" onSubmit={check} noValidate>
          <Field
            label="Feed"
            hint={chosen && (
              <>
                Unassessed findings: <EffectBadge effect={chosen.unassessed_effect} />
              </>
            )}
          >
            {({ id, describedBy }) => (
              <select
                id={id}
                name="feed"
                value={feed}
                aria-describedby={describedBy}
                onChange={(event) => chooseFeed(event.currentTarget.value)}
              >
                {list.map((item) => (
                  <option key={item.name} value={item.name}>
                    {item.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="Package URLs"
            error={purlsProblem ?? undefined}
            hint={purlsHint(purls.length, requestCount)}
          >
            {({ id, describedBy, invalid }) => (
              <textarea
                id={id}
                name="purls"
                rows={8}
                spellcheck={false}
                autoComplete="off"
                placeholder={'pkg:npm/lodash@4.17.20\npkg:maven/org.apache.logging.log4j/log4j-core@2.14.1'}
                value={text}
                aria-describedby={
                  [describedBy, rejections.length ? rejectedId : ''].filter(Boolean).join(' ') || undefined
                }
                aria-invalid={invalid}
                onInput={(event) => {
                  setText(event.currentTarget.value);
                  setPurlsError(null);
                }}
              />
            )}
          </Field>
          {rejections.length > 0 && (
            <ul id={rejectedId} class="gate-rejected" aria-label="Purls that cannot be checked">
              {rejections.map((rejection) => (
                <li key={rejection.purl}>
                  <code>{rejection.purl}</code>: {rejection.message}
                </li>
              ))}
            </ul>
          )}
          {submit.error && !purlsProblem && <ErrorNotice error={submit.error} />}
          <div class="form-actions">
            <button type="submit" disabled={submit.busy || !feed}>
              {submit.busy ? 'Checking…' : 'Check'}
            </button>
          </div>
        </form>
      )}
      {checked && <GateResults checked={checked} />}
    </>
  );
}

function GateResults({ checked }: { checked: Checked }) {
  const { feed, results, requests } = checked;
  const tally = { allow: 0, warn: 0, block: 0 };
  for (const result of results) tally[result.verdict] += 1;
  return (
    <section aria-labelledby="gate-results">
      <h2 id="gate-results">
        Verdicts from {feed}
      </h2>
      <div class="gate-summary" role="status">
        <span>
          {results.length} {results.length === 1 ? 'purl' : 'purls'}
          {requests > 1 ? ` in ${requests} requests` : ''}:
        </span>
        <span>
          <EffectBadge effect="block" /> {tally.block}
        </span>
        <span>
          <EffectBadge effect="warn" /> {tally.warn}
        </span>
        <span>
          <EffectBadge effect="allow" /> {tally.allow}
        </span>
      </div>
      <ol class="gate-results">
        {results.map((result, index) => (
          <GateResult key={`${index}-${result.purl}`} feed={feed} result={result} />
        ))}
      </ol>
      <details class="raw-json">
        <summary>Raw JSON, as CI gets it{requests > 1 ? ` (the ${requests} answers' results, in order)` : ''}</summary>
        {/* Focusable, so a keyboard can scroll a long answer. */}
        <pre tabIndex={0} aria-label="The check's answer as JSON">
          <code>{JSON.stringify({ results }, null, 2)}</code>
        </pre>
      </details>
    </section>
  );
}

function GateResult({ feed, result }: { feed: string; result: CheckResult }) {
  return (
    <li class={`gate-result verdict-${result.verdict}`}>
      <div class="gate-result-head">
        <code>{result.purl}</code>
        <span class="gate-verdict">
          Verdict: <EffectBadge effect={result.verdict} />
        </span>
        <span class="meta">{result.scanned ? 'Scanned' : 'Not scanned'}</span>
      </div>
      {!result.scanned && (
        <Notice kind="warning">
          <p>
            {result.lookup === 'budget_exhausted'
              ? "Not scanned: today's budget of inline lookups for your key is spent, "
              : 'Not scanned: looking it up failed, '}
            so the feed's effect for unassessed findings applies.
          </p>
        </Notice>
      )}
      {result.vulnerabilities.length === 0 ? (
        result.scanned && <p class="meta">No known vulnerabilities.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Vulnerabilities of {result.purl}</caption>
            <thead>
              <tr>
                <th scope="col">Vulnerability</th>
                <th scope="col" class="num">
                  CVSS
                </th>
                <th scope="col">Status</th>
                <th scope="col">Effect</th>
              </tr>
            </thead>
            <tbody>
              {result.vulnerabilities.map((vulnerability) => (
                <tr key={vulnerability.id} class={vulnerability.status === 'expired' ? 'row-expired' : undefined}>
                  <td>
                    <a href={href({ name: 'vulnerability', feed, id: vulnerability.id })}>{vulnerability.id}</a>
                    {(vulnerability.aliases ?? []).length > 0 && (
                      <div class="aka">Also known as {(vulnerability.aliases ?? []).join(', ')}</div>
                    )}
                    {vulnerability.title && <div class="vuln-title">{vulnerability.title}</div>}
                    {(vulnerability.fixed_versions ?? []).length > 0 && (
                      <FixedIn versions={vulnerability.fixed_versions ?? []} />
                    )}
                  </td>
                  <td class="num">{formatScore(vulnerability.cvss_score)}</td>
                  <td>
                    <StatusBadge status={vulnerability.status} />
                  </td>
                  <td>
                    <EffectBadge effect={vulnerability.effect} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </li>
  );
}

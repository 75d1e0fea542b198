// A feed's Vulnerabilities tab: its findings, filtered by status, severity band,
// minimum CVSS and package, sorted by score, a page of 100 at a time through the
// API's cursors. The filters live in the hash query, so a reload or a shared
// link keeps them. Assessors select rows and assess them together.
import { useState } from 'preact/hooks';
import { call, client, type Schemas } from '../../api/client';
import type { operations } from '../../api/schema';
import { useLoad } from '../../components/async';
import {
  cursorStack,
  EffectBadge,
  Empty,
  ErrorNotice,
  Field,
  Loading,
  Notice,
  Pager,
  SeverityBadge,
  StatusBadge,
} from '../../components/ui';
import { formatDay, formatScore } from '../../format';
import { canAssess } from '../../roles';
import { href, navigate } from '../../router';
import {
  AssessDialog,
  AssessmentTypeBadge,
  BULK_LIMIT,
  OutcomeNotice,
  useAssessmentTypes,
  type AssessOutcome,
  type AssessmentType,
  type BulkResult,
} from '../AssessDialog';
import type { FeedTabProps } from './FeedScreen';

type FindingView = Schemas['FindingView'];
export type Severity = FindingView['severity'];
type Status = FindingView['status'];
type Order = 'asc' | 'desc';

/** The list's query parameters, as the served OpenAPI document names them. */
type ListFindings = operations['list_findings_feeds__feed__vulnerabilities_get'];
export type FindingsQuery = NonNullable<ListFindings['parameters']['query']>;

export const PAGE_SIZE = 100;
const STATUSES: Status[] = ['unassessed', 'assessed', 'expired'];
const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low', 'none'];
const STATUS_LABEL: Record<Status, string> = { unassessed: 'Unassessed', assessed: 'Assessed', expired: 'Expired' };
const SEVERITY_LABEL: Record<Severity, string> = {
  critical: 'Critical (9.0–10)',
  high: 'High (7.0–8.9)',
  medium: 'Medium (4.0–6.9)',
  low: 'Low (0.1–3.9)',
  none: 'None (0)',
};

export interface Filters {
  status: Status | '';
  severity: Severity | '';
  min_cvss: string;
  package: string;
  order: Order;
}

/** The filters a hash query names (anything unknown is ignored). */
export function filtersOf(query: URLSearchParams): Filters {
  const status = query.get('status') ?? '';
  const severity = query.get('severity') ?? '';
  return {
    status: (STATUSES as string[]).includes(status) ? (status as Status) : '',
    severity: (SEVERITIES as string[]).includes(severity) ? (severity as Severity) : '',
    min_cvss: query.get('min_cvss') ?? '',
    package: query.get('package') ?? '',
    order: query.get('order') === 'asc' ? 'asc' : 'desc',
  };
}

/** The hash query of some filters: empty ones and the default order left out. */
export function filterQuery(filters: Filters): Record<string, string> {
  const query: Record<string, string> = {};
  if (filters.status) query['status'] = filters.status;
  if (filters.severity) query['severity'] = filters.severity;
  if (filters.min_cvss.trim()) query['min_cvss'] = filters.min_cvss.trim();
  if (filters.package.trim()) query['package'] = filters.package.trim();
  if (filters.order === 'asc') query['order'] = 'asc';
  return query;
}

function minCvssProblem(value: string): string | null {
  const text = value.trim();
  if (!text) return null;
  const score = Number(text);
  if (!Number.isFinite(score) || score < 0 || score > 10) return 'A CVSS score is a number from 0 to 10.';
  return null;
}

function requestQuery(filters: Filters, cursor: string | undefined): FindingsQuery {
  const query: FindingsQuery = { limit: PAGE_SIZE };
  if (filters.status) query.status = filters.status;
  if (filters.severity) query.severity = filters.severity;
  if (filters.min_cvss.trim() && !minCvssProblem(filters.min_cvss)) query.min_cvss = Number(filters.min_cvss.trim());
  if (filters.package.trim()) query.package = filters.package.trim();
  // Most severe first is the API's own order; only the other one is asked for.
  if (filters.order === 'asc') query.order = 'asc';
  if (cursor) query.cursor = cursor;
  return query;
}

export function VulnerabilitiesTab({ feed, detail, role, reloadFeed, query }: FeedTabProps) {
  const filters = filtersOf(query);
  const applied = filterQuery(filters);
  const queryKey = new URLSearchParams(applied).toString();
  const filtered = Boolean(filters.status || filters.severity || filters.min_cvss.trim() || filters.package.trim());
  const assessor = canAssess(role);

  // Paging and selection belong to one set of filters: new filters start over.
  const [paging, setPaging] = useState({ key: queryKey, stack: [''] });
  const pages = cursorStack(paging.key === queryKey ? paging.stack : ['']);
  const pageKey = `${queryKey}|${pages.current ?? ''}`;
  const [selection, setSelection] = useState<{ page: string; ids: string[] }>({ page: pageKey, ids: [] });
  const selected = selection.page === pageKey ? selection.ids : [];

  const [types, reloadTypes] = useAssessmentTypes();
  const [list, reload] = useLoad(
    () =>
      call(
        client.GET('/feeds/{feed}/vulnerabilities', {
          params: { path: { feed }, query: requestQuery(filters, pages.current) },
        }),
      ),
    [feed, queryKey, pages.current],
  );
  const [assessing, setAssessing] = useState<string[] | null>(null);
  const [bulkResult, setBulkResult] = useState<BulkResult | null>(null);

  function apply(next: Filters) {
    setBulkResult(null);
    navigate(href({ name: 'feed', feed, tab: 'vulnerabilities' }, filterQuery(next)));
  }

  function toggle(id: string, on: boolean) {
    const ids = on ? [...selected.filter((other) => other !== id), id] : selected.filter((other) => other !== id);
    setSelection({ page: pageKey, ids });
  }

  async function assessed(outcome: AssessOutcome) {
    setAssessing(null);
    if (outcome.kind === 'bulk') setBulkResult(outcome.result);
    setSelection({ page: pageKey, ids: [] });
    await Promise.all([reload(), reloadFeed()]);
  }

  // Rows of other filters are not shown under a failure of these ones.
  const items = (list.state === 'failed' ? undefined : list.data?.items) ?? [];
  const everyChecked = items.length > 0 && items.every((item) => selected.includes(item.id));

  return (
    <>
      <FilterForm
        key={queryKey}
        filters={filters}
        onApply={apply}
        serverErrors={list.state === 'failed' ? list.error.fieldErrors() : {}}
      />
      {bulkResult && <BulkOutcome result={bulkResult} onDismiss={() => setBulkResult(null)} />}
      {assessor && (
        <div class="bulk-bar">
          <span aria-live="polite">
            {selected.length} selected{selected.length > 0 ? '' : ': tick rows to assess them together'}
          </span>
          <button
            type="button"
            disabled={selected.length === 0 || selected.length > BULK_LIMIT}
            onClick={() => setAssessing(selected)}
          >
            Assess selected
          </button>
        </div>
      )}
      {list.state === 'failed' && <ErrorNotice error={list.error} onRetry={reload} />}
      {list.state === 'loading' && !list.data && <Loading label="Loading vulnerabilities…" />}
      {list.state === 'ready' && items.length === 0 && (
        <Empty>
          {filtered ? (
            <>
              <p>No findings match these filters.</p>
              <p>
                <a href={href({ name: 'feed', feed, tab: 'vulnerabilities' })}>Clear the filters</a>
              </p>
            </>
          ) : (
            <p>
              No vulnerabilities found in this feed yet.{' '}
              {detail.sources.length === 0
                ? 'Attach a vulnerability source and add packages, then scan.'
                : 'They appear here once a scan reports one for a package of the feed.'}
            </p>
          )}
        </Empty>
      )}
      {items.length > 0 && (
        <div class="table-wrap" aria-busy={list.state === 'loading'}>
          <table class="vuln-table">
            <caption class="visually-hidden">
              Vulnerabilities of {feed}
              {filtered ? ', filtered' : ''}, {filters.order === 'asc' ? 'lowest' : 'highest'} CVSS first
            </caption>
            <thead>
              <tr>
                {assessor && (
                  <th scope="col" class="select-col">
                    <input
                      type="checkbox"
                      aria-label="Select every vulnerability on this page"
                      checked={everyChecked}
                      onChange={(event) =>
                        setSelection({
                          page: pageKey,
                          ids: event.currentTarget.checked ? items.map((item) => item.id) : [],
                        })
                      }
                    />
                  </th>
                )}
                <th scope="col">Vulnerability</th>
                <th scope="col" aria-sort={filters.order === 'asc' ? 'ascending' : 'descending'}>
                  <button
                    type="button"
                    class="sort"
                    onClick={() => apply({ ...filters, order: filters.order === 'asc' ? 'desc' : 'asc' })}
                  >
                    CVSS <span aria-hidden="true">{filters.order === 'asc' ? '▲' : '▼'}</span>
                    <span class="visually-hidden">
                      {filters.order === 'asc'
                        ? ', lowest first: sort highest first'
                        : ', highest first: sort lowest first'}
                    </span>
                  </button>
                </th>
                <th scope="col">Packages</th>
                <th scope="col">Status</th>
                <th scope="col">Effect</th>
                <th scope="col">Assessment</th>
                <th scope="col">Assessed by / expires</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <FindingRow
                  key={item.id}
                  feed={feed}
                  item={item}
                  types={types.data}
                  listQuery={applied}
                  selectable={assessor}
                  checked={selected.includes(item.id)}
                  onToggle={toggle}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        label="Pages of vulnerabilities"
        hasPrevious={pages.hasPrevious}
        nextCursor={list.data?.next_cursor}
        onPrevious={() => setPaging({ key: queryKey, stack: pages.previous() })}
        onNext={(cursor) => setPaging({ key: queryKey, stack: pages.next(cursor) })}
      />
      {assessor && (
        <AssessDialog
          feed={feed}
          target={assessing ? { kind: 'bulk', ids: assessing } : null}
          types={types}
          onRetryTypes={() => void reloadTypes()}
          onClose={() => setAssessing(null)}
          onAssessed={(outcome) => void assessed(outcome)}
        />
      )}
    </>
  );
}

function FilterForm({
  filters,
  onApply,
  serverErrors,
}: {
  filters: Filters;
  onApply: (filters: Filters) => void;
  serverErrors: Record<string, string>;
}) {
  const [draft, setDraft] = useState<Filters>(filters);
  const [cvssError, setCvssError] = useState<string | null>(null);

  function submit(event: Event) {
    event.preventDefault();
    const problem = minCvssProblem(draft.min_cvss);
    setCvssError(problem);
    if (!problem) onApply(draft);
  }

  return (
    <form class="filters" onSubmit={submit} noValidate aria-label="Filter vulnerabilities">
      <Field label="Status">
        {({ id }) => (
          <select
            id={id}
            name="status"
            value={draft.status}
            onChange={(event) => setDraft({ ...draft, status: event.currentTarget.value as Filters['status'] })}
          >
            <option value="">All</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {STATUS_LABEL[status]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Severity" error={serverErrors['severity']}>
        {({ id, describedBy, invalid }) => (
          <select
            id={id}
            name="severity"
            value={draft.severity}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(event) => setDraft({ ...draft, severity: event.currentTarget.value as Filters['severity'] })}
          >
            <option value="">Any</option>
            {SEVERITIES.map((severity) => (
              <option key={severity} value={severity}>
                {SEVERITY_LABEL[severity]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Minimum CVSS" error={cvssError ?? serverErrors['min_cvss']}>
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            name="min_cvss"
            type="number"
            inputMode="decimal"
            min={0}
            max={10}
            step={0.1}
            class="cvss-input"
            value={draft.min_cvss}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={(event) => setDraft({ ...draft, min_cvss: event.currentTarget.value })}
          />
        )}
      </Field>
      <Field label="Package (purl)" error={serverErrors['package']}>
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            name="package"
            type="text"
            class="package-input"
            placeholder="pkg:npm/lodash@4.17.20"
            spellcheck={false}
            autoComplete="off"
            value={draft.package}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={(event) => setDraft({ ...draft, package: event.currentTarget.value })}
          />
        )}
      </Field>
      <div class="filter-actions">
        <button type="submit">Apply filters</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            const cleared: Filters = { status: '', severity: '', min_cvss: '', package: '', order: filters.order };
            setDraft(cleared);
            setCvssError(null);
            onApply(cleared);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

function BulkOutcome({ result, onDismiss }: { result: BulkResult; onDismiss: () => void }) {
  return (
    <OutcomeNotice kind={result.missing.length ? 'warning' : 'success'}>
      <p>
        Assessed {result.assessed} {result.assessed === 1 ? 'vulnerability' : 'vulnerabilities'}.
        {result.missing.length > 0 && (
          <>
            {' '}
            Not found, so not assessed (withdrawn since the page loaded?):{' '}
            {result.missing.map((id, index) => (
              <span key={id}>
                {index > 0 && ', '}
                <code>{id}</code>
              </span>
            ))}
            .
          </>
        )}
      </p>
      <button type="button" class="secondary" onClick={onDismiss}>
        Dismiss
      </button>
    </OutcomeNotice>
  );
}

const SHOWN_PACKAGES = 3;

function FindingRow({
  feed,
  item,
  types,
  listQuery,
  selectable,
  checked,
  onToggle,
}: {
  feed: string;
  item: FindingView;
  types: AssessmentType[] | undefined;
  listQuery: Record<string, string>;
  selectable: boolean;
  checked: boolean;
  onToggle: (id: string, on: boolean) => void;
}) {
  const expired = item.status === 'expired';
  const name = item.display_name || item.id;
  const assessment = item.assessment;
  return (
    <tr class={expired ? 'row-expired' : undefined} aria-selected={selectable ? checked : undefined}>
      {selectable && (
        <td class="select-col">
          <input
            type="checkbox"
            aria-label={`Select ${name}`}
            checked={checked}
            onChange={(event) => onToggle(item.id, event.currentTarget.checked)}
          />
        </td>
      )}
      <td class="vuln-cell">
        <a href={href({ name: 'vulnerability', feed, id: item.id }, listQuery)} class="vuln-id">
          {name}
        </a>
        {(item.aliases ?? []).length > 0 && <div class="aka">aka {(item.aliases ?? []).join(', ')}</div>}
        {item.title && <div class="vuln-title">{item.title}</div>}
      </td>
      <td class="score-cell">
        <span class="score">{formatScore(item.cvss_score)}</span> <SeverityBadge severity={item.severity} />
      </td>
      <td>
        <ul class="purls">
          {item.packages.slice(0, SHOWN_PACKAGES).map((purl) => (
            <li key={purl}>
              <code>{purl}</code>
            </li>
          ))}
          {item.packages.length > SHOWN_PACKAGES && <li>and {item.packages.length - SHOWN_PACKAGES} more</li>}
        </ul>
      </td>
      <td>
        <StatusBadge status={item.status} />
      </td>
      <td>
        <EffectBadge effect={item.effect} />
      </td>
      <td>{assessment ? <AssessmentTypeBadge type={assessment.type} types={types} /> : '—'}</td>
      <td class="assessed-cell">
        {assessment ? (
          <>
            <div>{assessment.assessed_by}</div>
            <div class={expired ? 'expired-note' : 'meta'}>
              {assessment.expires_at
                ? `${expired ? 'Expired' : 'Expires'} ${formatDay(assessment.expires_at)}`
                : 'Never expires'}
            </div>
          </>
        ) : expired ? (
          <span class="expired-note">Needs reassessment</span>
        ) : (
          '—'
        )}
      </td>
    </tr>
  );
}

// Pieces the feeds list and a feed's tabs share: a scan's status and its
// progress while it runs, and the last scan of a feed.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { type ApiError, call, client, everyPage, type Schemas } from '../../api/client';
import { asApiError } from '../../components/async';
import { ErrorNotice } from '../../components/ui';
import { formatDate } from '../../format';

export type ScanView = Schemas['ScanView'];
export type ScanStatus = ScanView['status'];
export type FeedEffect = Schemas['FeedDetail']['unassessed_effect'];

export const EFFECTS: { value: FeedEffect; label: string }[] = [
  { value: 'block', label: 'Block' },
  { value: 'warn', label: 'Warn' },
  { value: 'allow', label: 'Allow' },
];

/** `last_scan` of GET /feeds/{feed}: null before the first scan; undefined in a list item, which has none. */
export interface LastScan {
  id: string;
  status: ScanStatus;
  finished_at: string | null;
}

export function lastScanOf(detail: object): LastScan | null | undefined {
  return (detail as { last_scan?: LastScan | null }).last_scan;
}

const FINISHED: ReadonlySet<ScanStatus> = new Set<ScanStatus>(['succeeded', 'partial', 'failed']);

export function scanFinished(status: ScanStatus): boolean {
  return FINISHED.has(status);
}

const STATUS_LABEL: Record<ScanStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  partial: 'Partial',
  failed: 'Failed',
};

export function ScanStatusBadge({ status }: { status: ScanStatus }) {
  return <span class={`badge badge-scan-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

/** A feed's last scan as a line: its status and when it ended. */
export function LastScanText({ scan }: { scan: LastScan | null | undefined }) {
  if (scan === undefined) return <span class="meta">—</span>;
  if (scan === null) return <span class="meta">Never scanned</span>;
  return (
    <span class="last-scan">
      <ScanStatusBadge status={scan.status} />{' '}
      {scan.finished_at ? (
        <time dateTime={scan.finished_at}>{formatDate(scan.finished_at)}</time>
      ) : (
        <span class="meta">{scanFinished(scan.status) ? '' : 'in progress'}</span>
      )}
    </span>
  );
}

/** How often a running scan is asked about; tests make it shorter. */
export const scanPolling = { intervalMs: 1000 };

function progressText(scan: ScanView): string {
  const counted = `${scan.packages_scanned} of ${scan.packages_total} packages scanned`;
  switch (scan.status) {
    case 'queued':
      return 'Queued: the scan starts shortly.';
    case 'running':
      return scan.packages_total === 0 ? 'Running: counting the packages.' : `Running: ${counted}.`;
    case 'succeeded':
      return `Succeeded: ${counted}.`;
    case 'partial':
      return `Partly done: ${counted}; some sources failed (see the errors).`;
    case 'failed':
      return `Failed: ${counted}.`;
  }
}

interface ScanProgressProps {
  scanId: string;
  /** Called once when the scan has ended, with its last answer. */
  onFinished?: (scan: ScanView) => void;
  children?: ComponentChildren;
}

/**
 * A scan's progress bar, asked about GET /scans/{id} every second until it
 * has ended, then its result and errors.
 */
export function ScanProgress({ scanId, onFinished, children }: ScanProgressProps) {
  const [scan, setScan] = useState<ScanView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const finished = useRef(onFinished);
  finished.current = onFinished;
  const barId = useId();
  const headingId = useId();
  const errorsId = useId();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function poll() {
      try {
        const answer = await call(client.GET('/scans/{id}', { params: { path: { id: scanId } } }));
        if (stopped) return;
        setScan(answer);
        setError(null);
        if (scanFinished(answer.status)) {
          finished.current?.(answer);
          return;
        }
      } catch (caught) {
        if (stopped) return;
        const failure = asApiError(caught);
        setError(failure);
        // A 403/404 will not change by asking again; a network blip may.
        if (!failure.transient) return;
      }
      timer = setTimeout(() => void poll(), scanPolling.intervalMs);
    }
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [scanId, attempt]);

  // Errors name sources by id: say their names (any key may list sources).
  const [sourceNames, setSourceNames] = useState<Map<string, string>>(new Map());
  const erred = Boolean(scan?.errors.some((entry) => entry.source));
  useEffect(() => {
    if (!erred) return;
    let stopped = false;
    everyPage((cursor) => call(client.GET('/sources', { params: { query: { limit: 500, cursor } } })))
      .then((sources) => {
        if (!stopped) setSourceNames(new Map(sources.map((source) => [source.id, source.name])));
      })
      .catch(() => {
        // The ids stay: the names are a courtesy.
      });
    return () => {
      stopped = true;
    };
  }, [erred]);

  const done = scan !== null && scanFinished(scan.status);
  const total = scan?.packages_total ?? 0;
  const scanned = scan?.packages_scanned ?? 0;
  // Nothing counted yet (queued): an indeterminate bar.
  const indeterminate = scan === null || (total === 0 && !done);
  const max = Math.max(total, 1);
  const value = total === 0 ? (done ? 1 : 0) : Math.min(scanned, total);

  return (
    <section class="panel scan-progress" aria-labelledby={headingId}>
      <h3 id={headingId}>
        Scan <code>{scanId}</code> {scan && <ScanStatusBadge status={scan.status} />}
      </h3>
      {children}
      <label for={barId}>Packages scanned</label>
      <progress
        id={barId}
        class="progress"
        max={max}
        value={indeterminate ? undefined : value}
        aria-valuetext={scan ? `${scanned} of ${total}` : 'waiting'}
      >
        {scanned} of {total}
      </progress>
      <p class="scan-status" role="status" aria-live="polite">
        {scan ? progressText(scan) : 'Asking about the scan…'}
      </p>
      <ErrorNotice error={error} />
      {error?.transient && <p class="hint">Asking again every second.</p>}
      {error && !error.transient && (
        <button type="button" class="secondary" onClick={() => setAttempt((n) => n + 1)}>
          Ask again
        </button>
      )}
      {done && scan && (
        <>
          <dl class="facts scan-result" aria-label="Scan result">
            <dt>Requests to sources</dt>
            <dd>{scan.requests_made}</dd>
            <dt>Answers from the cache</dt>
            <dd>{scan.cache_hits}</dd>
            <dt>New findings</dt>
            <dd>{scan.findings_new}</dd>
            <dt>Finished</dt>
            <dd>{formatDate(scan.finished_at)}</dd>
          </dl>
          {scan.errors.length > 0 && (
            <>
              <h4 id={errorsId}>Errors</h4>
              <ul class="scan-errors" aria-labelledby={errorsId}>
                {scan.errors.map((entry, index) => {
                  const source = entry.source ? (sourceNames.get(entry.source) ?? entry.source) : null;
                  // The API's message may name its source already.
                  const named =
                    source === null || [source, entry.source].some((n) => entry.message.startsWith(`${n}:`));
                  return (
                    <li key={index}>
                      {!named && <strong>{source}: </strong>}
                      {entry.message}
                    </li>
                  );
                })}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}

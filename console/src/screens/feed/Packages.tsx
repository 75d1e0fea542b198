// A feed's packages with their verdicts; for its managers: import purls or a
// CycloneDX BOM, remove a package, and scan the feed now with its progress.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, call, client, type Schemas } from '../../api/client';
import type { paths } from '../../api/schema';
import { asApiError, type Loadable, useLoad, useSubmit } from '../../components/async';
import { Confirm } from '../../components/confirm';
import { cursorStack, EffectBadge, Empty, ErrorNotice, Field, Loading, Notice, Pager } from '../../components/ui';
import { formatDate } from '../../format';
import { canManage } from '../../roles';
import type { FeedTabProps } from './FeedScreen';
import { lastScanOf, ScanProgress, scanFinished } from './parts';

type PackageView = Schemas['PackageView'];
type ImportResult = Schemas['ImportResult'];
/** What POST /feeds/{feed}/packages takes: a purl list or a CycloneDX BOM. */
type PackagesBody = paths['/feeds/{feed}/packages']['post']['requestBody']['content']['application/json'];
type Bom = Extract<PackagesBody, { bomFormat: 'CycloneDX' }>;

export const PACKAGES_PAGE = 50;
/** The API refuses bodies over 6 MB (413): say so before sending. */
const MAX_BODY = 6 * 1024 * 1024;

export function PackagesTab(props: FeedTabProps) {
  const { feed, role, detail } = props;
  const manager = canManage(role);
  const [stack, setStack] = useState<string[]>(['']);
  const pages = cursorStack(stack);
  const [loaded, reload] = useLoad(
    () =>
      call(
        client.GET('/feeds/{feed}/packages', {
          params: { path: { feed }, query: { limit: PACKAGES_PAGE, cursor: pages.current } },
        }),
      ),
    [feed, pages.current],
  );
  // The scan shown: one just started, one an import started, or one running already.
  const running = lastScanOf(detail);
  const [scan, setScan] = useState<{ id: string; note?: string } | null>(() =>
    manager && running && !scanFinished(running.status)
      ? { id: running.id, note: 'A scan of this feed is running.' }
      : null,
  );
  const [removing, setRemoving] = useState<PackageView | null>(null);

  function scanEnded() {
    void props.reloadFeed();
    void reload();
  }

  return (
    <>
      {manager && (
        <div class="packages-tools">
          <ImportPanel
            feed={feed}
            onImported={(result) => {
              void reload();
              void props.reloadFeed();
              if (result.scan_id) setScan({ id: result.scan_id, note: 'Scanning the new packages.' });
            }}
          />
          <ScanPanel feed={feed} onStarted={setScan} />
        </div>
      )}
      {scan && (
        <ScanProgress key={scan.id} scanId={scan.id} onFinished={scanEnded}>
          {scan.note && <p class="hint">{scan.note}</p>}
        </ScanProgress>
      )}
      <h2>Packages</h2>
      <PackageList
        loaded={loaded}
        manager={manager}
        onRetry={reload}
        onRemove={setRemoving}
        pager={
          <Pager
            label="Pages of packages"
            hasPrevious={pages.hasPrevious}
            nextCursor={loaded.data?.next_cursor}
            onPrevious={() => setStack(pages.previous())}
            onNext={(cursor) => setStack(pages.next(cursor))}
          />
        }
        firstPage={!pages.hasPrevious}
      />
      {manager && (
        <RemovePackage
          feed={feed}
          pkg={removing}
          onClose={() => setRemoving(null)}
          onRemoved={() => {
            setRemoving(null);
            void reload();
            void props.reloadFeed();
          }}
        />
      )}
    </>
  );
}

interface PackageListProps {
  loaded: Loadable<Schemas['ListBody_PackageView_']>;
  manager: boolean;
  onRetry: () => void;
  onRemove: (pkg: PackageView) => void;
  pager: ComponentChildren;
  firstPage: boolean;
}

function PackageList({ loaded, manager, onRetry, onRemove, pager, firstPage }: PackageListProps) {
  const items = loaded.data?.items;
  if (!items) {
    return loaded.state === 'failed' ? (
      <ErrorNotice error={loaded.error} onRetry={onRetry} />
    ) : (
      <Loading label="Loading packages…" />
    );
  }
  if (items.length === 0 && firstPage) {
    return (
      <Empty>
        {manager
          ? 'This feed has no packages yet. Import purls or a CycloneDX BOM above.'
          : 'This feed has no packages yet. Its managers add them.'}
      </Empty>
    );
  }
  return (
    <>
      {loaded.state === 'failed' && <ErrorNotice error={loaded.error} onRetry={onRetry} />}
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Packages of the feed and their verdicts</caption>
          <thead>
            <tr>
              <th scope="col">Package</th>
              <th scope="col">Verdict</th>
              <th scope="col">Added</th>
              <th scope="col">Last scanned</th>
              {manager && (
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {items.map((pkg) => (
              <tr key={pkg.purl}>
                <th scope="row" class="purl">
                  <code>{pkg.purl}</code>
                </th>
                <td>
                  <EffectBadge effect={pkg.verdict} />
                </td>
                <td class="when">{formatDate(pkg.added_at)}</td>
                <td class="when">{pkg.last_scanned_at ? formatDate(pkg.last_scanned_at) : 'Not yet'}</td>
                {manager && (
                  <td>
                    <button
                      type="button"
                      class="secondary"
                      aria-label={`Remove ${pkg.purl}`}
                      onClick={() => onRemove(pkg)}
                    >
                      Remove
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pager}
    </>
  );
}

function RemovePackage({
  feed,
  pkg,
  onClose,
  onRemoved,
}: {
  feed: string;
  pkg: PackageView | null;
  onClose: () => void;
  onRemoved: () => void;
}) {
  const submit = useSubmit();
  async function remove() {
    if (!pkg) return;
    const purl = pkg.purl;
    const done = await submit.run(async () => {
      await call(client.DELETE('/feeds/{feed}/packages', { params: { path: { feed }, query: { purl } } }));
      return true;
    });
    if (done) onRemoved();
  }
  return (
    <Confirm
      title="Remove a package"
      open={pkg !== null}
      confirmLabel="Remove package"
      busy={submit.busy}
      error={submit.error}
      onConfirm={() => void remove()}
      onCancel={() => {
        submit.setError(null);
        onClose();
      }}
    >
      <p>
        Remove <code>{pkg?.purl}</code> from {feed}? It is no longer scanned, and the gate no longer counts it as
        part of this feed.
      </p>
    </Confirm>
  );
}

/** Reads a chosen or dropped file: a CycloneDX JSON BOM, or a clear reason it is not one. */
export async function readBom(file: File): Promise<Bom> {
  if (file.size > MAX_BODY) {
    throw new Error(`${file.name} is larger than the 6 MB feedguard accepts in one import.`);
  }
  const text = await file.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file.name} is not JSON. Choose a CycloneDX BOM in JSON format.`);
  }
  const bom =
    parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  if (!bom || bom.bomFormat !== 'CycloneDX') {
    throw new Error(`${file.name} is JSON but not a CycloneDX BOM: it has no "bomFormat": "CycloneDX".`);
  }
  if (bom.components !== undefined && !Array.isArray(bom.components)) {
    throw new Error(`${file.name} is not a usable CycloneDX BOM: its "components" is not a list.`);
  }
  // The API reads only components[].purl, and reports each unusable one.
  return { ...bom, bomFormat: 'CycloneDX', components: bom.components as Bom['components'] };
}

/** Components of a BOM, nested ones too. */
function countComponents(components: unknown): number {
  if (!Array.isArray(components)) return 0;
  return components.reduce<number>((sum, component) => {
    const nested = component && typeof component === 'object' ? (component as { components?: unknown }).components : [];
    return sum + 1 + countComponents(nested);
  }, 0);
}

function ImportPanel({ feed, onImported }: { feed: string; onImported: (result: ImportResult) => void }) {
  const [text, setText] = useState('');
  const [textProblem, setTextProblem] = useState<string | null>(null);
  const [bom, setBom] = useState<{ name: string; body: Bom; components: number } | null>(null);
  const [fileProblem, setFileProblem] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [result, setResult] = useState<{ from: string; answer: ImportResult } | null>(null);
  const submit = useSubmit();

  async function send(body: PackagesBody, from: string): Promise<ImportResult | undefined> {
    setResult(null);
    const answer = await submit.run(() =>
      call(client.POST('/feeds/{feed}/packages', { params: { path: { feed } }, body })),
    );
    if (answer) {
      setResult({ from, answer });
      onImported(answer);
    }
    return answer;
  }

  async function importText(event: Event) {
    event.preventDefault();
    const purls = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean);
    if (purls.length === 0) {
      setTextProblem('Paste at least one purl, one a line (pkg:npm/lodash@4.17.20).');
      return;
    }
    setTextProblem(null);
    const answer = await send({ purls }, `${purls.length} purl${purls.length === 1 ? '' : 's'}`);
    // Keep what was typed when some lines were refused, so they can be fixed.
    if (answer && answer.rejected.length === 0) setText('');
  }

  async function choose(file: File | undefined) {
    if (!file) return;
    setBom(null);
    setFileProblem(null);
    setResult(null);
    submit.setError(null);
    try {
      const body = await readBom(file);
      setBom({ name: file.name, body, components: countComponents(body.components) });
    } catch (caught) {
      setFileProblem(caught instanceof Error ? caught.message : String(caught));
    }
  }

  async function importFile() {
    if (!bom) return;
    const answer = await send(bom.body, bom.name);
    if (answer) setBom(null);
  }

  const fields = submit.error instanceof ApiError && submit.error.status === 422 ? submit.error.fieldErrors() : {};
  return (
    <section class="panel import-panel" aria-labelledby="import-heading">
      <h2 id="import-heading">Import packages</h2>
      <form onSubmit={importText} noValidate>
        <Field
          label="Package URLs, one a line"
          error={textProblem ?? fields.purls}
          hint={
            <>
              Each with a version, of a type OSS Index knows: <code>pkg:npm/lodash@4.17.20</code>,{' '}
              <code>pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1</code> …
            </>
          }
        >
          {({ id, describedBy, invalid }) => (
            <textarea
              id={id}
              name="purls"
              rows={5}
              spellcheck={false}
              value={text}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={(event) => setText(event.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" disabled={submit.busy}>
          {submit.busy ? 'Importing…' : 'Import purls'}
        </button>
      </form>
      <h3>Or a CycloneDX JSON file</h3>
      <div
        class={`dropzone${dragging ? ' active' : ''}`}
        onDragEnter={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragOver={(event) => {
          event.preventDefault();
          if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDragging(false);
          void choose(event.dataTransfer?.files[0]);
        }}
      >
        <label for="bom-file" class="dropzone-label">
          Drop a CycloneDX BOM (.json) here, or choose one
        </label>
        <input
          id="bom-file"
          type="file"
          accept=".json,application/json,application/vnd.cyclonedx+json"
          aria-describedby={fileProblem ? 'bom-file-error' : undefined}
          aria-invalid={Boolean(fileProblem)}
          onChange={(event) => {
            const input = event.currentTarget;
            void choose(input.files?.[0]).then(() => {
              // Choosing the same file again still reads it.
              input.value = '';
            });
          }}
        />
        {fileProblem && (
          <p class="field-error" id="bom-file-error" role="alert">
            {fileProblem}
          </p>
        )}
        {bom && (
          <div class="bom-chosen">
            <p>
              <strong>{bom.name}</strong>: a CycloneDX BOM with {bom.components} component
              {bom.components === 1 ? '' : 's'}.
            </p>
            <div class="form-actions">
              <button type="button" disabled={submit.busy} onClick={() => void importFile()}>
                {submit.busy ? 'Importing…' : `Import ${bom.name}`}
              </button>
              <button type="button" class="secondary" onClick={() => setBom(null)}>
                Choose another
              </button>
            </div>
          </div>
        )}
      </div>
      <ErrorNotice error={submit.error && !fields.purls ? submit.error : null} />
      {result && <ImportOutcome from={result.from} answer={result.answer} />}
    </section>
  );
}

function ImportOutcome({ from, answer }: { from: string; answer: ImportResult }) {
  const { added, existing, rejected } = answer;
  return (
    <div class="import-result">
      <Notice kind={rejected.length ? 'warning' : 'success'}>
        <p>
          Imported {from}: <strong>{added}</strong> added, <strong>{existing}</strong> already in the feed,{' '}
          <strong>{rejected.length}</strong> rejected.
        </p>
      </Notice>
      {rejected.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>Rejected packages and why</caption>
            <thead>
              <tr>
                <th scope="col">Package</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {rejected.map((entry, index) => (
                <tr key={index}>
                  <td>{entry.purl ? <code>{entry.purl}</code> : <span class="meta">(no purl)</span>}</td>
                  <td>{entry.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** The id of the scan a 409 names: in its details, else the feed's running scan. */
async function scanInTheWay(feed: string, error: ApiError): Promise<string | null> {
  for (const detail of error.details) {
    // An id is one word; a sentence in details is a reason, not a scan.
    if (typeof detail === 'string' && /^[\w-]{4,100}$/.test(detail)) return detail;
    if (detail && typeof detail === 'object') {
      const named = (detail as Record<string, unknown>).scan_id ?? (detail as Record<string, unknown>).id;
      if (typeof named === 'string' && named) return named;
    }
  }
  const recent = await call(client.GET('/scans', { params: { query: { feed, limit: 10 } } }));
  return recent.items.find((scan) => !scanFinished(scan.status))?.id ?? null;
}

function ScanPanel({ feed, onStarted }: { feed: string; onStarted: (scan: { id: string; note?: string }) => void }) {
  const [refresh, setRefresh] = useState(false);
  const submit = useSubmit();

  async function start(event: Event) {
    event.preventDefault();
    await submit.run(async () => {
      try {
        const started = await call(client.POST('/scans', { body: { feed, refresh } }));
        onStarted({ id: started.id, note: refresh ? 'Ignoring cached answers.' : undefined });
      } catch (caught) {
        const failure = asApiError(caught);
        if (failure.status !== 409) throw failure;
        const id = await scanInTheWay(feed, failure).catch(() => null);
        if (!id) throw failure;
        onStarted({ id, note: 'A scan of this feed was already queued or running: this is its progress.' });
      }
    });
  }

  return (
    <section class="panel scan-panel" aria-labelledby="scan-heading">
      <h2 id="scan-heading">Scan</h2>
      <p class="hint">Ask the feed's sources about every package now, instead of waiting for the schedule.</p>
      <form onSubmit={start} noValidate>
        <div class="check">
          <input
            id="scan-refresh"
            type="checkbox"
            checked={refresh}
            onChange={(event) => setRefresh(event.currentTarget.checked)}
          />
          <label for="scan-refresh">Ignore cached answers (ask the sources again)</label>
        </div>
        <button type="submit" disabled={submit.busy}>
          {submit.busy ? 'Starting…' : 'Scan now'}
        </button>
      </form>
      <ErrorNotice error={submit.error} />
    </section>
  );
}

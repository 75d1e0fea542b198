// "Export VEX" on a feed's page: the feed's findings and the decisions taken on
// them as one CycloneDX or OpenVEX file, for the scanners a team runs. An export
// too big for one response comes in pages (docs/vex.md); every page is fetched
// in order and the pages merged, so the file always holds the whole feed.
import { useId, useState } from 'preact/hooks';
import { callWithResponse, client } from '../../api/client';
import { useSubmit } from '../../components/async';
import { ErrorNotice } from '../../components/ui';
import { mergeVex, nextCursorOf, VEX_FORMATS, vexFileName, type VexFormat } from '../../vex';

/** The pages an export may have before the console stops: far past the largest feed (docs/vex.md). */
const MAX_PAGES = 1000;
/**
 * How long the file's object URL lives after the click: the browser reads the
 * Blob after the click returns, and some browsers drop a download whose URL
 * is revoked in the same task.
 */
export const REVOKE_AFTER_MS = 40_000;

/** Every page of a feed's export, in order, merged into one document. */
export async function fetchVex(
  feed: string,
  format: VexFormat,
  onPage: (page: number) => void,
): Promise<{ document: Record<string, unknown>; pages: number }> {
  const pages: unknown[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  do {
    if (pages.length >= MAX_PAGES) throw new Error(`The export did not end after ${MAX_PAGES} pages.`);
    onPage(pages.length + 1);
    const query: { format: VexFormat; cursor?: string } = cursor ? { format, cursor } : { format };
    const answer = await callWithResponse(client.GET('/feeds/{feed}/vex', { params: { path: { feed }, query } }));
    pages.push(answer.data);
    cursor = nextCursorOf(answer.headers.get('Link'), answer.url, format);
    if (cursor !== null && seen.has(cursor)) throw new Error('The export linked to a page it had sent already.');
    if (cursor !== null) seen.add(cursor);
  } while (cursor !== null);
  return { document: mergeVex(format, pages), pages: pages.length };
}

/** Saves a document as a file through a Blob URL on an <a download>, then lets the URL go. */
export function saveJson(name: string, document: unknown, mediaType: string): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(document)], { type: mediaType }));
  const link = window.document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  window.document.body.append(link);
  try {
    link.click();
  } finally {
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
  }
}

export function ExportVex({ feed }: { feed: string }) {
  const id = useId();
  const [format, setFormat] = useState<VexFormat>('cyclonedx');
  const [progress, setProgress] = useState('');
  const { busy, error, run } = useSubmit();

  async function exportVex() {
    const chosen = format;
    setProgress('');
    const done = await run(async () => {
      const { document, pages } = await fetchVex(feed, chosen, (page) =>
        setProgress(page === 1 ? 'Fetching the export…' : `Fetching page ${page}…`),
      );
      const name = vexFileName(feed, chosen);
      saveJson(name, document, VEX_FORMATS[chosen].mediaType);
      return { name, pages };
    });
    setProgress(done ? `Saved ${done.name}${done.pages > 1 ? ` (${done.pages} pages merged)` : ''}.` : '');
  }

  return (
    <div class="vex-export">
      <form
        class="vex-export-form"
        aria-label="Export VEX"
        onSubmit={(event) => {
          event.preventDefault();
          void exportVex();
        }}
      >
        <label for={`${id}-format`}>VEX format</label>
        <select
          id={`${id}-format`}
          name="format"
          value={format}
          aria-describedby={`${id}-about`}
          onChange={(event) => setFormat(event.currentTarget.value as VexFormat)}
        >
          {(Object.keys(VEX_FORMATS) as VexFormat[]).map((name) => (
            <option key={name} value={name}>
              {VEX_FORMATS[name].label}
            </option>
          ))}
        </select>
        <button type="submit" class="secondary" disabled={busy}>
          {busy ? 'Exporting…' : 'Export VEX'}
        </button>
      </form>
      <p id={`${id}-about`} class="visually-hidden">
        Downloads every finding of this feed with its decision, for scanners that read VEX.
      </p>
      <ErrorNotice error={error} onRetry={() => void exportVex()} />
      <p class="meta vex-export-progress" role="status" aria-live="polite">
        {progress}
      </p>
    </div>
  );
}

import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { roleOf } from '../../roles';
import { session } from '../../session';
import type { FeedDetail } from './FeedScreen';
import { PackagesTab } from './Packages';
import { scanPolling } from './parts';
import { fakeApi, feedDetail, json } from '../../testing';

beforeEach(() => {
  scanPolling.intervalMs = 5;
});
afterEach(() => {
  scanPolling.intervalMs = 1000;
});

const PACKAGES = {
  items: [
    { purl: 'pkg:npm/lodash@4.17.20', added_at: '2026-12-01T10:00:00Z', last_scanned_at: '2026-12-05T10:00:00Z', verdict: 'block' },
    { purl: 'pkg:npm/left-pad@1.3.0', added_at: '2026-12-06T10:00:00Z', last_scanned_at: null, verdict: null },
  ],
  next_cursor: null,
};

const BOM = {
  bomFormat: 'CycloneDX',
  specVersion: '1.5',
  components: [
    { name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20' },
    { name: 'log4j-core', version: '2.14.1', purl: 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1' },
    { name: 'internal-thing', version: '1.0' },
    { name: 'foo', purl: 'pkg:npm/foo' },
  ],
};

const IMPORTED = {
  added: 1,
  existing: 1,
  rejected: [
    { purl: null, message: 'The component at components[2] (internal-thing 1.0) has no purl.' },
    { purl: 'pkg:npm/foo', message: 'A purl needs a version (pkg:type/name@version): OSS Index refuses versionless coordinates.' },
  ],
  scan_id: null,
};

function scan(overrides: Record<string, unknown>) {
  return {
    id: 's1',
    status: 'running',
    feed: 'demo',
    trigger: 'api',
    refresh: true,
    packages_total: 5,
    packages_scanned: 0,
    requests_made: 0,
    cache_hits: 0,
    findings_new: 0,
    errors: [],
    started_at: '2026-12-06T10:00:00Z',
    finished_at: null,
    ...overrides,
  };
}

function renderTab(role: string, overrides: Record<string, unknown> = {}) {
  const detail = feedDetail({ role, ...overrides }) as unknown as FeedDetail;
  const reloadFeed = vi.fn(async () => {});
  render(<PackagesTab feed="demo" detail={detail} role={roleOf(role)} reloadFeed={reloadFeed} query={new URLSearchParams()} />);
  return reloadFeed;
}

function bomFile(content: unknown, name = 'bom.json') {
  return new File([typeof content === 'string' ? content : JSON.stringify(content)], name, { type: 'application/json' });
}

describe('a feed’s packages', () => {
  it('shows each package with its verdict, "Not scanned" for none yet', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({ 'GET /feeds/demo/packages': json(200, PACKAGES) });
    renderTab('viewer');
    const lodash = (await screen.findByText('pkg:npm/lodash@4.17.20')).closest('tr') as HTMLElement;
    expect(within(lodash).getByText('Block')).toBeTruthy();
    const leftPad = screen.getByText('pkg:npm/left-pad@1.3.0').closest('tr') as HTMLElement;
    expect(within(leftPad).getByText('Not scanned')).toBeTruthy();
    expect(within(leftPad).getByText('Not yet')).toBeTruthy();
    expect(api.of('GET', '/feeds/demo/packages')[0]!.query.get('limit')).toBe('50');
  });

  it('offers a viewer no import, scan or remove', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    fakeApi({ 'GET /feeds/demo/packages': json(200, PACKAGES) });
    renderTab('viewer');
    await screen.findByText('pkg:npm/lodash@4.17.20');
    expect(screen.queryByLabelText('Package URLs, one a line')).toBeNull();
    expect(screen.queryByLabelText(/CycloneDX BOM/)).toBeNull();
    expect(screen.queryByRole('button', { name: 'Scan now' })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Remove/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Import/ })).toBeNull();
  });

  it('imports a CycloneDX file and shows what was added, there already and rejected, with reasons', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /feeds/demo/packages': json(200, IMPORTED),
    });
    const reloadFeed = renderTab('manager');
    await userEvent.upload(await screen.findByLabelText(/CycloneDX BOM/), bomFile(BOM));

    // The file is read first: its name and components, nothing sent yet
    expect(await screen.findByText(/a CycloneDX BOM with 4 components/)).toBeTruthy();
    expect(api.of('POST', '/feeds/demo/packages')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Import bom.json' }));

    expect(await screen.findByText(/Imported bom.json/)).toBeTruthy();
    const summary = screen.getByText(/Imported bom.json/).textContent;
    expect(summary).toBe('Imported bom.json: 1 added, 1 already in the feed, 2 rejected.');
    const rejected = within(screen.getByRole('table', { name: 'Rejected packages and why' }));
    expect(rejected.getByText('pkg:npm/foo')).toBeTruthy();
    expect(rejected.getByText(/OSS Index refuses versionless coordinates/)).toBeTruthy();
    expect(rejected.getByText('(no purl)')).toBeTruthy();
    expect(rejected.getByText(/internal-thing 1.0\) has no purl/)).toBeTruthy();
    // The BOM went as it was, and the list and the feed were loaded again
    expect(api.of('POST', '/feeds/demo/packages')[0]!.body).toEqual(BOM);
    expect(reloadFeed).toHaveBeenCalled();
    expect(api.of('GET', '/feeds/demo/packages').length).toBeGreaterThanOrEqual(2);
  });

  it('takes a BOM dropped on the drop zone', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /feeds/demo/packages': json(200, { added: 2, existing: 0, rejected: [], scan_id: null }),
    });
    renderTab('manager');
    const zone = (await screen.findByText(/Drop a CycloneDX BOM/)).closest('.dropzone') as HTMLElement;
    fireEvent.dragOver(zone, { dataTransfer: { files: [], dropEffect: 'none' } });
    expect(zone.classList.contains('active')).toBe(true);
    fireEvent.drop(zone, { dataTransfer: { files: [bomFile(BOM, 'dropped.json')] } });
    await userEvent.click(await screen.findByRole('button', { name: 'Import dropped.json' }));
    expect((await screen.findByText(/Imported dropped.json/)).textContent).toBe(
      'Imported dropped.json: 2 added, 0 already in the feed, 0 rejected.',
    );
    expect(api.of('POST', '/feeds/demo/packages')[0]!.body).toEqual(BOM);
  });

  it('refuses a file that is not JSON, or JSON but not CycloneDX, without sending it', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({ 'GET /feeds/demo/packages': json(200, PACKAGES) });
    renderTab('manager');
    const picker = await screen.findByLabelText(/CycloneDX BOM/);

    await userEvent.upload(picker, bomFile('{"bomFormat": "CycloneDX", ', 'broken.json'));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'broken.json is not JSON. Choose a CycloneDX BOM in JSON format.',
    );
    expect(picker.getAttribute('aria-invalid')).toBe('true');

    await userEvent.upload(picker, bomFile({ spdxVersion: 'SPDX-2.3', packages: [] }, 'spdx.json'));
    expect(await screen.findByText('spdx.json is JSON but not a CycloneDX BOM: it has no "bomFormat": "CycloneDX".')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Import spdx.json/ })).toBeNull();
    expect(api.of('POST', '/feeds/demo/packages')).toHaveLength(0);
  });

  it('imports pasted purls, one a line, and keeps them when some are rejected', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /feeds/demo/packages': json(200, {
        added: 1,
        existing: 0,
        rejected: [{ purl: 'pkg:npm/foo', message: 'A purl needs a version.' }],
        scan_id: null,
      }),
    });
    renderTab('manager');
    const box = (await screen.findByLabelText('Package URLs, one a line')) as HTMLTextAreaElement;
    await userEvent.click(screen.getByRole('button', { name: 'Import purls' }));
    expect(screen.getByText(/Paste at least one purl/)).toBeTruthy();
    expect(api.of('POST', '/feeds/demo/packages')).toHaveLength(0);

    await userEvent.type(box, '  pkg:npm/axios@0.21.0 {enter}{enter}pkg:npm/foo');
    await userEvent.click(screen.getByRole('button', { name: 'Import purls' }));
    expect(await screen.findByText('A purl needs a version.')).toBeTruthy();
    expect(api.of('POST', '/feeds/demo/packages')[0]!.body).toEqual({ purls: ['pkg:npm/axios@0.21.0', 'pkg:npm/foo'] });
    expect(box.value).toContain('pkg:npm/foo');
  });

  it('removes a package after confirming', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'DELETE /feeds/demo/packages': json(204, null),
    });
    renderTab('manager');
    await userEvent.click(await screen.findByRole('button', { name: 'Remove pkg:npm/lodash@4.17.20' }));
    const dialog = within(await screen.findByRole('dialog'));
    expect(api.of('DELETE', '/feeds/demo/packages')).toHaveLength(0);
    await userEvent.click(dialog.getByRole('button', { name: 'Remove package' }));
    await waitFor(() => expect(api.of('DELETE', '/feeds/demo/packages')).toHaveLength(1));
    expect(api.of('DELETE', '/feeds/demo/packages')[0]!.query.get('purl')).toBe('pkg:npm/lodash@4.17.20');
  });
});

describe('scanning a feed', () => {
  /** GET /scans/s1 answers only when the test says what. */
  function heldScans() {
    const waiting: ((answer: Response) => void)[] = [];
    return {
      route: () => new Promise<Response>((resolve) => waiting.push(resolve)),
      async answer(body: unknown) {
        await waitFor(() => expect(waiting.length).toBe(1));
        waiting.shift()!(json(200, body));
      },
    };
  }

  it('shows a progress bar that advances with each answer, then the result and errors', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const scans = heldScans();
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /scans': json(202, { id: 's1', status: 'queued' }),
      'GET /scans/s1': scans.route,
      'GET /sources': json(200, {
        items: [
          { id: 'src1', name: 'oss-index' },
          { id: 'src2', name: 'mirror' },
        ],
        next_cursor: null,
      }),
    });
    const reloadFeed = renderTab('manager');
    await userEvent.click(await screen.findByLabelText('Ignore cached answers (ask the sources again)'));
    await userEvent.click(screen.getByRole('button', { name: 'Scan now' }));
    expect(api.of('POST', '/scans')[0]!.body).toEqual({ feed: 'demo', refresh: true });

    const bar = (await screen.findByLabelText('Packages scanned')) as HTMLProgressElement;
    await scans.answer(scan({ status: 'queued', packages_total: 0 }));
    expect(await screen.findByText('Queued: the scan starts shortly.')).toBeTruthy();
    expect(bar.hasAttribute('value')).toBe(false);

    await scans.answer(scan({ packages_scanned: 2 }));
    expect(await screen.findByText('Running: 2 of 5 packages scanned.')).toBeTruthy();
    expect(bar.value).toBe(2);
    expect(bar.max).toBe(5);

    await scans.answer(scan({ packages_scanned: 4 }));
    expect(await screen.findByText('Running: 4 of 5 packages scanned.')).toBeTruthy();
    expect(bar.value).toBe(4);
    expect(reloadFeed).not.toHaveBeenCalled();

    await scans.answer(
      scan({
        status: 'partial',
        packages_scanned: 5,
        requests_made: 3,
        cache_hits: 2,
        findings_new: 7,
        finished_at: '2026-12-06T10:01:00Z',
        errors: [
          { source: 'src1', message: 'OSS Index answered 401: the token was refused.' },
          { source: 'src2', message: 'mirror: OSS Index answered 402: out of credits.' },
        ],
      }),
    );
    expect(await screen.findByText(/Partly done: 5 of 5 packages scanned/)).toBeTruthy();
    expect(bar.value).toBe(5);
    const result = within(screen.getByLabelText('Scan result'));
    expect(result.getByText('Requests to sources').nextElementSibling!.textContent).toBe('3');
    expect(result.getByText('Answers from the cache').nextElementSibling!.textContent).toBe('2');
    expect(result.getByText('New findings').nextElementSibling!.textContent).toBe('7');
    const errors = screen.getByRole('list', { name: 'Errors' });
    // The error names its source by name, once the sources are listed
    await waitFor(() =>
      expect([...errors.querySelectorAll('li')].map((li) => li.textContent)).toEqual([
        'oss-index: OSS Index answered 401: the token was refused.',
        'mirror: OSS Index answered 402: out of credits.',
      ]),
    );
    // The feed and its packages are loaded again, and nobody asks about the scan any more
    await waitFor(() => expect(reloadFeed).toHaveBeenCalledTimes(1));
    await waitFor(() => expect(api.of('GET', '/feeds/demo/packages')).toHaveLength(2));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(api.of('GET', '/scans/s1')).toHaveLength(4);
  });

  it('shows the running scan a 409 names instead of starting one', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /scans': json(409, { message: 'Feed demo has a scan queued or running already.', details: [{ scan_id: 's9' }] }),
      'GET /scans/s9': json(200, scan({ id: 's9', packages_scanned: 3 })),
    });
    renderTab('manager');
    await userEvent.click(await screen.findByRole('button', { name: 'Scan now' }));
    expect(await screen.findByText(/already queued or running: this is its progress/)).toBeTruthy();
    expect(await screen.findByText('Running: 3 of 5 packages scanned.')).toBeTruthy();
    expect(api.of('GET', '/scans/s9').length).toBeGreaterThanOrEqual(1);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('says why when a 409 names no running scan (a refresh asked for too soon)', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /scans': json(409, {
        message: 'A refresh of feed demo is allowed once an hour; try again after 11:00.',
        details: ['refresh is allowed once an hour'],
      }),
      'GET /scans': json(200, { items: [scan({ status: 'succeeded', finished_at: '2026-12-06T10:01:00Z' })], next_cursor: null }),
    });
    renderTab('manager');
    await userEvent.click(await screen.findByLabelText('Ignore cached answers (ask the sources again)'));
    await userEvent.click(screen.getByRole('button', { name: 'Scan now' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'A refresh of feed demo is allowed once an hour; try again after 11:00.',
    );
    expect(api.of('GET', '/scans')[0]!.query.get('feed')).toBe('demo');
    expect(screen.queryByLabelText('Packages scanned')).toBeNull();
  });

  it("shows a manager the feed's scan that is running already", async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'GET /scans/s3': json(200, scan({ id: 's3', packages_scanned: 1 })),
    });
    renderTab('manager', { last_scan: { id: 's3', status: 'running', finished_at: null } });
    expect(await screen.findByText('Running: 1 of 5 packages scanned.')).toBeTruthy();
  });

  it('follows the scan an import started', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    fakeApi({
      'GET /feeds/demo/packages': json(200, PACKAGES),
      'POST /feeds/demo/packages': json(200, { added: 1, existing: 0, rejected: [], scan_id: 's2' }),
      'GET /scans/s2': json(200, scan({ id: 's2', status: 'succeeded', packages_total: 1, packages_scanned: 1, findings_new: 4, finished_at: '2026-12-06T10:01:00Z' })),
    });
    renderTab('manager');
    await userEvent.type(await screen.findByLabelText('Package URLs, one a line'), 'pkg:npm/axios@0.21.0');
    await userEvent.click(screen.getByRole('button', { name: 'Import purls' }));
    expect(await screen.findByText('Succeeded: 1 of 1 packages scanned.')).toBeTruthy();
    expect(screen.getByText('Scanning the new packages.')).toBeTruthy();
  });
});

import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { session } from '../../session';
import { ExportVex, REVOKE_AFTER_MS } from './ExportVex';
import { FeedScreen } from './FeedScreen';
import { feedDetail, json } from '../../testing';

const LOG4J = 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1';
const LODASH = 'pkg:npm/lodash@4.17.20';
const component = (purl: string) => ({ type: 'library', 'bom-ref': purl, purl });

const FIRST = {
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  serialNumber: 'urn:uuid:11111111-1111-4111-8111-111111111111',
  version: 1,
  metadata: { timestamp: '2026-12-07T02:00:00Z', component: { 'bom-ref': 'feedguard:feed:demo' } },
  components: [component(LOG4J), component(LODASH)],
  vulnerabilities: [{ id: 'CVE-2021-44228', affects: [{ ref: LOG4J }] }],
};
const SECOND = {
  ...FIRST,
  serialNumber: 'urn:uuid:22222222-2222-4222-8222-222222222222',
  metadata: { timestamp: '2026-12-07T02:00:03Z', component: { 'bom-ref': 'feedguard:feed:demo' } },
  components: [component(LODASH)],
  vulnerabilities: [{ id: 'CVE-2021-23337', affects: [{ ref: LODASH }] }],
};

interface Request_ {
  url: URL;
  key: string | null;
}

/** The export route: answers by cursor ('' for the first page), with the URL a browser's Response has. */
function vexApi(pages: Record<string, () => Response | Promise<Response>>) {
  const requests: Request_[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    requests.push({ url, key: request.headers.get('Authorization') });
    const answer = pages[`${url.pathname} ${url.searchParams.get('cursor') ?? ''}`];
    const response = answer ? await answer() : json(404, { message: `No fake for ${url.pathname}${url.search}` });
    Object.defineProperty(response, 'url', { value: request.url });
    return response;
  });
  vi.stubGlobal('fetch', fetch);
  return requests;
}

function page(body: unknown, next?: string): Response {
  const response = json(200, body);
  if (next) response.headers.set('Link', `<${next}>; rel="next"`);
  return response;
}

/** What the <a download> was given when it was clicked. */
function watchDownloads() {
  const blobs = new Map<string, Blob>();
  let made = 0;
  const revoked: string[] = [];
  Object.assign(URL, {
    createObjectURL: vi.fn((blob: Blob) => {
      const url = `blob:http://localhost/${++made}`;
      blobs.set(url, blob);
      return url;
    }),
    revokeObjectURL: vi.fn((url: string) => revoked.push(url)),
  });
  const clicks: { name: string; href: string; blob: Blob | undefined; attached: boolean }[] = [];
  vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    clicks.push({ name: this.download, href: this.href, blob: blobs.get(this.href), attached: this.isConnected });
  });
  return { clicks, revoked };
}

beforeEach(() => {
  session.start('test-key', { id: 'k1', name: 'viewer', admin: false });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('exporting a feed as VEX', () => {
  it('fetches every page in order, merges them and saves one CycloneDX file', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setTimeout', 'clearTimeout'] });
    let sendSecond!: () => void;
    const secondSent = new Promise<void>((resolve) => (sendSecond = resolve));
    const requests = vexApi({
      '/feeds/demo/vex ': () => page(FIRST, 'vex?format=cyclonedx&cursor=Q1ZFLTIwMjEtNDQyMjg'),
      '/feeds/demo/vex Q1ZFLTIwMjEtNDQyMjg': async () => {
        await secondSent;
        return page(SECOND);
      },
    });
    const downloads = watchDownloads();
    render(<ExportVex feed="demo" />);

    expect((screen.getByLabelText('VEX format') as HTMLSelectElement).value).toBe('cyclonedx');
    await userEvent.click(screen.getByRole('button', { name: 'Export VEX' }));

    // While the second page is on its way, the person sees which page it is
    expect(await screen.findByText('Fetching page 2…')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Exporting…' })).toHaveProperty('disabled', true);
    expect(downloads.clicks).toHaveLength(0);
    sendSecond();

    await waitFor(() => expect(downloads.clicks).toHaveLength(1));
    expect(requests.map(({ url }) => [url.pathname, url.searchParams.get('format'), url.searchParams.get('cursor')])).toEqual([
      ['/feeds/demo/vex', 'cyclonedx', null],
      ['/feeds/demo/vex', 'cyclonedx', 'Q1ZFLTIwMjEtNDQyMjg'],
    ]);
    expect(requests.every(({ key }) => key === 'Bearer test-key')).toBe(true);
    const [saved] = downloads.clicks;
    expect(saved!.name).toBe('demo.vex.cdx.json');
    expect(saved!.attached).toBe(true);
    expect(saved!.blob!.type).toBe('application/vnd.cyclonedx+json');
    const document = JSON.parse(await saved!.blob!.text());
    expect(document.serialNumber).toBe(FIRST.serialNumber);
    expect(document.metadata).toEqual(FIRST.metadata);
    expect(document.components).toEqual([component(LOG4J), component(LODASH)]);
    expect(document.vulnerabilities.map((v: { id: string }) => v.id)).toEqual(['CVE-2021-44228', 'CVE-2021-23337']);
    expect(screen.getByRole('status').textContent).toBe('Saved demo.vex.cdx.json (2 pages merged).');
    // The link is gone from the page; its URL is let go once the browser has read it
    expect(window.document.querySelector('a[download]')).toBeNull();
    expect(downloads.revoked).toEqual([]);
    vi.advanceTimersByTime(REVOKE_AFTER_MS);
    expect(downloads.revoked).toEqual([saved!.href]);
  });

  it('saves OpenVEX as the API sent a single page', async () => {
    const OPENVEX = {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'urn:uuid:33333333-3333-4333-8333-333333333333',
      author: 'feedguard (feed demo)',
      timestamp: '2026-12-07T02:00:00Z',
      version: 1,
      statements: [{ vulnerability: { name: 'CVE-2021-44228' }, status: 'under_investigation' }],
    };
    const requests = vexApi({ '/feeds/demo/vex ': () => page(OPENVEX) });
    const downloads = watchDownloads();
    render(<ExportVex feed="demo" />);

    await userEvent.selectOptions(screen.getByLabelText('VEX format'), 'OpenVEX 0.2.0');
    await userEvent.click(screen.getByRole('button', { name: 'Export VEX' }));

    await waitFor(() => expect(downloads.clicks).toHaveLength(1));
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url.searchParams.get('format')).toBe('openvex');
    expect(downloads.clicks[0]!.name).toBe('demo.vex.openvex.json');
    expect(JSON.parse(await downloads.clicks[0]!.blob!.text())).toEqual(OPENVEX);
    expect(screen.getByRole('status').textContent).toBe('Saved demo.vex.openvex.json.');
  });

  it('says why when a page fails, saves nothing, and tries the whole export again', async () => {
    let failing = true;
    const requests = vexApi({
      '/feeds/demo/vex ': () => page(FIRST, 'vex?format=cyclonedx&cursor=next'),
      '/feeds/demo/vex next': () => (failing ? json(503, { message: 'Service Unavailable' }) : page(SECOND)),
    });
    const downloads = watchDownloads();
    render(<ExportVex feed="demo" />);

    await userEvent.click(screen.getByRole('button', { name: 'Export VEX' }));

    expect((await screen.findByRole('alert')).textContent).toContain('Service Unavailable');
    expect(downloads.clicks).toHaveLength(0);
    expect(screen.getByRole('status').textContent).toBe('');
    expect(screen.getByRole('button', { name: 'Export VEX' })).toHaveProperty('disabled', false);

    failing = false;
    await userEvent.click(within(screen.getByRole('alert')).getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(downloads.clicks).toHaveLength(1));
    expect(requests.map(({ url }) => url.searchParams.get('cursor'))).toEqual([null, 'next', null, 'next']);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('refuses a next page that leaves the export route, sending the key nowhere else', async () => {
    const requests = vexApi({
      '/feeds/demo/vex ': () => page(FIRST, 'https://elsewhere.example/feeds/demo/vex?format=cyclonedx&cursor=x'),
    });
    const downloads = watchDownloads();
    render(<ExportVex feed="demo" />);

    await userEvent.click(screen.getByRole('button', { name: 'Export VEX' }));

    expect((await screen.findByRole('alert')).textContent).toContain('cannot follow');
    expect(requests).toHaveLength(1);
    expect(downloads.clicks).toHaveLength(0);
  });
});

describe("the feed's page", () => {
  it('offers a viewer the VEX export in its header', async () => {
    vi.stubGlobal('fetch', async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === '/feeds/demo') return json(200, feedDetail({ role: 'viewer' }));
      if (path === '/feeds/demo/packages') return json(200, { items: [], next_cursor: null });
      return json(404, { message: `No fake for ${path}` });
    });
    render(<FeedScreen feed="demo" tab="packages" query={new URLSearchParams()} />);

    const form = await screen.findByRole('form', { name: 'Export VEX' });
    expect(form.closest('.page-header')).toBeTruthy();
    expect(within(form).getByRole('combobox', { name: 'VEX format' })).toBeTruthy();
    expect(within(form).getByRole('button', { name: 'Export VEX' })).toBeTruthy();
  });
});

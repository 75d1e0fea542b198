import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Role } from '../../roles';
import { location, navigate } from '../../router';
import { session } from '../../session';
import type { FeedDetail } from './FeedScreen';
import { VulnerabilitiesTab } from './Vulnerabilities';
import { json } from '../../testing';

const detail: FeedDetail = {
  id: 'f_0193a1b2c3d4e5f6a7b8',
  name: 'demo',
  description: null,
  unassessed_effect: 'block',
  created_at: '2026-12-01T00:00:00Z',
  sources: ['src1'],
  counts: { unassessed: 2, assessed: 0, expired: 1 },
  role: 'assessor',
  last_scan: null,
};

const TYPES = [
  { id: 'unassessed', name: 'Unassessed', effect: null, expiration_days: null, color: null, builtin: true },
  { id: 'ignore', name: 'Ignore', effect: 'allow', expiration_days: 90, color: '#2e7d32', builtin: true },
  { id: 'blocked', name: 'Blocked', effect: 'block', expiration_days: 30, color: '#c62828', builtin: true },
].map((type) => ({ description: null, auto_assess: null, created_at: null, ...type }));

function finding(id: string, score: number, extra: Record<string, unknown> = {}) {
  return {
    id,
    display_name: id,
    title: `Title of ${id}`,
    cvss_score: score,
    severity: score >= 9 ? 'critical' : score >= 7 ? 'high' : 'medium',
    cve: id,
    aliases: [],
    packages: ['pkg:npm/lodash@4.17.20'],
    status: 'unassessed',
    effect: 'block',
    assessment: null,
    first_seen: '2026-12-01T00:00:00Z',
    ...extra,
  };
}

const FINDINGS = [
  finding('CVE-2021-44228', 10),
  finding('CVE-2021-23337', 7.2),
  finding('CVE-2020-28500', 5.3, {
    status: 'expired',
    assessment: {
      type: 'ignore',
      effect: 'allow',
      comment: 'old',
      assessed_by: 'bob',
      assessed_at: '2026-01-01T00:00:00Z',
      expires_at: '2026-04-01T00:00:00Z',
      version: 3,
    },
  }),
];

interface Api {
  requests: Request[];
  bodies: unknown[];
  list: URL[];
}

function stubApi(findings: unknown[] = FINDINGS, bulk: unknown = { assessed: 2, missing: [] }): Api {
  const api: Api = { requests: [], bodies: [], list: [] };
  vi.stubGlobal('fetch', async (request: Request) => {
    api.requests.push(request);
    const url = new URL(request.url);
    if (request.method !== 'GET') api.bodies.push(await request.clone().json());
    if (url.pathname === '/assessment-types') return json(200, { items: TYPES, next_cursor: null });
    if (url.pathname === '/feeds/demo/vulnerabilities') {
      api.list.push(url);
      return json(200, { items: findings, next_cursor: null });
    }
    if (url.pathname === '/feeds/demo/assessments' && request.method === 'POST') {
      return json(200, bulk);
    }
    return json(404, { message: 'Not here.' });
  });
  return api;
}

function Tab({ role, reloadFeed = async () => {} }: { role: Role; reloadFeed?: () => Promise<void> }) {
  return (
    <VulnerabilitiesTab
      feed="demo"
      detail={detail}
      role={role}
      reloadFeed={reloadFeed}
      query={location.value.query}
    />
  );
}

beforeEach(() => {
  session.start('test-key', { id: 'k1', name: 'alice', admin: false });
  navigate('#/feeds/demo/vulnerabilities');
});

describe('the Vulnerabilities tab', () => {
  it("shows a finding's aliases compactly under its id, and nothing for one without", async () => {
    stubApi([finding('CVE-2021-23337', 7.2, { aliases: ['GHSA-35jh-r3h4-6jhm'] }), finding('CVE-2021-44228', 10)]);
    render(<Tab role="viewer" />);
    const lodash = (await screen.findByRole('link', { name: 'CVE-2021-23337' })).closest('td')!;
    expect(within(lodash).getByText('aka GHSA-35jh-r3h4-6jhm')).toBeTruthy();
    const log4shell = screen.getByRole('link', { name: 'CVE-2021-44228' }).closest('td')!;
    expect(log4shell.textContent).not.toContain('aka');
  });

  it('puts the filters in the request and in the hash, and sorts by score', async () => {
    const api = stubApi();
    render(<Tab role="assessor" />);
    expect(await screen.findByRole('link', { name: 'CVE-2021-44228' })).toBeTruthy();
    expect(api.list[0]!.searchParams.get('limit')).toBe('100');
    expect(api.list[0]!.searchParams.has('status')).toBe(false);

    await userEvent.selectOptions(screen.getByLabelText('Status'), 'expired');
    await userEvent.selectOptions(screen.getByLabelText('Severity'), 'high');
    await userEvent.type(screen.getByLabelText('Minimum CVSS'), '7');
    await userEvent.type(screen.getByLabelText('Package (purl)'), 'pkg:npm/lodash@4.17.20');
    await userEvent.click(screen.getByRole('button', { name: 'Apply filters' }));

    await waitFor(() => expect(api.list).toHaveLength(2));
    const hash = new URLSearchParams(window.location.hash.split('?')[1]);
    expect(window.location.hash.startsWith('#/feeds/demo/vulnerabilities?')).toBe(true);
    expect(Object.fromEntries(hash)).toEqual({
      status: 'expired',
      severity: 'high',
      min_cvss: '7',
      package: 'pkg:npm/lodash@4.17.20',
    });
    const asked = api.list[1]!.searchParams;
    expect(asked.get('status')).toBe('expired');
    expect(asked.get('severity')).toBe('high');
    expect(asked.get('min_cvss')).toBe('7');
    expect(asked.get('package')).toBe('pkg:npm/lodash@4.17.20');
    expect(asked.get('limit')).toBe('100');

    // Sorting by score: the header says the order, the request asks for it, the hash keeps it
    const header = await screen.findByRole('columnheader', { name: /CVSS/ });
    expect(header.getAttribute('aria-sort')).toBe('descending');
    await userEvent.click(within(header).getByRole('button'));
    await waitFor(() => expect(api.list).toHaveLength(3));
    expect(api.list[2]!.searchParams.get('order')).toBe('asc');
    expect(api.list[2]!.searchParams.get('status')).toBe('expired');
    expect(window.location.hash).toContain('order=asc');
    await waitFor(() =>
      expect(screen.getByRole('columnheader', { name: /CVSS/ }).getAttribute('aria-sort')).toBe('ascending'),
    );
  });

  it("pages with the API's cursors, and starts over when the filters change", async () => {
    const pages: URL[] = [];
    vi.stubGlobal('fetch', async (request: Request) => {
      const url = new URL(request.url);
      if (url.pathname === '/assessment-types') return json(200, { items: TYPES, next_cursor: null });
      pages.push(url);
      const cursor = url.searchParams.get('cursor');
      if (!cursor) return json(200, { items: [FINDINGS[0]], next_cursor: 'page-2' });
      return json(200, { items: [FINDINGS[1]], next_cursor: null });
    });
    render(<Tab role="viewer" />);
    await screen.findByRole('link', { name: 'CVE-2021-44228' });
    expect((screen.getByRole('button', { name: 'Previous page' }) as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await screen.findByRole('link', { name: 'CVE-2021-23337' })).toBeTruthy();
    expect(pages[1]!.searchParams.get('cursor')).toBe('page-2');
    expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByRole('link', { name: 'CVE-2021-44228' })).toBeTruthy();
    expect(pages[2]!.searchParams.has('cursor')).toBe(false);

    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    await screen.findByRole('link', { name: 'CVE-2021-23337' });
    await userEvent.selectOptions(screen.getByLabelText('Status'), 'unassessed');
    await userEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(pages).toHaveLength(5));
    expect(pages[4]!.searchParams.get('status')).toBe('unassessed');
    expect(pages[4]!.searchParams.has('cursor')).toBe(false);
  });

  it('reads its filters from the hash after a reload', async () => {
    navigate('#/feeds/demo/vulnerabilities?status=unassessed&min_cvss=9');
    const api = stubApi([]);
    render(<Tab role="viewer" />);

    expect(await screen.findByText('No findings match these filters.')).toBeTruthy();
    expect(api.list[0]!.searchParams.get('status')).toBe('unassessed');
    expect(api.list[0]!.searchParams.get('min_cvss')).toBe('9');
    expect((screen.getByLabelText('Status') as HTMLSelectElement).value).toBe('unassessed');
    expect((screen.getByLabelText('Minimum CVSS') as HTMLInputElement).value).toBe('9');
  });

  it('says when the feed has no findings at all', async () => {
    stubApi([]);
    render(<Tab role="viewer" />);
    expect(await screen.findByText(/No vulnerabilities found in this feed yet/)).toBeTruthy();
  });

  it('refuses a minimum CVSS outside 0-10 without asking the API', async () => {
    const api = stubApi();
    render(<Tab role="viewer" />);
    await screen.findByRole('link', { name: 'CVE-2021-44228' });
    await userEvent.type(screen.getByLabelText('Minimum CVSS'), '11');
    await userEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    expect(await screen.findByText('A CVSS score is a number from 0 to 10.')).toBeTruthy();
    expect(api.list).toHaveLength(1);
    expect(window.location.hash).toBe('#/feeds/demo/vulnerabilities');
  });

  it("shows the API's complaint about a filter next to that filter", async () => {
    navigate('#/feeds/demo/vulnerabilities?package=garbage');
    vi.stubGlobal('fetch', async (request: Request) =>
      new URL(request.url).pathname === '/assessment-types'
        ? json(200, { items: TYPES, next_cursor: null })
        : json(422, {
            message: 'The request is not valid: query.package: Not a Package URL.',
            details: [{ loc: ['query', 'package'], msg: 'Not a Package URL', type: 'value_error' }],
          }),
    );
    render(<Tab role="viewer" />);

    const error = await screen.findByText('Not a Package URL');
    const field = screen.getByLabelText('Package (purl)') as HTMLInputElement;
    expect(field.getAttribute('aria-describedby')).toContain(error.id);
    expect(field.value).toBe('garbage');
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('marks expired findings for reassessment and shows the type in its colour', async () => {
    stubApi();
    render(<Tab role="viewer" />);
    const link = await screen.findByRole('link', { name: 'CVE-2020-28500' });
    const row = link.closest('tr')!;
    expect(row.classList.contains('row-expired')).toBe(true);
    expect(within(row).getByText('Expired — reassess')).toBeTruthy();
    const badge = await within(row).findByText('Ignore');
    await waitFor(() => expect(badge.style.backgroundColor).toBe('rgb(46, 125, 50)'));
    expect(link.getAttribute('href')).toBe('#/feeds/demo/vulnerabilities/CVE-2020-28500');
  });

  it('shows a viewer no checkboxes and no Assess button', async () => {
    stubApi();
    const { unmount } = render(<Tab role="assessor" />);
    await screen.findByRole('link', { name: 'CVE-2021-44228' });
    expect(screen.getAllByRole('checkbox').length).toBe(4);
    expect(screen.getByRole('button', { name: 'Assess selected' })).toBeTruthy();
    unmount();

    render(<Tab role="viewer" />);
    await screen.findByRole('link', { name: 'CVE-2021-44228' });
    expect(screen.queryAllByRole('checkbox')).toHaveLength(0);
    expect(screen.queryByRole('button', { name: /Assess/ })).toBeNull();
  });

  it('names the selected findings the bulk route did not find', async () => {
    stubApi(FINDINGS, { assessed: 1, missing: ['CVE-2021-23337'] });
    render(<Tab role="assessor" />);
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Select every vulnerability on this page' }));
    expect(screen.getByText(/3 selected/)).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Assess selected' }));
    const dialog = await screen.findByRole('dialog', { name: 'Assess 3 vulnerabilities' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    const outcome = await screen.findByText(/Assessed 1 vulnerability\./);
    expect(outcome.closest('.notice')!.classList.contains('notice-warning')).toBe(true);
    expect(within(outcome.closest('.notice') as HTMLElement).getByText('CVE-2021-23337')).toBeTruthy();
  });

  it('assesses the selected rows together with the bulk route', async () => {
    const api = stubApi();
    const reloadFeed = vi.fn(async () => {});
    render(<Tab role="assessor" reloadFeed={reloadFeed} />);
    await screen.findByRole('link', { name: 'CVE-2021-44228' });
    const assess = screen.getByRole('button', { name: 'Assess selected' }) as HTMLButtonElement;
    expect(assess.disabled).toBe(true);

    await userEvent.click(screen.getByRole('checkbox', { name: 'Select CVE-2021-44228' }));
    await userEvent.click(screen.getByRole('checkbox', { name: 'Select CVE-2020-28500' }));
    await userEvent.click(assess);

    const dialog = await screen.findByRole('dialog', { name: 'Assess 2 vulnerabilities' });
    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'blocked');
    await userEvent.type(within(dialog).getByLabelText('Comment'), 'upgrade first');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    const outcome = await screen.findByText(/Assessed 2 vulnerabilities/);
    // The button that opened the dialog is disabled now: the focus goes to what happened
    expect(document.activeElement).toBe(outcome.closest('.outcome'));
    const post = api.requests.find((request) => request.method === 'POST')!;
    expect(new URL(post.url).pathname).toBe('/feeds/demo/assessments');
    const body = api.bodies[0] as Record<string, unknown>;
    expect(body['vulnerability_ids']).toEqual(['CVE-2021-44228', 'CVE-2020-28500']);
    expect(body['type']).toBe('blocked');
    expect(body['comment']).toBe('upgrade first');
    expect(typeof body['expires_at']).toBe('string');
    expect(reloadFeed).toHaveBeenCalled();
    await waitFor(() => expect(api.list).toHaveLength(2));
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});

import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { location, navigate } from '../router';
import { session } from '../session';
import { GateScreen } from './Gate';
import { json } from '../testing';

const FEEDS = [
  { id: 'f_0193a1b2c3d4e5f6a7b8', name: 'demo', description: null, unassessed_effect: 'block', created_at: '2026-11-01T00:00:00Z', role: 'viewer' },
  { id: 'f_0193a1b2c3d4e5f6a7b9', name: 'web', description: null, unassessed_effect: 'warn', created_at: '2026-11-01T00:00:00Z', role: 'viewer' },
];

interface Check {
  feed: string;
  purls: string[];
}

/** The check route answers each purl: lodash blocks, left-pad is clean, `down` cannot be looked up. */
function stubApi(refuse?: (purls: string[]) => Response | null): Check[] {
  const checks: Check[] = [];
  vi.stubGlobal('fetch', async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/feeds') return json(200, { items: FEEDS, next_cursor: null });
    const match = /^\/feeds\/([^/]+)\/check$/.exec(path);
    if (match && request.method === 'POST') {
      const { purls } = (await request.json()) as { purls: string[] };
      checks.push({ feed: match[1]!, purls });
      const refused = refuse?.(purls);
      if (refused) return refused;
      return json(200, {
        results: purls.map((purl) => {
          if (purl.includes('lodash')) {
            return {
              purl,
              verdict: 'block',
              scanned: true,
              vulnerabilities: [
                {
                  id: 'CVE-2021-23337',
                  title: 'Command injection',
                  cvss_score: 7.2,
                  status: 'unassessed',
                  effect: 'block',
                  aliases: ['GHSA-35jh-r3h4-6jhm'],
                  fixed_versions: ['4.17.21'],
                },
              ],
            };
          }
          if (purl.includes('minimist')) {
            // As OSS Index answers: no aliases, no fixed versions known
            const vulnerability = { id: 'CVE-2021-44906', title: 'Prototype pollution', cvss_score: 9.8 };
            return {
              purl,
              verdict: 'block',
              scanned: true,
              vulnerabilities: [
                { ...vulnerability, status: 'unassessed', effect: 'block', aliases: [], fixed_versions: [] },
              ],
            };
          }
          if (purl.includes('down')) return { purl, verdict: 'block', scanned: false, vulnerabilities: [] };
          return { purl, verdict: 'allow', scanned: true, vulnerabilities: [] };
        }),
      });
    }
    return json(404, { message: 'Not here.' });
  });
  return checks;
}

function Gate() {
  return <GateScreen query={location.value.query} />;
}

function paste(text: string) {
  fireEvent.input(screen.getByLabelText('Package URLs'), { target: { value: text } });
}

beforeEach(() => {
  session.start('test-key', { id: 'k1', name: 'alice', admin: false });
  navigate('#/gate');
});

describe('the gate', () => {
  it('sends 200 purls in two requests of at most 128, in order, and shows every verdict', async () => {
    const checks = stubApi();
    render(<Gate />);
    await screen.findByLabelText('Feed');
    const purls = Array.from({ length: 200 }, (_, index) =>
      index === 0 ? 'pkg:npm/lodash@4.17.20' : index === 150 ? 'pkg:npm/down@1.0.0' : `pkg:npm/clean-${index}@1.0.0`,
    );
    paste(`${purls.join('\n')}\n\n`);
    expect(screen.getByText('200 purls, sent in 2 requests of at most 128.')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));

    await screen.findByRole('heading', { name: 'Verdicts from demo' });
    expect(checks).toHaveLength(2);
    expect(checks[0]).toEqual({ feed: 'demo', purls: purls.slice(0, 128) });
    expect(checks[1]).toEqual({ feed: 'demo', purls: purls.slice(128) });

    const results = screen.getAllByRole('listitem').filter((item) => item.classList.contains('gate-result'));
    expect(results).toHaveLength(200);
    expect(results.map((item) => item.querySelector('code')!.textContent)).toEqual(purls);
    const verdictOf = (item: HTMLElement) => item.querySelector('.gate-verdict')!.textContent;
    expect(verdictOf(results[0]!)).toBe('Verdict: Block');
    expect(within(results[0]!).getByRole('link', { name: 'CVE-2021-23337' }).getAttribute('href')).toBe(
      '#/feeds/demo/vulnerabilities/CVE-2021-23337',
    );
    expect(within(results[0]!).getByText('7.2')).toBeTruthy();
    expect(verdictOf(results[1]!)).toBe('Verdict: Allow');
    expect(within(results[1]!).getByText('No known vulnerabilities.')).toBeTruthy();
    expect(verdictOf(results[150]!)).toBe('Verdict: Block');
    expect(within(results[150]!).getByText('Not scanned')).toBeTruthy();
    expect(within(results[150]!).getByText(/looking it up failed/)).toBeTruthy();

    const raw = JSON.parse(document.querySelector('.raw-json code')!.textContent!) as { results: { purl: string }[] };
    expect(raw.results.map((result) => result.purl)).toEqual(purls);
  });

  it("shows a vulnerability's aliases and the versions that fix it where the answer has them", async () => {
    stubApi();
    render(<Gate />);
    await screen.findByLabelText('Feed');
    paste('pkg:npm/lodash@4.17.20\npkg:npm/minimist@1.2.5');
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    await screen.findByRole('heading', { name: 'Verdicts from demo' });

    const [lodash, minimist] = screen.getAllByRole('listitem').filter((item) => item.classList.contains('gate-result'));
    const cell = within(lodash!).getByRole('link', { name: 'CVE-2021-23337' }).closest('td')!;
    expect(within(cell).getByText('Also known as GHSA-35jh-r3h4-6jhm')).toBeTruthy();
    expect(cell.querySelector('.fixed-in')!.textContent).toBe('Fixed in 4.17.21');
    // None known: nothing said
    expect(within(minimist!).getByRole('link', { name: 'CVE-2021-44906' })).toBeTruthy();
    expect(minimist!.textContent).not.toMatch(/Fixed in|Also known as/);
  });

  it('remembers the chosen feed in the hash and checks against it', async () => {
    const checks = stubApi();
    render(<Gate />);
    await userEvent.selectOptions(await screen.findByLabelText('Feed'), 'web');
    expect(window.location.hash).toBe('#/gate?feed=web');
    await waitFor(() => expect((screen.getByLabelText('Feed') as HTMLSelectElement).value).toBe('web'));
    paste('pkg:npm/left-pad@1.3.0');
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    await screen.findByRole('heading', { name: 'Verdicts from web' });
    expect(checks).toEqual([{ feed: 'web', purls: ['pkg:npm/left-pad@1.3.0'] }]);
  });

  it('says so when the hash names a feed the key does not have', async () => {
    navigate('#/gate?feed=gone');
    stubApi();
    render(<Gate />);
    expect(await screen.findByText(/Your key has no feed named/)).toBeTruthy();
    expect((screen.getByLabelText('Feed') as HTMLSelectElement).value).toBe('demo');
  });

  it('lists the purls a 422 refuses next to the textarea and keeps the text', async () => {
    stubApi(() =>
      json(422, {
        message: '1 of the purls cannot be checked.',
        details: [{ purl: 'garbage', message: 'Not a Package URL.' }],
      }),
    );
    render(<Gate />);
    await screen.findByLabelText('Feed');
    paste('pkg:npm/lodash@4.17.20\ngarbage');
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));

    expect(await screen.findByText('1 of the purls cannot be checked.')).toBeTruthy();
    const rejected = screen.getByRole('list', { name: 'Purls that cannot be checked' });
    expect(within(rejected).getByText('garbage')).toBeTruthy();
    expect(within(rejected).getByText(/Not a Package URL/)).toBeTruthy();
    const textarea = screen.getByLabelText('Package URLs') as HTMLTextAreaElement;
    expect(textarea.getAttribute('aria-invalid')).toBe('true');
    expect(textarea.getAttribute('aria-describedby')).toContain(rejected.id);
    expect(textarea.value).toBe('pkg:npm/lodash@4.17.20\ngarbage');
    expect(screen.queryByRole('heading', { name: /Verdicts/ })).toBeNull();
  });

  it('asks for purls before sending an empty check', async () => {
    const checks = stubApi();
    render(<Gate />);
    await screen.findByLabelText('Feed');
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    expect(await screen.findByText(/Paste at least one purl/)).toBeTruthy();
    expect(checks).toHaveLength(0);
  });

  it('says so when the key has no feed', async () => {
    vi.stubGlobal('fetch', async () => json(200, { items: [], next_cursor: null }));
    render(<Gate />);
    expect(await screen.findByText(/You have no feeds to check against yet/)).toBeTruthy();
  });
});

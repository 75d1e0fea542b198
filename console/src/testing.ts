// Test helpers shared by the screens' tests: a fake API answering by method and
// path that records every request, and a signed-in administrator. (The browser
// methods jsdom lacks are added once for every test in test-setup.ts.)
import { vi } from 'vitest';
import { session } from './session';

export function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

export interface Sent {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

/** A Response (sent again for every request), a function of the request, or any other value as a 200's body. */
type Answer = ((sent: Sent) => Response | Promise<Response>) | Response | object | string | number | boolean | null;

/**
 * A fetch answering `METHOD /path` from `routes` and recording what was sent.
 * A function sees the request; a Response is answered as it is; anything else
 * is a 200 with that body. An unknown route is a 404 the test sees.
 */
export function fakeApi(routes: Record<string, Answer>) {
  const sent: Sent[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.text();
    const entry: Sent = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined,
      headers: request.headers,
    };
    sent.push(entry);
    const answer = routes[`${request.method} ${url.pathname}`];
    if (answer === undefined) return json(404, { message: `No fake for ${request.method} ${url.pathname}` });
    if (typeof answer === 'function') return answer(entry);
    if (answer instanceof Response) return answer.clone();
    return json(200, answer);
  });
  vi.stubGlobal('fetch', fetch);
  const of = (method: string, path: string) => sent.filter((s) => s.method === method && s.path === path);
  return { fetch, sent, of };
}

export function signInAsAdmin(): void {
  session.start('test-key', { id: 'admin', name: 'admin', admin: true });
}

/** A page of a list as the API answers it. */
export const page = <T>(items: T[], next_cursor: string | null = null) => ({ items, next_cursor });

/** GET /feeds/{feed} of the `demo` feed, as an administrator sees it. */
export function feedDetail(overrides: Record<string, unknown> = {}) {
  return {
    id: 'f_0193a1b2c3d4e5f6a7b8',
    name: 'demo',
    description: 'The demo feed',
    unassessed_effect: 'block',
    created_at: '2026-12-01T10:00:00Z',
    updated_at: null,
    role: 'admin',
    sources: [],
    counts: { unassessed: 0, assessed: 0, expired: 0 },
    last_scan: null,
    ...overrides,
  };
}

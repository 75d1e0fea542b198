// Test helpers of the feed screens: a fake API answering by method and path,
// recording every request, and the <dialog> methods jsdom lacks.
import { vi } from 'vitest';

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

type Answer = Response | ((sent: Sent) => Response | Promise<Response>);

/**
 * A fetch that answers `METHOD /path` from `routes` (a function may look at the
 * request) and records what was sent; an unknown route is a 404 the test sees.
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
    if (!answer) return json(404, { message: `No fake for ${request.method} ${url.pathname}` });
    return typeof answer === 'function' ? answer(entry) : answer.clone();
  });
  vi.stubGlobal('fetch', fetch);
  const of = (method: string, path: string) => sent.filter((s) => s.method === method && s.path === path);
  return { fetch, sent, of };
}

/** jsdom has <dialog> but not its showModal/close. */
export function polyfillDialog(): void {
  const proto = HTMLDialogElement.prototype as HTMLDialogElement & { showModal?: () => void };
  if (typeof proto.showModal === 'function' && typeof proto.close === 'function') return;
  proto.showModal = function showModal(this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  proto.close = function close(this: HTMLDialogElement) {
    if (!this.hasAttribute('open')) return;
    this.removeAttribute('open');
    this.dispatchEvent(new Event('close'));
  };
}

/** jsdom's File has no text(); a browser's does. */
export function polyfillFileText(): void {
  if (typeof Blob.prototype.text === 'function') return;
  Blob.prototype.text = function text(this: Blob) {
    return new Promise<string>((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result));
      reader.onerror = () => reject(reader.error);
      reader.readAsText(this);
    });
  };
}

export function feedDetail(overrides: Record<string, unknown> = {}) {
  return {
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

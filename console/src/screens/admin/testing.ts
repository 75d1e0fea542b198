// Test helpers of the Administration screens: a fake API answering by method
// and path that records every request, and the <dialog> methods jsdom lacks.
import { vi } from 'vitest';
import { session } from '../../session';

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
}

type Answer = unknown | ((sent: Sent) => Response | Promise<Response>);

/**
 * A fetch answering `METHOD /path` from `routes`: a function sees the request,
 * anything else is a 200 with that body. An unknown route is a 404 the test sees.
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
    };
    sent.push(entry);
    const answer = routes[`${request.method} ${url.pathname}`];
    if (answer === undefined) return json(404, { message: `No fake for ${request.method} ${url.pathname}` });
    return typeof answer === 'function' ? (answer as (sent: Sent) => Response)(entry) : json(200, answer);
  });
  vi.stubGlobal('fetch', fetch);
  return { sent, of: (method: string, path: string) => sent.filter((s) => s.method === method && s.path === path) };
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

export function signInAsAdmin(): void {
  session.start('test-key', { id: 'admin', name: 'admin', admin: true });
}

export const page = <T>(items: T[], next_cursor: string | null = null) => ({ items, next_cursor });

// The one API client every screen uses: the key header, the error shape,
// If-Match and cursors live here; no screen builds a URL or parses an error.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { session } from '../session';

export type Schemas = components['schemas'];

/** One entry of an error's `details`: the API's 422s name a location. */
export interface ErrorDetail {
  loc?: string[];
  msg?: string;
  type?: string;
  [key: string]: unknown;
}

/** A failed call: the contract's status, its one-sentence message and details. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: unknown[];
  readonly body: unknown;

  constructor(status: number, message: string, details: unknown[] = [], body: unknown = undefined) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
    this.body = body;
  }

  /** Network failures and 5xx: worth trying again, the input was fine. */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }

  /**
   * The messages of a 422's details by the body field they name
   * (`["body", "expires_at"]` → `expires_at`), for showing next to fields.
   */
  fieldErrors(): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const detail of this.details) {
      if (!detail || typeof detail !== 'object') continue;
      const { loc, msg } = detail as ErrorDetail;
      if (!Array.isArray(loc) || typeof msg !== 'string') continue;
      const parts = loc[0] === 'body' || loc[0] === 'query' || loc[0] === 'path' ? loc.slice(1) : loc;
      const field = parts.join('.');
      if (field && !(field in fields)) fields[field] = msg;
    }
    return fields;
  }
}

const UNREACHABLE = 'feedguard could not be reached. Check your connection and try again.';

function messageOf(status: number, body: unknown): { message: string; details: unknown[] } {
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') {
    const details = 'details' in body && Array.isArray(body.details) ? body.details : [];
    return { message: body.message, details };
  }
  if (status >= 500) return { message: `feedguard answered with an error (${status}). Try again.`, details: [] };
  return { message: `The request failed (${status}).`, details: [] };
}

const authorize: Middleware = {
  onRequest({ request }) {
    const key = session.key();
    if (key) request.headers.set('Authorization', `Bearer ${key}`);
    return request;
  },
};

// Same origin as the console; fetch is looked up per call, so tests can stub it.
/** Longest wait for a throttled read before the person is told instead. */
const LONGEST_THROTTLE_WAIT_MS = 5_000;

function retryAfterMs(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  const ms = Number(value.trim()) * 1000;
  return ms <= LONGEST_THROTTLE_WAIT_MS ? ms : null;
}

// A key past its rate limit gets 429 with Retry-After. A read is asked once
// more after that wait; a write is never repeated on the person's behalf.
const retryThrottledReads: Middleware = {
  async onResponse({ request, response }) {
    if (response.status !== 429 || request.method !== 'GET') return response;
    const wait = retryAfterMs(response.headers.get('Retry-After'));
    if (wait === null) return response;
    await new Promise((resolve) => setTimeout(resolve, wait));
    return globalThis.fetch(new Request(request));
  },
};

export const client = createClient<paths>({
  baseUrl: typeof window === 'undefined' ? '' : window.location.origin,
  fetch: (request: Request) => globalThis.fetch(request),
});
client.use(authorize, retryThrottledReads);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The data of a call, or an ApiError. A 401 means the key stopped working:
 * the session ends and the console goes back to the sign-in page.
 */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    throw new ApiError(0, UNREACHABLE);
  }
  const { response } = answer;
  if (response.ok) return answer.data as T;
  const { message, details } = messageOf(response.status, answer.error);
  if (response.status === 401) session.expire('Your key was not accepted. Sign in again.');
  throw new ApiError(response.status, message, details, answer.error);
}

/** A call's data with its response's headers and URL (a Link header, a file name). */
export interface Answered<T> {
  data: T;
  headers: Headers;
  /** The URL answered, after any redirect: what a relative link resolves against. */
  url: string;
}

/** As `call` (the same errors, the same 401), keeping the response's headers and URL. */
export async function callWithResponse<T>(request: Promise<Answer<T>>): Promise<Answered<T>> {
  let response: Response | undefined;
  const data = await call(
    request.then((answer) => {
      response = answer.response;
      return answer;
    }),
  );
  return { data, headers: response!.headers, url: response!.url };
}

/** Every page of a list, for the small lists a screen shows whole. */
export async function everyPage<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>,
  limit = 2000,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const answer = await page(cursor);
    items.push(...answer.items);
    cursor = answer.next_cursor ?? undefined;
  } while (cursor && items.length < limit);
  return items;
}

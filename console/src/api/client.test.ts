import { beforeEach, describe, expect, it, vi } from 'vitest';
import { identity, session, signInReason } from '../session';
import { ApiError, call, callWithResponse, client } from './client';

function answer(status: number, body: unknown) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

describe('the API client', () => {
  beforeEach(() => {
    session.start('fgk_secret', { id: 'k1', name: 'alice', admin: false });
  });

  it('sends the signed-in key as a bearer token', async () => {
    // Given the API answers a list
    const fetch = vi.fn(async (_request: Request) => answer(200, { items: [], next_cursor: null }));
    vi.stubGlobal('fetch', fetch);

    // When a screen lists the sources
    await call(client.GET('/sources'));

    // Then the request carried the key, and only in the Authorization header
    const request = fetch.mock.calls[0]![0];
    expect(request.headers.get('Authorization')).toBe('Bearer fgk_secret');
    expect(request.url).not.toContain('fgk_secret');
  });

  it("turns the contract's error shape into an ApiError with field messages", async () => {
    vi.stubGlobal('fetch', async () =>
      answer(422, {
        message: 'The request is not valid: body.color: String should match pattern.',
        details: [{ loc: ['body', 'color'], msg: 'String should match pattern', type: 'string_pattern_mismatch' }],
      }),
    );

    const failure = await call(client.POST('/assessment-types', { body: { name: 'x', effect: 'warn', color: 'red' } })).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(ApiError);
    const error = failure as ApiError;
    expect(error.status).toBe(422);
    expect(error.message).toContain('not valid');
    expect(error.fieldErrors()).toEqual({ color: 'String should match pattern' });
    expect(error.transient).toBe(false);
  });

  it('ends the session on a 401 and says why', async () => {
    vi.stubGlobal('fetch', async () => answer(401, { message: 'Unauthorized' }));

    await expect(call(client.GET('/feeds'))).rejects.toMatchObject({ status: 401 });

    expect(session.key()).toBeNull();
    expect(identity.value).toBeNull();
    expect(signInReason.value).toMatch(/not accepted/);
  });

  it('reports an unreachable API as a transient error, not a crash', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });

    const error = (await call(client.GET('/feeds')).catch((caught: unknown) => caught)) as ApiError;

    expect(error.status).toBe(0);
    expect(error.transient).toBe(true);
    expect(error.message).toMatch(/could not be reached/);
    expect(session.key()).toBe('fgk_secret');
  });

  it('explains a 5xx without a body', async () => {
    vi.stubGlobal('fetch', async () => new Response('<html>Bad gateway</html>', { status: 502 }));

    const error = (await call(client.GET('/feeds')).catch((caught: unknown) => caught)) as ApiError;

    expect(error.status).toBe(502);
    expect(error.message).toBe('feedguard answered with an error (502). Try again.');
  });

  it("hands back a response's headers and URL with its data, and fails as call does", async () => {
    vi.stubGlobal('fetch', async (request: Request) => {
      const response = new Response(JSON.stringify({ statements: [] }), {
        status: 200,
        headers: { 'Content-Type': 'application/json', Link: '<vex?format=openvex&cursor=c>; rel="next"' },
      });
      Object.defineProperty(response, 'url', { value: request.url });
      return response;
    });

    const answered = await callWithResponse(
      client.GET('/feeds/{feed}/vex', { params: { path: { feed: 'demo' }, query: { format: 'openvex' } } }),
    );

    expect(answered.data).toEqual({ statements: [] });
    expect(answered.headers.get('Link')).toBe('<vex?format=openvex&cursor=c>; rel="next"');
    expect(new URL(answered.url).pathname).toBe('/feeds/demo/vex');

    vi.stubGlobal('fetch', async () => answer422());
    const error = (await callWithResponse(client.GET('/feeds/{feed}/vex', { params: { path: { feed: 'demo' } } })).catch(
      (caught: unknown) => caught,
    )) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.fieldErrors()).toEqual({ cursor: 'Not a cursor of this export' });

    vi.stubGlobal('fetch', async () => answer(401, { message: 'Unauthorized' }));
    await expect(callWithResponse(client.GET('/feeds'))).rejects.toMatchObject({ status: 401 });
    expect(session.key()).toBeNull();
  });

  it('asks a throttled read once more after Retry-After', async () => {
    // Given a key past its rate limit for a moment
    const answers = [
      new Response(JSON.stringify({ message: 'Too many requests.' }), {
        status: 429,
        headers: { 'Content-Type': 'application/json', 'Retry-After': '0' },
      }),
      answer(200, { items: [], next_cursor: null }),
    ];
    const fetch = vi.fn(async (_request: Request) => answers.shift()!);
    vi.stubGlobal('fetch', fetch);

    // When a screen lists the feeds
    const page = await call(client.GET('/feeds'));

    // Then the second answer is the one it gets, with the key sent both times
    expect(page).toEqual({ items: [], next_cursor: null });
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(fetch.mock.calls[1]![0].headers.get('Authorization')).toBe('Bearer fgk_secret');
  });

  it('never repeats a throttled write', async () => {
    const fetch = vi.fn(
      async (_request: Request) =>
        new Response(JSON.stringify({ message: 'Too many requests.' }), {
          status: 429,
          headers: { 'Content-Type': 'application/json', 'Retry-After': '0' },
        }),
    );
    vi.stubGlobal('fetch', fetch);

    const error = (await call(client.POST('/feeds', { body: { name: 'x', unassessed_effect: 'block' } })).catch(
      (caught: unknown) => caught,
    )) as ApiError;

    expect(error.status).toBe(429);
    expect(error.message).toBe('Too many requests.');
    expect(error.transient).toBe(true);
    expect(fetch).toHaveBeenCalledTimes(1);
  });
});

function answer422() {
  return answer(422, {
    message: 'The request is not valid: query.cursor: Not a cursor of this export.',
    details: [{ loc: ['query', 'cursor'], msg: 'Not a cursor of this export', type: 'value_error' }],
  });
}

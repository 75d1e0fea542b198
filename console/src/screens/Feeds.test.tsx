import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { location } from '../router';
import { session } from '../session';
import { FeedsScreen } from './Feeds';
import { fakeApi, feedDetail, json } from '../testing';

const FEEDS = {
  items: [
    { id: 'f_0193a1b2c3d4e5f6a7b8', name: 'demo', description: 'The demo feed', unassessed_effect: 'block', created_at: '2026-12-01T10:00:00Z', role: 'manager' },
    { id: 'f_0193a1b2c3d4e5f6a7b9', name: 'web', description: null, unassessed_effect: 'warn', created_at: '2026-12-02T10:00:00Z', role: 'viewer' },
  ],
  next_cursor: null,
};

function rowOf(name: string): HTMLElement {
  return screen.getByRole('link', { name }).closest('tr') as HTMLElement;
}

describe('the feeds list', () => {
  it("loads every row's counts and last scan, each row with its own failure", async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    let webAnswers = 0;
    const api = fakeApi({
      'GET /feeds': json(200, FEEDS),
      'GET /feeds/demo': json(
        200,
        feedDetail({
          role: 'manager',
          counts: { unassessed: 7, assessed: 3, expired: 2 },
          last_scan: { id: 's1', status: 'partial', finished_at: '2026-12-05T08:00:00Z' },
        }),
      ),
      'GET /feeds/web': () =>
        ++webAnswers === 1
          ? json(503, { message: 'feedguard is busy.' })
          : json(200, feedDetail({ name: 'web', counts: { unassessed: 11, assessed: 0, expired: 0 }, last_scan: null })),
    });
    render(<FeedsScreen />);

    // The list is asked for 25 at most, then each row for its own detail
    const demo = await screen.findByRole('link', { name: 'demo' });
    expect(demo.getAttribute('href')).toBe('#/feeds/demo/vulnerabilities');
    expect(api.of('GET', '/feeds')[0]!.query.get('limit')).toBe('25');
    await waitFor(() => expect(within(rowOf('demo')).getByText('7')).toBeTruthy());
    const demoRow = within(rowOf('demo'));
    expect(demoRow.getByText('3')).toBeTruthy();
    expect(demoRow.getByText('2')).toBeTruthy();
    expect(demoRow.getByText('Partial')).toBeTruthy();
    expect(demoRow.getByText('manager')).toBeTruthy();
    expect(demoRow.getByText('The demo feed')).toBeTruthy();
    expect(demoRow.getByText('Block')).toBeTruthy();

    // The row that failed says so and tries again on its own
    const webRow = within(rowOf('web'));
    expect(await webRow.findByText('Counts not loaded: feedguard is busy.')).toBeTruthy();
    expect(webRow.getByText('Warn')).toBeTruthy();
    await userEvent.click(webRow.getByRole('button', { name: 'Try again for web' }));
    expect(await webRow.findByText('11')).toBeTruthy();
    expect(webRow.getByText('Never scanned')).toBeTruthy();
    expect(api.of('GET', '/feeds/web')).toHaveLength(2);
    expect(api.of('GET', '/feeds/demo')).toHaveLength(1);
    // A non-admin key cannot create feeds
    expect(screen.queryByRole('button', { name: 'Create feed' })).toBeNull();
  });

  it('tells a key with no feed that none is shared with it, and the admin to create one', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    fakeApi({ 'GET /feeds': json(200, { items: [], next_cursor: null }) });
    const { unmount } = render(<FeedsScreen />);
    expect(await screen.findByText(/No feed is shared with your key/)).toBeTruthy();
    unmount();

    session.start('admin', { id: 'admin', name: 'admin', admin: true });
    render(<FeedsScreen />);
    expect(await screen.findByText(/There is no feed yet. Create one/)).toBeTruthy();
  });

  it('pages with the cursor of the answer', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /feeds': (sent) =>
        sent.query.get('cursor') === 'c2'
          ? json(200, { items: [FEEDS.items[1]], next_cursor: null })
          : json(200, { items: [FEEDS.items[0]], next_cursor: 'c2' }),
      'GET /feeds/demo': json(200, feedDetail()),
      'GET /feeds/web': json(200, feedDetail({ name: 'web' })),
    });
    render(<FeedsScreen />);
    await userEvent.click(await screen.findByRole('button', { name: 'Next page' }));
    expect(await screen.findByRole('link', { name: 'web' })).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'demo' })).toBeNull();
    expect(api.of('GET', '/feeds')[1]!.query.get('cursor')).toBe('c2');
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByRole('link', { name: 'demo' })).toBeTruthy();
  });
});

describe('creating a feed (admin)', () => {
  it('refuses a name outside the pattern without asking, shows a 409 by the name, keeps the values, then opens the new feed', async () => {
    session.start('admin', { id: 'admin', name: 'admin', admin: true });
    let posts = 0;
    const api = fakeApi({
      'GET /feeds': json(200, FEEDS),
      'GET /feeds/demo': json(200, feedDetail()),
      'GET /feeds/web': json(200, feedDetail({ name: 'web' })),
      'POST /feeds': () =>
        ++posts === 1
          ? json(409, { message: 'A feed named demo exists already.' })
          : json(201, feedDetail({ name: 'payments', description: 'Card payments', unassessed_effect: 'warn' })),
    });
    render(<FeedsScreen />);
    await userEvent.click(await screen.findByRole('button', { name: 'Create feed' }));
    const dialog = within(await screen.findByRole('dialog'));

    // The effect defaults to block; a name with capitals is refused before any request
    const effect = dialog.getByLabelText('Effect of unassessed findings') as HTMLSelectElement;
    expect(effect.value).toBe('block');
    const name = dialog.getByLabelText('Name') as HTMLInputElement;
    expect(name.getAttribute('aria-describedby')).toBeTruthy();
    expect(dialog.getByText(/Lowercase letters, digits/)).toBeTruthy();
    await userEvent.type(name, 'Payments');
    await userEvent.click(dialog.getByRole('button', { name: 'Create feed' }));
    expect(dialog.getByText(/This name does not fit/)).toBeTruthy();
    expect(api.of('POST', '/feeds')).toHaveLength(0);

    // A name taken already: the 409 by the name field, every value kept
    await userEvent.clear(name);
    await userEvent.type(name, 'demo');
    await userEvent.type(dialog.getByLabelText('Description (optional)'), 'Card payments');
    await userEvent.selectOptions(effect, 'warn');
    await userEvent.click(dialog.getByRole('button', { name: 'Create feed' }));
    expect(await dialog.findByText('A feed named demo exists already.')).toBeTruthy();
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(name.value).toBe('demo');
    expect((dialog.getByLabelText('Description (optional)') as HTMLTextAreaElement).value).toBe('Card payments');
    expect(effect.value).toBe('warn');

    // Then a free name: sent as typed, and the new feed's settings open
    await userEvent.clear(name);
    await userEvent.type(name, 'payments');
    await userEvent.click(dialog.getByRole('button', { name: 'Create feed' }));
    await waitFor(() => expect(location.value.route).toEqual({ name: 'feed', feed: 'payments', tab: 'settings' }));
    expect(api.of('POST', '/feeds')[1]!.body).toEqual({
      name: 'payments',
      description: 'Card payments',
      unassessed_effect: 'warn',
    });
  });

  it("shows a 422's details next to the field they name", async () => {
    session.start('admin', { id: 'admin', name: 'admin', admin: true });
    fakeApi({
      'GET /feeds': json(200, { items: [], next_cursor: null }),
      'POST /feeds': json(422, {
        message: 'The request is not valid: body.description: String should have at most 1000 characters.',
        details: [{ loc: ['body', 'description'], msg: 'String should have at most 1000 characters', type: 'string_too_long' }],
      }),
    });
    render(<FeedsScreen />);
    await userEvent.click((await screen.findAllByRole('button', { name: 'Create feed' }))[0]!);
    const dialog = within(await screen.findByRole('dialog'));
    await userEvent.type(dialog.getByLabelText('Name'), 'payments');
    await userEvent.type(dialog.getByLabelText('Description (optional)'), 'long');
    await userEvent.click(dialog.getByRole('button', { name: 'Create feed' }));
    expect(await dialog.findByText('String should have at most 1000 characters')).toBeTruthy();
    expect(dialog.getByLabelText('Description (optional)').getAttribute('aria-invalid')).toBe('true');
    expect(location.value.route.name).not.toBe('feed');
  });
});

import { render, screen, waitFor } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../app';
import { identity, session } from '../session';
import { json } from '../testing';

describe('signing in', () => {
  it('keeps an accepted key in sessionStorage only and shows the feeds', async () => {
    // Given an API that knows the key
    const fetch = vi.fn(async (request: Request) => {
      if (new URL(request.url).pathname === '/me') return json(200, { id: 'k1', name: 'alice', admin: false });
      return json(200, { items: [], next_cursor: null });
    });
    vi.stubGlobal('fetch', fetch);
    const localSet = vi.spyOn(Storage.prototype, 'setItem');
    render(<App />);

    // When the person pastes the key and signs in with the keyboard
    const field = await screen.findByLabelText('API key');
    await userEvent.type(field, 'fgk_k1_secret{Enter}');

    // Then the key is asked about with its own header, kept for the tab, and never put in the URL
    await waitFor(() => expect(identity.value?.name).toBe('alice'));
    const asked = fetch.mock.calls[0]![0];
    expect(asked.headers.get('Authorization')).toBe('Bearer fgk_k1_secret');
    expect(window.sessionStorage.getItem('feedguard.key')).toBe('fgk_k1_secret');
    expect(window.localStorage.length).toBe(0);
    expect(document.cookie).toBe('');
    expect(window.location.href).not.toContain('fgk_k1_secret');
    expect(localSet.mock.contexts.every((store) => store === window.sessionStorage)).toBe(true);
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();
    // A key that is not the admin's sees no Administration
    expect(screen.queryByRole('link', { name: 'Administration' })).toBeNull();
  });

  it('says so when the key is refused, and keeps nothing', async () => {
    vi.stubGlobal('fetch', async () => json(401, { message: 'Unauthorized' }));
    render(<App />);

    await userEvent.type(await screen.findByLabelText('API key'), 'wrong{Enter}');

    expect(await screen.findByText('That key was not accepted. Check it and try again.')).toBeTruthy();
    expect(session.key()).toBeNull();
  });

  it('forgets the key on sign out', async () => {
    vi.stubGlobal('fetch', async (request: Request) =>
      new URL(request.url).pathname === '/me'
        ? json(200, { id: 'admin', name: 'admin', admin: true })
        : json(200, { items: [], next_cursor: null }),
    );
    render(<App />);
    await userEvent.type(await screen.findByLabelText('API key'), 'admin-key{Enter}');
    expect(await screen.findByRole('link', { name: 'Administration' })).toBeTruthy();

    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));

    expect(session.key()).toBeNull();
    expect(await screen.findByLabelText('API key')).toBeTruthy();
    expect(screen.getByText('You signed out.')).toBeTruthy();
  });
});

describe('a shared link', () => {
  it('comes back to the page it named after signing in', async () => {
    // Given a link to a feed's expired findings, opened without a session
    window.history.replaceState(null, '', '#/feeds/payments/vulnerabilities?status=expired');
    const { location, parse } = await import('../router');
    location.value = parse(window.location.hash);
    vi.stubGlobal('fetch', async (request: Request) =>
      new URL(request.url).pathname === '/me'
        ? json(200, { id: 'k1', name: 'alice', admin: false })
        : json(404, { message: 'No feed payments.' }),
    );
    render(<App />);

    // When the person signs in
    await userEvent.type(await screen.findByLabelText('API key'), 'fgk_k1_secret{Enter}');

    // Then they land on the page the link named, filters and all
    await waitFor(() => expect(window.location.hash).toBe('#/feeds/payments/vulnerabilities?status=expired'));
  });
});

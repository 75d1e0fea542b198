import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { roleOf } from '../../roles';
import { location } from '../../router';
import { session } from '../../session';
import type { FeedDetail } from './FeedScreen';
import { SettingsTab } from './Settings';
import { fakeApi, feedDetail, json } from '../../testing';

const SOURCES = {
  items: [
    { id: 'src1', name: 'oss-index', kind: 'ossindex', url: 'https://api.guide.sonatype.com', auth: 'bearer', username: null, token_set: true, created_at: '2026-12-01T10:00:00Z' },
    { id: 'src2', name: 'mirror', kind: 'ossindex', url: 'https://ossindex.sonatype.org', auth: 'bearer', username: null, token_set: true, created_at: '2026-12-01T10:00:00Z' },
  ],
  next_cursor: null,
};

function renderTab(role: string, overrides: Record<string, unknown> = {}) {
  const detail = feedDetail({ role, sources: ['src1'], ...overrides }) as unknown as FeedDetail;
  const reloadFeed = vi.fn(async () => {});
  render(
    <SettingsTab feed="demo" detail={detail} role={roleOf(role)} reloadFeed={reloadFeed} query={new URLSearchParams()} />,
  );
  return reloadFeed;
}

describe('a feed’s settings', () => {
  it('are read-only for a viewer: no attach, detach, grant or edit, and no permissions asked for', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({ 'GET /sources': json(200, SOURCES) });
    renderTab('viewer');

    expect(await screen.findByText('oss-index')).toBeTruthy();
    expect(screen.getByText(/Your key is/).textContent).toContain('viewer');
    expect(screen.queryByLabelText('Source to attach')).toBeNull();
    expect(screen.queryByRole('button', { name: /Detach/ })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Grant role' })).toBeNull();
    expect(screen.queryByLabelText('Key id')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Save changes' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Delete feed/ })).toBeNull();
    expect(screen.getByText('The demo feed')).toBeTruthy();
    expect(api.of('GET', '/feeds/demo/permissions')).toHaveLength(0);
  });

  it('lets a manager grant a role: a PUT with the role, a 404 by the key id, then the new list', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    let granted = false;
    const api = fakeApi({
      'GET /sources': json(200, SOURCES),
      'GET /feeds/demo/permissions': () =>
        json(200, {
          items: granted ? [{ key_id: 'k7', role: 'assessor', granted_at: '2026-12-06T10:00:00Z' }] : [],
          next_cursor: null,
        }),
      'PUT /feeds/demo/permissions/nokey': json(404, { message: 'There is no API key with id nokey.' }),
      'PUT /feeds/demo/permissions/k7': () => {
        granted = true;
        return json(200, { key_id: 'k7', role: 'assessor', granted_at: '2026-12-06T10:00:00Z' });
      },
    });
    const reloadFeed = renderTab('manager');
    expect(await screen.findByText('No key has a role on this feed yet.')).toBeTruthy();
    // A manager cannot list keys, so types the id; the admin-only Feed form is not there
    expect(screen.queryByLabelText('Key')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Save changes' })).toBeNull();

    const keyId = screen.getByLabelText('Key id') as HTMLInputElement;
    await userEvent.type(keyId, 'nokey');
    await userEvent.selectOptions(screen.getByLabelText('Role'), 'assessor');
    await userEvent.click(screen.getByRole('button', { name: 'Grant role' }));
    expect(await screen.findByText('There is no API key with id nokey.')).toBeTruthy();
    expect(keyId.getAttribute('aria-invalid')).toBe('true');
    expect(keyId.value).toBe('nokey');

    await userEvent.clear(keyId);
    await userEvent.type(keyId, 'k7');
    await userEvent.click(screen.getByRole('button', { name: 'Grant role' }));
    expect(await screen.findByText('k7 is now assessor on demo.')).toBeTruthy();
    const put = api.of('PUT', '/feeds/demo/permissions/k7');
    expect(put).toHaveLength(1);
    expect(put[0]!.body).toEqual({ role: 'assessor' });
    const table = within(screen.getByRole('table', { name: 'Keys with a role on demo' }));
    expect(table.getByText('assessor')).toBeTruthy();
    expect(reloadFeed).toHaveBeenCalled();
  });

  it('lets a manager revoke a role after confirming', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    let revoked = false;
    const api = fakeApi({
      'GET /sources': json(200, SOURCES),
      'GET /feeds/demo/permissions': () =>
        json(200, {
          items: revoked ? [] : [{ key_id: 'k7', role: 'viewer', granted_at: '2026-12-06T10:00:00Z' }],
          next_cursor: null,
        }),
      'DELETE /feeds/demo/permissions/k7': () => {
        revoked = true;
        return json(204, null);
      },
    });
    renderTab('manager');
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke the role of k7' }));
    const dialog = within(await screen.findByRole('dialog'));
    expect(api.of('DELETE', '/feeds/demo/permissions/k7')).toHaveLength(0);
    await userEvent.click(dialog.getByRole('button', { name: 'Revoke role' }));
    expect(await screen.findByText('No key has a role on this feed yet.')).toBeTruthy();
    expect(api.of('DELETE', '/feeds/demo/permissions/k7')).toHaveLength(1);
  });

  it('gives the admin a list of keys to pick from', async () => {
    session.start('admin', { id: 'admin', name: 'admin', admin: true });
    const api = fakeApi({
      'GET /sources': json(200, SOURCES),
      'GET /feeds/demo/permissions': json(200, { items: [], next_cursor: null }),
      'GET /api-keys': json(200, { items: [{ id: 'k9', name: 'ci-bot', created_at: '2026-12-01T10:00:00Z' }], next_cursor: null }),
      'PUT /feeds/demo/permissions/k9': json(200, { key_id: 'k9', role: 'manager', granted_at: '2026-12-06T10:00:00Z' }),
    });
    renderTab('admin');
    const key = await screen.findByLabelText('Key');
    await waitFor(() => expect(within(key).getByText('ci-bot (k9)')).toBeTruthy());
    await userEvent.selectOptions(key, 'k9');
    expect((screen.getByLabelText('Key id') as HTMLInputElement).value).toBe('k9');
    await userEvent.selectOptions(screen.getByLabelText('Role'), 'manager');
    await userEvent.click(screen.getByRole('button', { name: 'Grant role' }));
    expect(await screen.findByText('ci-bot is now manager on demo.')).toBeTruthy();
    expect(api.of('PUT', '/feeds/demo/permissions/k9')[0]!.body).toEqual({ role: 'manager' });
  });

  it('lets a manager attach a source and detach one after confirming', async () => {
    session.start('k', { id: 'k1', name: 'alice', admin: false });
    const api = fakeApi({
      'GET /sources': json(200, SOURCES),
      'GET /feeds/demo/permissions': json(200, { items: [], next_cursor: null }),
      'PUT /feeds/demo/sources/src2': json(200, { feed: 'demo', source_id: 'src2', attached_at: '2026-12-06T10:00:00Z' }),
      'DELETE /feeds/demo/sources/src1': json(204, null),
    });
    const reloadFeed = renderTab('manager');
    const select = await screen.findByLabelText('Source to attach');
    // Only sources not attached yet are offered
    expect(within(select).queryByText(/oss-index/)).toBeNull();
    await userEvent.selectOptions(select, 'src2');
    await userEvent.click(screen.getByRole('button', { name: 'Attach source' }));
    await waitFor(() => expect(api.of('PUT', '/feeds/demo/sources/src2')).toHaveLength(1));
    await waitFor(() => expect(reloadFeed).toHaveBeenCalledTimes(1));

    await userEvent.click(screen.getByRole('button', { name: 'Detach oss-index' }));
    const dialog = within(await screen.findByRole('dialog'));
    expect(api.of('DELETE', '/feeds/demo/sources/src1')).toHaveLength(0);
    await userEvent.click(dialog.getByRole('button', { name: 'Detach source' }));
    await waitFor(() => expect(api.of('DELETE', '/feeds/demo/sources/src1')).toHaveLength(1));
    await waitFor(() => expect(reloadFeed).toHaveBeenCalledTimes(2));
  });

  it('lets the admin change the effect and description, and delete the feed only once its name is typed', async () => {
    session.start('admin', { id: 'admin', name: 'admin', admin: true });
    const api = fakeApi({
      'GET /sources': json(200, SOURCES),
      'GET /feeds/demo/permissions': json(200, { items: [], next_cursor: null }),
      'GET /api-keys': json(200, { items: [], next_cursor: null }),
      'PATCH /feeds/demo': json(200, feedDetail({ unassessed_effect: 'warn', description: 'Shop' })),
      'DELETE /feeds/demo': json(204, null),
    });
    const reloadFeed = renderTab('admin');
    const description = (await screen.findByLabelText('Description')) as HTMLTextAreaElement;
    expect(description.value).toBe('The demo feed');
    await userEvent.clear(description);
    await userEvent.type(description, 'Shop');
    await userEvent.selectOptions(screen.getByLabelText('Effect of unassessed findings'), 'warn');
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(await screen.findByText('Saved.')).toBeTruthy();
    expect(api.of('PATCH', '/feeds/demo')[0]!.body).toEqual({ description: 'Shop', unassessed_effect: 'warn' });
    expect(reloadFeed).toHaveBeenCalled();

    await userEvent.click(screen.getByRole('button', { name: 'Delete feed…' }));
    const dialog = within(await screen.findByRole('dialog'));
    const confirm = dialog.getByRole('button', { name: 'Delete feed' }) as HTMLButtonElement;
    await userEvent.type(dialog.getByLabelText("Type the feed's name, demo, to confirm"), 'dem');
    expect(confirm.disabled).toBe(true);
    await userEvent.type(dialog.getByLabelText("Type the feed's name, demo, to confirm"), 'o');
    expect(confirm.disabled).toBe(false);
    await userEvent.click(confirm);
    await waitFor(() => expect(location.value.route.name).toBe('feeds'));
    expect(api.of('DELETE', '/feeds/demo')).toHaveLength(1);
  });
});

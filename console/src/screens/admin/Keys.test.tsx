import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdminScreen } from './AdminScreen';
import { fakeApi, json, page, signInAsAdmin, type Sent } from '../../testing';

const CI = { id: 'k01abc', name: 'ci-bot', created_at: '2026-12-07T01:00:00Z' };
const SECRET = 'fgk_k01abc_Zx9-very-secret-value';

beforeEach(() => {
  signInAsAdmin();
});

const original = Object.getOwnPropertyDescriptor(window.navigator, 'clipboard');
afterEach(() => {
  if (original) Object.defineProperty(window.navigator, 'clipboard', original);
  else delete (window.navigator as { clipboard?: unknown }).clipboard;
});

function withClipboard(clipboard: unknown) {
  Object.defineProperty(window.navigator, 'clipboard', { value: clipboard, configurable: true });
}

function keysApi() {
  let keys: unknown[] = [];
  return fakeApi({
    'GET /api-keys': () => json(200, page(keys)),
    'POST /api-keys': (sent: Sent) => {
      const { name } = sent.body as { name: string };
      keys = [{ ...CI, name }];
      return json(201, { ...CI, name, key: SECRET });
    },
  });
}

async function createKey(name: string) {
  const form = await screen.findByRole('form', { name: 'New API key' });
  await userEvent.type(within(form).getByLabelText('Name'), name);
  await userEvent.click(within(form).getByRole('button', { name: 'Create key' }));
  return form;
}

describe('API keys', () => {
  it('shows a new key once, copies it, and forgets it when closed', async () => {
    const api = keysApi();
    render(<AdminScreen section="keys" />);
    expect(await screen.findByText(/No API keys yet/)).toBeTruthy();

    const form = await createKey('ci-bot');

    // The key is shown in a dialog, with the warning that it will not come back
    const dialog = await screen.findByRole('dialog', { name: 'Key ci-bot created' });
    expect(api.of('POST', '/api-keys')[0]!.body).toEqual({ name: 'ci-bot' });
    expect((within(dialog).getByLabelText('API key for ci-bot') as HTMLInputElement).value).toBe(SECRET);
    expect(within(dialog).getByText(/it will not be shown again/)).toBeTruthy();
    expect(within(dialog).getByText('k01abc')).toBeTruthy();
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('');

    // Copy puts it on the clipboard and says so
    const writeText = vi.fn(async () => undefined);
    withClipboard({ writeText });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Copy' }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    expect(await within(dialog).findByText('✓ Copied to the clipboard.')).toBeTruthy();

    // Closing it forgets the key: it is nowhere on the page, the list shows its name and id
    await userEvent.click(within(dialog).getByRole('button', { name: 'Done, I have copied it' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(document.body.innerHTML).not.toContain(SECRET);
    const row = (await screen.findByText('ci-bot', { selector: 'strong' })).closest('tr')!;
    expect(within(row).getByText('k01abc')).toBeTruthy();
  });

  it('selects the key to copy by hand where the clipboard is not available', async () => {
    keysApi();
    render(<AdminScreen section="keys" />);
    await createKey('ci-bot');
    const dialog = await screen.findByRole('dialog', { name: 'Key ci-bot created' });
    withClipboard(undefined);

    await userEvent.click(within(dialog).getByRole('button', { name: 'Copy' }));

    const field = within(dialog).getByLabelText('API key for ci-bot') as HTMLInputElement;
    expect(document.activeElement).toBe(field);
    expect([field.selectionStart, field.selectionEnd]).toEqual([0, SECRET.length]);
    expect(within(dialog).getByText(/press Ctrl\+C/)).toBeTruthy();
  });

  it('asks for a name before creating a key, and shows the API refusing one next to it', async () => {
    const api = fakeApi({
      'GET /api-keys': page([]),
      'POST /api-keys': () =>
        json(422, {
          message: 'The request is not valid.',
          details: [{ loc: ['body', 'name'], msg: 'admin is a name the system uses; choose another.' }],
        }),
    });
    render(<AdminScreen section="keys" />);
    const form = await screen.findByRole('form', { name: 'New API key' });
    await userEvent.click(within(form).getByRole('button', { name: 'Create key' }));
    expect(within(form).getByText(/Give the key a name/)).toBeTruthy();
    expect(api.of('POST', '/api-keys')).toHaveLength(0);

    await createKey('admin');
    expect(await within(form).findByText('admin is a name the system uses; choose another.')).toBeTruthy();
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('admin');
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('deletes a key once confirmed, saying it stops working at once', async () => {
    let keys: unknown[] = [CI];
    const api = fakeApi({
      'GET /api-keys': () => json(200, page(keys)),
      'DELETE /api-keys/k01abc': () => {
        keys = [];
        return json(204, null);
      },
    });
    render(<AdminScreen section="keys" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Delete ci-bot' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete the key ci-bot?' });
    expect(dialog.textContent).toContain('stops working at once');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Delete key' }));

    expect(await screen.findByText('Key ci-bot (k01abc) deleted: it no longer works.')).toBeTruthy();
    expect(api.of('DELETE', '/api-keys/k01abc')).toHaveLength(1);
    expect(await screen.findByText(/No API keys yet/)).toBeTruthy();
  });
});

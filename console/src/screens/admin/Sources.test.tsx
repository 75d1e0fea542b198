import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { AdminScreen } from './AdminScreen';
import { fakeApi, json, page, signInAsAdmin, type Sent } from '../../testing';

const LOCAL = {
  id: 'src1',
  name: 'local-ossindex',
  kind: 'ossindex',
  url: 'http://127.0.0.1:38783',
  auth: 'bearer',
  username: null,
  token_set: true,
  created_at: '2026-12-07T01:23:09Z',
  updated_at: null,
  health: { last_success_at: '2026-12-07T01:23:09Z', last_error: null, credits_exhausted: false },
};

const OSV = {
  ...LOCAL,
  id: 'src5',
  name: 'osv',
  kind: 'osv',
  url: 'https://api.osv.dev',
  auth: null,
  token_set: false,
};

beforeEach(() => {
  signInAsAdmin();
});

describe('vulnerability sources', () => {
  it('creates a source with the body the contract names, and never shows its token again', async () => {
    // Given no source yet
    let sources: unknown[] = [];
    const api = fakeApi({
      'GET /sources': () => json(200, page(sources)),
      'POST /sources': (sent: Sent) => {
        const body = sent.body as { name: string; url: string; auth: string; username: string };
        sources = [{ ...LOCAL, id: 'src2', name: body.name, url: body.url, auth: body.auth, username: body.username }];
        return json(201, sources[0]);
      },
    });
    render(<AdminScreen section="sources" />);
    expect(await screen.findByText(/No vulnerability sources yet/)).toBeTruthy();
    const form = screen.getByRole('form', { name: 'New vulnerability source' });

    // The URL starts as Sonatype Guide's; bearer needs no username
    expect((within(form).getByLabelText('URL') as HTMLInputElement).value).toBe('https://api.guide.sonatype.com');
    expect(within(form).queryByLabelText('Username')).toBeNull();

    // When the admin fills it in with basic authentication and adds it
    await userEvent.type(within(form).getByLabelText('Name'), 'sonatype');
    await userEvent.selectOptions(within(form).getByLabelText('Authentication'), 'basic');
    await userEvent.type(within(form).getByLabelText('Username'), 'me@example.com');
    const token = within(form).getByLabelText('Token') as HTMLInputElement;
    expect(token.type).toBe('password');
    await userEvent.type(token, 's3cret-token-value');
    await userEvent.click(within(form).getByRole('button', { name: 'Add source' }));

    // Then the API got exactly the contract's body
    await waitFor(() => expect(api.of('POST', '/sources')).toHaveLength(1));
    expect(api.of('POST', '/sources')[0]!.body).toEqual({
      name: 'sonatype',
      kind: 'ossindex',
      url: 'https://api.guide.sonatype.com',
      auth: 'basic',
      username: 'me@example.com',
      token: 's3cret-token-value',
    });
    // And the list shows the source with "token set", the form is empty again, the token nowhere
    const row = (await screen.findByText('sonatype', { selector: 'strong' })).closest('tr')!;
    expect(within(row).getByText('token set')).toBeTruthy();
    expect(screen.getByText(/Source sonatype added/)).toBeTruthy();
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('');
    expect((within(form).getByLabelText('Token') as HTMLInputElement).value).toBe('');
    expect(document.body.innerHTML).not.toContain('s3cret-token-value');
  });

  it('keeps what was typed and says why when the API refuses the source', async () => {
    const api = fakeApi({
      'GET /sources': page([]),
      'POST /sources': () => json(422, { message: 'A source URL takes no query or fragment.' }),
    });
    render(<AdminScreen section="sources" />);
    const form = await screen.findByRole('form', { name: 'New vulnerability source' });
    const url = within(form).getByLabelText('URL');
    await userEvent.clear(url);
    await userEvent.type(url, 'https://example.com/?x=1');
    await userEvent.type(within(form).getByLabelText('Name'), 'odd');
    await userEvent.type(within(form).getByLabelText('Token'), 'tok');
    await userEvent.click(within(form).getByRole('button', { name: 'Add source' }));

    expect(await within(form).findByText('A source URL takes no query or fragment.')).toBeTruthy();
    expect(api.of('POST', '/sources')).toHaveLength(1);
    expect((within(form).getByLabelText('URL') as HTMLInputElement).value).toBe('https://example.com/?x=1');
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('odd');
    expect((within(form).getByLabelText('Token') as HTMLInputElement).value).toBe('tok');
  });

  it('asks for the username of basic authentication before sending anything', async () => {
    const api = fakeApi({ 'GET /sources': page([]) });
    render(<AdminScreen section="sources" />);
    const form = await screen.findByRole('form', { name: 'New vulnerability source' });
    await userEvent.type(within(form).getByLabelText('Name'), 'sonatype');
    await userEvent.selectOptions(within(form).getByLabelText('Authentication'), 'basic');
    await userEvent.type(within(form).getByLabelText('Token'), 'tok');
    await userEvent.click(within(form).getByRole('button', { name: 'Add source' }));

    expect(within(form).getByText(/Basic authentication needs a username/)).toBeTruthy();
    expect(within(form).getByLabelText('Username').getAttribute('aria-invalid')).toBe('true');
    expect(api.of('POST', '/sources')).toHaveLength(0);
  });

  it('edits a source sending only what changed, and keeps the token when the field is left empty', async () => {
    const api = fakeApi({
      'GET /sources': page([LOCAL]),
      'PATCH /sources/src1': (sent: Sent) => json(200, { ...LOCAL, ...(sent.body as object) }),
    });
    render(<AdminScreen section="sources" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit local-ossindex' }));
    const form = await screen.findByRole('form', { name: 'Edit local-ossindex' });
    expect((within(form).getByLabelText('New token') as HTMLInputElement).value).toBe('');
    const name = within(form).getByLabelText('Name');
    await userEvent.clear(name);
    await userEvent.type(name, 'local');
    await userEvent.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(api.of('PATCH', '/sources/src1')).toHaveLength(1));
    expect(api.of('PATCH', '/sources/src1')[0]!.body).toEqual({ name: 'local' });
    expect(await screen.findByText('Source local saved.')).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Edit local-ossindex' })).toBeNull();
  });

  it('replaces the token and drops the username when a basic source turns to bearer', async () => {
    const basic = { ...LOCAL, auth: 'basic', username: 'me@example.com' };
    const api = fakeApi({
      'GET /sources': page([basic]),
      'PATCH /sources/src1': (sent: Sent) => json(200, { ...basic, ...(sent.body as object), token: undefined }),
    });
    render(<AdminScreen section="sources" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit local-ossindex' }));
    const form = await screen.findByRole('form', { name: 'Edit local-ossindex' });
    expect((within(form).getByLabelText('Username') as HTMLInputElement).value).toBe('me@example.com');
    await userEvent.selectOptions(within(form).getByLabelText('Authentication'), 'bearer');
    await userEvent.type(within(form).getByLabelText('New token'), 'fresh-token-value');
    await userEvent.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(api.of('PATCH', '/sources/src1')).toHaveLength(1));
    expect(api.of('PATCH', '/sources/src1')[0]!.body).toEqual({
      auth: 'bearer',
      username: null,
      token: 'fresh-token-value',
    });
    expect(await screen.findByText('Source local-ossindex saved.')).toBeTruthy();
    expect(document.body.innerHTML).not.toContain('fresh-token-value');
  });

  it('explains a refused delete: which feed still uses the source, and to detach it there first', async () => {
    const api = fakeApi({
      'GET /sources': page([LOCAL]),
      'DELETE /sources/src1': () =>
        json(409, { message: 'Source src1 is attached to feed demo; detach it first.', details: ['demo'] }),
    });
    render(<AdminScreen section="sources" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Delete local-ossindex' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete local-ossindex?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Delete source' }));

    const alert = await within(dialog).findByRole('alert');
    expect(api.of('DELETE', '/sources/src1')).toHaveLength(1);
    expect(alert.textContent).toContain('local-ossindex is still attached to the feed: demo.');
    expect(alert.textContent).toContain('Detach it from that feed first');
    expect(within(alert).getByRole('link', { name: 'demo' }).getAttribute('href')).toBe('#/feeds/demo/settings');
    // Nothing to retry: the dialog only closes, and the source is still listed
    expect(within(dialog).queryByRole('button', { name: 'Delete source' })).toBeNull();
    await userEvent.click(within(dialog).getByRole('button', { name: 'OK' }));
    expect(screen.getByRole('button', { name: 'Delete local-ossindex' })).toBeTruthy();
  });

  it('deletes a source once confirmed', async () => {
    let sources: unknown[] = [LOCAL];
    const api = fakeApi({
      'GET /sources': () => json(200, page(sources)),
      'DELETE /sources/src1': () => {
        sources = [];
        return json(204, null);
      },
    });
    render(<AdminScreen section="sources" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Delete local-ossindex' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Delete source' }));

    expect(await screen.findByText('Source local-ossindex deleted.')).toBeTruthy();
    expect(api.of('DELETE', '/sources/src1')).toHaveLength(1);
    expect(await screen.findByText(/No vulnerability sources yet/)).toBeTruthy();
  });

  it('pages through the sources with the cursor the API gave', async () => {
    const api = fakeApi({
      'GET /sources': (sent: Sent) =>
        sent.query.get('cursor') === 'c2'
          ? json(200, page([{ ...LOCAL, id: 'src9', name: 'second-page' }]))
          : json(200, page([LOCAL], 'c2')),
    });
    render(<AdminScreen section="sources" />);
    await screen.findByText('local-ossindex', { selector: 'strong' });
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));

    expect(await screen.findByText('second-page', { selector: 'strong' })).toBeTruthy();
    expect(api.of('GET', '/sources').at(-1)!.query.get('cursor')).toBe('c2');
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByText('local-ossindex', { selector: 'strong' })).toBeTruthy();
  });

  it('says when the list cannot be loaded, and tries again', async () => {
    let fail = true;
    fakeApi({ 'GET /sources': () => (fail ? json(503, { message: 'Service Unavailable' }) : json(200, page([LOCAL]))) });
    render(<AdminScreen section="sources" />);
    expect(await screen.findByText('Service Unavailable')).toBeTruthy();
    fail = false;
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('local-ossindex', { selector: 'strong' })).toBeTruthy();
  });

  it("shows each source's health: answering, failing with the API's short reason, credits exhausted, not asked yet", async () => {
    const failing = {
      ...LOCAL,
      id: 'src2',
      name: 'metered',
      health: {
        last_success_at: '2026-12-07T01:00:00Z',
        last_error: { at: '2026-12-07T02:00:00Z', status: 402, message: 'OSS Index answered 402: credits exhausted.' },
        credits_exhausted: true,
      },
    };
    const fresh = {
      ...LOCAL,
      id: 'src3',
      name: 'fresh',
      health: { last_success_at: null, last_error: null, credits_exhausted: false },
    };
    fakeApi({ 'GET /sources': page([LOCAL, failing, fresh]) });
    render(<AdminScreen section="sources" />);
    const table = await screen.findByRole('table', { name: 'Vulnerability sources' });
    const row = (name: string) => within(table).getByText(name, { selector: 'strong' }).closest('tr')!;

    expect(within(table).getByRole('columnheader', { name: 'Health' })).toBeTruthy();
    expect(within(row('local-ossindex')).getByText(/^Answered/)).toBeTruthy();
    expect(within(row('local-ossindex')).queryByText(/Failing/)).toBeNull();
    expect(within(row('metered')).getByText('Credits exhausted')).toBeTruthy();
    expect(within(row('metered')).getByText('Failing: OSS Index answered 402: credits exhausted.')).toBeTruthy();
    expect(within(row('metered')).queryByText(/^Answered/)).toBeNull();
    expect(within(row('fresh')).getByText('Not asked yet')).toBeTruthy();
  });

  it('shows the warnings of a source saved with credits exhausted', async () => {
    const warning = 'The source answered 402: its credits are exhausted, so scans of it fail until they are topped up.';
    fakeApi({
      'GET /sources': page([]),
      'POST /sources': () => json(201, { ...LOCAL, id: 'src9', name: 'metered', warnings: [warning] }),
    });
    render(<AdminScreen section="sources" />);
    const form = await screen.findByRole('form', { name: 'New vulnerability source' });
    await userEvent.type(within(form).getByLabelText('Name'), 'metered');
    await userEvent.type(within(form).getByLabelText('Token'), 'tok');
    await userEvent.click(within(form).getByRole('button', { name: 'Add source' }));

    expect(await screen.findByText(warning)).toBeTruthy();
    expect(screen.getByText(/Source metered added/)).toBeTruthy();
  });

  it('creates an OSV source: no credentials, no URL needed, Enter sends it, the list says its kind', async () => {
    // Given no source yet
    let sources: unknown[] = [];
    const api = fakeApi({
      'GET /sources': () => json(200, page(sources)),
      'POST /sources': (sent: Sent) => {
        const body = sent.body as { name: string };
        sources = [{ ...OSV, name: body.name }];
        return json(201, sources[0]);
      },
    });
    render(<AdminScreen section="sources" />);
    const form = await screen.findByRole('form', { name: 'New vulnerability source' });

    // When the admin picks OSV from the labelled Kind choice
    const kind = within(form).getByLabelText('Kind') as HTMLSelectElement;
    expect(kind.value).toBe('ossindex');
    expect(Array.from(kind.options).map((option) => option.text)).toEqual(['Sonatype OSS Index', 'OSV']);
    await userEvent.selectOptions(kind, 'osv');
    expect(kind.value).toBe('osv');

    // Then no token, authentication or username is asked, and the URL is optional with osv.dev's as placeholder
    expect(within(form).queryByLabelText('Token')).toBeNull();
    expect(within(form).queryByLabelText('Authentication')).toBeNull();
    expect(within(form).queryByLabelText('Username')).toBeNull();
    const url = within(form).getByLabelText('URL (optional)') as HTMLInputElement;
    expect(url.value).toBe('');
    expect(url.placeholder).toBe('https://api.osv.dev');

    await userEvent.type(within(form).getByLabelText('Name'), 'osv{Enter}');

    // And the API got a body without credentials or URL (it defaults the URL to osv.dev's)
    await waitFor(() => expect(api.of('POST', '/sources')).toHaveLength(1));
    expect(api.of('POST', '/sources')[0]!.body).toEqual({ name: 'osv', kind: 'osv' });
    expect(await screen.findByText('Source osv added.')).toBeTruthy();
    const row = (await screen.findByText('osv', { selector: 'strong' })).closest('tr')!;
    expect(within(row).getByText('OSV')).toBeTruthy();
    expect(within(row).getByText('No credentials')).toBeTruthy();
    // The form stays on OSV for the next one
    expect((within(form).getByLabelText('Kind') as HTMLSelectElement).value).toBe('osv');
  });

  it('sends an OSV source the URL given, and puts back the OSS Index default when the kind turns back', async () => {
    const api = fakeApi({
      'GET /sources': page([]),
      'POST /sources': () => json(422, { message: 'A source URL must use https.' }),
    });
    render(<AdminScreen section="sources" />);
    const form = await screen.findByRole('form', { name: 'New vulnerability source' });
    await userEvent.selectOptions(within(form).getByLabelText('Kind'), 'osv');
    await userEvent.selectOptions(within(form).getByLabelText('Kind'), 'ossindex');
    expect((within(form).getByLabelText('URL') as HTMLInputElement).value).toBe('https://api.guide.sonatype.com');
    await userEvent.selectOptions(within(form).getByLabelText('Kind'), 'osv');
    await userEvent.type(within(form).getByLabelText('URL (optional)'), 'http://osv.internal');
    await userEvent.type(within(form).getByLabelText('Name'), 'mirror');
    await userEvent.click(within(form).getByRole('button', { name: 'Add source' }));

    // The API's refusal shows as today, and what was typed stays
    expect(await within(form).findByText('A source URL must use https.')).toBeTruthy();
    expect(api.of('POST', '/sources')[0]!.body).toEqual({ name: 'mirror', kind: 'osv', url: 'http://osv.internal' });
    expect((within(form).getByLabelText('URL (optional)') as HTMLInputElement).value).toBe('http://osv.internal');
  });

  it('edits an OSV source without credential fields', async () => {
    const api = fakeApi({
      'GET /sources': page([OSV]),
      'PATCH /sources/src5': (sent: Sent) => json(200, { ...OSV, ...(sent.body as object) }),
    });
    render(<AdminScreen section="sources" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit osv' }));
    const form = await screen.findByRole('form', { name: 'Edit osv' });
    expect(within(form).queryByLabelText('Kind')).toBeNull();
    expect(within(form).queryByLabelText('New token')).toBeNull();
    expect(within(form).queryByLabelText('Authentication')).toBeNull();
    const name = within(form).getByLabelText('Name');
    await userEvent.clear(name);
    await userEvent.type(name, 'osv.dev');
    await userEvent.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(api.of('PATCH', '/sources/src5')).toHaveLength(1));
    expect(api.of('PATCH', '/sources/src5')[0]!.body).toEqual({ name: 'osv.dev' });
  });
});

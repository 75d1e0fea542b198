import { render, screen, within } from '@testing-library/preact';
import { beforeEach, describe, expect, it } from 'vitest';
import { AdminScreen } from './AdminScreen';
import { fakeApi, page, signInAsAdmin } from '../../testing';

beforeEach(signInAsAdmin);

describe('the Administration screen', () => {
  it('links its three sections by route and marks the one shown', async () => {
    const api = fakeApi({ 'GET /assessment-types': page([]) });
    render(<AdminScreen section="types" />);

    const tabs = screen.getByRole('navigation', { name: 'Administration sections' });
    const links = within(tabs).getAllByRole('link');
    expect(links.map((link) => [link.textContent, link.getAttribute('href')])).toEqual([
      ['Vulnerability sources', '#/admin/sources'],
      ['Assessment types', '#/admin/types'],
      ['API keys', '#/admin/keys'],
    ]);
    expect(within(tabs).getByRole('link', { name: 'Assessment types' }).getAttribute('aria-current')).toBe('page');
    expect(within(tabs).getByRole('link', { name: 'API keys' }).getAttribute('aria-current')).toBeNull();
    // Only the section shown asks the API for anything
    expect(await screen.findByRole('heading', { name: 'Assessment types', level: 2 })).toBeTruthy();
    expect(api.sent.map((sent) => sent.path)).toEqual(['/assessment-types']);
  });
});

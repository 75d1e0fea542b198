// Signing in and out: the key lives in this tab's sessionStorage only, a
// refused key says so and stays typed, and a key deleted while it is signed in
// sends the person back to the sign-in page with a message.
import { expect, type Page, test } from '@playwright/test';
import { api, createFeed, createKey, grantRole, signIn } from './support';

const FEED = 'mobile-app';

test.beforeAll(async () => {
  await createFeed(FEED, { description: 'The iOS and Android apps' });
});

function storedKey(page: Page): Promise<string | null> {
  return page.evaluate(() => sessionStorage.getItem('feedguard.key'));
}

test('a refused key is said so and stays typed', async ({ page }) => {
  await page.goto('/');
  const field = page.getByLabel('API key', { exact: true });
  await field.fill('not-a-key-of-this-stack');
  await field.press('Enter');
  await expect(page.getByText('That key was not accepted. Check it and try again.')).toBeVisible();
  await expect(field).toHaveValue('not-a-key-of-this-stack');
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  expect(await storedKey(page)).toBeNull();
});

test('a key deleted while signed in returns to the sign-in page with a message', async ({ page, context }) => {
  const key = await createKey('tom-temporary');
  await grantRole(FEED, key.id, 'viewer');
  await signIn(page, key.key);
  await expect(page.getByRole('row', { name: new RegExp(FEED) })).toBeVisible();

  // Kept in this tab only: not in the address, localStorage or a cookie.
  expect(await storedKey(page)).toBe(key.key);
  expect(page.url()).not.toContain(key.key);
  expect(await page.evaluate(() => JSON.stringify(localStorage))).toBe('{}');
  expect(await context.cookies()).toEqual([]);

  await api('DELETE', `/api-keys/${key.id}`);
  await page.getByRole('link', { name: FEED }).click();

  await expect(page.getByText('Your key was not accepted. Sign in again.')).toBeVisible();
  await expect(page.getByLabel('API key', { exact: true })).toBeVisible();
  await expect(page).toHaveURL(/#\/signin$/);
  expect(await storedKey(page)).toBeNull();
});

test('Sign out forgets the key, and a reload keeps a signed-in tab signed in', async ({ page }) => {
  await signIn(page);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Feeds' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByText('You signed out.')).toBeVisible();
  expect(await storedKey(page)).toBeNull();
  await page.goto('/#/feeds');
  await expect(page.getByLabel('API key', { exact: true })).toBeVisible();
});

// The console is served at / on the API's origin, with the template's
// security headers, and opens on the sign-in form.
import { expect, test } from '@playwright/test';
import { expectAccessible, screenshot, stack } from './support';

test("the console loads at / with the template's headers and asks for an API key", async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // A CSP violation (an inline style or script the policy forbids) is reported as a console error.
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  const assets: { url: string; status: number; cacheControl: string | undefined }[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/console/assets/')) {
      const cacheControl = response.headers()['cache-control'];
      assets.push({ url: response.url(), status: response.status(), cacheControl });
    }
  });

  const response = await page.goto('/');

  expect(response?.status()).toBe(200);
  const headers = response?.headers() ?? {};
  expect(headers['cache-control']).toBe('no-cache');
  const expected = stack().securityHeaders;
  expect(expected['Content-Security-Policy']).toContain('default-src');
  for (const [name, value] of Object.entries(expected)) expect(headers[name.toLowerCase()], name).toBe(value);

  const key = page.getByLabel('API key', { exact: true });
  await expect(key).toBeVisible();
  await expect(key).toHaveAttribute('type', 'password');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();

  expect(assets.length).toBeGreaterThan(0);
  for (const asset of assets) {
    expect(asset, asset.url).toMatchObject({ status: 200, cacheControl: 'public, max-age=31536000, immutable' });
  }
  await expectAccessible(page);
  await screenshot(page, 'sign-in');
  expect(problems).toEqual([]);
});

// Bad input gets a clear answer and loses nothing: the API's 422 next to the
// field it names, and a network failure said as such, with every value typed
// still there to send again.
import { expect, test } from '@playwright/test';
import { LODASH, scannedFeed } from './steps';
import { api, FAKE_OSSINDEX_TOKEN, type Schemas, signIn, stack } from './support';

const FEED = 'reports-job';

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await scannedFeed(FEED, [LODASH], 'Nightly reports');
});

test('a source refused by the API: its reason by the form, nothing stored, every field kept', async ({ page }) => {
  await signIn(page);
  await page.goto('/#/admin/sources');
  const form = page.getByRole('form', { name: 'New vulnerability source' });
  const url = stack().ossIndexURL.replace('://', '://alice:secret@');
  await form.getByLabel('Name').fill('Refused source');
  await form.getByLabel('URL', { exact: true }).fill(url);
  await form.getByLabel('Token').fill(FAKE_OSSINDEX_TOKEN);
  await form.getByRole('button', { name: 'Add source' }).click();

  await expect(form.getByText('Put credentials in the token, not in the source URL.')).toBeVisible();
  await expect(form.getByLabel('Name')).toHaveValue('Refused source');
  await expect(form.getByLabel('URL', { exact: true })).toHaveValue(url);
  await expect(form.getByLabel('Token')).toHaveValue(FAKE_OSSINDEX_TOKEN);
  const sources = await api<{ items: Schemas['SourceView'][] }>('GET', '/sources?limit=500');
  expect(sources.items.map((source) => source.name)).not.toContain('Refused source');

  await form.getByLabel('URL', { exact: true }).fill(stack().ossIndexURL);
  await form.getByRole('button', { name: 'Add source' }).click();
  await expect(page.getByText('Source Refused source added')).toBeVisible();
});

test("the API's 422 shows next to the fields it names, and the form keeps what was typed", async ({ page }) => {
  await signIn(page);
  await page.goto('/#/admin/types');
  const form = page.getByRole('form', { name: 'New assessment type' });
  const longName = 'A name far longer than the sixty-four characters a type name may have';
  await form.getByLabel('Name').fill(longName);
  // The console checks the days are a whole number of at least 1; the API also caps them (3650).
  await form.getByLabel('Expiration (days)').fill('5000');
  await form.getByRole('button', { name: 'Add type' }).click();

  await expect(form.getByText('Nothing was saved: check the fields marked below.')).toBeVisible();
  const name = form.getByLabel('Name');
  const days = form.getByLabel('Expiration (days)');
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(name).toHaveAccessibleDescription(/64/);
  await expect(days).toHaveAttribute('aria-invalid', 'true');
  await expect(days).toHaveAccessibleDescription(/3650/);
  await expect(form.getByLabel('Effect')).toHaveAttribute('aria-invalid', 'false');
  await expect(name).toHaveValue(longName);
  await expect(days).toHaveValue('5000');
});

test('a network failure while assessing is said so; the comment stays and sending again works', async ({ page }) => {
  const id = 'CVE-2021-23337';
  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/vulnerabilities/${id}`);
  await page.getByRole('button', { name: 'Assess', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Assess ${id}` });
  await dialog.getByLabel('Assessment type').selectOption('caution');
  await dialog.getByLabel('Comment').fill('Templates are not built from user input.');
  const expiry = await dialog.getByLabel('Expires on').inputValue();

  await page.route('**/assessment', (route) => route.abort('connectionrefused'));
  await dialog.getByRole('button', { name: 'Save assessment' }).click();
  await expect(dialog.getByRole('alert')).toHaveText('feedguard could not be reached. Check your connection and try again.');
  await expect(dialog.getByLabel('Comment')).toHaveValue('Templates are not built from user input.');
  await expect(dialog.getByLabel('Assessment type')).toHaveValue('caution');
  await expect(dialog.getByLabel('Expires on')).toHaveValue(expiry);
  const finding = await api<Schemas['FindingDetail']>('GET', `/feeds/${FEED}/vulnerabilities/${id}`);
  expect(finding.assessment).toBeNull();

  await page.unroute('**/assessment');
  await dialog.getByRole('button', { name: 'Save assessment' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Assessment', exact: true })).toContainText(
    'Templates are not built from user input.',
  );
});

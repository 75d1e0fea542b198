// Two people on one finding: the assess dialog sends If-Match with the version
// it showed; when someone else changed the assessment meanwhile (here, a PUT
// through the API), the console says so, shows theirs, keeps what was typed,
// and sending again replaces it. An assessment past its expiry asks to be made again.
import { expect, test } from '@playwright/test';
import { assessThroughApi, LODASH, scannedFeed } from './steps';
import { api, type Schemas, signIn } from './support';

const FEED = 'billing-worker';
const ID = 'CVE-2021-23337';
const MINE = 'Reachable through the report templates; the upgrade to 4.17.21 is planned.';
const THEIRS = 'Blocked until lodash 4.17.21 ships.';

test.describe.configure({ mode: 'serial' });

test('a 412 says someone else changed the assessment, shows it and keeps what was typed', async ({ page }) => {
  await scannedFeed(FEED, [LODASH], 'Monthly invoices');
  const first = await assessThroughApi(FEED, ID, { type: 'ignore', comment: 'Only in build tooling.' });

  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/vulnerabilities/${ID}`);
  await page.getByRole('button', { name: 'Assess', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Reassess ${ID}` });
  const current = dialog.getByRole('region', { name: 'Current assessment' });
  await expect(current).toContainText('Ignore');
  await expect(current).toContainText(`Version${first.version}`);
  await dialog.getByLabel('Assessment type').selectOption('caution');
  await dialog.getByLabel('Comment').fill(MINE);

  // Someone else, meanwhile.
  const theirs = await assessThroughApi(FEED, ID, { type: 'blocked', comment: THEIRS }, first.version);
  expect(theirs.version).toBeGreaterThan(first.version);

  await dialog.getByRole('button', { name: 'Save assessment' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Someone else changed this assessment');
  const now = dialog.getByRole('region', { name: 'Now in force' });
  await expect(now).toContainText('Blocked');
  await expect(now).toContainText(THEIRS);
  await expect(now).toContainText(`Version${theirs.version}`);
  await expect(dialog.getByLabel('Comment'), 'what was typed is kept').toHaveValue(MINE);
  await expect(dialog.getByLabel('Assessment type')).toHaveValue('caution');
  // The page behind shows theirs too.
  await expect(page.getByRole('region', { name: 'Assessment', exact: true })).toContainText(THEIRS);
  const finding = await api<Schemas['FindingDetail']>('GET', `/feeds/${FEED}/vulnerabilities/${ID}`);
  expect(finding.assessment?.type, 'the refused PUT changed nothing').toBe('blocked');

  await dialog.getByRole('button', { name: 'Save anyway' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByText(`${ID} is assessed.`)).toBeVisible();
  const assessment = page.getByRole('region', { name: 'Assessment', exact: true });
  await expect(assessment).toContainText('Caution');
  await expect(assessment).toContainText(MINE);
  await expect(assessment).toContainText(`Version${theirs.version + 1}`);
  const history = page.getByRole('region', { name: 'History' }).getByRole('listitem');
  await expect(history.filter({ hasText: 'Assessed' })).toHaveCount(3);
  await expect(history.last()).toContainText(MINE);
});

test('an assessment past its expiry is marked for reassessment in the list and the detail', async ({ page }) => {
  const id = 'CVE-2020-28500';
  // Expires_at must be in the future when sent: a few seconds on, then wait past it.
  const expires = new Date(Date.now() + 3_000);
  await assessThroughApi(FEED, id, {
    type: 'ignore',
    comment: 'Inputs are length-checked.',
    expires_at: expires.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  await signIn(page);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires.getTime() - Date.now() + 1_000)));

  await page.goto(`/#/feeds/${FEED}/vulnerabilities?status=expired`);
  const rows = page.getByRole('table', { name: new RegExp(`Vulnerabilities of ${FEED}, filtered`) }).locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveClass(/row-expired/);
  await expect(rows.first()).toContainText('Expired — reassess');
  await expect(rows.first()).toContainText('Block');
  await expect(rows.first()).toContainText('Needs reassessment');

  await rows.first().getByRole('link', { name: id }).click();
  await expect(page.getByText('Needs reassessment.')).toBeVisible();
  await expect(page.getByRole('region', { name: 'Assessment', exact: true })).toContainText('Not assessed any more');
  await expect(page.getByRole('region', { name: 'History' })).toContainText('Inputs are length-checked.');
  await page.getByRole('button', { name: 'Reassess' }).click();
  const dialog = page.getByRole('dialog', { name: `Reassess ${id}` });
  await dialog.getByLabel('Comment').fill('Still length-checked; looked again.');
  await dialog.getByRole('button', { name: 'Save assessment' }).click();
  await expect(page.getByText(`${id} is assessed.`)).toBeVisible();
  await expect(page.getByText('Needs reassessment.')).toHaveCount(0);
  await expect(page.locator('.vuln-badges')).toContainText('Assessed');
});

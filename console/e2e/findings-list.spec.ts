// The Vulnerabilities tab of a feed with more findings than one page: paging
// through the API's cursors, sorting by score, filtering by severity, minimum
// CVSS and package, and the filters kept in the address across a reload.
import { expect, type Page, test } from '@playwright/test';
import { LODASH, LOG4J, scannedFeed } from './steps';
import { api, type Schemas, signIn, stack } from './support';

const FEED = 'catalog-service';
/** Packages the fake OSS Index does not know; told to, it reports them with made-up findings. */
const MADE_UP = Array.from({ length: 70 }, (_, index) => `pkg:npm/catalog-widget-${index}@1.0.0`);

let total = 0;

async function vulnerableShare(share: number): Promise<void> {
  const response = await fetch(`${stack().controlURL}/ossindex/vulnerable`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ share }),
  });
  expect(response.status, 'the control server takes the share').toBe(200);
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  test.setTimeout(60_000); // scanning some seventy packages
  await vulnerableShare(1);
  try {
    await scannedFeed(FEED, [LOG4J, LODASH, ...MADE_UP], 'Product catalogue and search');
  } finally {
    await vulnerableShare(0);
  }
  let cursor: string | null | undefined;
  do {
    const page = await api<{ items: Schemas['FindingView'][]; next_cursor?: string | null }>(
      'GET',
      `/feeds/${FEED}/vulnerabilities?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    total += page.items.length;
    cursor = page.next_cursor;
  } while (cursor);
  expect(total, 'enough findings for a second page').toBeGreaterThan(100);
});

function findingRows(page: Page) {
  return page.getByRole('table', { name: new RegExp(`Vulnerabilities of ${FEED}`) }).locator('tbody tr');
}

async function scores(page: Page): Promise<number[]> {
  return (await findingRows(page).locator('.score').allTextContents()).map(Number);
}

test("pages through the API's cursors and sorts by score", async ({ page }) => {
  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/vulnerabilities`);
  await expect(findingRows(page)).toHaveCount(100);
  const firstRow = await findingRows(page).first().textContent();
  const first = await scores(page);
  expect(first[0]).toBe(10);
  expect(first, 'highest score first').toEqual([...first].sort((a, b) => b - a));

  const pager = page.getByRole('navigation', { name: 'Pages of vulnerabilities' });
  await expect(pager.getByRole('button', { name: 'Previous page' })).toBeDisabled();
  await pager.getByRole('button', { name: 'Next page' }).click();
  await expect(findingRows(page)).toHaveCount(total - 100);
  const second = await scores(page);
  expect(second[0] ?? 0, 'the second page goes on where the first ended').toBeLessThanOrEqual(first[99] ?? 10);
  await pager.getByRole('button', { name: 'Previous page' }).click();
  await expect(findingRows(page)).toHaveCount(100);
  await expect(findingRows(page).first()).toHaveText(firstRow ?? '');

  await page.getByRole('button', { name: /CVSS/ }).click();
  await expect(page).toHaveURL(/order=asc/);
  await expect(page.getByRole('columnheader', { name: /CVSS/ })).toHaveAttribute('aria-sort', 'ascending');
  await expect(findingRows(page).first().locator('.score')).not.toHaveText('10.0');
  const ascending = await scores(page);
  expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
  await page.reload();
  await expect(page.getByRole('columnheader', { name: /CVSS/ })).toHaveAttribute('aria-sort', 'ascending');
  await expect(findingRows(page)).toHaveCount(100);
});

test('filters by severity, minimum CVSS and package, kept in the address', async ({ page }) => {
  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/vulnerabilities`);
  const filters = page.getByRole('form', { name: 'Filter vulnerabilities' });
  await expect(findingRows(page)).toHaveCount(100);

  await filters.getByLabel('Severity').selectOption('critical');
  await filters.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/severity=critical/);
  // The unfiltered page also starts with a critical row: wait for the filtered answer to replace it.
  await expect
    .poll(() => findingRows(page).count(), { message: 'the filtered page, not the 100 before' })
    .toBeLessThan(100);
  await expect(findingRows(page).first()).toContainText('Critical');
  const critical = await findingRows(page).count();
  await expect(findingRows(page).locator('.badge-severity-critical')).toHaveCount(critical);

  await filters.getByLabel('Minimum CVSS').fill('11');
  await filters.getByRole('button', { name: 'Apply filters' }).click();
  await expect(filters.getByText('A CVSS score is a number from 0 to 10.')).toBeVisible();
  await expect(filters.getByLabel('Minimum CVSS')).toHaveAttribute('aria-invalid', 'true');
  await expect(page, 'a refused filter is not applied').not.toHaveURL(/min_cvss/);

  await filters.getByLabel('Severity').selectOption('');
  await filters.getByLabel('Minimum CVSS').fill('9.5');
  await filters.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/min_cvss=9\.5/);
  await expect(findingRows(page).filter({ hasText: 'CVE-2021-44228' })).toHaveCount(1);
  // Log4Shell is in the unfiltered list too: wait for the filtered page itself.
  await expect.poll(async () => Math.min(...(await scores(page)))).toBeGreaterThanOrEqual(9.5);
  for (const score of await scores(page)) expect(score).toBeGreaterThanOrEqual(9.5);

  await filters.getByLabel('Minimum CVSS').fill('');
  await filters.getByLabel('Package (purl)').fill(LODASH);
  await filters.getByRole('button', { name: 'Apply filters' }).click();
  await expect(findingRows(page)).toHaveCount(2);
  await expect(findingRows(page).nth(0)).toContainText('CVE-2021-23337');
  await expect(findingRows(page).nth(1)).toContainText('CVE-2020-28500');

  await page.reload();
  await expect(page.getByRole('form', { name: 'Filter vulnerabilities' }).getByLabel('Package (purl)')).toHaveValue(LODASH);
  await expect(findingRows(page)).toHaveCount(2);

  await filters.getByLabel('Package (purl)').fill('pkg:npm/not-in-this-feed@1.0.0');
  await filters.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page.getByText('No findings match these filters.')).toBeVisible();
  await page.getByRole('link', { name: 'Clear the filters' }).click();
  await expect(findingRows(page)).toHaveCount(100);
});

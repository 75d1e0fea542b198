// Importing packages the other ways a manager does: a BOM dropped on the
// drop zone (and a file that is not one, refused before anything is sent),
// and purls pasted in the textarea, whose rejected lines stay to be fixed.
import { expect, type Page, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { api, createFeed, createSource, signIn } from './support';

const FEED = 'docs-site';
const BOM = fileURLToPath(new URL('./fixtures/shop-backend.cdx.json', import.meta.url));

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await createFeed(FEED, { description: 'The documentation site' });
  const source = await createSource('Fake OSS Index for docs-site');
  await api('PUT', `/feeds/${FEED}/sources/${source.id}`);
});

/** Drops a file on the import's drop zone, as a file dragged from the desktop. */
async function dropFile(page: Page, name: string, text: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(
    ({ name, text }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([text], name, { type: 'application/json' }));
      return transfer;
    },
    { name, text },
  );
  const zone = page.locator('.dropzone');
  await zone.dispatchEvent('dragenter', { dataTransfer });
  await expect(zone, 'the drop zone shows it will take the file').toHaveClass(/active/);
  await zone.dispatchEvent('drop', { dataTransfer });
}

test('a BOM dropped on the drop zone is imported; a file that is not one is refused with its reason', async ({ page }) => {
  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/packages`);
  await expect(page.getByText('This feed has no packages yet.')).toBeVisible();

  await dropFile(page, 'notes.json', '{"hello": "world"}');
  await expect(page.getByRole('alert')).toHaveText(
    'notes.json is JSON but not a CycloneDX BOM: it has no "bomFormat": "CycloneDX".',
  );
  await expect(page.getByLabel('Drop a CycloneDX BOM (.json) here, or choose one')).toHaveAttribute('aria-invalid', 'true');
  await dropFile(page, 'broken.json', '{"bomFormat": "CycloneDX",');
  await expect(page.getByRole('alert')).toHaveText('broken.json is not JSON. Choose a CycloneDX BOM in JSON format.');

  await dropFile(page, 'dropped.cdx.json', readFileSync(BOM, 'utf8'));
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByText('dropped.cdx.json: a CycloneDX BOM with 6 components.')).toBeVisible();
  await page.getByRole('button', { name: 'Import dropped.cdx.json' }).click();
  await expect(page.getByText('Imported dropped.cdx.json: 5 added, 0 already in the feed, 1 rejected.')).toBeVisible();
  await expect(page.getByText('Succeeded: 5 of 5 packages scanned.')).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole('table', { name: 'Packages of the feed and their verdicts' }).getByRole('row')).toHaveCount(6);
});

test('pasted purls: the rejected ones are listed with their reasons and the text stays to be fixed', async ({ page }) => {
  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/packages`);
  const purls = page.getByLabel('Package URLs, one a line');
  const text = ['pkg:gem/nokogiri@1.10.10', 'pkg:npm/lodash@4.17.20', 'lodash 4.17.20', 'pkg:npm/left-pad'].join('\n');
  await purls.fill(text);
  await page.getByRole('button', { name: 'Import purls' }).click();
  await expect(page.getByText('Imported 4 purls: 1 added, 1 already in the feed, 2 rejected.')).toBeVisible();
  const rejected = page.getByRole('table', { name: 'Rejected packages and why' }).getByRole('row');
  await expect(rejected).toHaveCount(3);
  await expect(rejected.nth(1)).toContainText('lodash 4.17.20');
  await expect(rejected.nth(2)).toContainText('pkg:npm/left-pad');
  for (const row of [rejected.nth(1), rejected.nth(2)]) {
    await expect(row.getByRole('cell').nth(1), 'each rejection says why').not.toBeEmpty();
  }
  await expect(purls, 'what was typed stays, to fix the rejected lines').toHaveValue(text);

  await purls.fill('');
  await page.getByRole('button', { name: 'Import purls' }).click();
  await expect(page.getByText('Paste at least one purl, one a line (pkg:npm/lodash@4.17.20).')).toBeVisible();
});

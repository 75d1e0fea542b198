// The console shows only what the key may do: the admin creates a key and
// makes it a viewer through the console; signed in with it, there is nothing
// to assess, import, scan or administer. An assessor assesses but does not
// manage the feed.
import { expect, type Page, test } from '@playwright/test';
import { LODASH, LOG4J, scannedFeed } from './steps';
import { createKey, grantRole, signIn } from './support';

const FEED = 'storefront';
const LOG4SHELL = 'CVE-2021-44228';

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await scannedFeed(FEED, [LOG4J, LODASH], 'The shop front end');
});

test('a viewer, made one in the console, sees no Assess, no selection, no Administration, no import or scan', async ({
  page,
}) => {
  let viewerKey = '';

  await test.step('the admin creates a key and copies it from the dialog that shows it once', async () => {
    await signIn(page);
    await page.getByRole('link', { name: 'Administration' }).click();
    await page.getByRole('link', { name: 'API keys' }).click();
    const form = page.getByRole('form', { name: 'New API key' });
    await form.getByLabel('Name').fill('vera-viewer');
    await form.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Key vera-viewer created' });
    await expect(dialog.getByText('it will not be shown again')).toBeVisible();
    viewerKey = await dialog.getByLabel('API key for vera-viewer').inputValue();
    expect(viewerKey.length).toBeGreaterThan(20);
    await dialog.getByRole('button', { name: 'Done, I have copied it' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(page.getByRole('row', { name: /vera-viewer/ })).toBeVisible();
    await expect(page.locator('body'), 'the key is shown once only').not.toContainText(viewerKey);
  });

  await test.step("the admin grants it viewer in the feed's Settings", async () => {
    await page.goto(`/#/feeds/${FEED}/settings`);
    const permissions = page.getByRole('region', { name: 'Permissions' });
    const key = permissions.getByLabel('Key', { exact: true });
    const value = await key.locator('option', { hasText: 'vera-viewer' }).getAttribute('value');
    await key.selectOption(value ?? '');
    await expect(permissions.getByLabel('Key id')).toHaveValue(value ?? '');
    await expect(permissions.getByLabel('Role', { exact: true })).toHaveValue('viewer');
    await permissions.getByRole('button', { name: 'Grant role' }).click();
    await expect(permissions.getByText(`vera-viewer is now viewer on ${FEED}.`)).toBeVisible();
    await expect(permissions.getByRole('row', { name: /vera-viewer/ })).toContainText('viewer');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByText('You signed out.')).toBeVisible();
  });

  await test.step('signed in as the viewer: no Administration, no Create feed', async () => {
    await signIn(page, viewerKey);
    await expect(page.locator('.whoami')).toContainText('vera-viewer');
    await expect(page.getByRole('link', { name: 'Administration' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Create feed' })).toHaveCount(0);
    await expect(page.getByRole('row', { name: new RegExp(FEED) })).toContainText('viewer');
  });

  await test.step('the Vulnerabilities tab has no checkboxes and no Assess selected', async () => {
    await page.getByRole('link', { name: FEED }).click();
    const table = page.getByRole('table', { name: new RegExp(`Vulnerabilities of ${FEED}`) });
    await expect(table.getByRole('row')).toHaveCount(6);
    await expect(page.getByRole('checkbox')).toHaveCount(0);
    await expect(page.getByRole('button', { name: /Assess/ })).toHaveCount(0);
  });

  await test.step("Log4Shell's detail has no Assess button", async () => {
    await page.getByRole('link', { name: LOG4SHELL }).click();
    await expect(page.getByRole('heading', { level: 1, name: LOG4SHELL })).toBeVisible();
    await expect(page.getByText('Your role lets you read this finding')).toBeVisible();
    await expect(page.getByRole('button', { name: /Assess|Remove assessment/ })).toHaveCount(0);
  });

  await test.step('Packages has no import, no file picker, no Scan now, no Remove', async () => {
    await page.goto(`/#/feeds/${FEED}/packages`);
    await expect(page.getByRole('table', { name: 'Packages of the feed and their verdicts' }).getByRole('row')).toHaveCount(3);
    await expect(page.getByRole('heading', { name: 'Import packages' })).toHaveCount(0);
    await expect(page.locator('input[type=file]')).toHaveCount(0);
    await expect(page.getByRole('textbox')).toHaveCount(0);
    await expect(page.getByRole('button', { name: /Scan now|Import|Remove/ })).toHaveCount(0);
  });

  await test.step('Settings can be read, not changed', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await expect(page.getByRole('region', { name: 'Permissions' })).toContainText('Your key is viewer on this feed.');
    await expect(page.getByText('Only the admin changes a feed itself.')).toBeVisible();
    await expect(page.getByRole('button', { name: /Attach|Detach|Grant|Revoke|Save|Delete/ })).toHaveCount(0);
    for (const section of ['Vulnerability sources', 'Permissions', 'Feed']) {
      const region = page.getByRole('region', { name: section, exact: true });
      await expect(region.getByRole('combobox'), `nothing to choose in ${section}`).toHaveCount(0);
      await expect(region.getByRole('textbox'), `nothing to type in ${section}`).toHaveCount(0);
    }
  });

  await test.step('the gate answers a viewer', async () => {
    await page.getByRole('link', { name: 'Gate' }).click();
    await page.getByLabel('Package URLs').fill(LODASH);
    await page.getByRole('button', { name: 'Check' }).click();
    await expect(page.locator('.gate-verdict')).toHaveText('Verdict: Block');
  });

  await test.step('Administration by its address says it is for the admin only', async () => {
    await page.goto('/#/admin/keys');
    await expect(page.getByText('Administration is for the admin key only.')).toBeVisible();
    await expect(page.getByRole('form', { name: 'New API key' })).toHaveCount(0);
  });
});

test('an assessor assesses but neither imports, scans nor changes permissions', async ({ page }) => {
  const assessor = await createKey('ada-assessor');
  await grantRole(FEED, assessor.id, 'assessor');
  await signIn(page, assessor.key);
  await page.goto(`/#/feeds/${FEED}/vulnerabilities`);
  await expect(page.getByRole('checkbox', { name: `Select ${LOG4SHELL}` })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Assess selected' })).toBeVisible();
  await page.getByRole('link', { name: LOG4SHELL }).click();
  await expect(page.getByRole('button', { name: 'Assess', exact: true })).toBeVisible();
  await expectNoManagement(page);
});

async function expectNoManagement(page: Page): Promise<void> {
  await page.goto(`/#/feeds/${FEED}/packages`);
  await expect(page.getByRole('table', { name: 'Packages of the feed and their verdicts' })).toBeVisible();
  await expect(page.getByRole('button', { name: /Scan now|Import|Remove/ })).toHaveCount(0);
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('region', { name: 'Permissions' })).toContainText('Your key is assessor on this feed.');
  await expect(page.getByRole('button', { name: /Grant|Revoke|Attach|Detach|Delete|Save/ })).toHaveCount(0);
}

// An OSV source, by keyboard: the admin adds one (free, no credentials, osv.dev
// by default), then opens the demo feed's lodash finding, which both of the
// demo's sources report, and sees its GHSA alias and the version that fixes it,
// on the finding, by its alias's address, and at the gate.
import { expect, test } from '@playwright/test';
import { LODASH, tabTo } from './steps';
import { expectAccessible, screenshot, signIn, stack } from './support';

const SOURCE = 'osv.dev (e2e)';
const CVE = 'CVE-2021-23337';
const GHSA = 'GHSA-35jh-r3h4-6jhm';
const FIXED = '4.17.21';

test.describe.configure({ mode: 'serial' });

test('the admin adds an OSV source and sees a finding’s alias and fixed version, by keyboard', async ({ page }) => {
  test.skip(!stack().seeded, 'needs the seeded demo feed');

  await test.step('sign in and reach the sources by keyboard', async () => {
    await signIn(page);
    await tabTo(page, page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' }));
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 2, name: 'Vulnerability sources' })).toBeVisible();
  });

  await test.step('add an OSV source: no token, no authentication, the URL optional', async () => {
    const form = page.getByRole('form', { name: 'New vulnerability source' });
    const kind = form.getByLabel('Kind');
    await tabTo(page, kind);
    await expect(kind).toHaveValue('ossindex');
    await expect(form.getByLabel('Token')).toBeVisible();
    await page.keyboard.press('ArrowDown');
    await expect(kind).toHaveValue('osv');
    await expect(form.getByLabel('Token'), 'OSV takes no token').toHaveCount(0);
    await expect(form.getByLabel('Authentication')).toHaveCount(0);
    const url = form.getByLabel('URL (optional)');
    await expect(url).toHaveValue('');
    await expect(url).toHaveAttribute('placeholder', 'https://api.osv.dev');
    await expectAccessible(page);
    await page.keyboard.press('Tab');
    await expect(form.getByLabel('Name')).toBeFocused();
    await page.keyboard.type(SOURCE);
    await screenshot(page, 'osv-source-form');
    await page.keyboard.press('Enter');

    await expect(page.getByText(`Source ${SOURCE} added.`)).toBeVisible();
    const row = page.getByRole('row', { name: new RegExp(SOURCE.replace(/[.()]/g, '\\$&')) });
    await expect(row).toContainText('OSV');
    await expect(row).toContainText('https://api.osv.dev');
    await expect(row).toContainText('No credentials');
    await screenshot(page, 'osv-source-added');
  });

  await test.step(`open the demo feed's ${CVE} from its list and see the alias and the fixed version`, async () => {
    await page.goto('/#/feeds/demo/vulnerabilities');
    const link = page.getByRole('link', { name: CVE, exact: true });
    await expect(link).toBeVisible();
    await expect(link.locator('xpath=ancestor::td')).toContainText(`aka ${GHSA}`);
    await tabTo(page, link, { most: 150 });
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: CVE })).toBeVisible();
    const about = page.getByRole('region', { name: 'About this vulnerability' });
    await expect(about.locator('dt:has-text("Also known as") + dd')).toContainText(GHSA);
    const packages = page.getByRole('region', { name: 'Packages of demo it affects' });
    await expect(packages.getByRole('listitem').filter({ hasText: LODASH })).toContainText(`Fixed in ${FIXED}`);
    await expectAccessible(page);
    await screenshot(page, 'osv-finding');
  });

  await test.step('its alias reaches the same finding', async () => {
    await page.goto(`/#/feeds/demo/vulnerabilities/${GHSA}`);
    await expect(page.getByRole('heading', { level: 1, name: CVE })).toBeVisible();
    await expect(page.getByRole('region', { name: 'Packages of demo it affects' })).toContainText(`Fixed in ${FIXED}`);
  });

  await test.step('the gate says the fixed version too', async () => {
    await page.goto('/#/gate?feed=demo');
    await tabTo(page, page.getByLabel('Package URLs'));
    await page.keyboard.type(LODASH);
    await tabTo(page, page.getByRole('button', { name: 'Check' }));
    await page.keyboard.press('Enter');
    const result = page.locator('li.gate-result').filter({ hasText: LODASH });
    const cell = result.getByRole('cell').filter({ has: page.getByRole('link', { name: CVE, exact: true }) });
    await expect(cell).toContainText(`Also known as ${GHSA}`);
    await expect(cell).toContainText(`Fixed in ${FIXED}`);
    await screenshot(page, 'osv-gate');
  });
});

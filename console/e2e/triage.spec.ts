// The walk the console exists for, as ProGet has a person do it: the admin
// creates a source (the local fake OSS Index) and a custom assessment type,
// creates a feed (by keyboard), attaches the source, imports a CycloneDX BOM
// through the file picker, watches the scan end, triages Log4Shell and two
// more findings, and sees the gate's verdict follow.
import { expect, type Page, test } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { dayInBrowser, LODASH, LOG4J, tabTo } from './steps';
import { FAKE_OSSINDEX_TOKEN, screenshot, signIn, stack } from './support';

const BOM = fileURLToPath(new URL('./fixtures/shop-backend.cdx.json', import.meta.url));
const FEED = 'shop-backend';
const SOURCE = 'Local OSS Index';
const TYPE = 'Accepted risk';
const TYPE_DAYS = 30;
const LOG4SHELL = 'CVE-2021-44228';
// The other two findings of log4j-core 2.14.1: once they are assessed too, its verdict is the type's effect.
const OTHERS = ['CVE-2021-45046', 'CVE-2021-45105'];

test.describe.configure({ mode: 'serial' });

test('the admin triages a feed from a CycloneDX import to the gate', async ({ page }) => {
  test.setTimeout(120_000);

  await test.step('sign in with the admin key', async () => {
    await signIn(page);
    await expect(page.getByRole('heading', { level: 1, name: 'Feeds' })).toBeVisible();
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' })).toBeVisible();
  });

  await test.step('create a vulnerability source at the local fake OSS Index', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' }).click();
    await expect(page.getByRole('heading', { level: 2, name: 'Vulnerability sources' })).toBeVisible();
    const form = page.getByRole('form', { name: 'New vulnerability source' });
    await form.getByLabel('Name').fill(SOURCE);
    const url = form.getByLabel('URL', { exact: true });
    await expect(url, 'the URL starts as Sonatype Guide').toHaveValue('https://api.guide.sonatype.com');
    await url.fill(stack().ossIndexURL);
    await expect(form.getByLabel('Authentication')).toHaveValue('bearer');
    const token = form.getByLabel('Token');
    await expect(token).toHaveAttribute('type', 'password');
    await token.fill(FAKE_OSSINDEX_TOKEN);
    await form.getByRole('button', { name: 'Add source' }).click();
    await expect(page.getByText(`Source ${SOURCE} added`)).toBeVisible();
    await expect(page.getByRole('row', { name: new RegExp(SOURCE) })).toContainText(stack().ossIndexURL);
    // The token is never shown again: not in the list, not left in the form.
    await expect(token).toHaveValue('');
    await expect(page.locator('body')).not.toContainText(FAKE_OSSINDEX_TOKEN);
    await screenshot(page, 'admin-sources');
  });

  await test.step('create a custom assessment type', async () => {
    await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Assessment types' }).click();
    const form = page.getByRole('form', { name: 'New assessment type' });
    await form.getByLabel('Name').fill(TYPE);
    await form.getByLabel('Effect').selectOption('warn');
    await form.getByLabel('Colour', { exact: true }).fill('#00695c');
    await expect(form.locator('.color-preview').getByText(TYPE), 'the swatch previews the badge').toBeVisible();
    await form.getByLabel('Expiration (days)').fill(String(TYPE_DAYS));
    await form.getByRole('button', { name: 'Add type' }).click();
    await expect(page.getByText(`Assessment type ${TYPE} added.`)).toBeVisible();
    const row = page.getByRole('row', { name: new RegExp(TYPE) });
    await expect(row).toContainText('Warn');
    await expect(row).toContainText(String(TYPE_DAYS));
    await screenshot(page, 'admin-types');
  });

  await test.step('create a feed, by keyboard only', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Feeds' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Feeds' })).toBeVisible();
    await tabTo(page, page.getByRole('button', { name: 'Create feed' }));
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Create a feed' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByLabel('Name'), 'the cursor starts in the name').toBeFocused();
    await page.keyboard.type(FEED);
    await page.keyboard.press('Tab');
    await expect(dialog.getByLabel('Description (optional)')).toBeFocused();
    await page.keyboard.type("The web shop's server");
    await page.keyboard.press('Tab');
    await expect(dialog.getByLabel('Effect of unassessed findings')).toBeFocused();
    await expect(dialog.getByLabel('Effect of unassessed findings')).toHaveValue('block');
    await page.keyboard.press('Tab');
    await expect(dialog.getByRole('button', { name: 'Create feed' })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: FEED })).toBeVisible();
    await expect(page).toHaveURL(new RegExp(`#/feeds/${FEED}/settings$`));
  });

  await test.step("attach the source in the feed's Settings", async () => {
    const sources = page.getByRole('region', { name: 'Vulnerability sources' });
    await expect(sources.getByText('No source is attached')).toBeVisible();
    const select = sources.getByLabel('Source to attach');
    const value = await select.locator('option', { hasText: SOURCE }).getAttribute('value');
    await select.selectOption(value ?? '');
    await sources.getByRole('button', { name: 'Attach source' }).click();
    await expect(sources.getByRole('row', { name: new RegExp(SOURCE) })).toContainText(stack().ossIndexURL);
    await expect(sources.getByRole('button', { name: `Detach ${SOURCE}` })).toBeVisible();
  });

  await test.step('import a CycloneDX BOM through the file picker and watch its scan end', async () => {
    await page.getByRole('navigation', { name: `${FEED} sections` }).getByRole('link', { name: 'Packages' }).click();
    await expect(page.getByText('This feed has no packages yet.')).toBeVisible();
    await page.getByLabel('Drop a CycloneDX BOM (.json) here, or choose one').setInputFiles(BOM);
    await expect(page.getByText('shop-backend.cdx.json: a CycloneDX BOM with 6 components.')).toBeVisible();
    await page.getByRole('button', { name: 'Import shop-backend.cdx.json' }).click();
    await expect(page.getByText('Imported shop-backend.cdx.json: 5 added, 0 already in the feed, 1 rejected.')).toBeVisible();
    const rejected = page.getByRole('table', { name: 'Rejected packages and why' });
    await expect(rejected.getByRole('row', { name: /no purl/ })).toContainText(
      'The component at components[5] (shop-internal-utils 1.2.0) has no purl.',
    );
    await expectScanEnded(page, 5);
    await expect(page.getByLabel('Scan result').locator('dt:has-text("New findings") + dd')).toHaveText('8');
    const packages = page.getByRole('table', { name: 'Packages of the feed and their verdicts' });
    await expect(packages.getByRole('row')).toHaveCount(6);
    await expect(packages.getByRole('row', { name: new RegExp(LOG4J) })).toContainText('Block');
    await expect(packages.getByRole('row', { name: /requests@2\.31\.0/ })).toContainText('Allow');
  });

  await test.step('press Scan now and see its progress end with the result', async () => {
    await page.getByRole('button', { name: 'Scan now' }).click();
    await expectScanEnded(page, 5);
    await expect(page.getByLabel('Scan result').locator('dt:has-text("New findings") + dd')).toHaveText('0');
    await screenshot(page, 'packages');
  });

  await test.step('the gate blocks log4j and lodash while nothing is assessed', async () => {
    await checkAtTheGate(page, { [LOG4J]: 'Block', [LODASH]: 'Block' });
  });

  await test.step('open the Vulnerabilities tab and Log4Shell', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Feeds' }).click();
    await page.getByRole('link', { name: FEED }).click();
    const table = page.getByRole('table', { name: /Vulnerabilities of shop-backend/ });
    await expect(table.getByRole('row')).toHaveCount(9);
    const first = table.getByRole('row').nth(1);
    await expect(first, 'the most severe first').toContainText(LOG4SHELL);
    await expect(first).toContainText('10.0');
    await expect(first).toContainText('Unassessed');
    await table.getByRole('link', { name: LOG4SHELL }).click();
    await expect(page.getByRole('heading', { level: 1, name: LOG4SHELL })).toBeVisible();
    const about = page.getByRole('region', { name: 'About this vulnerability' });
    await expect(about).toContainText('JNDI lookups in log messages');
    await expect(about).toContainText('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H');
    await expect(about).toContainText('CWE-502');
    await expect(about.getByRole('link', { name: /nvd\.nist\.gov\/vuln\/detail\/CVE-2021-44228/ })).toHaveAttribute(
      'href',
      'https://nvd.nist.gov/vuln/detail/CVE-2021-44228',
    );
    await expect(page.getByRole('region', { name: `Packages of ${FEED} it affects` })).toContainText(LOG4J);
    const history = page.getByRole('region', { name: 'History' }).getByRole('listitem');
    await expect(history).toHaveCount(1);
    await expect(history.first()).toContainText('Detected');
  });

  await test.step('Escape closes the assess dialog and gives the focus back', async () => {
    const assess = page.getByRole('button', { name: 'Assess', exact: true });
    await assess.click();
    await expect(page.getByRole('dialog', { name: `Assess ${LOG4SHELL}` })).toBeVisible();
    await page.keyboard.press('Escape');
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(assess).toBeFocused();
  });

  await test.step('assess Log4Shell with the custom type, its expiry prefilled from the type', async () => {
    await page.getByRole('button', { name: 'Assess', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Assess ${LOG4SHELL}` });
    await dialog.getByLabel('Assessment type').selectOption({ label: `${TYPE} — warn` });
    await expect(dialog.getByLabel('Expires on')).toHaveValue(await dayInBrowser(page, TYPE_DAYS));
    await expect(dialog).toContainText(`Expires after ${TYPE_DAYS} days`);
    await dialog.getByLabel('Comment').fill('Not exploitable here: log4j2.formatMsgNoLookups is set on every service.');
    await screenshot(page, 'assess-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Save assessment' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(page.getByText(`${LOG4SHELL} is assessed.`)).toBeVisible();
    const assessment = page.getByRole('region', { name: 'Assessment' });
    await expect(assessment).toContainText(TYPE);
    await expect(assessment).toContainText('log4j2.formatMsgNoLookups');
    await expect(page.locator('.vuln-badges')).toContainText('Assessed');
    await expect(page.locator('.vuln-badges')).toContainText('Warn');
  });

  await test.step('the history timeline gains the assessment', async () => {
    const history = page.getByRole('region', { name: 'History' }).getByRole('listitem');
    await expect(history).toHaveCount(2);
    await expect(history.nth(1)).toContainText('Assessed');
    await expect(history.nth(1)).toContainText(TYPE);
    await expect(history.nth(1)).toContainText('by admin');
    await expect(history.nth(1)).toContainText('log4j2.formatMsgNoLookups');
    await screenshot(page, 'vulnerability-detail');
  });

  await test.step('back in the list, select two more findings and assess them together, by keyboard', async () => {
    await page.getByRole('link', { name: 'Vulnerabilities', exact: true }).click();
    const table = page.getByRole('table', { name: /Vulnerabilities of shop-backend/ });
    await expect(table.getByRole('row', { name: new RegExp(LOG4SHELL) })).toContainText(TYPE);
    for (const id of OTHERS) {
      const box = table.getByRole('checkbox', { name: `Select ${id}` });
      await tabTo(page, box);
      await page.keyboard.press('Space');
      await expect(box).toBeChecked();
    }
    await expect(page.getByText('2 selected')).toBeVisible();
    await tabTo(page, page.getByRole('button', { name: 'Assess selected' }), { backwards: true });
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Assess 2 vulnerabilities' });
    await expect(dialog).toBeVisible();
    const type = dialog.getByLabel('Assessment type');
    await tabTo(page, type);
    await page.keyboard.type('Acc'); // type-ahead picks the custom type
    await expect(type).toHaveValue('accepted-risk');
    await expect(dialog.getByLabel('Expires on')).toHaveValue(await dayInBrowser(page, TYPE_DAYS));
    await page.keyboard.press('Tab');
    await expect(dialog.getByLabel('Comment')).toBeFocused();
    await page.keyboard.type('Same configuration as Log4Shell: no lookups.');
    await tabTo(page, dialog.getByRole('button', { name: 'Save assessment' }));
    await page.keyboard.press('Enter');
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(page.getByText('Assessed 2 vulnerabilities.')).toBeVisible();
    for (const id of OTHERS) {
      const row = table.getByRole('row', { name: new RegExp(id) });
      await expect(row).toContainText('Assessed');
      await expect(row).toContainText(TYPE);
    }
    await expect(page.getByRole('checkbox', { checked: true })).toHaveCount(0);
  });

  await test.step('filter the list to the assessed findings', async () => {
    await page.getByRole('form', { name: 'Filter vulnerabilities' }).getByLabel('Status').selectOption('assessed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(page).toHaveURL(/status=assessed/);
    const table = page.getByRole('table', { name: /Vulnerabilities of shop-backend, filtered/ });
    await expect(table.getByRole('row')).toHaveCount(4);
    await expect(page.getByLabel('Findings by status')).toHaveText(/Unassessed\s*5\s*Assessed\s*3\s*Expired\s*0/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect(page.getByRole('table', { name: /Vulnerabilities of shop-backend/ }).getByRole('row')).toHaveCount(9);
    await screenshot(page, 'vulnerabilities');
  });

  await test.step("the gate now gives log4j the type's effect and still blocks lodash", async () => {
    await checkAtTheGate(page, { [LOG4J]: 'Warn', [LODASH]: 'Block' });
    await screenshot(page, 'gate');
  });

  await test.step('the feeds list counts the assessed findings', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Feeds' }).click();
    const row = page.getByRole('row', { name: new RegExp(`^${FEED}`) });
    await expect(row.getByRole('cell').nth(2)).toHaveText('5');
    await expect(row.getByRole('cell').nth(3)).toHaveText('3');
    await expect(row.getByRole('cell').nth(4)).toHaveText('0');
    await expect(row).toContainText('Succeeded');
    await screenshot(page, 'feeds');
  });
});

/** The scan on the Packages tab ends: its bar full, "Succeeded" with the count. */
async function expectScanEnded(page: Page, packages: number): Promise<void> {
  const bar = page.getByRole('progressbar', { name: 'Packages scanned' });
  await expect(bar).toBeVisible();
  await expect(page.getByText(`Succeeded: ${packages} of ${packages} packages scanned.`)).toBeVisible({ timeout: 20_000 });
  await expect(bar).toHaveAttribute('max', String(packages));
  await expect(bar).toHaveAttribute('value', String(packages));
}

async function checkAtTheGate(page: Page, expected: Record<string, string>): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Gate' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Gate' })).toBeVisible();
  await page.getByLabel('Feed', { exact: true }).selectOption(FEED);
  await page.getByLabel('Package URLs').fill(Object.keys(expected).join('\n'));
  await page.getByRole('button', { name: 'Check' }).click();
  await expect(page.getByRole('heading', { name: `Verdicts from ${FEED}` })).toBeVisible();
  for (const [purl, verdict] of Object.entries(expected)) {
    const result = page.locator('.gate-results > li').filter({ hasText: purl });
    await expect(result.locator('.gate-verdict')).toHaveText(`Verdict: ${verdict}`);
    await expect(result).toContainText('Scanned');
  }
}

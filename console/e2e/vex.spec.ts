// The VEX export as people take it: an admin gives an assessment type a VEX
// status in the console; a viewer of a feed exports the decisions from the
// feed's page by keyboard and gets one file; an export the API sends in pages
// (docs/vex.md) is fetched page by page and saved as one document.
import { expect, type Page, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { assessThroughApi, LODASH, LOG4J, scannedFeed, tabTo } from './steps';
import { api, createKey, expectAccessible, grantRole, type Schemas, screenshot, signIn, stack } from './support';

const FEED = 'vex-export';
const LOG4SHELL = 'CVE-2021-44228';
const TYPE = 'Mitigated by WAF';

interface CycloneDx {
  serialNumber: string;
  metadata: unknown;
  components: { 'bom-ref': string }[];
  vulnerabilities: { id: string; affects: { ref: string }[] }[];
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await scannedFeed(FEED, [LOG4J, LODASH], 'Its decisions exported as VEX');
});

async function savedFile(page: Page, start: () => Promise<void>): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), start()]);
  return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
}

test('an admin makes a type Not affected; a viewer exports the decision as OpenVEX, by keyboard', async ({
  page,
  browser,
}) => {
  await test.step('the admin adds a type whose VEX status is Not affected, with its justification', async () => {
    await signIn(page);
    await page.goto('/#/admin/types');
    const form = page.getByRole('form', { name: 'New assessment type' });
    await form.getByLabel('Name').fill(TYPE);
    await form.getByLabel('Effect').selectOption('allow');
    const justification = form.getByLabel('VEX justification');
    await expect(justification, 'no justification without Not affected').toBeDisabled();
    await form.getByLabel('VEX status').selectOption('not_affected');
    await expect(justification).toBeEnabled();
    await justification.selectOption('inline_mitigations_already_exist');
    await form.getByRole('button', { name: 'Add type' }).click();
    await expect(page.getByText(`Assessment type ${TYPE} added.`)).toBeVisible();
    const row = page.getByRole('row', { name: new RegExp(TYPE) });
    await expect(row).toContainText('Not affected');
    await expect(row).toContainText('Inline mitigations already exist');
  });

  const types = await api<{ items: Schemas['AssessmentTypeView'][] }>('GET', '/assessment-types?limit=500');
  const type = types.items.find((kind) => kind.name === TYPE)!;
  expect(type).toMatchObject({ vex_status: 'not_affected', vex_justification: 'inline_mitigations_already_exist' });
  await assessThroughApi(FEED, LOG4SHELL, { type: type.id, comment: 'A WAF rule drops JNDI lookups.' });

  const viewer = await createKey('vex-viewer');
  await grantRole(FEED, viewer.id, 'viewer');
  const context = await browser.newContext({ baseURL: stack().baseURL, acceptDownloads: true });
  const viewerPage = await context.newPage();

  await test.step("the viewer picks OpenVEX on the feed's page and saves the file, by keyboard only", async () => {
    await signIn(viewerPage, viewer.key);
    await viewerPage.goto(`/#/feeds/${FEED}/vulnerabilities`);
    const format = viewerPage.getByLabel('VEX format');
    await expect(format).toHaveValue('cyclonedx');
    await tabTo(viewerPage, format);
    await viewerPage.keyboard.press('ArrowDown');
    await expect(format).toHaveValue('openvex');
    const button = viewerPage.getByRole('button', { name: 'Export VEX' });
    await viewerPage.keyboard.press('Tab');
    await expect(button).toBeFocused();

    const file = await savedFile(viewerPage, () => viewerPage.keyboard.press('Enter'));

    expect(file.name).toBe(`${FEED}.vex.openvex.json`);
    const document = JSON.parse(file.text) as {
      '@context': string;
      statements: { vulnerability: { name: string }; status: string; justification?: string; status_notes?: string }[];
    };
    expect(document['@context']).toBe('https://openvex.dev/ns/v0.2.0');
    const log4shell = document.statements.find((statement) => statement.vulnerability.name === LOG4SHELL);
    expect(log4shell).toMatchObject({
      status: 'not_affected',
      justification: 'inline_mitigations_already_exist',
      status_notes: 'A WAF rule drops JNDI lookups.',
    });
    const others = document.statements.filter((statement) => statement.vulnerability.name !== LOG4SHELL);
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((statement) => statement.status === 'under_investigation')).toBe(true);
    await expect(viewerPage.getByRole('status').filter({ hasText: 'Saved' })).toHaveText(
      `Saved ${FEED}.vex.openvex.json.`,
    );
    await expectAccessible(viewerPage);
    await screenshot(viewerPage, 'feed-vex-export', { fullPage: false });
  });
  await context.close();
});

test('an export the API sends in two pages is fetched page by page and saved as one CycloneDX file', async ({
  page,
}) => {
  const whole = await api<CycloneDx>('GET', `/feeds/${FEED}/vex?format=cyclonedx`);
  expect(whole.vulnerabilities.length, 'enough findings to split').toBeGreaterThan(2);
  const half = Math.ceil(whole.vulnerabilities.length / 2);
  let releaseSecond!: () => void;
  const second = new Promise<void>((resolve) => (releaseSecond = resolve));
  let firstSerial = '';
  const asked: string[] = [];

  // The stack's answer cut in two as the API pages a big export: each page a
  // whole document with its own components, the first with a Link to the next.
  await page.route(
    (url) => url.pathname === `/feeds/${FEED}/vex`,
    async (route) => {
      const url = new URL(route.request().url());
      asked.push(url.searchParams.get('cursor') ?? '');
      const cursor = url.searchParams.get('cursor');
      url.searchParams.delete('cursor');
      const real = await route.fetch({ url: url.toString() });
      const document = (await real.json()) as CycloneDx;
      const vulnerabilities = cursor ? document.vulnerabilities.slice(half) : document.vulnerabilities.slice(0, half);
      const refs = new Set(vulnerabilities.flatMap((vulnerability) => vulnerability.affects.map((affect) => affect.ref)));
      const page = { ...document, vulnerabilities, components: document.components.filter((c) => refs.has(c['bom-ref'])) };
      if (!cursor) firstSerial = document.serialNumber;
      else await second;
      const headers = { ...real.headers() };
      if (!cursor) headers.link = '<vex?format=cyclonedx&cursor=e2e-second-page>; rel="next"';
      await route.fulfill({ status: 200, headers, body: JSON.stringify(page) });
    },
  );

  await signIn(page);
  await page.goto(`/#/feeds/${FEED}/packages`);
  const saving = savedFile(page, () => page.getByRole('button', { name: 'Export VEX' }).click());
  await expect(page.getByRole('status').filter({ hasText: 'Fetching page 2…' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Exporting…' })).toBeDisabled();
  await screenshot(page, 'feed-vex-export-page-2', { fullPage: false });
  releaseSecond();
  const file = await saving;

  expect(asked).toEqual(['', 'e2e-second-page']);
  expect(file.name).toBe(`${FEED}.vex.cdx.json`);
  const merged = JSON.parse(file.text) as CycloneDx;
  expect(merged.serialNumber).toBe(firstSerial);
  expect(merged.vulnerabilities.map((vulnerability) => vulnerability.id)).toEqual(
    whole.vulnerabilities.map((vulnerability) => vulnerability.id),
  );
  const refs = merged.components.map((component) => component['bom-ref']);
  expect(new Set(refs).size, 'each component once').toBe(refs.length);
  expect([...refs].sort()).toEqual(whole.components.map((component) => component['bom-ref']).sort());
  await expect(page.getByRole('status').filter({ hasText: 'Saved' })).toHaveText(
    `Saved ${FEED}.vex.cdx.json (2 pages merged).`,
  );
});

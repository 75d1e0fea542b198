// Every screen passes axe-core with no serious or critical violation, Tab
// reaches every control on it and shows where the focus is, and at 390 px wide
// (a phone) no screen scrolls sideways: wide tables scroll inside their own
// box. Screenshots of each screen at 390 px are saved to look at.
import { expect, type Page, test } from '@playwright/test';
import { assessThroughApi, expectEveryControlTabbable, expectNoHorizontalOverflow, LODASH, LOG4J, scannedFeed } from './steps';
import { createKey, expectAccessible, screenshot, signIn } from './support';

const FEED = 'payments-api';
const LOG4SHELL = 'CVE-2021-44228';

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await scannedFeed(FEED, [LOG4J, LODASH, 'pkg:npm/axios@0.21.0', 'pkg:pypi/requests@2.19.1'], 'Card payments and refunds');
  await assessThroughApi(FEED, LOG4SHELL, { type: 'caution', comment: 'Lookups are disabled on every service.' });
  await createKey('ci-bot');
});

/** The screens, each opened and waited for until its data shows. */
const SCREENS: { name: string; open: (page: Page) => Promise<void> }[] = [
  {
    name: 'feeds',
    open: async (page) => {
      await page.goto('/#/feeds');
      await expect(page.getByRole('row', { name: new RegExp(FEED) })).toContainText('Succeeded');
    },
  },
  {
    name: 'feed-vulnerabilities',
    open: async (page) => {
      await page.goto(`/#/feeds/${FEED}/vulnerabilities`);
      await expect(page.getByRole('table', { name: /Vulnerabilities of/ }).getByRole('row')).toHaveCount(10);
    },
  },
  {
    name: 'vulnerability-detail',
    open: async (page) => {
      await page.goto(`/#/feeds/${FEED}/vulnerabilities/${LOG4SHELL}`);
      await expect(page.getByRole('region', { name: 'History' }).getByRole('listitem')).toHaveCount(2);
    },
  },
  {
    name: 'assess-dialog',
    open: async (page) => {
      await page.goto(`/#/feeds/${FEED}/vulnerabilities/${LOG4SHELL}`);
      await page.getByRole('button', { name: 'Assess', exact: true }).click();
      await expect(page.getByRole('dialog', { name: `Reassess ${LOG4SHELL}` }).getByLabel('Comment')).toBeVisible();
    },
  },
  {
    name: 'packages',
    open: async (page) => {
      await page.goto(`/#/feeds/${FEED}/packages`);
      await expect(page.getByRole('table', { name: 'Packages of the feed and their verdicts' }).getByRole('row')).toHaveCount(5);
    },
  },
  {
    name: 'settings',
    open: async (page) => {
      await page.goto(`/#/feeds/${FEED}/settings`);
      await expect(page.getByRole('region', { name: 'Vulnerability sources' }).getByRole('row')).toHaveCount(2);
      await expect(page.getByRole('region', { name: 'Permissions' }).getByText('No key has a role')).toBeVisible();
    },
  },
  {
    name: 'gate',
    open: async (page) => {
      await page.goto(`/#/gate?feed=${FEED}`);
      await page.getByLabel('Package URLs').fill([LOG4J, LODASH, 'pkg:pypi/requests@2.19.1'].join('\n'));
      await page.getByRole('button', { name: 'Check' }).click();
      await expect(page.locator('.gate-results > li')).toHaveCount(3);
    },
  },
  {
    name: 'admin-sources',
    open: async (page) => {
      await page.goto('/#/admin/sources');
      await expect(page.getByRole('row', { name: /Fake OSS Index/ })).toBeVisible();
    },
  },
  {
    name: 'admin-types',
    open: async (page) => {
      await page.goto('/#/admin/types');
      await expect(page.getByRole('row', { name: /Blocked/ })).toBeVisible();
    },
  },
  {
    name: 'admin-keys',
    open: async (page) => {
      await page.goto('/#/admin/keys');
      await expect(page.getByRole('row', { name: /ci-bot/ })).toBeVisible();
    },
  },
  {
    name: 'admin-key-created',
    open: async (page) => {
      await page.goto('/#/admin/keys');
      await page.getByRole('form', { name: 'New API key' }).getByLabel('Name').fill('release-bot');
      await page.getByRole('button', { name: 'Create key' }).click();
      await expect(page.getByRole('dialog', { name: 'Key release-bot created' })).toBeVisible();
    },
  },
];

test('axe-core finds no serious or critical violation on any screen', async ({ page }) => {
  test.setTimeout(60_000);
  await page.goto('/');
  await expect(page.getByLabel('API key', { exact: true })).toBeVisible();
  await test.step('sign-in', () => expectAccessible(page));
  await signIn(page);
  for (const screen of SCREENS) {
    await test.step(screen.name, async () => {
      await screen.open(page);
      await expectAccessible(page);
    });
  }
});

test('Tab reaches every control of every screen, with the focus shown', async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto('/');
  await expect(page.getByLabel('API key', { exact: true })).toBeVisible();
  await expectEveryControlTabbable(page, 'sign-in');
  await signIn(page);
  for (const screen of SCREENS) {
    await test.step(screen.name, async () => {
      await screen.open(page);
      await expectEveryControlTabbable(page, screen.name);
    });
  }
});

test('at 390 px wide no screen scrolls sideways', async ({ page }) => {
  test.setTimeout(60_000);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  await expect(page.getByLabel('API key', { exact: true })).toBeVisible();
  await expectNoHorizontalOverflow(page, 'sign-in');
  await signIn(page);
  for (const screen of SCREENS) {
    await test.step(screen.name, async () => {
      await screen.open(page);
      await expectNoHorizontalOverflow(page, screen.name);
      const dialog = page.getByRole('dialog');
      const modal = (await dialog.count()) > 0;
      await screenshot(page, `narrow-${screen.name}`, { fullPage: !modal });
      if (modal) {
        // A dialog taller than the window scrolls: its last button can still be reached.
        const last = dialog.getByRole('button').last();
        await last.scrollIntoViewIfNeeded();
        await expect(last).toBeInViewport();
      }
    });
  }
});

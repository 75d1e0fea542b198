// End-to-end walks in a real browser (Debian's Chromium) against the real
// local stack: e2e/global-setup.ts starts it and hands its address to the specs.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './e2e',
  outputDir: './test-results',
  globalSetup: './e2e/global-setup.ts',
  globalTeardown: './e2e/global-teardown.ts',
  // One stack, one browser: the walks share its data and the machine has two cores.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 60_000,
  // A function's first call in the local stack starts its process (several
  // seconds on a busy two-core machine): what a screen shows may wait for it.
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    // Set by global-setup.ts, before the workers that run the specs start.
    baseURL: process.env.FEEDGUARD_E2E_BASE_URL,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: { executablePath: process.env.PLAYWRIGHT_CHROMIUM || '/usr/bin/chromium' },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});

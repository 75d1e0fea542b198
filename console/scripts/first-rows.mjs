// make bench: how long a person waits, from navigation to the first rows of a
// feed's Vulnerabilities tab, in Debian's Chromium against a running stack.
// Each run is a fresh browser context (no HTTP cache: the bundle is fetched
// as on a first visit), signed in the way a reload of a signed-in tab is.
// Usage: node scripts/first-rows.mjs <base url> <key> <feed> <runs>
// Prints one JSON line: {"samples_ms": [...], "rows": n}.
import { chromium } from 'playwright-core';

const [base, key, feed, runs = '5'] = process.argv.slice(2);
if (!base || !key || !feed) {
  console.error('usage: first-rows.mjs <base url> <key> <feed> <runs>');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.PLAYWRIGHT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
});
const samples = [];
let rows = 0;
try {
  for (let run = 0; run < Number(runs); run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((value) => window.sessionStorage.setItem('feedguard.key', value), key);
    const page = await context.newPage();
    await page.goto(`${base}/#/feeds/${encodeURIComponent(feed)}/vulnerabilities`);
    // Polled every animation frame in the page: the moment the first row is there.
    const handle = await page.waitForFunction(
      () => (document.querySelector('table tbody tr td') ? performance.now() : 0),
      undefined,
      { timeout: 60_000 },
    );
    samples.push(Math.round((await handle.jsonValue()) * 10) / 10);
    rows = await page.locator('table tbody tr').count();
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ samples_ms: samples, rows }));

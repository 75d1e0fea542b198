// What the walks do the way a person does it (the keyboard, a narrow window),
// and what they set up underneath through the API (a feed scanned by the fake
// OSS Index, an assessment changed behind the console's back).
import { expect, type Locator, type Page } from '@playwright/test';
import { api, ApiCallError, addPackages, createFeed, createSource, type Schemas, stack, waitForScan } from './support';

export const LOG4J = 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1';
export const LODASH = 'pkg:npm/lodash@4.17.20';

/**
 * Presses Tab until `target` has the focus, as a keyboard user moves through
 * the page; fails when it is not reached (not focusable, or out of the order).
 */
export async function tabTo(page: Page, target: Locator, { backwards = false, most = 60 } = {}): Promise<void> {
  const handle = await target.elementHandle();
  if (!handle) throw new Error(`Nothing to tab to: ${target.toString()}`);
  for (let presses = 0; presses < most; presses++) {
    if (await handle.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`${target.toString()} was not reached with ${most} presses of Tab.`);
}

/**
 * Presses Tab through the page (or the open modal dialog) and fails unless
 * every visible, enabled control got the focus and showed it (an outline).
 */
export async function expectEveryControlTabbable(page: Page, screen: string): Promise<void> {
  const controls = await page.evaluate(() => {
    const root = document.querySelector('dialog[open]') ?? document.body;
    const candidates = Array.from(
      root.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea, summary, [tabindex]'),
    );
    return candidates
      .filter((element) => {
        const box = element.getBoundingClientRect();
        const style = getComputedStyle(element);
        const disabled = (element as HTMLButtonElement).disabled === true;
        const hidden = element.closest('details:not([open])') && element.tagName !== 'SUMMARY';
        // A native control counts even when made unfocusable (tabindex=-1): that is what this finds.
        const native = element.matches('a[href], button, input, select, textarea, summary');
        const visible = box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
        return visible && !disabled && !hidden && (native || element.tabIndex >= 0);
      })
      .map((element, index) => {
        element.dataset.e2eControl = String(index);
        const label = element.id ? document.querySelector(`label[for="${element.id}"]`)?.textContent : null;
        const name = element.getAttribute('aria-label') ?? label ?? element.textContent?.trim() ?? '';
        const type = element.getAttribute('type');
        return `${element.tagName.toLowerCase()}${type ? `[type=${type}]` : ''} "${name.trim().slice(0, 40)}"`;
      });
  });
  const reached = new Set<number>();
  const unshown: string[] = [];
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let presses = 0; presses < controls.length * 2 + 10 && reached.size < controls.length; presses++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const element = document.activeElement as HTMLElement | null;
      if (!element?.dataset.e2eControl) return null;
      const style = getComputedStyle(element);
      const shown = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
      return { index: Number(element.dataset.e2eControl), shown, style: `${style.outlineStyle} ${style.outlineWidth}` };
    });
    if (!focused) continue;
    reached.add(focused.index);
    if (!focused.shown) unshown.push(`${controls[focused.index] ?? focused.index} (outline: ${focused.style})`);
  }
  const missed = controls.filter((_, index) => !reached.has(index));
  expect(missed, `${screen}: controls Tab never reached`).toEqual([]);
  expect(unshown, `${screen}: controls that took the focus without showing it`).toEqual([]);
}

/** The page does not scroll sideways: everything fits the window's width. */
export async function expectNoHorizontalOverflow(page: Page, screen: string): Promise<void> {
  const widths = await page.evaluate(() => {
    const scroller = document.scrollingElement ?? document.documentElement;
    // What sticks out, to say which element to fix when this fails.
    const wider = Array.from(document.querySelectorAll<HTMLElement>('body *'))
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
      .filter((element) => !element.closest('.table-wrap, pre'))
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className}`);
    return { scroll: scroller.scrollWidth, window: window.innerWidth, wider };
  });
  expect(widths.scroll, `${screen} at ${widths.window} px scrolls sideways; wider: ${widths.wider.join(', ')}`).toBeLessThanOrEqual(
    widths.window,
  );
}

const SHARED_SOURCE = 'Fake OSS Index';

/** The source at the fake OSS Index the walks' feeds share, created once. */
async function sharedSource(): Promise<Schemas['SourceView']> {
  const sources = await api<{ items: Schemas['SourceView'][] }>('GET', '/sources?limit=500');
  return sources.items.find((source) => source.name === SHARED_SOURCE) ?? createSource(SHARED_SOURCE);
}

/** A feed with the fake OSS Index attached and packages scanned, made through the API. */
export async function scannedFeed(name: string, purls: string[], description?: string): Promise<Schemas['FeedDetail']> {
  await createFeed(name, { description: description ?? null });
  const source = await sharedSource();
  await api('PUT', `/feeds/${name}/sources/${source.id}`);
  const imported = await addPackages(name, purls);
  if (imported.rejected.length) throw new Error(`Rejected: ${JSON.stringify(imported.rejected)}`);
  if (!imported.scan_id) throw new Error(`Adding packages to ${name} started no scan.`);
  const scan = await waitForScan(imported.scan_id);
  expect(scan.status, `the scan of ${name}`).toBe('succeeded');
  return api('GET', `/feeds/${name}`);
}

/** PUT an assessment as someone else would, with the admin key; `version` is sent as If-Match. */
export async function assessThroughApi(
  feed: string,
  id: string,
  body: { type: string; comment?: string; expires_at?: string | null },
  version?: number,
): Promise<Schemas['AssessmentView']> {
  const { baseURL, adminKey } = stack();
  const path = `/feeds/${encodeURIComponent(feed)}/vulnerabilities/${encodeURIComponent(id)}/assessment`;
  const response = await fetch(`${baseURL}${path}`, {
    method: 'PUT',
    headers: {
      Authorization: `Bearer ${adminKey}`,
      'Content-Type': 'application/json',
      ...(version === undefined ? {} : { 'If-Match': String(version) }),
    },
    body: JSON.stringify(body),
  });
  const answer: unknown = await response.json();
  if (!response.ok) throw new ApiCallError(response.status, answer, `PUT ${path}`);
  return answer as Schemas['AssessmentView'];
}

/** `YYYY-MM-DD` of today plus some days, in the browser's own time zone. */
export function dayInBrowser(page: Page, days: number): Promise<string> {
  return page.evaluate((days) => {
    const now = new Date();
    const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() + days);
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
  }, days);
}

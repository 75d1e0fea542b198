// What every walk needs: the stack global-setup.ts started, signing in as a
// person does, setting data up through the API, screenshots to look at, and
// an accessibility check.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { components } from '../src/api/schema';

export type Schemas = components['schemas'];

export interface Stack {
  baseURL: string;
  adminKey: string;
  /** The fake OSS Index; a source at this URL takes the token FAKE_OSSINDEX_TOKEN. */
  ossIndexURL: string;
  /** The local control server: docs/local-stack.md. */
  controlURL: string;
  /** Whether the stack seeded the `demo` feed. */
  seeded: boolean;
  /** The headers template.yaml's ConsoleResponseHeadersPolicy adds, by name. */
  securityHeaders: Record<string, string>;
}

export const FAKE_OSSINDEX_TOKEN = 'local-fake-token';
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the specs with \`npm run e2e\` (global-setup.ts sets it).`);
  return value;
}

export function stack(): Stack {
  return {
    baseURL: required('FEEDGUARD_E2E_BASE_URL'),
    adminKey: required('FEEDGUARD_E2E_ADMIN_KEY'),
    ossIndexURL: required('FEEDGUARD_E2E_OSSINDEX_URL'),
    controlURL: required('FEEDGUARD_E2E_CONTROL_URL'),
    seeded: required('FEEDGUARD_E2E_SEEDED') === '1',
    securityHeaders: JSON.parse(required('FEEDGUARD_E2E_SECURITY_HEADERS')) as Record<string, string>,
  };
}

// ------------------------------------------------------------ the browser

/** Opens the console and signs in with the key, as a person does. */
export async function signIn(page: Page, key: string = stack().adminKey): Promise<void> {
  await page.goto('/');
  const field = page.getByLabel('API key', { exact: true });
  await field.fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // The form stays while the key is checked ("Signing in…") and when it is refused.
  await expect(field, 'the sign-in form is still there: was the key refused?').toHaveCount(0, { timeout: 10_000 });
}

/**
 * A full-page screenshot in e2e/screenshots/<name>.png, to look at; with an
 * open modal dialog, take the window only (`fullPage: false`): the dialog
 * stays where the window is while a full page stretches out behind it.
 */
export async function screenshot(page: Page, name: string, { fullPage = true } = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage });
}

/** Fails on any serious or critical axe-core violation of the page as it is now. */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const violations = results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => {
      const where = violation.nodes.map((node) => node.target.join(' ')).join(', ');
      return `${violation.impact} ${violation.id}: ${violation.help} (${where})`;
    });
  expect(violations, `axe-core on ${page.url()}`).toEqual([]);
}

// ------------------------------------------------------------ the API, for setting data up

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what} answered ${status}: ${JSON.stringify(body)}`);
  }
}

/** One call to the stack's API with a key (the admin key by default); throws on a 4xx or 5xx. */
export async function api<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const { baseURL, adminKey } = stack();
  const response = await fetch(`${baseURL}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key ?? adminKey}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiCallError(response.status, parsed, `${method} ${path}`);
  return parsed as T;
}

/** A new API key; its secret (`key`) is in this answer only. */
export function createKey(name: string): Promise<Schemas['IssuedKeyView']> {
  return api('POST', '/api-keys', { name });
}

export function createFeed(name: string, settings: Partial<Schemas['NewFeed']> = {}): Promise<Schemas['FeedView']> {
  return api('POST', '/feeds', { name, ...settings });
}

/** Gives a key a role (viewer, assessor, manager) on a feed. */
export function grantRole(
  feed: string,
  keyId: string,
  role: 'viewer' | 'assessor' | 'manager',
): Promise<Schemas['PermissionView']> {
  return api('PUT', `/feeds/${encodeURIComponent(feed)}/permissions/${encodeURIComponent(keyId)}`, { role });
}

/** A source at the stack's fake OSS Index. */
export function createSource(name: string): Promise<Schemas['SourceView']> {
  return api('POST', '/sources', { name, kind: 'ossindex', url: stack().ossIndexURL, token: FAKE_OSSINDEX_TOKEN });
}

export function attachSource(feed: string, sourceId: string): Promise<unknown> {
  return api('PUT', `/feeds/${encodeURIComponent(feed)}/sources/${encodeURIComponent(sourceId)}`);
}

/** Adds packages by purl; the answer names the scan they started. */
export function addPackages(feed: string, purls: string[]): Promise<Schemas['ImportResult']> {
  return api('POST', `/feeds/${encodeURIComponent(feed)}/packages`, { purls });
}

/** Waits for a scan to finish and returns it. */
export async function waitForScan(scanId: string, timeoutMs = 30_000): Promise<Schemas['ScanView']> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scan = await api<Schemas['ScanView']>('GET', `/scans/${encodeURIComponent(scanId)}`);
    if (scan.status !== 'queued' && scan.status !== 'running') return scan;
    if (Date.now() > deadline) throw new Error(`Scan ${scanId} is still ${scan.status} after ${timeoutMs} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

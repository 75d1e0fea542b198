// The console's budget: the JavaScript the first page loads, gzipped, is at
// most 200 KB. Reads dist/index.html, follows its module scripts and their
// static imports (modulepreload links), and fails the build past the budget.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 200 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const scripts = new Set();
for (const match of html.matchAll(/<script[^>]+src="([^"]+)"/g)) scripts.add(match[1]);
for (const match of html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g)) scripts.add(match[1]);

let total = 0;
const files = [];
for (const src of scripts) {
  const bytes = gzipSync(readFileSync(join(dist, src.replace(/^\//, ''))), { level: 9 }).length;
  files.push({ src, gzip_bytes: bytes });
  total += bytes;
}
const report = { first_page_js_gzip_bytes: total, budget_bytes: BUDGET_BYTES, files };
console.log(JSON.stringify(report));
if (total > BUDGET_BYTES) {
  console.error(`The first page loads ${total} bytes of gzipped JavaScript, over the ${BUDGET_BYTES}-byte budget.`);
  process.exit(1);
}

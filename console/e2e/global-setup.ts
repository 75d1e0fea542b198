// Starts the real local stack (python -m infra.dev, as `make dev` runs it) for
// the walks, and hands its addresses to the specs through FEEDGUARD_E2E_*
// variables, which the workers inherit. global-teardown.ts stops it.
//
// FEEDGUARD_E2E_SEED=0 starts without the demo feed (default 1);
// FEEDGUARD_CONSOLE_DIR serves another build than console/dist.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const STARTUP_SECONDS = 120;

/** What global-teardown.ts needs: the same process runs both. */
export interface RunningStack {
  process: ChildProcess;
  /** Holds the stack's log and env.json; kept when the stack fails. */
  work: string;
  log: string;
}
const holder = globalThis as { feedguardStack?: RunningStack };
export function runningStack(): RunningStack | undefined {
  return holder.feedguardStack;
}

export default async function globalSetup(): Promise<void> {
  const python = join(REPO, '.venv/bin/python');
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run \`make dev\` or \`make test\` once to create it.`);
  }
  const consoleDir = process.env.FEEDGUARD_CONSOLE_DIR || join(REPO, 'console/dist');
  if (!existsSync(join(consoleDir, 'index.html'))) {
    throw new Error(`No console build in ${consoleDir}: run \`npm --prefix console run build\` first.`);
  }

  const work = mkdtempSync(join(tmpdir(), 'feedguard-e2e-'));
  const log = join(work, 'stack.log');
  const adminKey = process.env.FEEDGUARD_E2E_ADMIN_KEY || `e2e-admin-${randomBytes(16).toString('hex')}`;
  const seeded = (process.env.FEEDGUARD_E2E_SEED ?? '1') !== '0';
  const output = openSync(log, 'w');
  const child = spawn(python, ['-m', 'infra.dev'], {
    cwd: REPO,
    stdio: ['ignore', output, output],
    env: {
      ...process.env,
      PYTHONPATH: `${join(REPO, 'functions')}:${REPO}`,
      // The stack never reaches a real AWS account.
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: 'us-east-1',
      FEEDGUARD_PORT: String(await freePort()),
      FEEDGUARD_ADMIN_KEY: adminKey,
      FEEDGUARD_SEED: seeded ? '1' : '0',
      FEEDGUARD_ENV_JSON: join(work, 'env.json'),
      FEEDGUARD_SCHEDULE_RATE: 'off',
      FEEDGUARD_CONSOLE_DIR: consoleDir,
    },
  });
  holder.feedguardStack = { process: child, work, log };
  // A runner that dies without its teardown still takes the stack with it.
  process.on('exit', () => child.kill('SIGKILL'));

  try {
    const printed = await waitFor(log, child, (text) => /^ {2}API +(http\S+)/m.test(text), 'answer');
    const baseURL = match(printed, /^ {2}API +(http\S+)/m);
    await waitForHealth(baseURL, log, child);
    const text = seeded ? await waitFor(log, child, (text) => /^seed /m.test(text), 'seed the demo feed') : printed;
    const failed = text.split('\n').filter((line) => /^seed (failed|skipped)/.test(line));
    if (failed.length) throw new Error(`The demo seed did not complete:\n${failed.join('\n')}`);

    process.env.FEEDGUARD_E2E_BASE_URL = baseURL;
    process.env.FEEDGUARD_E2E_ADMIN_KEY = adminKey;
    process.env.FEEDGUARD_E2E_OSSINDEX_URL = match(printed, /^ {2}fake OSS Index +(http\S+)/m);
    process.env.FEEDGUARD_E2E_CONTROL_URL = match(printed, /^ {2}control +(http\S+)/m);
    process.env.FEEDGUARD_E2E_SEEDED = seeded ? '1' : '0';
    process.env.FEEDGUARD_E2E_STACK_LOG = log;
    process.env.FEEDGUARD_E2E_SECURITY_HEADERS = securityHeaders(python);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** A port below the kernel's ephemeral range, so that none of the stack's
 * own servers, which take ephemeral ports, can take it before it binds it. */
async function freePort(): Promise<number> {
  const range = '/proc/sys/net/ipv4/ip_local_port_range';
  const low = existsSync(range) ? Number(readFileSync(range, 'utf8').split(/\s+/)[0]) : 32768;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * (low - 20000));
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`No free port between 20000 and ${low}.`);
}

async function waitFor(
  log: string,
  child: ChildProcess,
  done: (text: string) => boolean,
  what: string,
): Promise<string> {
  const deadline = Date.now() + STARTUP_SECONDS * 1000;
  while (Date.now() < deadline) {
    const text = readFileSync(log, 'utf8');
    if (done(text)) return text;
    if (child.exitCode !== null) throw new Error(`The local stack exited (${child.exitCode}):\n${tail(log)}`);
    await sleep(200);
  }
  throw new Error(`The local stack did not ${what} within ${STARTUP_SECONDS}s:\n${tail(log)}`);
}

async function waitForHealth(baseURL: string, log: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_SECONDS * 1000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${baseURL}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`The local stack exited (${child.exitCode}):\n${tail(log)}`);
    await sleep(200);
  }
  throw new Error(`The local stack did not answer ${baseURL}/health within ${STARTUP_SECONDS}s:\n${tail(log)}`);
}

/** The headers template.yaml's ConsoleResponseHeadersPolicy adds, as JSON. */
function securityHeaders(python: string): string {
  const result = spawnSync(python, ['-m', 'infra.console_static'], {
    cwd: REPO,
    env: { ...process.env, PYTHONPATH: `${join(REPO, 'functions')}:${REPO}` },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`python -m infra.console_static failed:\n${result.stderr}`);
  JSON.parse(result.stdout); // fails here rather than in a spec
  return result.stdout;
}

function match(text: string, pattern: RegExp): string {
  const found = pattern.exec(text);
  if (!found?.[1]) throw new Error(`The local stack did not print ${pattern}:\n${text.slice(-3000)}`);
  return found[1];
}

export function tail(log: string): string {
  return existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : '';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Stops the stack global-setup.ts started: SIGTERM, as Ctrl-C stops `make dev`,
// then waits for it to exit; a stack that does not stop within a minute is killed.
import { rmSync } from 'node:fs';
import { runningStack, tail } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const stack = runningStack();
  if (!stack || stack.process.exitCode !== null) return;
  const exited = new Promise<number | null>((resolve) => stack.process.once('exit', (code) => resolve(code)));
  stack.process.kill('SIGTERM');
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000).unref());
  const code = await Promise.race([exited, timeout]);
  if (code === 'timeout') {
    stack.process.kill('SIGKILL');
    throw new Error(`The local stack did not stop within 60s:\n${tail(stack.log)}`);
  }
  if (code !== 0) throw new Error(`The local stack exited with ${code}:\n${tail(stack.log)}`);
  rmSync(stack.work, { recursive: true, force: true });
}

import { spawnSync } from 'node:child_process';
import { TEST_PG_ADMIN_URL } from '@ictvoip/testkit';

// What the `ictvoip start` tests (start, start-application-name) share: they run the real process tree.

/** The test server's database `name` (as the admin user, with `password` when given). */
export function dbUrl(name: string, password = ''): string {
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  if (password) url.password = password;
  return url.toString();
}

/**
 * Polls `check` every 100 ms until it returns something other than false: that value. After `timeoutMs`
 * it throws, naming `what` and the processes' `output` so far.
 */
export async function waitFor<T>(check: () => Promise<T | false> | T | false, timeoutMs: number, what: string, output?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms${output ? `\n--- output ---\n${output()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every live process below `pid` (from ps), depth first. */
export function descendants(pid: number): number[] {
  const table = spawnSync('ps', ['-e', '-o', 'pid=,ppid='])
    .stdout.toString()
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent && child !== undefined) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

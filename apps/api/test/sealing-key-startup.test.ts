import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
// Spawning tsx takes a few seconds, more under a parallel test run.
jest.setTimeout(120_000);

/**
 * The app's entry point: compiled, as `npm run start:*` runs it (CI builds first, ICTVOIP_FROM_SOURCE=0),
 * or its sources through tsx when ICTVOIP_FROM_SOURCE=1 (jest's default).
 */
const entry = (app: 'api' | 'worker') =>
  process.env.ICTVOIP_FROM_SOURCE === '1' ? ['--import', 'tsx', join(ROOT, `apps/${app}/src/main.ts`)] : [join(ROOT, `apps/${app}/dist/main.js`)];

/** Runs the api or worker process; everything it writes, and its exit code. */
function start(app: 'api' | 'worker', env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, entry(app), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', fail);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

const GOOD = Buffer.alloc(32, 9).toString('base64');
const SHORT = 'U2VhbGluZy1LZXktU2hvcnQ=';
const BARE = Buffer.from('Bare-Sealing-Key-Without-An-Id!!').toString('base64');

describe.each(['api', 'worker'] as const)('%s start-up with a bad SEALING_KEY', (app) => {
  it('stops with the configuration exit code, names the variable, and no line holds a key', async () => {
    const { code, output } = await start(app, {
      NODE_ENV: 'production',
      LOG_LEVEL: 'trace',
      WEBHOOK_SECRET: 'startup-webhook-secret-0123456789',
      ADMIN_TOKEN: 'startup-admin-token-0123456789',
      ESL_PASSWORD: 'startup-esl',
      SEALING_KEY: `k2:${SHORT},${BARE},k1:${GOOD}`,
    });
    expect(code).toBe(78);
    expect(output).toContain('SEALING_KEY');
    expect(output).toContain('key id "k2": the key must be 32 bytes');
    expect(output).toContain('entry 2 must be <key id>:<base64 key>');
    for (const line of output.split('\n')) {
      for (const secret of [SHORT, BARE, GOOD, 'startup-webhook-secret', 'startup-admin-token']) expect(line).not.toContain(secret);
    }
  });
});

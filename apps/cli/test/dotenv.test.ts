import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, runProcess, type ProcessRun } from './run-cli';

/** Runs a real process (the CLI binary, or the api / worker entry point) in `cwd` with `env` on top of a clean environment. */
function run(cwd: string, command: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PORT|HOST|CHKCON_WHITELIST_FILE|LOG_LEVEL|NODE_ENV)$/.test(name)));
  return runProcess(process.execPath, command, { cwd, env: { ...base, ...env } });
}

// tsx by absolute URL: `--import tsx` would be resolved from the working directory, a temp folder here.
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
// Sources through tsx when ICTVOIP_FROM_SOURCE=1 (jest's default), the compiled entry point otherwise (CI,
// after its build): what is tested is the process reading .env, and tsx doubled each start's CPU.
const entry = (name: 'api' | 'worker' | 'cli') =>
  process.env.ICTVOIP_FROM_SOURCE === '1' ? ['--import', TSX, join(ROOT, `apps/${name}/src/main.ts`)] : [join(ROOT, `apps/${name}/dist/main.js`)];
const CLI = entry('cli');
const service = (name: 'api' | 'worker') => entry(name);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-dotenv-cli-'));
  writeFileSync(join(dir, 'from-dotenv.conf'), '192.0.2.1\n');
  writeFileSync(join(dir, 'from-environment.conf'), '198.51.100.1\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('.env in the working directory', () => {
  it('the CLI sees a .env value', async () => {
    writeFileSync(join(dir, '.env'), `CHKCON_WHITELIST_FILE=${join(dir, 'from-dotenv.conf')}\n`);
    const result = await run(dir, [...CLI, 'whitelist', 'check', '192.0.2.1', '--json']);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ ip: '192.0.2.1', allowed: true, file: join(dir, 'from-dotenv.conf') });
    expect(result.code).toBe(0);
  });

  it('a variable set in the environment wins over .env', async () => {
    writeFileSync(join(dir, '.env'), `CHKCON_WHITELIST_FILE=${join(dir, 'from-dotenv.conf')}\n`);
    const result = await run(dir, [...CLI, 'whitelist', 'check', '192.0.2.1', '--json'], { CHKCON_WHITELIST_FILE: join(dir, 'from-environment.conf') });
    expect(JSON.parse(result.stdout)).toEqual({ ip: '192.0.2.1', allowed: false, file: join(dir, 'from-environment.conf') });
    expect(result.code).toBe(2);
  });

  it('a malformed .env stops the CLI, naming the file and line', async () => {
    writeFileSync(join(dir, '.env'), 'LOG_LEVEL=info\nthis line is no assignment\n');
    const result = await run(dir, [...CLI, 'whitelist', 'check', '192.0.2.1', '--file', join(dir, 'from-dotenv.conf')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(dir, '.env')} line 2`);
  });

  it.each(['api', 'worker'] as const)('the %s process reads .env at start-up (a bad value there stops it, named) and names a malformed one', async (name) => {
    writeFileSync(join(dir, '.env'), 'PORT=eighty\n');
    const bad = await run(dir, service(name));
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/^\s+- PORT: /m);

    writeFileSync(join(dir, '.env'), 'PORT=3000\nQUOTED="never closed\n');
    const malformed = await run(dir, service(name));
    expect(malformed.code).toBe(78);
    expect(malformed.stderr).toContain(`${join(dir, '.env')} line 2`);
  });
});

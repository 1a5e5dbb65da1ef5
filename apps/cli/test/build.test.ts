import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent' } });

const workspaces = ['apps', 'packages']
  .flatMap((top) => readdirSync(path.join(ROOT, top)).map((name) => path.join(ROOT, top, name)))
  .filter((dir) => existsSync(path.join(dir, 'src')));

describe('npm run build (compiled JavaScript in each dist/)', () => {
  beforeAll(() => {
    const build = node(['scripts/build.js']);
    expect(build.stderr).toBe('');
    expect(build.status).toBe(0);
  }, 60000);

  it('gives every workspace the dist/ file its package.json points at', () => {
    for (const dir of workspaces) {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { main: string; exports?: { '.': { default: string } } };
      expect([dir, existsSync(path.join(dir, pkg.main))]).toEqual([dir, true]);
      if (pkg.exports) expect(path.join(dir, pkg.exports['.'].default)).toBe(path.join(dir, pkg.main));
    }
  });

  it('loads every package by name with plain node (no tsx) from dist/', () => {
    const names = workspaces.filter((dir) => existsSync(path.join(dir, 'src', 'index.ts'))).map((dir) => `@ictvoip/${path.basename(dir)}`);
    const script = `for (const name of ${JSON.stringify(names)}) { const file = require.resolve(name); if (!file.endsWith('/dist/index.js')) throw new Error(name + ' resolved to ' + file); require(name); } console.log('ok');`;
    const run = node(['-e', script]);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('ok');
  }, 60000);

  it('runs the compiled CLI', () => {
    const run = node(['apps/cli/dist/main.js', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: ictvoip');
  }, 60000);
});

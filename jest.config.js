/** One jest run for the whole monorepo; each package is a project so one can be selected. */
const path = require('node:path');
const fs = require('node:fs');

// Child processes (the ictvoip bin, start's api/worker) run the TypeScript sources, not a stale dist/.
process.env.ICTVOIP_FROM_SOURCE ??= '1';
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];
const moduleNameMapper = {
  // End-to-end tests start the api and worker apps by name; everything else is a package.
  '^@ictvoip/(api|worker|cli)$': '<rootDir>/../../apps/$1/src/index.ts',
  // The light subpaths: config checks BILLING_EXCLUDES and TRUST_PROXY with their packages' grammars without loading the packages.
  '^@ictvoip/rating/exclusions$': '<rootDir>/../../packages/rating/src/exclusions.ts',
  '^@ictvoip/whitelist/trust-proxy$': '<rootDir>/../../packages/whitelist/src/trust-proxy.ts',
  '^@ictvoip/([a-z-]+)$': '<rootDir>/../../packages/$1/src/index.ts',
};

const dirs = ['packages', 'apps']
  .flatMap((top) => fs.readdirSync(path.join(__dirname, top)).map((name) => path.join(top, name)))
  .filter((dir) => fs.existsSync(path.join(__dirname, dir, 'test')));

module.exports = {
  projects: dirs.map((dir) => ({
    displayName: path.basename(dir),
    rootDir: path.join(__dirname, dir),
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    transform: { '^.+\\.ts$': swc },
    moduleNameMapper,
    testEnvironment: 'node',
  })),
  maxWorkers: 2,
  testTimeout: 30000,
  // After its last file a worker's exit event comes within milliseconds, but freeing its V8 heap (hundreds
  // of page unmaps, seen with strace) takes longer than jest's default 500 ms on a loaded CI box, and jest
  // then kills it and blames "tests leaking due to improper teardown", even for files with no handle at all.
  // A real leak (a ref'd socket, timer or child) never lets the worker exit, so it is still force exited and
  // reported, only after this longer wait.
  workerGracefulExitTimeout: 5000,
};

/**
 * `npm run chaos`: the fault suite (every apps/worker/chaos/.../*.chaos.ts). It starts real api/worker
 * processes, a private redis-server and a private PostgreSQL cluster, so it runs one file at a time.
 * CHAOS_SIZE=smoke runs one short seeded run per scenario; the default is the full suite.
 */
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];

module.exports = {
  rootDir: __dirname,
  displayName: 'chaos',
  testMatch: ['<rootDir>/apps/worker/chaos/**/*.chaos.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@ictvoip/(api|worker|cli)$': '<rootDir>/apps/$1/src/index.ts',
    '^@ictvoip/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testEnvironment: 'node',
  globalSetup: '<rootDir>/apps/worker/chaos/support/global-setup.ts',
  globalTeardown: '<rootDir>/apps/worker/chaos/support/global-teardown.ts',
  maxWorkers: 1,
  testTimeout: 3_600_000,
  verbose: true,
};

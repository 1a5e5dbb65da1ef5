import { Pool } from 'pg';
import { MIGRATIONS } from '@ictvoip/store';
import { createTestDatabase, deleteRedisPrefix, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { runCli, type CliRun } from './run-cli';

let db: TestDatabase;
let pool: Pool;
let prefix: string;
let env: Record<string, string>;

const cli = (...args: string[]): Promise<CliRun> => runCli(env, args);
const tables = async () =>
  (await pool.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).rows.map((row) => row.name);
const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version as string;
const previous = MIGRATIONS[MIGRATIONS.length - 2]?.version as string;

beforeAll(async () => {
  db = await createTestDatabase('cli_unmigrated');
  pool = new Pool({ connectionString: db.url, max: 2 });
  prefix = uniqueQueuePrefix('cli-unmigrated');
  env = { NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' };
});
afterAll(async () => {
  await pool.end();
  await deleteRedisPrefix(prefix);
  await db.drop();
});

it('commands other than migrate refuse an unmigrated database, create no table, and work after `ictvoip migrate`', async () => {
  for (const args of [
    ['tenants', 'list'],
    ['keys', 'list'],
    ['servers', 'list'],
    ['rates', 'show', '4930123', '--deck', 'retail'],
    ['keys', 'create', '--name', 'x', '--scope', 'admin'],
  ]) {
    const run = await cli(...args);
    expect({ args, code: run.code }).toEqual({ args, code: 1 });
    expect(run.stderr).toContain(`ictvoip: the bridge database is not migrated (at version none, needs ${latest}; ${MIGRATIONS.length} pending): run \`ictvoip migrate\``);
  }
  const json = await cli('tenants', 'list', '--json');
  expect(json.json).toMatchObject({ error: { code: 'DATABASE_NOT_MIGRATED' } });
  expect(await tables()).toEqual([]);

  const migrated = await cli('migrate');
  expect(migrated.code).toBe(0);
  const listed = await cli('tenants', 'list', '--json');
  expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
  expect(listed.json).toEqual({ tenants: [], globalApplies: [] });
}, 120_000);

it('refuses a database one migration behind, naming both versions, and does not apply the missing one', async () => {
  await pool.query('DELETE FROM schema_migrations WHERE version = $1', [latest]);
  const run = await cli('keys', 'list');
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`not migrated (at version ${previous}, needs ${latest}; 1 pending): run \`ictvoip migrate\``);
  expect((await pool.query('SELECT 1 FROM schema_migrations WHERE version = $1', [latest])).rowCount).toBe(0);
  // Put the row back as migrate would have recorded it (the tables are still there).
  await pool.query('INSERT INTO schema_migrations (version) VALUES ($1)', [latest]);
  expect((await cli('keys', 'list')).code).toBe(0);
}, 60_000);

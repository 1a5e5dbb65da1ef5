// The CLI's connections show as `ictvoip-cli` in pg_stat_activity (unless the operator's URL names
// one): caught while a command runs, its first query held by a relay.
import { Pool } from 'pg';
import { createBridgeTestDatabase, deleteRedisPrefix, HoldingRelay, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { runCli } from './run-cli';

let db: TestDatabase;
let pool: Pool;
const prefix = uniqueQueuePrefix('cli-appname');

beforeAll(async () => {
  db = await createBridgeTestDatabase('cli_appname');
  pool = new Pool({ connectionString: db.url, max: 1 });
});
afterAll(async () => {
  await pool?.end();
  await deleteRedisPrefix(prefix);
  await db?.drop();
});

/** The application names connected to the test database while `ictvoip migrate` waits on its first query. */
async function namesDuringMigrate(query: string): Promise<string[]> {
  const url = new URL(db.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'pg_advisory_lock');
  url.host = `127.0.0.1:${await relay.start()}`;
  url.search = query;
  try {
    const run = runCli({ NODE_ENV: 'test', DATABASE_URL: url.toString(), REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' }, ['migrate']);
    await relay.heldOnce;
    const { rows } = await pool.query<{ name: string }>(
      'SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    relay.release();
    expect((await run).code).toBe(0);
    return rows.map((row) => row.name);
  } finally {
    await relay.close();
  }
}

test('a CLI command connects as ictvoip-cli', async () => {
  expect(await namesDuringMigrate('')).toEqual(['ictvoip-cli']);
}, 60_000);

test("an application_name in the operator's DATABASE_URL is kept", async () => {
  expect(await namesDuringMigrate('?application_name=operator-cli')).toEqual(['operator-cli']);
}, 60_000);

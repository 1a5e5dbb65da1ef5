// The CLI's connections show as `ictvoip-cli` in pg_stat_activity, a FusionPBX server's as
// `ictvoip-cli fs:<server>` (unless the operator's URL names one): caught while a command runs,
// its first query held by a relay.
import { Pool } from 'pg';
import { createBridgeTestDatabase, createFusionpbxTestDatabase, deleteRedisPrefix, HoldingRelay, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { runCli, type CliRun } from './run-cli';

let db: TestDatabase;
let fusion: TestDatabase;
const prefix = uniqueQueuePrefix('cli-appname');

beforeAll(async () => {
  db = await createBridgeTestDatabase('cli_appname');
  fusion = await createFusionpbxTestDatabase('cli_appname_fs');
});
afterAll(async () => {
  await deleteRedisPrefix(prefix);
  await db?.drop();
  await fusion?.drop();
});

function env(overrides: Record<string, string>): Record<string, string> {
  return { NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent', ...overrides };
}

/**
 * The application names connected to `target` while the command `start` runs (given target's URL
 * through a relay, with `query`) waits on its first query containing `marker`.
 */
async function namesWhileHeld(target: TestDatabase, marker: string, query: string, start: (url: string) => Promise<CliRun>): Promise<{ names: string[]; run: CliRun }> {
  const url = new URL(target.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, marker);
  url.host = `127.0.0.1:${await relay.start()}`;
  url.search = query;
  const observer = new Pool({ connectionString: target.url, max: 1 });
  try {
    const run = start(url.toString());
    await relay.heldOnce;
    const { rows } = await observer.query<{ name: string }>(
      'SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    relay.release();
    return { names: rows.map((row) => row.name), run: await run };
  } finally {
    await observer.end();
    await relay.close();
  }
}

async function namesDuringMigrate(query: string): Promise<string[]> {
  const { names, run } = await namesWhileHeld(db, 'pg_advisory_lock', query, (url) => runCli(env({ DATABASE_URL: url }), ['migrate']));
  expect(run.code).toBe(0);
  return names;
}

test('a CLI command connects as ictvoip-cli', async () => {
  expect(await namesDuringMigrate('')).toEqual(['ictvoip-cli']);
}, 60_000);

test("an application_name in the operator's DATABASE_URL is kept", async () => {
  expect(await namesDuringMigrate('?application_name=operator-cli')).toEqual(['operator-cli']);
}, 60_000);

test('a CLI command reading the default FusionPBX server connects to it as ictvoip-cli fs:default', async () => {
  const { names, run } = await namesWhileHeld(fusion, 'v_domains', '', (url) =>
    // No event socket listens on port 1: that check fails (exit 2); the database one is what is asked here.
    runCli(env({ FUSIONPBX_DATABASE_URL: url, ESL_HOST: '127.0.0.1', ESL_PORT: '1' }), ['servers', 'test', 'default', '--json']),
  );
  expect(names).toEqual(['ictvoip-cli fs:default']);
  expect(run.json).toMatchObject({ server: 'default', checks: expect.arrayContaining([expect.objectContaining({ name: 'database' })]) });
}, 60_000);

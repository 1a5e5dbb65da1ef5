import { loadConfig } from '@ictvoip/config';
import { startApi, type RunningApi } from '@ictvoip/api';
import { bridgeApplicationName, FINISH_LISTENER_APPLICATION_NAME } from '@ictvoip/store';
import { startBridge, waitFor, type Bridge } from './harness';

// An operator reading pg_stat_activity (the FusionPBX database is shared with FusionPBX's own PHP)
// tells the bridge's connections apart by application_name, per process and per FusionPBX server.

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge();
});

afterAll(async () => {
  await bridge.close();
});

/** The application names connected to `database` other than this query's own connection. */
async function namesIn(database: string): Promise<string[]> {
  const { rows } = await bridge.fusion.query<{ name: string }>(
    'SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY 1',
    [database],
  );
  return rows.map((row) => row.name);
}

/** Waits until every one of `expected` is connected to `database`; the names seen then. */
function waitForNames(database: string, expected: string[]): Promise<string[]> {
  return waitFor(
    async () => {
      const names = await namesIn(database);
      return expected.every((name) => names.includes(name)) && names;
    },
    10_000,
    `${expected.join(', ')} in pg_stat_activity of ${database}`,
  );
}

const databaseOf = (url: string) => new URL(url).pathname.slice(1);

test('a started API and worker show their connections to both databases by process and FusionPBX server', async () => {
  const api = await bridge.startApi();
  const worker = await bridge.startWorker({ schedulers: false });
  // /readyz reads both of the API's databases over real HTTP; the worker's pools are used as a job would.
  await (await fetch(`${api.url}/readyz`)).text();
  await worker.deps.pool.query('SELECT 1');
  await worker.deps.targets.defaultTarget.pool.query('SELECT 1');

  const bridgeNames = await waitForNames(databaseOf(bridge.bridgeDb.url), ['ictvoip-api', 'ictvoip-worker']);
  // The API's LISTEN connection keeps its own name.
  expect(bridgeNames).toContain(FINISH_LISTENER_APPLICATION_NAME);
  expect(bridgeNames.filter((name) => name.startsWith('ictvoip'))).toEqual(['ictvoip-api', 'ictvoip-finish-listener', 'ictvoip-worker']);

  const fusionNames = await waitForNames(databaseOf(bridge.fusionDb.url), ['ictvoip-api fs:default', 'ictvoip-worker fs:default']);
  expect(fusionNames.filter((name) => name.startsWith('ictvoip'))).toEqual(['ictvoip-api fs:default', 'ictvoip-worker fs:default']);
});

test("an application_name in the operator's database URLs is kept", async () => {
  const withName = (url: string, name: string) => {
    const named = new URL(url);
    named.searchParams.set('application_name', name);
    return named.toString();
  };
  const config = loadConfig({
    ...bridge.env,
    DATABASE_URL: withName(bridge.bridgeDb.url, 'operator-bridge'),
    FUSIONPBX_DATABASE_URL: withName(bridge.fusionDb.url, 'operator-fusion'),
  });
  let api: RunningApi | null = null;
  try {
    api = await startApi(config, bridge.logger, { port: 0, migrate: false });
    const own = async (pool: RunningApi['deps']['pool']) => (await pool.query<{ name: string }>("SELECT current_setting('application_name') AS name")).rows[0]!.name;
    expect(await own(api.deps.pool)).toBe('operator-bridge');
    expect(await own(api.deps.targets.defaultTarget.pool)).toBe('operator-fusion');
    await waitForNames(databaseOf(bridge.bridgeDb.url), ['operator-bridge']);
    await waitForNames(databaseOf(bridge.fusionDb.url), ['operator-fusion']);
  } finally {
    await api?.close();
  }
});

test("a FusionPBX server's name is cut to the 63 bytes PostgreSQL keeps", () => {
  const name = bridgeApplicationName('worker', 'a'.repeat(63));
  expect(name).toBe(`ictvoip-worker fs:${'a'.repeat(63 - 'ictvoip-worker fs:'.length)}`);
  expect(Buffer.byteLength(name)).toBe(63);
  expect(bridgeApplicationName('cli')).toBe('ictvoip-cli');
});

// `ictvoip start --demo` (what `npm start` runs on local defaults) as real compiled processes: the demo
// FusionPBX set-up, then the api and worker it starts. Every connection they open to the bridge and the
// FusionPBX database must show in pg_stat_activity under the name README promises (ictvoip-<process>,
// a FusionPBX server's with ` fs:<server>`): none unnamed, none under another process's name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { deleteRedisPrefix, freePort, HoldingRelay, startEslStandin, TEST_PG_ADMIN_URL, TEST_REDIS_URL, uniqueQueuePrefix, type EslStandin } from '@ictvoip/testkit';
import { BIN, ROOT } from './run-cli';
import { dbUrl, descendants, waitFor } from './start-kit';

const BRIDGE = `ictvoip_start_appname_${randomBytes(4).toString('hex')}`;
const FUSION = `ictvoip_start_appname_fs_${randomBytes(4).toString('hex')}`;
const prefix = uniqueQueuePrefix('start-appname');

let esl: EslStandin;
let observer: Client;

beforeAll(async () => {
  esl = await startEslStandin();
  observer = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await observer.connect();
});

afterAll(async () => {
  for (const name of [BRIDGE, FUSION]) await observer.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await observer.end();
  await esl.stop();
  await deleteRedisPrefix(prefix);
});

/** The distinct application names of the connections to `database` now. */
async function namesIn(database: string): Promise<string[]> {
  const { rows } = await observer.query<{ name: string }>('SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = $1 ORDER BY 1', [database]);
  return rows.map((row) => row.name);
}

/**
 * The names connected to `database` while `expected` are collected (each seen at least once, pools let
 * idle connections go): every name seen meanwhile, so an unnamed or misnamed connection shows too.
 */
async function namesSeen(database: string, expected: readonly string[], output: () => string): Promise<string[]> {
  const seen = new Set<string>();
  await waitFor(
    async () => {
      for (const name of await namesIn(database)) seen.add(name);
      return expected.every((name) => seen.has(name));
    },
    30_000,
    `${expected.join(', ')} in pg_stat_activity of ${database} (seen: ${[...seen].join(', ')})`,
    output,
  );
  return [...seen].sort();
}

test('the demo set-up, api and worker of `ictvoip start --demo` name every connection by process and FusionPBX server', async () => {
  // FUSIONPBX_DATABASE_URL through a relay that holds the demo set-up's schema load, then its first seeding
  // statement (both name v_groups): each connection is caught while it is open.
  const relay = new HoldingRelay({ host: new URL(TEST_PG_ADMIN_URL).hostname, port: Number(new URL(TEST_PG_ADMIN_URL).port || 5432) }, 'v_groups');
  const fusionUrl = new URL(dbUrl(FUSION));
  fusionUrl.host = `127.0.0.1:${await relay.start()}`;
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The compiled CLI, which starts the compiled api and worker (dist/main.js).
    ICTVOIP_FROM_SOURCE: '0',
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKER_METRICS_PORT: String(await freePort()),
    DATABASE_URL: dbUrl(BRIDGE),
    FUSIONPBX_DATABASE_URL: fusionUrl.toString(),
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    ESL_HOST: '127.0.0.1',
    ESL_PORT: String(esl.port),
    SHUTDOWN_DEADLINE_MS: '3000',
    DRIFT_CHECK_EVERY_SECONDS: '0',
    LOG_LEVEL: 'error',
  };
  delete env.PGAPPNAME;
  const data = mkdtempSync(join(tmpdir(), 'ictvoip-start-appname-'));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'start', '--demo', '--data-dir', data], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const output = () => out;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const tree = new Set<number>();
  const collect = setInterval(() => descendants(child.pid!).forEach((pid) => tree.add(pid)), 200);
  try {
    const early = exited.then(() => Promise.reject(new Error(`start exited during the demo set-up\n${output()}`)));
    await Promise.race([relay.heldOnce, early]);
    expect(await namesIn(FUSION)).toEqual(['ictvoip-cli fs:default']);
    const seeding = relay.holdNext();
    relay.release();
    await Promise.race([seeding, early]);
    expect(await namesIn(FUSION)).toEqual(['ictvoip-cli fs:default']);
    relay.release();

    // Both databases are read by the api's /readyz; the worker's FusionPBX pool by its start-up and polls.
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        return res?.status === 200 && ((await res.json()) as { checks?: { workers?: { status?: string } } }).checks?.workers?.status === 'up';
      },
      60_000,
      'api ready with a worker connected',
      output,
    );
    const commands = [...tree].map((pid) => spawnSync('ps', ['-o', 'args=', '-p', String(pid)]).stdout.toString());
    expect(commands.some((command) => command.includes('apps/api/dist/main.js'))).toBe(true);
    expect(commands.some((command) => command.includes('apps/worker/dist/main.js'))).toBe(true);

    expect(await namesSeen(BRIDGE, ['ictvoip-api', 'ictvoip-finish-listener', 'ictvoip-worker'], output)).toEqual(['ictvoip-api', 'ictvoip-finish-listener', 'ictvoip-worker']);
    expect(await namesSeen(FUSION, ['ictvoip-api fs:default', 'ictvoip-worker fs:default'], output)).toEqual(['ictvoip-api fs:default', 'ictvoip-worker fs:default']);
  } finally {
    clearInterval(collect);
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000))]);
    if (!stopped) {
      for (const pid of [child.pid!, ...tree]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    relay.release();
    await relay.close();
    rmSync(data, { recursive: true, force: true });
  }
}, 120_000);

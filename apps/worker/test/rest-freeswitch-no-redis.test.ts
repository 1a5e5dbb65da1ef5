import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { logRecords, startBridge, waitFor, type Bridge } from './harness';

// A REST write while Redis is down: its job cannot be added, so the write is withdrawn and the API
// answers 503 (repeat the request). Redis here is a private redis-server this test kills.
let bridge: Bridge;
let redisPort: number;
let redisServer: ChildProcess | null = null;
let domain: string;
const SERVICE = 5501;

async function startRedis(): Promise<void> {
  redisServer = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const answers = () => spawnSync('redis-cli', ['-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  await waitFor(async () => answers(), 10_000, 'redis-server to answer');
}

async function killRedis(): Promise<void> {
  const server = redisServer;
  redisServer = null;
  if (!server || server.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  bridge = await startBridge({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, API_ESL_DEADLINE_MS: '1000' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
}, 60_000);

afterAll(async () => {
  // Whatever the test reached (an assertion may fail while Redis or the event socket is down), what
  // it took down comes back before the bridge closes, and its redis-server is killed in any case.
  // (A worker closed with its Redis down used to leave BullMQ's timers behind and jest never exited;
  // close-leaves-no-handle now holds that a forced close releases them.)
  try {
    if (!redisServer) await startRedis();
    if (bridge && !bridge.esl.listening) await bridge.esl.start();
    await bridge?.close();
  } finally {
    await killRedis();
  }
});

const description = async () =>
  (await bridge.fusion.query("SELECT e.description FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '101'", [domain])).rows[0]
    ?.description;

it('with Redis down a write is refused with 503 within the bound, for a tenant key and the operator alike, and nothing is written; repeated once Redis is back, it applies', async () => {
  const key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  await bridge.esl.stop();
  await killRedis();
  const body = { description: 'Written without Redis' };
  const refused = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: key, body });
  expect(refused.status).toBe(503);
  expect(await description()).not.toBe('Written without Redis');

  const started = Date.now();
  const operator = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: bridge.config.adminToken, body, headers: { 'X-Request-Id': 'req-no-redis' } });
  expect(Date.now() - started).toBeLessThan(6000);
  expect(operator.status).toBe(503);
  expect(operator.headers.get('retry-after')).toBe('5');
  expect(operator.body.error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', message: expect.stringContaining('nothing was written') });
  expect(await description()).not.toBe('Written without Redis');
  // Withdrawn: no row is left for a reconciler to apply behind the client's back.
  expect((await bridge.api!.deps.pool.query('SELECT count(*)::int AS n FROM tenant_writes')).rows[0].n).toBe(0);
  // Logged once, by the answer's line: the write's id, that it was withdrawn and Redis's error with
  // the code and request id. (The tenant key's request above was refused by the rate limiter first.)
  const logged = logRecords(bridge, (record) => record.requestId === 'req-no-redis' || String(record.msg).includes('not queued'));
  expect(logged).toEqual([
    expect.objectContaining({
      level: 40,
      status: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
      path: `/v1/tenants/${SERVICE}/extensions/101`,
      writeId: expect.any(String),
      withdrawn: true,
      cause: expect.any(String),
      msg: 'answered 503: the job queue (Redis) is unavailable; nothing was written, repeat the request',
    }),
  ]);

  await startRedis();
  bridge.esl.clearRecorded();
  await bridge.esl.start();
  await waitFor(async () => (await call(bridge.url, 'GET', '/readyz')).status === 200, 20_000, 'the API to see Redis and the event socket again');
  const repeated = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: bridge.config.adminToken, body, headers: { 'X-Request-Id': 'req-no-redis' } });
  expect(repeated.status).toBe(200);
  expect(repeated.body).toMatchObject({ outcome: 'updated', freeswitch: { applied: true } });
  expect(await description()).toBe('Written without Redis');
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:101@${domain}`]));
  // The worker is back on Redis too: a webhook goes through end to end.
  await createTenant(bridge, SERVICE + 1);
}, 90_000);

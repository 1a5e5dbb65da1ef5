import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, waitFor, type Bridge } from './harness';

// A REST write while both the event socket and Redis are down: the FreeSWITCH side cannot be queued,
// so the answer says to repeat the request. Redis here is a private redis-server this test kills.
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
  if (!redisServer) await startRedis();
  await bridge.close();
  await killRedis();
});

const description = async () => (await bridge.fusion.query("SELECT e.description FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '101'", [domain])).rows[0]?.description;

it('a tenant key is refused with 503 and nothing written; the operator token writes, and the 202 says to repeat; repeating applies it', async () => {
  const key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  await bridge.esl.stop();
  await killRedis();
  const body = { description: 'Written without Redis' };
  const refused = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: key, body });
  expect(refused.status).toBe(503);
  expect(await description()).not.toBe('Written without Redis');

  const started = Date.now();
  const written = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: bridge.config.adminToken, body, headers: { 'X-Request-Id': 'req-no-redis' } });
  expect(Date.now() - started).toBeLessThan(6000);
  expect(written.status).toBe(202);
  expect(written.body.outcome).toBe('updated');
  expect(written.body.freeswitch).toEqual({ applied: false, message: expect.stringContaining('Repeat the request to apply it') });
  expect(await description()).toBe('Written without Redis');

  await startRedis();
  bridge.esl.clearRecorded();
  await bridge.esl.start();
  await waitFor(async () => (await call(bridge.url, 'GET', '/readyz')).status === 200, 20_000, 'the API to see Redis and the event socket again');
  const repeated = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: bridge.config.adminToken, body, headers: { 'X-Request-Id': 'req-no-redis' } });
  expect(repeated.status).toBe(200);
  expect(repeated.body).toMatchObject({ outcome: 'unchanged', freeswitch: { applied: true } });
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:101@${domain}`]));
  // The worker is back on Redis too: a webhook goes through end to end.
  await createTenant(bridge, SERVICE + 1);
}, 90_000);

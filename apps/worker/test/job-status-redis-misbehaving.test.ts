import Redis from 'ioredis';
import pino from 'pino';
import { startApi, type RunningApi } from '@ictvoip/api';
import { freeswitchBacklogJobId, QUEUE_NAMES } from '@ictvoip/queue';
import { buildEvent, HoldingRelay, postWebhook, TEST_REDIS_URL } from '@ictvoip/testkit';
import { createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, waitFor, type Bridge } from './harness';

// GET /v1/jobs/{id} reads Redis first. A Redis connection that is still `ready` but stalls (a
// network path that stops forwarding) or answers an error must not hang the request or skip the
// PostgreSQL fallback that a Redis that is down gets: the answer comes within a few seconds, from
// what PostgreSQL knows (owed FreeSWITCH jobs, finished and pending_apply events), else 503.

const TENANT = 5841;

let bridge: Bridge;
let tenantKey: string;
let createJobId: string;
let redis: Redis;

interface Timed {
  status: number;
  body: Record<string, unknown> & { error?: { code?: string } };
  ms: number;
}

/** GET with a client-side limit, so a request the API never answers fails the test instead of hanging it. */
async function timedGet(url: string, path: string, token: string): Promise<Timed> {
  const started = Date.now();
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: (await response.json()) as Timed['body'], ms: Date.now() - started };
}

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;

beforeAll(async () => {
  bridge = await startBridge({ JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20', FREESWITCH_RETRY_MAX_MS: '50' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  createJobId = (await createTenant(bridge, TENANT)).jobId;
  tenantKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: TENANT, access: 'read-write' });
  redis = new Redis(TEST_REDIS_URL);
}, 90_000);

afterAll(async () => {
  redis?.disconnect();
  await bridge?.close();
});

describe('job status while Redis misbehaves but its connection stays ready', () => {
  it('a stalled Redis: answered within a few seconds from PostgreSQL (owed backlog job waiting, pending_apply event completed with its finish), 503 for an id only Redis knows', async () => {
    bridge.esl.fail(/^memcache/, 'memcache down');
    const refusals = [...bridge.esl.failures];
    let relay: HoldingRelay | null = null;
    let stalled: RunningApi | null = null;
    try {
      const suspend = buildEvent({ serviceId: TENANT, action: 'suspend' });
      delete suspend.secrets;
      const pending = await postWebhook(bridge.url, JSON.stringify(suspend), { query: '?wait=20' });
      expect(pending.body).toMatchObject({ result: 'pending', state: 'pending_apply' });
      const eventJobId = String(pending.body.jobId);
      // The backlog job has failed a send (its failure is noted in PostgreSQL) before Redis stalls.
      await waitFor(
        async () => Number((await bridgeRows(`SELECT (pending_apply->>'attempts')::int AS n FROM services WHERE service_id = $1`, [TENANT]))[0]?.n ?? 0) >= 1,
        20_000,
        'a failed backlog send',
      );
      const [backlog] = await bridgeRows(
        `SELECT (pending_apply->>'origin')::bigint AS origin, (pending_apply->>'attempts')::int AS attempts, pending_apply->>'lastError' AS last_error FROM services WHERE service_id = $1`,
        [TENANT],
      );
      const backlogJobId = freeswitchBacklogJobId({ serviceId: TENANT, version: Number(backlog.origin) });

      // With Redis answering: the event's job is completed with Redis's finish time.
      const viaRedis = await timedGet(bridge.url, `/v1/jobs/${eventJobId}`, tenantKey);
      expect(viaRedis.body).toMatchObject({ state: 'completed', finishedAt: expect.any(String), event: { status: 'pending_apply' } });

      // A second API whose Redis goes through a relay that stops forwarding at the first read naming the backlog job.
      const target = new URL(TEST_REDIS_URL);
      relay = new HoldingRelay({ host: target.hostname, port: Number(target.port || 6379) }, backlogJobId);
      const port = await relay.start();
      const redisUrl = new URL(TEST_REDIS_URL);
      redisUrl.hostname = '127.0.0.1';
      redisUrl.port = String(port);
      stalled = await startApi({ ...bridge.config, redis: { ...bridge.config.redis, url: redisUrl.toString() } }, pino({ level: 'silent' }), { port: 0, migrate: false });
      await waitFor(async () => stalled!.deps.redis.status === 'ready', 10_000, 'the relayed Redis connection ready');

      const owed = await timedGet(stalled.url, `/v1/jobs/${backlogJobId}`, tenantKey);
      await relay.heldOnce;
      expect(stalled.deps.redis.status).toBe('ready');
      expect(`${owed.status} ${JSON.stringify(owed.body)}`).toMatch(/^200 /);
      expect(owed.body).toMatchObject({ id: backlogJobId, state: 'waiting', serviceId: TENANT, detail: expect.stringContaining('Redis) is unavailable') });
      // Its job's attempts are Redis's (unknown here); PostgreSQL's count of failed sends is under its own name.
      expect(owed.body).toMatchObject({ attempts: null, failedSends: expect.any(Number), lastError: expect.stringContaining('memcache') });
      expect(owed.body.failedSends).toBeGreaterThanOrEqual(backlog.attempts as number);
      expect(owed.ms).toBeLessThan(5000);

      // The pending_apply event's job: completed, as Redis said, and with a finish (when its row went pending_apply).
      // Its row's updated_at, which a failed backlog send noted on the row may move on meanwhile: read before and after.
      const updatedAt = async () => ((await bridgeRows('SELECT updated_at FROM webhook_inbox WHERE event_id = $1', [suspend.eventId]))[0].updated_at as Date).getTime();
      const before = await updatedAt();
      const event = await timedGet(stalled.url, `/v1/jobs/${eventJobId}`, tenantKey);
      const after = await updatedAt();
      expect(`${event.status} ${JSON.stringify(event.body)}`).toMatch(/^200 /);
      expect(event.body).toMatchObject({ state: 'completed', event: { status: 'pending_apply' } });
      expect(typeof event.body.finishedAt).toBe('string');
      const finishedAt = Date.parse(String(event.body.finishedAt));
      expect(finishedAt).toBeGreaterThanOrEqual(before);
      expect(finishedAt).toBeLessThanOrEqual(after);
      // Not before Redis's own finish of the job (the row went pending_apply just before the job completed; clocks of one host).
      expect(finishedAt).toBeGreaterThanOrEqual(Date.parse(String(viaRedis.body.finishedAt)) - 1000);
      expect(event.ms).toBeLessThan(5000);

      // Only Redis could tell: 503, not a request that never answers.
      const unknown = await timedGet(stalled.url, '/v1/jobs/no-such-job-stalled', bridge.config.adminToken);
      expect(`${unknown.status} ${unknown.body.error?.code}`).toBe('503 DEPENDENCY_UNAVAILABLE');
      expect(unknown.ms).toBeLessThan(5000);
      // eslint-disable-next-line no-console
      console.log(`stalled Redis: owed job answered in ${owed.ms} ms, pending_apply event in ${event.ms} ms, unknown id (503) in ${unknown.ms} ms`);
    } finally {
      await stalled?.close();
      await relay?.close();
      for (const refusal of refusals) bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal), 1);
    }
  }, 90_000);

  it('a Redis error on the read (connection still ready): a finished event answered from its row, an id only Redis knows 503 (not 500)', async () => {
    const key = (id: string) => `${bridge.config.redis.queuePrefix}:${QUEUE_NAMES.provisioning}:${id}`;
    // A string where BullMQ reads a hash: Redis answers WRONGTYPE to the job read, on a ready connection.
    const ids = [createJobId, 'no-such-job-wrongtype'];
    await redis.del(...ids.map(key));
    for (const id of ids) await redis.set(key(id), 'not a job hash');
    try {
      expect(bridge.api!.deps.redis.status).toBe('ready');
      const created = await timedGet(bridge.url, `/v1/jobs/${createJobId}`, tenantKey);
      expect(`${created.status} ${JSON.stringify(created.body)}`).toMatch(/^200 /);
      expect(created.body).toMatchObject({ id: createJobId, state: 'completed', event: { status: 'succeeded' }, finishedAt: expect.any(String) });
      const unknown = await timedGet(bridge.url, '/v1/jobs/no-such-job-wrongtype', bridge.config.adminToken);
      expect(`${unknown.status} ${unknown.body.error?.code}`).toBe('503 DEPENDENCY_UNAVAILABLE');
    } finally {
      await redis.del(...ids.map(key));
    }
  }, 30_000);
});

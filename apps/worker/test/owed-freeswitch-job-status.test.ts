import Redis from 'ioredis';
import pino from 'pino';
import { startApi } from '@ictvoip/api';
import { freeswitchBacklogJobId } from '@ictvoip/queue';
import { buildEvent, freePort, postWebhook, TEST_REDIS_URL } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { reconcileInbox } from '../src';
import { writeWhileBacklogAddRefused } from './backlog-add-refused';
import { startBridge, waitFor, withoutWorker, type Bridge } from './harness';
import { addFusionUser, bcryptOf, postForm } from './compat-helpers';

// A 202 names the FreeSWITCH job that sends what the write still owes (a tenant's backlog job, a
// global gateway write's apply job). What is owed is saved in PostgreSQL (services.pending_apply,
// global_freeswitch_applies) before the job is added; while Redis does not have the job (it lost it,
// or refused the add) GET /v1/jobs/{id} and status.php answer it waiting, from that record, to the
// same callers as the job itself: not 404, which would read as lost work. The reconciler adds it again.

const ADMIN = { username: 'admin', password: 'your-password' };
const GATEWAY = { gateway_domain: 'sip.provider.com', gateway_username: 'account', gateway_password: 'password' };
const RESCAN = 'sofia profile external rescan';
const OWNER = 5821;
const OTHER = 5822;

let bridge: Bridge;
let ownerKey: string;
let otherKey: string;
let redis: Redis;

// The API's queues: the worker's are closed while it is stopped.
const provisioning = () => bridge.api!.deps.queues.provisioning;
const sweep = () => reconcileInbox(bridge.worker!.deps, null, 0);
const getJob = (jobId: string, token: string) => call(bridge.url, 'GET', `/v1/jobs/${jobId}`, { token });
const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;

beforeAll(async () => {
  bridge = await startBridge({
    COMPAT_ICTVOIP: '1',
    API_WRITE_WAIT_MS: '10000',
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '20',
    FREESWITCH_RETRY_MAX_MS: '50',
    FUSIONPBX_PROFILE: 'internal',
  });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
  await createTenant(bridge, OWNER);
  await createTenant(bridge, OTHER);
  await bridgeRows(`UPDATE services SET plan = plan || '{"maxExtensions": 6}'::jsonb WHERE service_id = $1`, [OWNER]);
  ownerKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'owner', scope: 'tenant', serviceId: OWNER, access: 'read-write' });
  otherKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'other', scope: 'tenant', serviceId: OTHER, access: 'read-write' });
  redis = new Redis(TEST_REDIS_URL);
}, 90_000);

afterAll(async () => {
  redis?.disconnect();
  await bridge?.close();
});

describe('a FreeSWITCH job a 202 named, missing from Redis while PostgreSQL still owes it', () => {
  it('tenant backlog job whose add Redis refused: waiting (not 404) for the tenant, 404 for another tenant, completed once the reconciler added it', async () => {
    const { reply, jobId, backlog } = await writeWhileBacklogAddRefused(bridge, redis, OWNER, () =>
      call(bridge.url, 'POST', `/v1/tenants/${OWNER}/extensions`, { token: ownerKey, body: { extension: '150' } }),
    );
    expect(`${reply.status} ${JSON.stringify(reply.body)}`).toMatch(/^202 /);
    expect(reply.body.freeswitch).toMatchObject({ applied: false, job: { id: jobId, url: `/v1/jobs/${jobId}` } });
    expect(await provisioning().getJob(jobId)).toBeUndefined();

    const owed = await getJob(jobId, ownerKey);
    expect(`${owed.status} ${JSON.stringify(owed.body)}`).toMatch(/^200 /);
    expect(owed.body).toMatchObject({ id: jobId, queue: 'provisioning', name: 'freeswitch.backlog', state: 'waiting', serviceId: OWNER, createdAt: backlog.since });
    // Its job's attempts are unknown (Redis does not hold it), not 0; PostgreSQL's failed-send count is its own field.
    expect(owed.body).toMatchObject({ attempts: null, maxAttempts: null, failedSends: backlog.attempts });
    expect(owed.body.detail).toContain('reconciler');
    // The superadmin of the tenant's server sees it too, as it would the job in Redis.
    const status = await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId });
    expect(status.body).toMatchObject({ status: 'success', job_id: jobId, state: 'waiting', detail: expect.stringContaining('reconciler') });
    // Another tenant's key: the same 404 as an unknown job, on both paths.
    expect((await getJob(jobId, otherKey)).status).toBe(404);
    expect((await postForm(bridge.url, '/app/jobs/status.php', { job_id: jobId }, { authorization: `Bearer ${otherKey}` })).status).toBe(404);

    expect(await sweep()).toMatchObject({ backlogsRequeued: 1 });
    await waitFor(async () => (await (await provisioning().getJob(jobId))?.getState()) === 'completed', 20_000, 'the backlog job the reconciler added');
    const done = await getJob(jobId, ownerKey);
    expect(done.body).toMatchObject({ state: 'completed' });
    expect(done.body.detail).toBeUndefined();
  }, 60_000);

  it('global gateway apply job Redis lost: waiting (not 404) for its server’s superadmin, 404 for a tenant key, completed once the reconciler added it', async () => {
    bridge.esl.fail(RESCAN, 'profile external is busy');
    const refusal = bridge.esl.failures[0];
    let jobId = '';
    try {
      const reply = await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...GATEWAY, gateway_name: 'lost_gateway' });
      expect(reply.status).toBe(202);
      jobId = String(reply.body.job_id);
      expect(jobId).toMatch(/^fs-global-/);
      // No worker holds the job while Redis loses it.
      await withoutWorker(bridge, async () => {
        await provisioning().remove(jobId);
        expect(await provisioning().getJob(jobId)).toBeUndefined();
        const status = await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId });
        expect(`${status.status} ${JSON.stringify(status.body)}`).toMatch(/^200 /);
        expect(status.body).toMatchObject({
          status: 'success',
          job_id: jobId,
          state: 'waiting',
          attempts: null,
          failed_sends: null,
          detail: expect.stringContaining('reconciler'),
        });
        const admin = await getJob(jobId, bridge.config.adminToken);
        expect(admin.body).toMatchObject({ id: jobId, name: 'freeswitch.apply', state: 'waiting', serviceId: 0 });
        // A tenant key is not the server's superadmin: 404, as for the job in Redis.
        expect((await getJob(jobId, ownerKey)).status).toBe(404);
        expect((await postForm(bridge.url, '/app/jobs/status.php', { job_id: jobId }, { authorization: `Bearer ${ownerKey}` })).status).toBe(404);
      });
    } finally {
      bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal!), 1);
    }
    expect(await sweep()).toMatchObject({ globalAppliesRequeued: 1 });
    await waitFor(async () => (await (await provisioning().getJob(jobId))?.getState()) === 'completed', 20_000, 'the apply job the reconciler added');
    const status = await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId });
    expect(status.body).toMatchObject({ status: 'success', state: 'completed' });
    expect(status.body.detail).toBeUndefined();
  }, 60_000);

  it('a job id nothing owes stays 404, whether it looks like a backlog or a global apply job', async () => {
    for (const jobId of [freeswitchBacklogJobId({ serviceId: OWNER, version: 999_999 }), 'fs-global-tw-never-written']) {
      expect((await getJob(jobId, bridge.config.adminToken)).status).toBe(404);
      expect((await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId })).status).toBe(404);
    }
  }, 30_000);

  it('with Redis unreachable, PostgreSQL answers what it knows: owed backlog and global jobs waiting, a pending_apply event completed, a finished write; 503 for ids only Redis knows', async () => {
    // FreeSWITCH refuses: a suspend's FusionPBX side commits (pending_apply) and its steps wait in the
    // tenant's backlog; a global gateway write owes its rescan in global_freeswitch_applies.
    bridge.esl.fail(/^memcache/, 'memcache down');
    bridge.esl.fail(RESCAN, 'profile external is busy');
    const refusals = [...bridge.esl.failures];
    try {
      const suspend = buildEvent({ serviceId: OTHER, action: 'suspend' });
      delete suspend.secrets;
      const pending = await postWebhook(bridge.url, JSON.stringify(suspend), { query: '?wait=20' });
      expect(pending.body).toMatchObject({ result: 'pending', state: 'pending_apply' });
      const eventJobId = String(pending.body.jobId);
      const [backlog] = await bridgeRows(`SELECT (pending_apply->>'origin')::bigint AS origin FROM services WHERE service_id = $1`, [OTHER]);
      const backlogJobId = freeswitchBacklogJobId({ serviceId: OTHER, version: Number(backlog.origin) });
      const global = await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...GATEWAY, gateway_name: 'redis_down_gateway' });
      expect(global.status).toBe(202);
      const globalJobId = String(global.body.job_id);
      const [owedGlobal] = await bridgeRows('SELECT write_id, since FROM global_freeswitch_applies WHERE job_id = $1', [globalJobId]);
      expect(owedGlobal).toBeDefined();

      // A second API on the same database whose Redis does not answer (a port nothing listens on).
      const down = await startApi({ ...bridge.config, redis: { ...bridge.config.redis, url: `redis://127.0.0.1:${await freePort()}` } }, pino({ level: 'silent' }), { port: 0 });
      try {
        expect(down.deps.redis.status).not.toBe('ready');
        const downJob = (jobId: string, token: string) => call(down.url, 'GET', `/v1/jobs/${jobId}`, { token });

        const owed = await downJob(backlogJobId, otherKey);
        expect(`${owed.status} ${JSON.stringify(owed.body)}`).toMatch(/^200 /);
        expect(owed.body).toMatchObject({
          id: backlogJobId,
          name: 'freeswitch.backlog',
          state: 'waiting',
          serviceId: OTHER,
          detail: expect.stringContaining('Redis) is unavailable'),
        });
        const status = await postForm(down.url, '/app/jobs/status.php', { job_id: backlogJobId }, { authorization: `Bearer ${otherKey}` });
        expect(`${status.status} ${JSON.stringify(status.body)}`).toMatch(/^200 /);
        expect(status.body).toMatchObject({ status: 'success', job_id: backlogJobId, state: 'waiting', detail: expect.stringContaining('PostgreSQL') });
        // Another tenant's key: not the owed job, and the same answer as for an id PostgreSQL does not owe
        // (backlog ids are guessable: a 404 here beside a 503 there would tell it that OTHER's FreeSWITCH is behind).
        const notOwed = freeswitchBacklogJobId({ serviceId: OTHER, version: Number(backlog.origin) + 1 });
        const answers = async (jobId: string) => {
          const [rest, compat] = [await downJob(jobId, ownerKey), await postForm(down.url, '/app/jobs/status.php', { job_id: jobId }, { authorization: `Bearer ${ownerKey}` })];
          return { rest: rest.status, restCode: rest.body.error?.code, compat: compat.status };
        };
        expect(await answers(backlogJobId)).toEqual(await answers(notOwed));
        expect(await answers(backlogJobId)).toMatchObject({ rest: 503, restCode: 'DEPENDENCY_UNAVAILABLE' });

        const globalView = await downJob(globalJobId, bridge.config.adminToken);
        expect(`${globalView.status} ${JSON.stringify(globalView.body)}`).toMatch(/^200 /);
        expect(globalView.body).toMatchObject({ id: globalJobId, name: 'freeswitch.apply', state: 'waiting', serviceId: 0, createdAt: (owedGlobal.since as Date).toISOString() });
        // The global write's own record: finished (202, FreeSWITCH not yet), from its row.
        const write = await downJob(String(owedGlobal.write_id), bridge.config.adminToken);
        expect(write.body).toMatchObject({ state: 'completed', write: { status: 'succeeded', httpStatus: 202 } });
        // The suspend's job ran to its end: completed, its event pending_apply (the backlog job owes the rest).
        // Completed as Redis says, so with a finish as Redis has it (not null): its row's updated_at, which a
        // failed backlog send noted on the row may move on meanwhile (read before and after).
        const updatedAt = async () => ((await bridgeRows('SELECT updated_at FROM webhook_inbox WHERE event_id = $1', [suspend.eventId]))[0].updated_at as Date).getTime();
        const before = await updatedAt();
        const event = await downJob(eventJobId, bridge.config.adminToken);
        const after = await updatedAt();
        expect(`${event.status} ${JSON.stringify(event.body)}`).toMatch(/^200 /);
        expect(event.body).toMatchObject({ state: 'completed', event: { eventId: suspend.eventId, status: 'pending_apply' } });
        expect(typeof event.body.finishedAt).toBe('string');
        expect(Date.parse(event.body.finishedAt)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(event.body.finishedAt)).toBeLessThanOrEqual(after);

        // Ids PostgreSQL neither finished nor owes: only Redis could say (an older backlog version may have completed).
        for (const jobId of [freeswitchBacklogJobId({ serviceId: OTHER, version: 999_999 }), 'fs-global-tw-never-written', 'no-such-job']) {
          const refused = await downJob(jobId, bridge.config.adminToken);
          expect(`${jobId} ${refused.status}`).toBe(`${jobId} 503`);
          expect(refused.body.error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
        }
      } finally {
        await down.close();
      }
    } finally {
      for (const refusal of refusals) bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal), 1);
    }
  }, 60_000);
});

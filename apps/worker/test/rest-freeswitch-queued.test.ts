import { FREESWITCH_JOBS } from '@ictvoip/queue';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, waitFor, type Bridge } from './harness';

// A REST write is a tenant-writes job. While the event socket is down, its FusionPBX part commits,
// the FreeSWITCH side is queued as a `freeswitch.apply` job, and a worker applies it once the socket
// answers. While no worker runs, the write itself waits in its queue and the API answers 202.
let bridge: Bridge;
let key: string;
let otherKey: string;
let domain: string;
const SERVICE = 5401;
const OTHER = 5402;

beforeAll(async () => {
  bridge = await startBridge({ API_ESL_DEADLINE_MS: '1000', JOB_BACKOFF_MS: '200', API_WRITE_WAIT_MS: '2000' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  await createTenant(bridge, OTHER);
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  otherKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'other', scope: 'tenant', serviceId: OTHER, access: 'read-write' });
}, 60_000);

afterAll(async () => {
  await bridge.close();
});

const jobState = async (id: string) => (await bridge.api!.deps.queues.provisioning.getJob(id))?.getState();

it('answers 202 with the job, and the worker applies the FreeSWITCH side once the event socket is back', async () => {
  await bridge.esl.stop();
  let jobId: string;
  try {
    const reply = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, {
      token: key,
      body: { description: 'Front desk' },
      headers: { 'X-Request-Id': 'req-ext-101' },
    });
    expect(reply.status).toBe(202);
    expect(reply.body.outcome).toBe('updated');
    const freeswitch = reply.body.freeswitch as { applied: boolean; job: { id: string; url: string }; message: string };
    // The service's FreeSWITCH backlog job: the one events of the tenant use as well.
    expect(freeswitch).toMatchObject({ applied: false, job: { id: expect.stringMatching(/^fs-backlog-5401-\d+$/), url: expect.stringMatching(/^\/v1\/jobs\/fs-backlog-5401-/) } });
    expect(freeswitch.message).toContain('A worker applies it once the event socket answers');
    jobId = freeswitch.job.id;
    expect(
      (await bridge.fusion.query("SELECT e.description FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '101'", [domain])).rows,
    ).toEqual([{ description: 'Front desk' }]);
    // The tenant sees its job; another tenant does not.
    const own = await call(bridge.url, 'GET', freeswitch.job.url, { token: key });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: jobId, name: FREESWITCH_JOBS.backlog });
    expect(own.body.state).not.toBe('completed');
    expect((await call(bridge.url, 'GET', freeswitch.job.url, { token: otherKey })).status).toBe(404);
  } finally {
    bridge.esl.clearRecorded();
    await bridge.esl.start();
  }
  await waitFor(async () => (await jobState(jobId)) === 'completed', 30_000, 'the queued FreeSWITCH side to be applied');
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:101@${domain}`]));
  const job = await bridge.api!.deps.queues.provisioning.getJob(jobId);
  expect(job!.returnvalue).toEqual({ state: 'applied', server: 'default', version: expect.any(Number), steps: expect.any(Number), dropped: 0, events: [] });
  expect((await bridge.api!.deps.pool.query('SELECT pending_apply FROM services WHERE service_id = $1', [SERVICE])).rows[0].pending_apply).toBeNull();
  expect((await call(bridge.url, 'GET', `/v1/jobs/${jobId}`, { token: key })).body.state).toBe('completed');
}, 60_000);

it('the same request repeated while the socket is down is the same write and the same job; a replay of a finished job changes nothing in FusionPBX', async () => {
  await bridge.esl.stop();
  const ids: string[] = [];
  try {
    const outcomes: unknown[] = [];
    for (let i = 0; i < 2; i += 1) {
      const reply = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/102`, {
        token: key,
        body: { description: 'Back office' },
        headers: { 'X-Request-Id': 'req-ext-102' },
      });
      expect(reply.status).toBe(202);
      outcomes.push(reply.body.outcome);
      ids.push((reply.body.freeswitch as { job: { id: string } }).job.id);
    }
    // The repeat is answered from the first request's stored answer: nothing is written twice.
    expect(outcomes).toEqual(['updated', 'updated']);
    const writes = await bridge.api!.deps.pool.query("SELECT count(*)::int AS n, max(attempts) AS attempts FROM tenant_writes WHERE request_id = 'req-ext-102'");
    expect(writes.rows[0]).toEqual({ n: 1, attempts: 1 });
  } finally {
    await bridge.esl.start();
  }
  expect(ids[1]).toBe(ids[0]);
  await waitFor(async () => (await jobState(ids[0]!)) === 'completed', 30_000, 'the delete to be applied');
  const counts = await bridge.api!.deps.queues.provisioning.getJobCounts('waiting', 'delayed', 'active', 'failed');
  expect(counts).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 });
  const rowsNow = async () => (await bridge.fusion.query("SELECT md5(string_agg(e::text, '|' ORDER BY extension_uuid)) AS digest FROM v_extensions e")).rows[0].digest;
  const before = await rowsNow();
  bridge.esl.clearRecorded();
  const finished = await bridge.api!.deps.queues.provisioning.getJob(ids[0]!);
  const replay = await bridge.api!.deps.queues.provisioning.add(FREESWITCH_JOBS.backlog, finished!.data, { jobId: `${ids[0]}-replay` });
  await waitFor(async () => (await replay.getState()) === 'completed', 30_000, 'the replay');
  // Level-triggered: the backlog was applied, so a replay finds nothing owed and sends nothing.
  expect((await bridge.api!.deps.queues.provisioning.getJob(`${ids[0]}-replay`))!.returnvalue).toEqual({ state: 'none', server: 'default' });
  expect(bridge.esl.apiCommands).toEqual([]);
  expect(await rowsNow()).toBe(before);
}, 60_000);

it('a write queued while no worker runs answers 202 with its job; the next worker applies it, FusionPBX then FreeSWITCH', async () => {
  await bridge.worker!.close();
  const path = `/v1/tenants/${SERVICE}/extensions/100`;
  const request = { token: key, body: { description: 'Reception' }, headers: { 'X-Request-Id': 'req-ext-100' } };
  const reply = await call(bridge.url, 'PUT', path, request);
  expect(reply.status).toBe(202);
  expect(reply.body).toMatchObject({
    outcome: 'pending',
    state: 'queued',
    job: { id: expect.stringMatching(/^tw-5401-[0-9a-f]{32}$/), url: expect.stringMatching(/^\/v1\/jobs\/tw-5401-/) },
  });
  expect(reply.body.password).toBeUndefined();
  const jobId = reply.body.job.id as string;
  const description = async () =>
    (await bridge.fusion.query("SELECT e.description FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '100'", [domain])).rows[0]
      .description;
  expect(await description()).not.toBe('Reception');
  expect(await bridge.api!.deps.queues['tenant-writes'].getJob(jobId).then((job) => job?.getState())).toBe('waiting');
  const pending = await call(bridge.url, 'GET', reply.body.job.url, { token: key });
  expect(pending.body).toMatchObject({ id: jobId, name: 'tenant.extension.write', state: 'waiting', write: { status: 'queued', httpStatus: null } });
  expect((await call(bridge.url, 'GET', reply.body.job.url, { token: otherKey })).status).toBe(404);
  bridge.esl.clearRecorded();
  await bridge.startWorker({ schedulers: false });
  await waitFor(
    async () => (await call(bridge.url, 'GET', reply.body.job.url, { token: key })).body.write.status === 'succeeded',
    30_000,
    'the new worker to apply the queued write',
  );
  expect(await description()).toBe('Reception');
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:100@${domain}`]));
  const done = await call(bridge.url, 'GET', reply.body.job.url, { token: key });
  expect(done.body).toMatchObject({
    state: 'completed',
    write: { status: 'succeeded', httpStatus: 200, result: { outcome: 'updated', extension: { extension: '100', description: 'Reception' }, freeswitch: { applied: true } } },
  });
  // The same request again gets the final answer, and writes nothing more.
  const again = await call(bridge.url, 'PUT', path, request);
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ outcome: 'updated', extension: { description: 'Reception' } });
}, 60_000);

// A freeswitch.apply job (queued by a REST write before backlogs existed) is still applied.
it('a job whose step could break out of its command fails at once, and nothing reaches the event socket', async () => {
  bridge.esl.clearRecorded();
  const job = await bridge.api!.deps.queues.provisioning.add(
    FREESWITCH_JOBS.apply,
    { serviceId: SERVICE, requestId: 'req-bad', steps: [{ kind: 'cache_delete', key: `directory:131@${domain}\n\napi reloadxml` }] },
    { jobId: 'fs-apply-bad-step', attempts: 5 },
  );
  await waitFor(async () => (await job.getState()) === 'failed', 30_000, 'the bad job to fail');
  const failed = await bridge.api!.deps.queues.provisioning.getJob('fs-apply-bad-step');
  expect(failed!.attemptsMade).toBe(1);
  expect(failed!.failedReason).toMatch(/step\.key/);
  expect(bridge.esl.apiCommands.filter((command) => command.includes('reloadxml') || command.includes('131@'))).toEqual([]);
  const unknownService = await bridge.api!.deps.queues.provisioning.add(
    FREESWITCH_JOBS.apply,
    { serviceId: 999_999, requestId: 'req-x', steps: [{ kind: 'sofia_conf_cache_delete' }] },
    { jobId: 'fs-apply-unknown-service', attempts: 5 },
  );
  await waitFor(async () => (await unknownService.getState()) === 'failed', 30_000, 'the unknown service job to fail');
  expect((await bridge.api!.deps.queues.provisioning.getJob('fs-apply-unknown-service'))!.failedReason).toContain('999999 is not managed');
}, 60_000);

it('a queued gateway start whose gateway a later write deleted is left out, so the job completes instead of failing on -ERR', async () => {
  const created = await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/gateways`, { token: key, body: { name: 'short-lived', proxy: 'sip.short.example', register: false } });
  expect(created.status).toBe(201);
  const gatewayUuid = created.body.gateway.gatewayUuid as string;
  expect((await call(bridge.url, 'DELETE', `/v1/tenants/${SERVICE}/gateways/${gatewayUuid}`, { token: key })).status).toBe(204);
  // FreeSWITCH refuses to start a gateway it has no configuration for.
  bridge.esl.respond(`sofia profile external startgw ${gatewayUuid}`, '-ERR no such gateway\n');
  bridge.esl.clearRecorded();
  const steps = [{ kind: 'sofia_conf_cache_delete' }, { kind: 'gateway_kill', profile: 'external', gatewayUuid }, { kind: 'gateway_start', profile: 'external', gatewayUuid }];
  const job = await bridge.api!.deps.queues.provisioning.add(
    FREESWITCH_JOBS.apply,
    { serviceId: SERVICE, requestId: 'req-stale-start', steps },
    { jobId: 'fs-apply-stale-start', attempts: 3 },
  );
  await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), 30_000, 'the stale job to finish');
  const finished = await bridge.api!.deps.queues.provisioning.getJob('fs-apply-stale-start');
  expect(await finished!.getState()).toBe('completed');
  expect(finished!.returnvalue).toEqual({ server: 'default', steps: 2, dropped: 1 });
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`sofia profile external killgw ${gatewayUuid}`]));
  expect(bridge.esl.apiCommands.filter((command) => command.includes('startgw'))).toEqual([]);
}, 60_000);

import Redis from 'ioredis';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { TEST_REDIS_URL } from '@ictvoip/testkit';
import { createKey, call } from '../../api/test/v1-helpers';
import { reconcileInbox } from '../src';
import { startBridge, waitFor, withoutWorker, type Bridge } from './harness';
import { addFusionUser, bcryptOf, postForm } from './compat-helpers';

// A global gateway write whose FreeSWITCH side the event socket refuses (ictvoip-global-gateways.test.ts)
// answers 202 with a `freeswitch.apply` job. Here that job runs out of attempts while FreeSWITCH still
// refuses: what is owed is kept in PostgreSQL (global_freeswitch_applies), and the reconciler adds the
// job again, as it does a tenant's FreeSWITCH backlog, until FreeSWITCH takes it or its server is gone.
// FREESWITCH_RETRY_MAX_MS (the capped backoff's ceiling) makes the job's 16 attempts take seconds.

const ADMIN = { username: 'admin', password: 'your-password' };
const GATEWAY = { gateway_domain: 'sip.provider.com', gateway_username: 'account', gateway_password: 'password' };
const RESCAN = 'sofia profile external rescan';
const ATTEMPTS = 16;

let bridge: Bridge;
let adminKey: string;

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;
const owedRows = (jobId: string) => bridgeRows('SELECT job_id, server, steps FROM global_freeswitch_applies WHERE job_id = $1', [jobId]);
const provisioning = () => bridge.worker!.deps.queues.provisioning;
const sweep = () => reconcileInbox(bridge.worker!.deps, null, 0);

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', API_WRITE_WAIT_MS: '5000', JOB_BACKOFF_MS: '20', FREESWITCH_RETRY_MAX_MS: '50', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
  adminKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'operator', scope: 'admin', access: 'read-write' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

/** Writes a global gateway while FreeSWITCH refuses its profile's rescan; resolves once its apply job has used up every attempt. */
async function refusedUntilExhausted(name: string, server?: string): Promise<string> {
  const fields = { ...GATEWAY, gateway_name: name };
  // Naming a server takes an admin key (a superadmin's form writes its own server's).
  const reply = server
    ? await postForm(bridge.url, '/app/gateways/provision.php', { ...fields, server }, { authorization: `Bearer ${adminKey}` })
    : await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...fields });
  expect(reply.status).toBe(202);
  const jobId = String(reply.body.job_id);
  expect(jobId).toMatch(/^fs-global-/);
  await waitFor(
    async () => {
      const job = await provisioning().getJob(jobId);
      return job && (await job.getState()) === 'failed' && job.attemptsMade >= ATTEMPTS;
    },
    60_000,
    `the ${ATTEMPTS} attempts of ${jobId} used up`,
  );
  return jobId;
}

describe('a global gateway whose FreeSWITCH apply job ran out of attempts', () => {
  it('is added again by the reconciler (once, however often it runs) until FreeSWITCH takes the rescan; then nothing is owed', async () => {
    bridge.esl.fail(RESCAN, 'profile external is busy');
    const refusal = bridge.esl.failures[0];
    let jobId: string;
    try {
      jobId = await refusedUntilExhausted('exhausted_gateway');
      const status = await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId });
      expect(status.body).toMatchObject({ state: 'failed', attempts: ATTEMPTS, max_attempts: ATTEMPTS });
      expect(status.body.last_error).toContain('profile external is busy');
      // Still owed: PostgreSQL has it.
      expect(await owedRows(jobId)).toEqual([{ job_id: jobId, server: null, steps: expect.arrayContaining([{ kind: 'sofia_rescan', profile: 'external' }]) }]);
    } finally {
      bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal!), 1);
    }
    bridge.esl.clearRecorded();

    // Nothing adds the job but the reconciler: it stays failed until a sweep, replayed here at once.
    expect(await (await provisioning().getJob(jobId))!.getState()).toBe('failed');
    const first = await sweep();
    const second = await sweep();
    await waitFor(async () => (await (await provisioning().getJob(jobId))?.getState()) === 'completed', 30_000, 'the re-added apply job to complete');
    expect(first).toMatchObject({ globalAppliesOwed: 1, globalAppliesRequeued: 1, globalAppliesDropped: 0 });
    // The job was live (or done, and nothing owed): not added twice.
    expect(second.globalAppliesRequeued).toBe(0);
    expect((await provisioning().getJob(jobId))!.returnvalue).toEqual({ server: 'default', steps: 2, dropped: 0 });
    expect(bridge.esl.apiCommands.filter((command) => command === RESCAN)).toHaveLength(1);
    expect(await owedRows(jobId)).toEqual([]);
    expect(await sweep()).toMatchObject({ globalAppliesOwed: 0, globalAppliesRequeued: 0 });
    // What an operator or WHMCS polls says the same: the job completed, the write's answer unchanged (202, FreeSWITCH queued).
    const kept = await call(bridge.url, 'GET', `/v1/jobs/${jobId}`, { token: adminKey });
    expect(kept.body).toMatchObject({ state: 'completed' });
    const status = await postForm(bridge.url, '/app/jobs/status.php', { ...ADMIN, job_id: jobId });
    expect(status.body).toMatchObject({ status: 'success', state: 'completed', attempts: 1 });
  }, 120_000);

  it('is given up, in one log and audit line, once its server is disabled: the reconciler stops adding it', async () => {
    const { fusionServers } = bridge.api!.deps;
    await fusionServers.add({ name: 'second', databaseUrl: bridge.fusionDb.url, eslHost: bridge.esl.host, eslPort: bridge.esl.port, eslPassword: 'ClueCon' });
    bridge.esl.fail(RESCAN, 'profile external is busy');
    const refusal = bridge.esl.failures[0];
    try {
      const jobId = await refusedUntilExhausted('second_gateway', 'second');
      expect(await owedRows(jobId)).toHaveLength(1);
      await fusionServers.setEnabled('second', false);
      expect(await sweep()).toMatchObject({ globalAppliesRequeued: 0, globalAppliesDropped: 1 });
      expect(await owedRows(jobId)).toEqual([]);
      expect(await sweep()).toMatchObject({ globalAppliesOwed: 0, globalAppliesDropped: 0 });
      const audit = await bridgeRows('SELECT actor, detail FROM audit_log WHERE action = $1', ['freeswitch.global_apply_dropped']);
      expect(audit).toEqual([{ actor: 'worker', detail: expect.objectContaining({ jobId, server: 'second', reason: expect.stringContaining('second') }) }]);
      // Not added again: the job stays as its last attempt left it.
      const job = await provisioning().getJob(jobId);
      expect(await job!.getState()).toBe('failed');
      expect(job!.attemptsMade).toBe(ATTEMPTS);
    } finally {
      bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal!), 1);
      await fusionServers.remove('second');
    }
  }, 120_000);

  it('is owed even when Redis refuses to add its job on every attempt of the write: the write answers 202, the reconciler adds the job', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    bridge.esl.fail(RESCAN, 'profile external is busy');
    const refusal = bridge.esl.failures[0];
    let jobId = '';
    let jobKey = '';
    try {
      // The refusal is real Redis: the job's key holds a string (BullMQ's read of it is WRONGTYPE), set
      // while no worker runs, once the write id (and so the job id) is known.
      await withoutWorker(bridge, async () => {
        const queued = await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...GATEWAY, gateway_name: 'unqueued_gateway' }, { 'x-request-id': 'global-unqueued' });
        expect(queued.status).toBe(202);
        const [{ write_id: writeId }] = await bridgeRows('SELECT write_id FROM tenant_writes WHERE request_id = $1', ['global-unqueued']);
        jobId = `fs-global-${writeId}`;
        jobKey = `${bridge.prefix}:${QUEUE_NAMES.provisioning}:${jobId}`;
        await redis.set(jobKey, 'not a job');
      });
      await waitFor(
        async () => ['succeeded', 'failed'].includes((await bridgeRows('SELECT status FROM tenant_writes WHERE request_id = $1', ['global-unqueued']))[0].status),
        30_000,
        'the write to finish',
      );
      const [write] = await bridgeRows('SELECT status, http_status, result FROM tenant_writes WHERE request_id = $1', ['global-unqueued']);
      expect(write).toMatchObject({ status: 'succeeded', http_status: 202, result: { outcome: 'created', freeswitch: { applied: false, job: { id: jobId } } } });
      expect(await owedRows(jobId)).toHaveLength(1);
    } finally {
      bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal!), 1);
      if (jobKey) await redis.del(jobKey);
      redis.disconnect();
    }
    expect(await sweep()).toMatchObject({ globalAppliesRequeued: 1 });
    await waitFor(async () => (await (await provisioning().getJob(jobId))?.getState()) === 'completed', 30_000, 'the apply job the reconciler added');
    expect(await owedRows(jobId)).toEqual([]);
  }, 120_000);

  it('is given up when a step of it can never be sent: the job fails for good, its record goes, the reconciler adds it once', async () => {
    const jobId = 'fs-global-tw-0-invalid-step';
    await bridgeRows(`INSERT INTO global_freeswitch_applies (job_id, write_id, request_id, server, steps) VALUES ($1, 'tw-0-invalid-step', 'invalid-step', NULL, $2)`, [
      jobId,
      JSON.stringify([{ kind: 'sofia_rescan', profile: 'external\napi shutdown' }]),
    ]);
    expect(await sweep()).toMatchObject({ globalAppliesRequeued: 1 });
    await waitFor(async () => (await (await provisioning().getJob(jobId))?.getState()) === 'failed', 20_000, 'the apply job to fail for good');
    const job = await provisioning().getJob(jobId);
    expect(job!.attemptsMade).toBe(1);
    expect(job!.failedReason).toContain('step.profile');
    expect(await owedRows(jobId)).toEqual([]);
    expect(await sweep()).toMatchObject({ globalAppliesOwed: 0, globalAppliesRequeued: 0 });
    expect(bridge.esl.apiCommands.join('\n')).not.toContain('shutdown');
  }, 60_000);

  it('a server whose stored secrets cannot be opened holds up only its own owed apply: the sweep goes on with the others', async () => {
    const { fusionServers } = bridge.api!.deps;
    await fusionServers.add({ name: 'sealed', databaseUrl: bridge.fusionDb.url, eslHost: bridge.esl.host, eslPort: bridge.esl.port, eslPassword: 'ClueCon' });
    try {
      // Stored secrets the bridge cannot open (as after a key rotation gone wrong): opening them throws SealedSecretError.
      await bridgeRows(`UPDATE fusionpbx_servers SET esl_password = 'v1.unknown-key.AAAA' WHERE name = 'sealed'`);
      const steps = JSON.stringify([{ kind: 'sofia_rescan', profile: 'external' }]);
      const owe = (jobId: string, server: string | null) =>
        bridgeRows(`INSERT INTO global_freeswitch_applies (job_id, write_id, request_id, server, steps) VALUES ($1, $1, $1, $2, $3)`, [jobId, server, steps]);
      await owe('fs-global-a-sealed', 'sealed');
      await owe('fs-global-b-default', null);
      expect(await sweep()).toMatchObject({ globalAppliesOwed: 2, globalAppliesRequeued: 1, globalAppliesDropped: 0 });
      await waitFor(async () => (await owedRows('fs-global-b-default')).length === 0, 20_000, 'the default server’s apply sent');
      expect(await owedRows('fs-global-a-sealed')).toHaveLength(1);
    } finally {
      await bridgeRows(`DELETE FROM global_freeswitch_applies WHERE job_id = 'fs-global-a-sealed'`);
      await fusionServers.remove('sealed');
    }
  }, 60_000);
});

import Redis from 'ioredis';
import { deleteTenantGateway, writeTenantExtension } from '@ictvoip/fusionpbx';
import { loadConfig } from '@ictvoip/config';
import { startApi } from '@ictvoip/api';
import { TEST_REDIS_URL, TEST_SEALING_KEY, testSealingKey } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { reconcileInbox } from '../src';
import { startBridge, waitFor, withoutWorker as pauseWorker, type Bridge } from './harness';

// REST writes of extensions and gateways are jobs (queue tenant-writes): the request is committed to
// tenant_writes, a worker applies it under the service lock, and the API answers from the row. These
// tests cover the answer carried back (final state, refusals with their code), the same request
// repeated, the state a crash between the FusionPBX commit and the stored answer leaves behind, a
// job lost from Redis, and the purge of old rows and their sealed passwords.
let bridge: Bridge;
let key: string;
let domain: string;
let tenantJobId: string;
const SERVICE = 5601;
const profile = 'internal';

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '1500', JOB_BACKOFF_MS: '100', FUSIONPBX_PROFILE: profile });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  ({ domain, jobId: tenantJobId } = await createTenant(bridge, SERVICE));
  // Provisioning made 100-102; the REST quota is the stored plan's, raised here to leave room.
  await bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 6, "maxGateways": 3}'::jsonb WHERE service_id = $1`, [SERVICE]);
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
}, 60_000);

afterAll(async () => {
  await bridge.close();
});

const base = `/v1/tenants/${SERVICE}`;
const send = (method: string, path: string, body?: unknown, requestId?: string) =>
  call(bridge.url, method, `${base}${path}`, { token: key, body, headers: requestId ? { 'X-Request-Id': requestId } : {} });
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const extensionRow = async (extension: string) =>
  (await fusionRows('SELECT e.* FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = $2', [domain, extension]))[0];
const writeRow = async (requestId: string) => (await bridge.api!.deps.pool.query('SELECT * FROM tenant_writes WHERE request_id = $1', [requestId])).rows;

/** Every key of the test's queue prefix, values included: what Redis holds of the writes. */
async function redisDump(): Promise<string> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${bridge.prefix}:*`);
    const parts: string[] = [];
    for (const name of keys) {
      const type = await redis.type(name);
      if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(name)));
      else if (type === 'string') parts.push((await redis.get(name)) ?? '');
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

const withoutWorker = <T>(work: () => Promise<T>) => pauseWorker(bridge, work);

/**
 * The write made under `requestId`, sending it first when no earlier test did: a test that needs an
 * earlier test's write (run alone with -t, or after it in the file) finds the same row either way.
 */
async function ensureWrite(requestId: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const [existing] = await writeRow(requestId);
  if (existing) return existing;
  const reply = await send(method, path, body, requestId);
  expect(reply.status).toBeLessThan(500);
  const [row] = await writeRow(requestId);
  return row;
}

/** The extensions the earlier tests create and keep (150, 151), under the request ids they use. */
async function ensureTestExtensions(): Promise<void> {
  await ensureWrite('req-create-150', 'POST', '/extensions', { extension: '150', callerIdName: 'Lobby' });
  await ensureWrite('req-create-151', 'POST', '/extensions', { extension: '151' });
}

/** The refused create of 'req-quota' (QUOTA_EXCEEDED), made with the quota lowered to what the tenant has when no earlier test made it. */
async function ensureQuotaRefusal(): Promise<Record<string, unknown>> {
  const [existing] = await writeRow('req-quota');
  if (existing) return existing;
  const pool = bridge.api!.deps.pool;
  const enabled = await fusionRows("SELECT 1 FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.enabled = 'true'", [domain]);
  await pool.query(`UPDATE services SET plan = plan || jsonb_build_object('maxExtensions', $2::int) WHERE service_id = $1`, [SERVICE, enabled.length]);
  try {
    expect((await send('POST', '/extensions', { extension: '156' }, 'req-quota')).body.error.code).toBe('QUOTA_EXCEEDED');
  } finally {
    await pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 6}'::jsonb WHERE service_id = $1`, [SERVICE]);
  }
  return (await writeRow('req-quota'))[0];
}

describe('the answer of a write job', () => {
  it('creates an extension through the job and answers 201 with its final state and the SIP password, which never reaches Redis', async () => {
    const reply = await send('POST', '/extensions', { extension: '150', callerIdName: 'Lobby' }, 'req-create-150');
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ outcome: 'created', extension: { extension: '150', callerIdName: 'Lobby', enabled: true }, freeswitch: { applied: true } });
    const password = reply.body.password as string;
    expect(password).toMatch(/^.{20}$/);
    expect((await extensionRow('150')).password).toBe(password);
    const [row] = await writeRow('req-create-150');
    expect(row).toMatchObject({ status: 'succeeded', http_status: 201, attempts: 1, resource: 'extension', operation: 'create', target: '150' });
    expect(row.sealed_secrets).toMatch(/^v2\.test1\./);
    expect(JSON.stringify(row)).not.toContain(password);
    const job = await bridge.api!.deps.queues['tenant-writes'].getJob(row.write_id);
    expect(job!.returnvalue).toEqual({ writeId: row.write_id, status: 'succeeded', httpStatus: 201 });
    expect(await redisDump()).not.toContain(password);
    expect(bridge.logLines.filter((line) => line.includes(password))).toEqual([]);
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:150@${domain}`]));
  });

  it('answers the same request repeated with the first answer (same password, one row, one extension); a new request for it is 409', async () => {
    const first = await send('POST', '/extensions', { extension: '151' }, 'req-create-151');
    const again = await send('POST', '/extensions', { extension: '151' }, 'req-create-151');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.password).toBe(first.body.password);
    expect(again.body.extension.extensionUuid).toBe(first.body.extension.extensionUuid);
    expect(await writeRow('req-create-151')).toHaveLength(1);
    expect(await fusionRows("SELECT 1 FROM v_extensions WHERE extension = '151'")).toHaveLength(1);
    const other = await send('POST', '/extensions', { extension: '151' }, 'req-create-151-b');
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringContaining('151') });
    // A refused write keeps nothing secret: the generated password it carried is wiped.
    expect((await writeRow('req-create-151-b'))[0]).toMatchObject({ status: 'rejected', http_status: 409, sealed_secrets: null });
  });

  it('answers a repeat after a WEBHOOK_SECRET rotation and during a SEALING_KEY rotation as the same write, not 409', async () => {
    const first = await send('POST', '/extensions', { extension: '152' }, 'req-create-152');
    expect(first.status).toBe(201);
    // Another webhook secret and a new sealing key first (the old one still listed): the write id is the same write.
    const rotated = await startApi(
      loadConfig({ ...bridge.env, WEBHOOK_SECRET: 'rotated-webhook-secret-0123456789', SEALING_KEY: `${testSealingKey('test2')},${TEST_SEALING_KEY}` }),
      bridge.logger,
      { port: 0 },
    );
    try {
      await waitFor(async () => (await fetch(`${rotated.url}/readyz`).then(async (res) => (await res.body?.cancel(), res))).status === 200, 10_000, 'the rotated API ready');
      const again = await call(rotated.url, 'POST', `${base}/extensions`, { token: key, body: { extension: '152' }, headers: { 'X-Request-Id': 'req-create-152' } });
      expect(again.status).toBe(201);
      expect(again.body.password).toBe(first.body.password);
      expect(await writeRow('req-create-152')).toHaveLength(1);
    } finally {
      await rotated.close();
    }
    // Leaves the plan's quota as the next test counts it.
    expect((await send('DELETE', '/extensions/152')).status).toBe(204);
  });

  it('carries each refusal back with its status and code, and writes nothing', async () => {
    await ensureTestExtensions();
    const overQuota: number[] = [];
    for (const extension of ['152', '153', '154', '155']) overQuota.push((await send('POST', '/extensions', { extension })).status);
    // The plan allows 6 enabled extensions: 100-102 from the plan, 150, 151, and one of these.
    expect(overQuota).toEqual([201, 409, 409, 409]);
    const quota = await send('POST', '/extensions', { extension: '156' }, 'req-quota');
    expect(quota.status).toBe(409);
    expect(quota.body.error.code).toBe('QUOTA_EXCEEDED');
    expect(await extensionRow('156')).toBeUndefined();
    const unknownGateway = await send('PUT', '/gateways/6f1e0c1a-9a52-4f7e-8c55-3d1f8e0b9a11', { description: 'x', password: 'Secret-Gw-1' }, 'req-unknown-gw');
    expect(unknownGateway.status).toBe(404);
    expect(unknownGateway.body.error.code).toBe('NOT_FOUND');
    expect((await writeRow('req-unknown-gw'))[0]).toMatchObject({ status: 'rejected', http_status: 404, sealed_secrets: null });
    const badRegister = await send('POST', '/gateways', { name: 'noauth', proxy: 'sip.example.net', register: true }, 'req-noauth');
    expect(badRegister.status).toBe(400);
    expect(badRegister.body.error.details).toEqual([{ path: 'body.username', message: expect.stringContaining('required') }]);
    expect(await fusionRows("SELECT 1 FROM v_gateways WHERE gateway = 'noauth'")).toEqual([]);
    // A refused URL parameter is named where it was sent (params.*), by the job's refusal and by a dry run alike.
    for (const path of ['/extensions/%20', '/extensions/%20?dryRun=1', '/destinations/1234567890123456789012', '/destinations/1234567890123456789012?dryRun=1']) {
      const refused = await send('DELETE', path);
      expect({ path, status: refused.status, details: refused.body.error.details }).toEqual({
        path,
        status: 400,
        details: [{ path: path.startsWith('/extensions') ? 'params.extension' : 'params.number', message: expect.any(String) }],
      });
    }
    const job = await call(bridge.url, 'GET', `/v1/jobs/${(await writeRow('req-quota'))[0].write_id}`, { token: key });
    expect(job.body).toMatchObject({ state: 'completed', write: { status: 'rejected', httpStatus: 409, error: { code: 'QUOTA_EXCEEDED' } } });
  });

  it('a gateway password sent by the client is sealed, never in the row or Redis in clear, and reaches FusionPBX', async () => {
    const password = 'Gw-Pass-Only-Here-77';
    const reply = await send('POST', '/gateways', { name: 'carrier-a', proxy: 'sip.carrier.example', username: 'acct7', password }, 'req-gw-a');
    expect(reply.status).toBe(201);
    expect(reply.body.gateway).toMatchObject({ name: 'carrier-a', passwordSet: true });
    expect(JSON.stringify(reply.body)).not.toContain(password);
    const [row] = await writeRow('req-gw-a');
    expect(row.target).toBe(reply.body.gateway.gatewayUuid);
    expect(JSON.stringify(row)).not.toContain(password);
    expect(await redisDump()).not.toContain(password);
    expect(bridge.logLines.filter((line) => line.includes(password))).toEqual([]);
    expect((await fusionRows('SELECT password FROM v_gateways WHERE gateway_uuid = $1', [row.target]))[0].password).toBe(password);
  });
});

describe('a write that cannot be applied', () => {
  it('fails for good when its tenant’s FusionPBX server is disabled before a worker takes it: 503 with the code and how to send it again, nothing written; the same id keeps that answer once the server is back, a new id applies', async () => {
    const other = SERVICE + 1;
    await createTenant(bridge, other);
    const { fusionServers } = bridge.api!.deps;
    // A registered server over the same FusionPBX database, the tenant moved onto it in the bridge's books.
    await fusionServers.add({ name: 'second', databaseUrl: bridge.fusionDb.url, eslHost: bridge.esl.host, eslPort: bridge.esl.port, eslPassword: 'ClueCon' });
    await bridge.api!.deps.pool.query("UPDATE services SET fusionpbx_server = 'second' WHERE service_id = $1", [other]);
    const otherKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'other', scope: 'tenant', serviceId: other, access: 'read-write' });
    const put = () =>
      call(bridge.url, 'PUT', `/v1/tenants/${other}/extensions/100`, { token: otherKey, body: { description: 'never' }, headers: { 'X-Request-Id': 'req-disabled' } });
    await withoutWorker(async () => {
      expect((await put()).status).toBe(202);
      await fusionServers.update('second', { enabled: false });
    });
    await waitFor(async () => (await writeRow('req-disabled'))[0]?.status === 'failed', 20_000, 'the write to fail');
    expect((await writeRow('req-disabled'))[0]).toMatchObject({ http_status: 503, attempts: 1, error: { code: 'FUSIONPBX_SERVER_DISABLED' } });
    // Asked again, the API itself refuses the disabled server before it looks for the write.
    const again = await put();
    expect(again.status).toBe(503);
    expect(again.body.error).toMatchObject({ code: 'FUSIONPBX_SERVER_DISABLED', message: expect.stringContaining('second') });
    // The server can be enabled again: the kept answer says the write failed and how to send it again.
    const message = 'FusionPBX server second is disabled; the write failed: send it again in 30 s with a new X-Request-Id (this one keeps this answer)';
    const status = await call(bridge.url, 'GET', `/v1/jobs/${(await writeRow('req-disabled'))[0].write_id}`, { token: otherKey });
    expect(status.body).toMatchObject({
      state: 'failed',
      write: { status: 'failed', httpStatus: 503, error: { code: 'FUSIONPBX_SERVER_DISABLED', message, retryAfter: 30 } },
    });
    const job = await bridge.api!.deps.queues['tenant-writes'].getJob((await writeRow('req-disabled'))[0].write_id);
    // The row is finished inside the job, a moment before BullMQ moves the job to failed.
    await waitFor(async () => (await job!.getState()) === 'failed', 10_000, 'the job moved to failed');
    expect((await bridge.api!.deps.queues['tenant-writes'].getJob(job!.id!))!.attemptsMade).toBe(1);
    expect(
      (
        await fusionRows("SELECT e.description FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '100'", [
          `t${other}.pbx.example.net`,
        ])
      )[0].description,
    ).not.toBe('never');
    // The server back, the same request is still the same (failed) write, as its answer said.
    await fusionServers.update('second', { enabled: true });
    const repeated = await put();
    expect(repeated.status).toBe(503);
    expect(repeated.headers.get('retry-after')).toBe('30');
    expect(repeated.body).toEqual({ error: { code: 'FUSIONPBX_SERVER_DISABLED', message } });
    expect((await writeRow('req-disabled'))[0]).toMatchObject({ status: 'failed', attempts: 1 });
    const fresh = await call(bridge.url, 'PUT', `/v1/tenants/${other}/extensions/100`, {
      token: otherKey,
      body: { description: 'never' },
      headers: { 'X-Request-Id': 'req-disabled-again' },
    });
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ outcome: 'updated', extension: { description: 'never' } });
  });

  it('fails for good without "send it again" when the write can never be applied (its service no longer managed): 404 SERVICE_UNKNOWN, no Retry-After, kept', async () => {
    const gone = SERVICE + 2;
    await createTenant(bridge, gone);
    const goneKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'gone', scope: 'tenant', serviceId: gone, access: 'read-write' });
    const put = () => call(bridge.url, 'PUT', `/v1/tenants/${gone}/extensions/100`, { token: goneKey, body: { description: 'never' }, headers: { 'X-Request-Id': 'req-gone' } });
    const pool = bridge.api!.deps.pool;
    const away = 9_000_000 + gone;
    await withoutWorker(async () => {
      expect((await put()).status).toBe(202);
      // The service leaves the bridge's books before a worker takes the write.
      await pool.query('UPDATE services SET service_id = $2 WHERE service_id = $1', [gone, away]);
    });
    try {
      await waitFor(async () => (await writeRow('req-gone'))[0]?.status === 'failed', 20_000, 'the write to fail');
    } finally {
      await pool.query('UPDATE services SET service_id = $2 WHERE service_id = $1', [away, gone]);
    }
    const error = { code: 'SERVICE_UNKNOWN', message: `service ${gone} is not managed by the bridge` };
    expect((await writeRow('req-gone'))[0]).toMatchObject({ status: 'failed', http_status: 404, attempts: 1, error });
    expect((await writeRow('req-gone'))[0].error).toEqual(error);
    const repeated = await put();
    expect(repeated.status).toBe(404);
    expect(repeated.headers.get('retry-after')).toBeNull();
    expect(repeated.body).toEqual({ error });
  });
});

describe('a job asked while Redis is unavailable to the API', () => {
  it('answers a finished write or webhook event from the database (v1 and status.php), 503 with Retry-After only for what the database cannot tell', async () => {
    await ensureTestExtensions();
    await ensureQuotaRefusal();
    // The other tenant (the test above makes it, on a server it then disables).
    if ((await bridge.api!.deps.pool.query('SELECT 1 FROM services WHERE service_id = $1', [SERVICE + 1])).rowCount === 0) await createTenant(bridge, SERVICE + 1);
    const down = await startApi(loadConfig({ ...bridge.env, REDIS_URL: 'redis://127.0.0.1:1', COMPAT_ICTVOIP: '1' }), bridge.logger, { port: 0 });
    try {
      const created = (await writeRow('req-create-150'))[0].write_id as string;
      const job = await call(down.url, 'GET', `/v1/jobs/${created}`, { token: key });
      expect(job.status).toBe(200);
      expect(job.body).toMatchObject({ id: created, state: 'completed', serviceId: SERVICE, action: 'extension.create', write: { status: 'succeeded', httpStatus: 201 } });
      expect(job.body.write.result).toMatchObject({ outcome: 'created', extension: { extension: '150' } });
      const refused = await call(down.url, 'GET', `/app/jobs/status.php?job_id=${(await writeRow('req-quota'))[0].write_id}`, { token: key });
      expect(refused.status).toBe(200);
      expect(refused.body).toMatchObject({ status: 'success', state: 'completed', write: { status: 'rejected', http_status: 409, error: { code: 'QUOTA_EXCEEDED' } } });
      const event = await call(down.url, 'GET', `/v1/jobs/${tenantJobId}`, { token: key });
      expect(event.status).toBe(200);
      expect(event.body).toMatchObject({ state: 'completed', serviceId: SERVICE, event: { status: 'succeeded' } });
      // Another tenant's (the test above made it) finished write stays as unknown as it is with Redis up.
      const otherKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'redis-down-other', scope: 'tenant', serviceId: SERVICE + 1, access: 'read' });
      expect((await call(down.url, 'GET', `/v1/jobs/${created}`, { token: otherKey })).status).toBe(404);
      // A superadmin's password is checked under the failed-login lockout, which is counted in Redis: refused, not guessed unlimited.
      const basic = { authorization: `Basic ${Buffer.from('admin:any-password').toString('base64')}` };
      const superadmin = await call(down.url, 'GET', `/app/jobs/status.php?job_id=${created}`, { headers: basic });
      expect({ status: superadmin.status, retryAfter: superadmin.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
      // Only Redis could tell (a job the database has no finished row for): retry later.
      for (const path of ['/v1/jobs/no-such-job', '/app/jobs/status.php?job_id=no-such-job']) {
        const unknown = await call(down.url, 'GET', path, { token: key });
        expect({ path, status: unknown.status, retryAfter: unknown.headers.get('retry-after') }).toEqual({ path, status: 503, retryAfter: '5' });
      }
    } finally {
      await down.close();
    }
  });
});

describe('a write whose worker died after the FusionPBX commit', () => {
  // The state such a crash leaves: FusionPBX committed, the row still unfinished with one attempt
  // counted, the job handed to the next worker. Staged here by doing the first attempt's commit
  // directly with the write's own password / uuid while no worker runs.
  async function stageCommittedAttempt(writeId: string, commit: () => Promise<unknown>): Promise<void> {
    await commit();
    await bridge.api!.deps.pool.query("UPDATE tenant_writes SET status = 'running', attempts = 1 WHERE write_id = $1", [writeId]);
  }

  it('a create replayed answers 201 created with the same password, not 409, and creates nothing twice', async () => {
    const pending = await withoutWorker(async () => {
      const reply = await send('PUT', '/extensions/102', { enabled: false }, 'req-free-slot');
      expect(reply.status).toBe(202);
      return reply;
    });
    await waitFor(async () => (await writeRow('req-free-slot'))[0]?.status === 'succeeded', 20_000, 'the queued update');
    expect(pending.body.job.url).toMatch(/^\/v1\/jobs\/tw-/);
    await withoutWorker(async () => {
      const reply = await send('POST', '/extensions', { extension: '160', callerIdName: 'Replay' }, 'req-replay-160');
      expect(reply.status).toBe(202);
      const password = reply.body.password as string;
      const [row] = await writeRow('req-replay-160');
      await stageCommittedAttempt(row.write_id, () =>
        writeTenantExtension(bridge.fusion, '160', { callerIdName: 'Replay' }, 'create', {
          serviceId: SERVICE,
          maxEnabledExtensions: null,
          registrationProfile: profile,
          password,
        }),
      );
    });
    await waitFor(async () => (await writeRow('req-replay-160'))[0]?.status !== 'running', 20_000, 'the replay');
    const [row] = await writeRow('req-replay-160');
    expect(row).toMatchObject({ status: 'succeeded', http_status: 201, attempts: 2 });
    expect(row.result).toMatchObject({ outcome: 'created', extension: { extension: '160' } });
    expect(await fusionRows("SELECT 1 FROM v_extensions WHERE extension = '160'")).toHaveLength(1);
    const again = await send('POST', '/extensions', { extension: '160', callerIdName: 'Replay' }, 'req-replay-160');
    expect(again.status).toBe(201);
    expect(again.body.password).toBe((await extensionRow('160')).password);
  });

  it('a gateway delete replayed answers 204 and still stops the gateway on the profile it had', async () => {
    const created = await send('POST', '/gateways', { name: 'carrier-b', proxy: 'sip.b.example', register: false, profile: 'internal' }, 'req-gw-b');
    expect(created.status).toBe(201);
    const gatewayUuid = created.body.gateway.gatewayUuid as string;
    await withoutWorker(async () => {
      const reply = await send('DELETE', `/gateways/${gatewayUuid}`, undefined, 'req-gw-b-delete');
      expect(reply.status).toBe(202);
      const [row] = await writeRow('req-gw-b-delete');
      // The first attempt noted the gateway before removing it, then died.
      await bridge.api!.deps.pool.query('UPDATE tenant_writes SET preimage = $2 WHERE write_id = $1', [row.write_id, { profile: 'internal' }]);
      await stageCommittedAttempt(row.write_id, () => deleteTenantGateway(bridge.fusion, gatewayUuid, { serviceId: SERVICE, maxGateways: 3 }));
      bridge.esl.clearRecorded();
    });
    await waitFor(async () => (await writeRow('req-gw-b-delete'))[0]?.status !== 'running', 20_000, 'the replay');
    expect((await writeRow('req-gw-b-delete'))[0]).toMatchObject({ status: 'succeeded', http_status: 204, attempts: 2, result: { outcome: 'deleted' } });
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`sofia profile internal killgw ${gatewayUuid}`]));
    expect((await send('DELETE', `/gateways/${gatewayUuid}`, undefined, 'req-gw-b-delete')).status).toBe(204);
    // A new request to delete it is told it is gone.
    expect((await send('DELETE', `/gateways/${gatewayUuid}`, undefined, 'req-gw-b-delete-2')).status).toBe(404);
  });

  it('a gateway create replayed finds its own uuid and answers created, not a duplicate name', async () => {
    await withoutWorker(async () => {
      const reply = await send('POST', '/gateways', { name: 'carrier-c', proxy: 'sip.c.example', register: false }, 'req-gw-c');
      expect(reply.status).toBe(202);
      const [row] = await writeRow('req-gw-c');
      const { createTenantGateway } = await import('@ictvoip/fusionpbx');
      await stageCommittedAttempt(row.write_id, () =>
        createTenantGateway(bridge.fusion, { name: 'carrier-c', proxy: 'sip.c.example', register: false }, { serviceId: SERVICE, maxGateways: 3, gatewayUuid: row.target }),
      );
    });
    await waitFor(async () => (await writeRow('req-gw-c'))[0]?.status !== 'running', 20_000, 'the replay');
    const [row] = await writeRow('req-gw-c');
    expect(row).toMatchObject({ status: 'succeeded', http_status: 201, result: { outcome: 'created', gateway: { gatewayUuid: row.target, name: 'carrier-c' } } });
    expect(await fusionRows("SELECT 1 FROM v_gateways WHERE gateway = 'carrier-c'")).toHaveLength(1);
  });
});

describe('the reconciler and the purge', () => {
  it('re-adds a write whose job Redis lost, and the write is applied once', async () => {
    let writeId = '';
    await withoutWorker(async () => {
      const reply = await send('PUT', '/extensions/150', { description: 'After a FLUSHALL' }, 'req-lost');
      expect(reply.status).toBe(202);
      writeId = reply.body.job.id;
      await (await bridge.api!.deps.queues['tenant-writes'].getJob(writeId))!.remove();
      await bridge.api!.deps.pool.query("UPDATE tenant_writes SET updated_at = now() - interval '1 hour' WHERE write_id = $1", [writeId]);
    });
    const outcome = await reconcileInbox(bridge.worker!.deps, null, 60);
    expect(outcome).toMatchObject({ writesExamined: 1, writesRequeued: 1 });
    await waitFor(async () => (await writeRow('req-lost'))[0]?.status === 'succeeded', 20_000, 'the re-added write');
    expect((await extensionRow('150')).description).toBe('After a FLUSHALL');
    expect((await reconcileInbox(bridge.worker!.deps, null, 0)).writesRequeued).toBe(0);
  });

  it('reports the writes by status on /metrics, as the table holds them', async () => {
    // At least a succeeded write and a refused one.
    await ensureTestExtensions();
    await ensureWrite('req-unknown-gw', 'PUT', '/gateways/6f1e0c1a-9a52-4f7e-8c55-3d1f8e0b9a11', { description: 'x', password: 'Secret-Gw-1' });
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    const { rows } = await bridge.api!.deps.pool.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM tenant_writes GROUP BY status');
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) expect(text).toContain(`ictvoip_tenant_writes{status="${row.status}"} ${row.n}\n`);
    expect(text).toContain('ictvoip_queue_jobs{queue="tenant-writes",state="completed"}');
  });

  it('wipes sealed passwords after a day and forgets finished writes after 30 days', async () => {
    await ensureTestExtensions();
    const pool = bridge.api!.deps.pool;
    await pool.query("UPDATE tenant_writes SET finished_at = now() - interval '2 days' WHERE request_id = 'req-create-150'");
    await pool.query("UPDATE tenant_writes SET finished_at = now() - interval '31 days' WHERE request_id = 'req-create-151'");
    const outcome = await reconcileInbox(bridge.worker!.deps, null, 60);
    expect(outcome.writesPurged.secretsWiped).toBeGreaterThanOrEqual(1);
    expect(outcome.writesPurged.deleted).toBe(1);
    expect((await writeRow('req-create-150'))[0]).toMatchObject({ status: 'succeeded', sealed_secrets: null });
    expect(await writeRow('req-create-151')).toEqual([]);
    // Repeated after the wipe, the create still answers its outcome, without the password.
    const again = await send('POST', '/extensions', { extension: '150', callerIdName: 'Lobby' }, 'req-create-150');
    expect(again.status).toBe(201);
    expect(again.body.password).toBeUndefined();
  });
});

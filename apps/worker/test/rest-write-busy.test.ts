import { DEFAULT_FUSION_SERVER, withCreditLock, withServerLock, withServiceLock } from '@ictvoip/store';
import { call, createKey, createTenant, type Reply } from '../../api/test/v1-helpers';
import { addFusionUser, bcryptOf, expectError, postForm } from './compat-helpers';
import { logRecords, startBridge, type Bridge } from './harness';

// A REST write whose job finds a store lock held through every attempt (a provisioning event of the
// tenant, a client's credit check, another global gateway write of the server): the caller is told
// what was busy with the lock's own code (TENANT_BUSY, CREDIT_CHECK_BUSY, FUSIONPBX_SERVER_BUSY), as
// the API answers a lock it takes itself, not WRITE_FAILED with the store's message. Unlike the API's
// own answer, the write has failed for good and its answer is kept (the same X-Request-Id gets it
// again), so it says so and how to send the write again. The locks are held for real from another
// connection; the worker waits WRITE_LOCK_WAIT_MS for each, over JOB_ATTEMPTS attempts.
let bridge: Bridge;
let key: string;
let clientId: number;
const SERVICE = 5651;
const LOCK_WAIT_MS = 200;
const ADMIN = { username: 'admin', password: 'your-password' };
/** What the stored answer of a write failed for good adds to what was busy. */
const failedForGood = (retryAfter: number) =>
  `(its lock was not free within ${LOCK_WAIT_MS} ms on the last of the write's 2 attempts); the write failed: send it again in ${retryAfter} s with a new X-Request-Id (this one keeps this answer)`;

beforeAll(async () => {
  bridge = await startBridge({
    COMPAT_ICTVOIP: '1',
    API_WRITE_WAIT_MS: '15000',
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '10',
    WRITE_LOCK_WAIT_MS: String(LOCK_WAIT_MS),
    FUSIONPBX_PROFILE: 'internal',
  });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await createTenant(bridge, SERVICE);
  await bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxGateways": 3}'::jsonb WHERE service_id = $1`, [SERVICE]);
  clientId = Number((await bridge.api!.deps.pool.query('SELECT client_id FROM services WHERE service_id = $1', [SERVICE])).rows[0].client_id);
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
}, 60_000);

afterAll(async () => {
  await bridge.close();
});

const send = (method: string, path: string, body: unknown, requestId: string) =>
  call(bridge.url, method, `/v1/tenants/${SERVICE}${path}`, { token: key, body, headers: { 'X-Request-Id': requestId } });
const writeRow = async (requestId: string) => (await bridge.api!.deps.pool.query('SELECT * FROM tenant_writes WHERE request_id = $1', [requestId])).rows[0];

/** What the caller, the stored write, the job's status and the log all say of a write that found `code`'s lock busy. */
async function expectBusy(reply: Reply, requestId: string, code: string, retryAfter: number, message: string): Promise<void> {
  expect(reply.status).toBe(503);
  expect(reply.headers.get('retry-after')).toBe(String(retryAfter));
  expect(reply.body).toEqual({ error: { code, message } });
  // Every attempt found the lock held: the last one's failure is the answer.
  const row = await writeRow(requestId);
  expect(row).toMatchObject({ status: 'failed', http_status: 503, attempts: 2, error: { code, message, retryAfter } });
  const job = await call(bridge.url, 'GET', `/v1/jobs/${row.write_id}`, { token: key });
  expect(job.body).toMatchObject({ write: { status: 'failed', httpStatus: 503, error: { code, message, retryAfter } } });
  // The operator sees the answer once, with the code and the request id.
  const answered = logRecords(bridge, (record) => record.requestId === requestId && String(record.msg).startsWith('answered'));
  expect(answered).toEqual([expect.objectContaining({ level: 40, status: 503, code, msg: `answered 503 ${code}: ${message}` })]);
}

it('a write whose tenant stays locked through every attempt is 503 TENANT_BUSY, failed for good, not WRITE_FAILED; the same request keeps that answer, a new one applies', async () => {
  const pool = bridge.api!.deps.pool;
  const body = { description: 'Written while busy' };
  const reply = await withServiceLock(pool, SERVICE, () => send('PUT', '/extensions/101', body, 'req-busy-tenant'));
  const message = `tenant ${SERVICE} is busy: a provisioning event or another write of it is being applied ${failedForGood(2)}`;
  await expectBusy(reply, 'req-busy-tenant', 'TENANT_BUSY', 2, message);
  // The lock is free now, yet the same request is the same (failed) write, as its answer said.
  const repeated = await send('PUT', '/extensions/101', body, 'req-busy-tenant');
  expect(repeated.status).toBe(503);
  expect(repeated.headers.get('retry-after')).toBe('2');
  expect(repeated.body).toEqual({ error: { code: 'TENANT_BUSY', message } });
  expect(await writeRow('req-busy-tenant')).toMatchObject({ status: 'failed', attempts: 2 });
  const again = await send('PUT', '/extensions/101', body, 'req-busy-tenant-again');
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ outcome: 'updated' });
}, 30_000);

it('a gateway switched on while its client’s credit check holds the credit lock is 503 CREDIT_CHECK_BUSY, failed for good; nothing is written', async () => {
  const pool = bridge.api!.deps.pool;
  const body = { name: 'carrier-busy', proxy: 'sip.busy.example', register: false };
  const reply = await withCreditLock(pool, clientId, () => send('POST', '/gateways', body, 'req-busy-credit'));
  await expectBusy(reply, 'req-busy-credit', 'CREDIT_CHECK_BUSY', 5, `the credit of WHMCS client ${clientId} is busy: a credit check of it is running ${failedForGood(5)}`);
  expect((await bridge.fusion.query("SELECT 1 FROM v_gateways WHERE gateway = 'carrier-busy'")).rows).toEqual([]);
  const again = await send('POST', '/gateways', body, 'req-busy-credit-again');
  expect(again.status).toBe(201);
}, 30_000);

it('a global gateway write while another write of the server holds its lock is 503 FUSIONPBX_SERVER_BUSY, failed for good; nothing is written', async () => {
  // ictVoIP's provision.php naming no tenant (a superadmin): the server's own gateway, written by
  // the gateway write job under the server's lock (withServerLock), not a service's. The
  // registration poll's lock is another key: a poll never makes a REST write FUSIONPBX_SERVER_BUSY.
  const pool = bridge.api!.deps.pool;
  const form = { ...ADMIN, gateway_name: 'global-busy', gateway_domain: 'sip.global-busy.example', gateway_username: 'account', gateway_password: 'password' };
  const provision = () => postForm(bridge.url, '/app/gateways/provision.php', form, { 'x-request-id': 'req-busy-server' });
  const reply = await withServerLock(pool, DEFAULT_FUSION_SERVER, provision);
  const message = `FusionPBX server ${DEFAULT_FUSION_SERVER} is busy: another global gateway write to it is being applied ${failedForGood(5)}`;
  expectError(reply, 503, `Server Error: ${message}`);
  expect(reply.headers.get('retry-after')).toBe('5');
  const row = await writeRow('req-busy-server');
  expect(row).toMatchObject({ service_id: '0', status: 'failed', http_status: 503, attempts: 2, error: { code: 'FUSIONPBX_SERVER_BUSY', message, retryAfter: 5 } });
  const job = await call(bridge.url, 'GET', `/v1/jobs/${row.write_id}`, { token: bridge.config.adminToken });
  expect(job.body).toMatchObject({ write: { status: 'failed', httpStatus: 503, error: { code: 'FUSIONPBX_SERVER_BUSY', message, retryAfter: 5 } } });
  expect((await bridge.fusion.query("SELECT 1 FROM v_gateways WHERE gateway = 'global-busy'")).rows).toEqual([]);
  const answered = logRecords(bridge, (record) => record.requestId === 'req-busy-server' && String(record.msg).startsWith('answered'));
  expect(answered).toEqual([expect.objectContaining({ level: 40, status: 503, code: 'FUSIONPBX_SERVER_BUSY' })]);
  const again = await postForm(bridge.url, '/app/gateways/provision.php', form, { 'x-request-id': 'req-busy-server-again' });
  expect(again.status).toBe(200);
  expect((await bridge.fusion.query("SELECT 1 FROM v_gateways WHERE gateway = 'global-busy' AND domain_uuid IS NULL")).rows).toHaveLength(1);
}, 30_000);

it('a write failing for another reason is still WRITE_FAILED with the error’s message and Retry-After 30', async () => {
  // FusionPBX's extensions table gone from under the job: a database error, no lock.
  await bridge.fusion.query('ALTER TABLE v_extensions RENAME TO v_extensions_away');
  let reply: Reply;
  try {
    reply = await send('PUT', '/extensions/101', { description: 'Never written' }, 'req-not-busy');
  } finally {
    await bridge.fusion.query('ALTER TABLE v_extensions_away RENAME TO v_extensions');
  }
  expect(reply.status).toBe(503);
  expect(reply.headers.get('retry-after')).toBe('30');
  expect(reply.body.error).toEqual({ code: 'WRITE_FAILED', message: expect.stringContaining('v_extensions') });
  // Failed for good, as a busy lock's answer: a repeat of this request gets the same answer.
  expect(reply.body.error.message).toMatch(
    / \(on the last of the write's 2 attempts\); the write failed: send it again in 30 s with a new X-Request-Id \(this one keeps this answer\)$/,
  );
  expect(await writeRow('req-not-busy')).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'WRITE_FAILED', retryAfter: 30 } });
}, 30_000);

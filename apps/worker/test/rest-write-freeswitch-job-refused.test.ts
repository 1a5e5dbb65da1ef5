import Redis from 'ioredis';
import { TEST_REDIS_URL } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { reconcileInbox } from '../src';
import { writeWhileBacklogAddRefused } from './backlog-add-refused';
import { startBridge, waitFor, type Bridge } from './harness';

// A tenant's REST write commits its FusionPBX rows, saves its FreeSWITCH steps in the service's
// backlog, then adds the backlog's job. When Redis refuses that add on every attempt, the row is
// written and the backlog saved: the write is a success whose FreeSWITCH side is owed (202), not
// WRITE_FAILED (a client would send it again into a duplicate), and the reconciler adds the job.
// The refusal is real Redis: the job's key holds a string, so BullMQ's read of it is WRONGTYPE.

const SERVICE = 5811;
let bridge: Bridge;
let key: string;
let redis: Redis;

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '10000', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50', FREESWITCH_RETRY_MAX_MS: '50', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await createTenant(bridge, SERVICE);
  // Provisioning made the plan's extensions; the REST quota is the stored plan's, raised to leave room.
  await bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 6}'::jsonb WHERE service_id = $1`, [SERVICE]);
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  redis = new Redis(TEST_REDIS_URL);
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await bridge?.close();
});

const backlogOf = async () => (await bridge.api!.deps.pool.query('SELECT pending_apply FROM services WHERE service_id = $1', [SERVICE])).rows[0].pending_apply;

describe('a tenant write whose FreeSWITCH backlog job Redis refuses to add on every attempt', () => {
  it('answers 202 with the backlog job (the row and the backlog are saved), and the reconciler adds that job', async () => {
    const { reply, jobId } = await writeWhileBacklogAddRefused(bridge, redis, SERVICE, () =>
      call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/extensions`, { token: key, body: { extension: '150' }, headers: { 'X-Request-Id': 'job-add-refused' } }),
    );
    expect(`${reply.status} ${JSON.stringify(reply.body)}`).toMatch(/^202 /);
    expect(reply.body.freeswitch).toMatchObject({ applied: false, job: { id: jobId } });
    const [write] = (await bridge.api!.deps.pool.query('SELECT status, http_status, attempts FROM tenant_writes WHERE request_id = $1', ['job-add-refused'])).rows;
    expect(write).toMatchObject({ status: 'succeeded', http_status: 202, attempts: 1 });
    expect((await backlogOf()).steps.length).toBeGreaterThan(1);
    expect(await bridge.worker!.deps.queues.provisioning.getJob(jobId)).toBeUndefined();

    expect(await reconcileInbox(bridge.worker!.deps, null, 0)).toMatchObject({ freeswitchBehind: 1, backlogsRequeued: 1 });
    await waitFor(async () => (await backlogOf()) === null, 20_000, 'the backlog sent by the job the reconciler added');
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining(['sofia profile internal rescan']));
  }, 60_000);
});

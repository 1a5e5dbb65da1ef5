import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { TenantWritesRepository } from '@ictvoip/store';
import { startBridge, type Bridge } from './harness';
import { addFusionUser, bcryptOf, postForm } from './compat-helpers';

// A global gateway is every tenant's of its server: while its FreeSWITCH apply is owed
// (global_freeswitch_applies), an operator looking at ONE tenant must see it too, not only `tenants
// list` and /readyz. GET /v1/tenants/{id} counts them (observed.freeswitch.globalApplies, as /readyz's
// freeswitch.globalApplies) and the WHMCS admin tab's 'FreeSWITCH apply' says how many since when.

const ADMIN = { username: 'admin', password: 'your-password' };
const GATEWAY = { gateway_domain: 'sip.provider.com', gateway_username: 'account', gateway_password: 'password' };
const RESCAN = 'sofia profile external rescan';
const SERVICE = 9311;

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', API_WRITE_WAIT_MS: '5000', JOB_BACKOFF_MS: '20', FREESWITCH_RETRY_MAX_MS: '50', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
  const created = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: SERVICE, action: 'create' })), { query: '?wait=20' });
  expect(created.body).toMatchObject({ result: 'success' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

async function tenantFreeswitch(): Promise<Record<string, unknown>> {
  const reply = await fetch(`${bridge.url}/v1/tenants/${SERVICE}`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
  expect(reply.status).toBe(200);
  return ((await reply.json()) as { observed: { freeswitch: Record<string, unknown> } }).observed.freeswitch;
}

async function adminTab(): Promise<string> {
  const event = buildEvent({ serviceId: SERVICE, action: 'status' });
  delete event.secrets;
  const reply = await postWebhook(bridge.url, JSON.stringify(event));
  expect(reply.status).toBe(200);
  return (reply.body.adminFields as Record<string, string>)['FreeSWITCH apply']!;
}

it("a tenant's own view shows the global gateway applies its server owes, only its server's", async () => {
  expect(await tenantFreeswitch()).toEqual({ inStep: true, globalApplies: 0 });
  expect(await adminTab()).toBe('up to date');

  // Owed on another server: not this tenant's.
  await new TenantWritesRepository(bridge.api!.deps.pool).oweGlobalApply({
    jobId: 'fs-global-elsewhere',
    writeId: 'w-elsewhere',
    requestId: 'r-elsewhere',
    server: 'pbx9',
    steps: [],
  });
  expect(await tenantFreeswitch()).toEqual({ inStep: true, globalApplies: 0 });
  expect(await adminTab()).toBe('up to date');

  // A global gateway written on the tenant's (default) server whose rescan the event socket refuses.
  bridge.esl.fail(RESCAN, 'profile external is busy');
  const reply = await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...GATEWAY, gateway_name: 'owed_gateway' });
  expect(`${reply.status} ${JSON.stringify(reply.body)}`).toMatch(/^202 /);
  const { rows } = await bridge.api!.deps.pool.query<{ since: Date }>('SELECT since FROM global_freeswitch_applies WHERE job_id = $1', [String(reply.body.job_id)]);
  expect(rows).toHaveLength(1);
  const since = rows[0]!.since.toISOString();

  expect(await tenantFreeswitch()).toEqual({ inStep: true, globalApplies: 1 });
  expect(await adminTab()).toBe(`tenant up to date; 1 global gateway write(s) owed on this server since ${since}, applied automatically once the event socket answers`);
}, 60_000);

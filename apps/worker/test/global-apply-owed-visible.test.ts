import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
import { runCli } from '../../cli/test/run-cli';
import { reconcileInbox } from '../src';
import { startBridge, waitFor, type Bridge } from './harness';
import { addFusionUser, bcryptOf, postForm } from './compat-helpers';

// A global gateway write whose FreeSWITCH side the event socket refused owes it in
// global_freeswitch_applies (no tenant, so no service backlog). Every place that reports owed
// FreeSWITCH work counts it too: /readyz (degraded, freeswitch.globalApplies), the API's metric
// ictvoip_pending_apply_global_gateways, `tenants list` (globalApplies) and the drift report
// (a freeswitch_behind item naming the job). Once FreeSWITCH takes it, all of them say nothing is owed.

const ADMIN = { username: 'admin', password: 'your-password' };
const GATEWAY = { gateway_domain: 'sip.provider.com', gateway_username: 'account', gateway_password: 'password' };
const RESCAN = 'sofia profile external rescan';

let bridge: Bridge;

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;

/** Prometheus text → the value of an unlabelled sample, else null. */
function sample(text: string, name: string): number | null {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : null;
}

const metric = async (name: string) => sample(await (await fetch(`${bridge.url}/metrics`)).text(), name);

interface Readiness {
  status: string;
  freeswitch?: { behind: number; globalApplies?: number; oldestSince: string | null };
}

const readiness = async () => (await (await fetch(`${bridge.url}/readyz`)).json()) as Readiness;

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', API_WRITE_WAIT_MS: '5000', JOB_BACKOFF_MS: '20', FREESWITCH_RETRY_MAX_MS: '50', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

it('an owed global gateway apply shows in /readyz, the metric, tenants list and the drift report, and leaves them once FreeSWITCH takes it', async () => {
  // Nothing owed yet: ready, zero.
  expect(await readiness()).toMatchObject({ status: 'ready', freeswitch: { behind: 0, globalApplies: 0, oldestSince: null } });

  bridge.esl.fail(RESCAN, 'profile external is busy');
  const refusal = bridge.esl.failures[0]!;
  const reply = await postForm(bridge.url, '/app/gateways/provision.php', { ...ADMIN, ...GATEWAY, gateway_name: 'owed_gateway' });
  expect(`${reply.status} ${JSON.stringify(reply.body)}`).toMatch(/^202 /);
  const jobId = String(reply.body.job_id);
  const [owed] = await bridgeRows('SELECT write_id, server, since, jsonb_array_length(steps) AS steps FROM global_freeswitch_applies WHERE job_id = $1', [jobId]);
  expect(owed).toBeDefined();
  const since = (owed.since as Date).toISOString();

  // /readyz: degraded by the owed apply alone (no service is behind), with its count and age.
  const ready = await fetch(`${bridge.url}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'degraded', freeswitch: { behind: 0, globalApplies: 1, oldestSince: since } });

  expect(await metric('ictvoip_pending_apply_global_gateways')).toBe(1);
  expect(await metric('ictvoip_pending_apply_services')).toBe(0);

  // The operator's listing of what is behind: no tenant, the global apply.
  const listed = await runCli(bridge.env, ['tenants', 'list', '--freeswitch-behind', '--json']);
  expect(listed.code).toBe(0);
  expect(listed.json).toEqual({ tenants: [], globalApplies: [{ jobId, writeId: owed.write_id, server: null, since, steps: owed.steps }] });
  const text = await runCli(bridge.env, ['tenants', 'list', '--freeswitch-behind']);
  expect(text.stdout).toContain(`global gateway write ${owed.write_id}\tdefault\tFreeSWITCH behind since ${since}`);
  expect(text.stdout).toContain(`job ${jobId}`);
  // A state asks for tenants only; another server has none of it.
  expect((await runCli(bridge.env, ['tenants', 'list', '--state', 'active', '--json'])).json).toMatchObject({ globalApplies: [] });
  expect((await runCli(bridge.env, ['tenants', 'list', '--server', 'pbx9', '--json'])).json).toMatchObject({ globalApplies: [] });

  const report = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
  expect(report.counts.freeswitch_behind).toBe(1);
  expect(report.items.filter((item) => item.kind === 'freeswitch_behind')).toEqual([
    expect.objectContaining({ serviceId: null, server: null, fixAction: null, expected: 'FreeSWITCH in step with FusionPBX', note: expect.stringContaining(jobId) }),
  ]);

  // FreeSWITCH takes it (the job, or the reconciler's re-add once its attempts ran out): nothing is owed anywhere.
  bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal), 1);
  await waitFor(
    async () => {
      await reconcileInbox(bridge.worker!.deps, null, 0);
      return (await bridgeRows('SELECT 1 FROM global_freeswitch_applies WHERE job_id = $1', [jobId])).length === 0;
    },
    30_000,
    'the owed apply taken by FreeSWITCH',
  );
  expect(await readiness()).toMatchObject({ status: 'ready', freeswitch: { behind: 0, globalApplies: 0, oldestSince: null } });
  expect(await metric('ictvoip_pending_apply_global_gateways')).toBe(0);
  expect((await runCli(bridge.env, ['tenants', 'list', '--freeswitch-behind', '--json'])).json).toEqual({ tenants: [], globalApplies: [] });
  expect((await buildDriftReport(await driftSourcesOf(bridge.worker!.deps))).counts.freeswitch_behind).toBe(0);
}, 120_000);

import { randomUUID } from 'node:crypto';
import { buildEvent, postWebhook, startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { buildDriftReport, DRIFT_FIX_REQUEST_ID, fixDrift, type DriftReport } from '@ictvoip/operations';
import { DRIFT_JOB_NAME } from '../src';
import { fixDriftTwiceWhilePaused, startBridge, waitFor, type Bridge } from './harness';

// Drift compares the package WHMCS has for the service with the plan the bridge stored from the
// last create / change_package (buildEvent sends pid 3 and maxExtensions 3).

let bridge: Bridge;
let whmcs: WhmcsStandin;

const PACKAGE_MOVED = 6501; // moved to package 4 in WHMCS; its change_package webhook never arrived
const OPTIONS_RAISED = 6502; // the Extensions configurable option raised to 5 in WHMCS
const HAND_EXTENSIONS = 6503; // two extensions added by hand in FusionPBX
const CLEAN = 6504; // WHMCS package and option match the stored plan

const extensionsOption = (value: string) => [{ id: 11, option: 'maxExtensions|Extensions', type: 'quantity', value }];
const domainOf = (serviceId: number) => `t${serviceId}.pbx.example.net`;

beforeAll(async () => {
  whmcs = await startWhmcsStandin();
  const client = whmcs.addClient({ id: 55 });
  for (const id of [PACKAGE_MOVED, OPTIONS_RAISED, HAND_EXTENSIONS, CLEAN]) whmcs.addService({ id, clientid: client.id, pid: 3, name: 'PBX Basic', domain: domainOf(id) });
  whmcs.state.services.get(CLEAN)!.configoptions = extensionsOption('3');
  bridge = await startBridge({ WHMCS_API_URL: whmcs.url, WHMCS_API_IDENTIFIER: whmcs.identifier, WHMCS_API_SECRET: whmcs.secret });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  for (const serviceId of [PACKAGE_MOVED, OPTIONS_RAISED, HAND_EXTENSIONS, CLEAN]) {
    const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' });
    expect(reply.body.result).toBe('success');
  }
  // Behind the bridge's back: WHMCS changes, and rows written by hand in FusionPBX.
  Object.assign(whmcs.state.services.get(PACKAGE_MOVED)!, { pid: 4, name: 'PBX Gold' });
  whmcs.state.services.get(OPTIONS_RAISED)!.configoptions = extensionsOption('5');
  const { rows } = await bridge.fusion.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domainOf(HAND_EXTENSIONS)]);
  for (const extension of ['150', '151']) {
    await bridge.fusion.query("INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, user_context, enabled, insert_date) VALUES ($1, $2, $3, $4, 'true', now())", [
      randomUUID(),
      rows[0].domain_uuid,
      extension,
      domainOf(HAND_EXTENSIONS),
    ]);
  }
}, 60000);

afterAll(async () => {
  await bridge.close();
  await whmcs.close();
});

const sources = () => ({ pool: bridge.worker!.deps.pool, fusionPool: bridge.fusion, whmcs: bridge.worker!.deps.whmcs });
const itemsOf = (report: DriftReport, serviceId: number) => report.items.filter((item) => item.serviceId === serviceId);
const enabledExtensions = async (serviceId: number) =>
  (
    await bridge.fusion.query("SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.enabled::text = 'true'", [
      domainOf(serviceId),
    ])
  ).rows[0].n as number;
const storedPlan = async (serviceId: number) =>
  (await bridge.worker!.deps.pool.query('SELECT plan FROM services WHERE service_id = $1', [serviceId])).rows[0].plan as Record<string, unknown>;

describe('plan drift', () => {
  it('stores the WHMCS package id with the plan of a create', async () => {
    expect(await storedPlan(CLEAN)).toMatchObject({ maxExtensions: 3, whmcsPid: 3 });
  });

  it('reports a package change in WHMCS as plan_mismatch needing an operator, and options that differ as fixable', async () => {
    const report = await buildDriftReport(sources());
    expect(itemsOf(report, PACKAGE_MOVED)).toEqual([
      {
        kind: 'plan_mismatch',
        serviceId: PACKAGE_MOVED,
        domain: domainOf(PACKAGE_MOVED),
        expected: 'package 3',
        actual: 'WHMCS package 4 (PBX Gold)',
        fixAction: null,
        note: expect.stringContaining('needs an operator'),
      },
    ]);
    expect(itemsOf(report, OPTIONS_RAISED)).toEqual([
      expect.objectContaining({
        kind: 'plan_mismatch',
        expected: 'plan maxExtensions=3',
        actual: 'WHMCS configurable options maxExtensions=5',
        fixAction: 'change_package',
        fixPlan: expect.objectContaining({ maxExtensions: 5, whmcsPid: 3 }),
      }),
    ]);
    expect(itemsOf(report, HAND_EXTENSIONS)).toEqual([
      expect.objectContaining({ kind: 'extensions_over_plan', expected: 'at most 3 enabled extensions', actual: '5 enabled', fixAction: 'change_package' }),
    ]);
    expect(itemsOf(report, CLEAN)).toEqual([]);
    expect(report.counts).toMatchObject({ plan_mismatch: 2, extensions_over_plan: 1 });
  });

  it('sets the plan_mismatch gauge from the drift job', async () => {
    const queue = bridge.worker!.deps.queues.maintenance;
    const job = await queue.add(DRIFT_JOB_NAME, {}, { jobId: 'drift-plan-run' });
    await waitFor(async () => (await job.getState()) === 'completed');
    const metrics = await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_drift_differences');
    expect(metrics).toContain('ictvoip_drift_differences{kind="plan_mismatch"} 2');
  });

  it('--fix converges options and hand-made extensions through change_package, once; the package change stays manual', async () => {
    const pool = bridge.worker!.deps.pool;
    const report = await buildDriftReport(sources());
    const [first, second] = await fixDriftTwiceWhilePaused(bridge, report);
    expect(first.fixes.map((f) => [f.serviceId, f.action, f.kinds, f.outcome]).sort()).toEqual([
      [OPTIONS_RAISED, 'change_package', ['plan_mismatch'], 'enqueued'],
      [HAND_EXTENSIONS, 'change_package', ['extensions_over_plan'], 'enqueued'],
    ]);
    expect(first.manual).toEqual([expect.objectContaining({ serviceId: PACKAGE_MOVED, kind: 'plan_mismatch', note: expect.stringContaining('Change Package') })]);
    expect(second.fixes.map((f) => f.outcome)).toEqual(['already_pending', 'already_pending']);
    await waitFor(
      async () => {
        const { rows } = await pool.query("SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS done, count(*)::int AS n FROM webhook_inbox WHERE request_id = $1", [
          DRIFT_FIX_REQUEST_ID,
        ]);
        return rows[0].n === 2 && rows[0].done === 2;
      },
      20000,
      'the drift-fix events to succeed',
    );

    expect(await enabledExtensions(OPTIONS_RAISED)).toBe(5);
    expect(await storedPlan(OPTIONS_RAISED)).toMatchObject({ maxExtensions: 5, whmcsPid: 3 });
    expect(await enabledExtensions(HAND_EXTENSIONS)).toBe(3);
    const after = await buildDriftReport(sources());
    expect(after.items.map((item) => [item.serviceId, item.kind])).toEqual([[PACKAGE_MOVED, 'plan_mismatch']]);
    expect((await fixDrift(after, { pool, queues: bridge.worker!.deps.queues })).fixes).toEqual([]);
  });

  it('the operator path: a change_package from WHMCS with the new package clears the difference', async () => {
    const event = buildEvent({
      serviceId: PACKAGE_MOVED,
      action: 'change_package',
      service: { id: PACKAGE_MOVED, pid: 4, domain: '', username: 'admin', status: 'Active' },
      plan: { maxExtensions: 4, firstExtension: 100 },
      secrets: undefined,
    });
    expect((await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' })).body.result).toBe('success');
    expect(await storedPlan(PACKAGE_MOVED)).toMatchObject({ maxExtensions: 4, whmcsPid: 4 });
    expect(itemsOf(await buildDriftReport(sources()), PACKAGE_MOVED)).toEqual([]);
  });

  it("reports FusionPBX's own limit rows that differ from the plan (limits_mismatch), and --fix rewrites them through change_package", async () => {
    const LIMIT_EDITED = 6505;
    whmcs.addService({ id: LIMIT_EDITED, clientid: 55, pid: 3, name: 'PBX Basic', domain: domainOf(LIMIT_EDITED) });
    const created = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: LIMIT_EDITED, plan: { maxExtensions: 3, firstExtension: 100, maxGateways: 2 } })), {
      query: '?wait=20',
    });
    expect(created.body.result).toBe('success');
    const limits = async () =>
      (
        await bridge.fusion.query(
          `SELECT s.domain_setting_subcategory AS key, s.domain_setting_value AS value FROM v_domain_settings s JOIN v_domains d USING (domain_uuid)
            WHERE d.domain_name = $1 AND s.domain_setting_category = 'limit' ORDER BY 1`,
          [domainOf(LIMIT_EDITED)],
        )
      ).rows.map((row) => `${row.key}=${row.value}`);
    expect(await limits()).toEqual(['extensions=3', 'gateways=2']);
    expect(itemsOf(await buildDriftReport(sources()), LIMIT_EDITED)).toEqual([]);

    // Raised by hand in FusionPBX's domain settings page, and the gateway limit deleted.
    await bridge.fusion.query(
      `UPDATE v_domain_settings SET domain_setting_value = '50' WHERE domain_setting_category = 'limit' AND domain_setting_subcategory = 'extensions'
          AND domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)`,
      [domainOf(LIMIT_EDITED)],
    );
    await bridge.fusion.query(
      `DELETE FROM v_domain_settings WHERE domain_setting_category = 'limit' AND domain_setting_subcategory = 'gateways'
          AND domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)`,
      [domainOf(LIMIT_EDITED)],
    );
    const report = await buildDriftReport(sources());
    expect(itemsOf(report, LIMIT_EDITED)).toEqual([
      expect.objectContaining({
        kind: 'limits_mismatch',
        expected: 'limit/extensions/numeric=3, limit/gateways/numeric=2',
        actual: 'limit/extensions/numeric=50, limit/gateways/numeric=none',
        fixAction: 'change_package',
      }),
    ]);
    const { fixes } = await fixDrift(report, { pool: bridge.worker!.deps.pool, queues: bridge.worker!.deps.queues });
    expect(fixes.filter((fix) => fix.serviceId === LIMIT_EDITED).map((fix) => [fix.action, fix.kinds])).toEqual([['change_package', ['limits_mismatch']]]);
    await waitFor(async () => (await limits()).join() === 'extensions=3,gateways=2', 20000, 'the drift fix to rewrite the limits');
    // The rows are written (FusionPBX's database) before the backlog is recorded and the FreeSWITCH steps applied (the bridge's):
    // until the fix's event has finished, the report may rightly say freeswitch_behind, or nothing for a moment in between.
    const unfinished = async () =>
      (await bridge.worker!.deps.pool.query("SELECT count(*)::int AS n FROM webhook_inbox WHERE service_id = $1 AND status <> 'succeeded'", [LIMIT_EDITED])).rows[0].n as number;
    await waitFor(async () => (await unfinished()) === 0, 20000, "the fix's event to finish, FreeSWITCH steps included");
    expect(itemsOf(await buildDriftReport(sources()), LIMIT_EDITED)).toEqual([]);
  });

  it('does not guess for a plan stored before packages were recorded', async () => {
    Object.assign(whmcs.state.services.get(CLEAN)!, { pid: 9 });
    expect(itemsOf(await buildDriftReport(sources()), CLEAN).map((item) => item.kind)).toEqual(['plan_mismatch']);
    await bridge.worker!.deps.pool.query("UPDATE services SET plan = plan - 'whmcsPid' WHERE service_id = $1", [CLEAN]);
    expect(itemsOf(await buildDriftReport(sources()), CLEAN)).toEqual([]);
  });
});

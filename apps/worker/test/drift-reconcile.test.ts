import { buildEvent, postWebhook, startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { buildDriftReport, DRIFT_FIX_REQUEST_ID, fixDrift, type DriftReport } from '@ictvoip/operations';
import { DRIFT_JOB_NAME } from '../src';
import { fixDriftTwiceWhilePaused, logRecords, startBridge, waitFor, type Bridge } from './harness';

let bridge: Bridge;
let whmcs: WhmcsStandin;

const ACTIVE_DISABLED = 6101; // domain disabled by hand in FusionPBX
const OVER_PLAN = 6102; // plan lowered to 2 extensions, 3 enabled in FusionPBX
const WHMCS_SUSPENDED = 6103; // WHMCS says Suspended, the bridge says active
const ORPHAN = 6104; // tagged tenant in FusionPBX, no service row in the bridge
const CLEAN = 6105;

beforeAll(async () => {
  whmcs = await startWhmcsStandin();
  const client = whmcs.addClient({ id: 55 });
  for (const id of [ACTIVE_DISABLED, OVER_PLAN, WHMCS_SUSPENDED, CLEAN]) {
    whmcs.addService({ id, clientid: client.id, pid: 3, status: id === WHMCS_SUSPENDED ? 'Suspended' : 'Active', domain: `t${id}.pbx.example.net` });
  }
  bridge = await startBridge({ WHMCS_API_URL: whmcs.url, WHMCS_API_IDENTIFIER: whmcs.identifier, WHMCS_API_SECRET: whmcs.secret });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  for (const serviceId of [ACTIVE_DISABLED, OVER_PLAN, WHMCS_SUSPENDED, ORPHAN, CLEAN]) {
    const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' });
    expect(reply.body.result).toBe('success');
  }
  // Changes made by hand, behind the bridge's back.
  await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [`t${ACTIVE_DISABLED}.pbx.example.net`]);
  const pool = bridge.worker!.deps.pool;
  await pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 2}'::jsonb WHERE service_id = $1`, [OVER_PLAN]);
  await pool.query('DELETE FROM services WHERE service_id = $1', [ORPHAN]);
});
afterAll(async () => {
  await bridge.close();
  await whmcs.close();
});

const sources = () => ({ pool: bridge.worker!.deps.pool, fusionPool: bridge.fusion, whmcs: bridge.worker!.deps.whmcs });
const kindsOf = (report: DriftReport, serviceId: number) =>
  report.items
    .filter((item) => item.serviceId === serviceId)
    .map((item) => item.kind)
    .sort();

describe('drift report', () => {
  it('reports each hand-made difference, and nothing for the clean tenant', async () => {
    const report = await buildDriftReport(sources());
    expect(report.whmcsChecked).toBe(true);
    expect(report.services).toBe(4);
    expect(kindsOf(report, ACTIVE_DISABLED)).toEqual(['domain_disabled']);
    // The stored plan went down to 2 behind FusionPBX's back: its own extension limit row still says 3.
    expect(kindsOf(report, OVER_PLAN)).toEqual(['extensions_over_plan', 'limits_mismatch']);
    expect(kindsOf(report, WHMCS_SUSPENDED)).toEqual(['whmcs_status_mismatch']);
    expect(kindsOf(report, ORPHAN)).toEqual(['tenant_without_service']);
    expect(kindsOf(report, CLEAN)).toEqual([]);
    expect(report.items.find((item) => item.serviceId === OVER_PLAN)).toMatchObject({ expected: 'at most 2 enabled extensions', actual: '3 enabled', fixAction: 'change_package' });
    expect(report.items.find((item) => item.serviceId === WHMCS_SUSPENDED)).toMatchObject({ actual: 'WHMCS Suspended', fixAction: 'suspend' });
    expect(report.items.find((item) => item.serviceId === OVER_PLAN && item.kind === 'limits_mismatch')).toMatchObject({
      expected: 'limit/extensions/numeric=2',
      actual: 'limit/extensions/numeric=3',
      fixAction: 'change_package',
    });
    expect(report.counts).toMatchObject({
      domain_disabled: 1,
      extensions_over_plan: 1,
      limits_mismatch: 1,
      whmcs_status_mismatch: 1,
      tenant_without_service: 1,
      tenant_missing: 0,
    });
  });

  it('skips the WHMCS comparison when WHMCS is not configured', async () => {
    const report = await buildDriftReport({ ...sources(), whmcs: null });
    expect(report.whmcsChecked).toBe(false);
    expect(kindsOf(report, WHMCS_SUSPENDED)).toEqual([]);
  });

  it('runs as a maintenance job, sets the drift gauges and times its WHMCS calls', async () => {
    const queue = bridge.worker!.deps.queues.maintenance;
    const job = await queue.add(DRIFT_JOB_NAME, {}, { jobId: 'drift-test-run' });
    const finished = await waitFor(async () => ((await job.getState()) === 'completed' ? (await queue.getJob('drift-test-run'))! : null));
    expect(finished.returnvalue.report.counts.domain_disabled).toBe(1);
    const metrics = await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_drift_differences');
    expect(metrics).toContain('ictvoip_drift_differences{kind="tenant_without_service"} 1');
    expect(metrics).toContain('ictvoip_drift_differences{kind="tenant_missing"} 0');
    const whmcsCalls = await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_whmcs_call_duration_seconds');
    expect(whmcsCalls).toContain('ictvoip_whmcs_call_duration_seconds_count{action="GetClientsProducts",outcome="ok"}');

    // A restarted worker reports the last report's counts at once, not zeros until the next daily run.
    const lastRun = await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_drift_last_run_timestamp_seconds');
    await bridge.worker!.close();
    await bridge.startWorker({ schedulers: false });
    expect(await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_drift_differences')).toBe(metrics);
    expect(await bridge.worker!.metrics.registry.getSingleMetricAsString('ictvoip_drift_last_run_timestamp_seconds')).toBe(lastRun);
  });
});

describe('drift fix', () => {
  it('converges through the normal jobs, once, and leaves only what needs a person', async () => {
    const pool = bridge.worker!.deps.pool;
    const report = await buildDriftReport(sources());
    const [first, second] = await fixDriftTwiceWhilePaused(bridge, report);
    expect(first.fixes.map((f) => [f.serviceId, f.action, f.outcome]).sort()).toEqual([
      [ACTIVE_DISABLED, 'change_package', 'enqueued'],
      [OVER_PLAN, 'change_package', 'enqueued'],
      [WHMCS_SUSPENDED, 'suspend', 'enqueued'],
    ]);
    expect(first.manual.map((item) => item.kind)).toEqual(['tenant_without_service']);
    // Run again before the jobs finished: nothing is stacked on top.
    expect(second.fixes.map((f) => f.outcome)).toEqual(['already_pending', 'already_pending', 'already_pending']);
    const eventIds = first.fixes.map((f) => f.eventId);
    await waitFor(
      async () => {
        const { rows } = await pool.query("SELECT count(*)::int AS n FROM webhook_inbox WHERE request_id = $1 AND status = 'succeeded'", [DRIFT_FIX_REQUEST_ID]);
        const { rows: all } = await pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE request_id = $1', [DRIFT_FIX_REQUEST_ID]);
        return rows[0].n === all[0].n && all[0].n >= 3;
      },
      20000,
      'the drift-fix events to succeed',
    );
    const { rows } = await pool.query('SELECT event_id FROM webhook_inbox WHERE request_id = $1', [DRIFT_FIX_REQUEST_ID]);
    expect(rows.map((r) => r.event_id).sort()).toEqual([...eventIds].sort());

    const after = await buildDriftReport(sources());
    expect(after.items.map((item) => [item.serviceId, item.kind])).toEqual([[ORPHAN, 'tenant_without_service']]);
    const { rows: enabled } = await bridge.fusion.query(
      "SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.enabled::text = 'true'",
      [`t${OVER_PLAN}.pbx.example.net`],
    );
    expect(enabled[0].n).toBe(2);
    // The worker logs 'event applied' just after the commit that finishes the inbox row.
    const appliedLines = () => logRecords(bridge, (line) => line.requestId === DRIFT_FIX_REQUEST_ID && line.msg === 'event applied');
    const log = await waitFor(
      async () => {
        const seen = appliedLines();
        return seen.length >= eventIds.length ? seen : null;
      },
      10000,
      "each drift-fix event's 'event applied' line",
    );
    expect(log.length).toBeGreaterThanOrEqual(3);

    const again = await fixDrift(after, { pool, queues: bridge.worker!.deps.queues });
    expect(again.fixes).toEqual([]);
  });
});

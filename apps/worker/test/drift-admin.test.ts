import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitFor, type Bridge } from './harness';

let bridge: Bridge;
const auth = () => ({ authorization: `Bearer ${bridge.config.adminToken}` });

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

describe('/admin/drift', () => {
  it('needs the admin token and refuses a bad wait', async () => {
    expect((await fetch(`${bridge.url}/admin/drift`).then(async (res) => (await res.body?.cancel(), res))).status).toBe(401);
    const bad = await fetch(`${bridge.url}/admin/drift?wait=soon`, { method: 'POST', headers: auth() });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ path: 'wait' }] } });
  });

  it('runs a report on the worker, serves the latest one, and fixes through the jobs on request', async () => {
    const serviceId = 6401;
    expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' })).body.result).toBe('success');
    const domain = `t${serviceId}.pbx.example.net`;
    await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);

    const run = await fetch(`${bridge.url}/admin/drift?wait=20`, { method: 'POST', headers: auth() });
    expect(run.status).toBe(200);
    const body = (await run.json()) as { jobId: string; state: string; result: { report: { items: unknown[] }; fix: null } };
    expect(body.state).toBe('completed');
    expect(body.result.report.items).toEqual([expect.objectContaining({ kind: 'domain_disabled', serviceId, domain })]);
    expect(body.result.fix).toBeNull();

    const latest = await fetch(`${bridge.url}/admin/drift`, { headers: auth() });
    expect(((await latest.json()) as { jobId: string }).jobId).toBe(body.jobId);

    const fix = await fetch(`${bridge.url}/admin/drift?wait=20&fix=1`, { method: 'POST', headers: auth() });
    const fixed = (await fix.json()) as { result: { fix: { fixes: unknown[] } } };
    expect(fixed.result.fix.fixes).toEqual([expect.objectContaining({ serviceId, action: 'change_package', outcome: 'enqueued' })]);
    await waitFor(async () => (await bridge.fusion.query('SELECT domain_enabled::text AS e FROM v_domains WHERE domain_name = $1', [domain])).rows[0]?.e === 'true');
  });
});

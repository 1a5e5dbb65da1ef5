import { randomUUID } from 'node:crypto';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
import { startBridge, type Bridge } from './harness';

let bridge: Bridge;
const RETENTION_DAYS = 30;
const later = () => new Date(Date.now() + (RETENTION_DAYS + 1) * 86400_000);

beforeAll(async () => {
  bridge = await startBridge({ TERMINATE_RETENTION_DAYS: String(RETENTION_DAYS) });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

const fusionCount = async (sql: string, params: unknown[]) => (await bridge.fusion.query<{ n: number }>(sql, params)).rows[0].n;

async function createAndTerminate(serviceId: number): Promise<string> {
  const create = buildEvent({ serviceId });
  expect((await postWebhook(bridge.url, JSON.stringify(create), { query: '?wait=20' })).body.result).toBe('success');
  const terminate = buildEvent({ serviceId, action: 'terminate' });
  delete terminate.secrets;
  expect((await postWebhook(bridge.url, JSON.stringify(terminate), { query: '?wait=20' })).body.result).toBe('success');
  return `t${serviceId}.pbx.example.net`;
}

async function insertCdr(domain: string): Promise<string> {
  const uuid = randomUUID();
  await bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, start_stamp, billsec)
     VALUES ($1, (SELECT domain_uuid FROM v_domains WHERE domain_name = $2), $2, 'outbound', now(), 30)`,
    [uuid, domain],
  );
  return uuid;
}

describe('purging terminated tenants after the retention period', () => {
  it('keeps a tenant inside its retention period', async () => {
    const domain = await createAndTerminate(6101);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, new Date());
    expect(outcome.purged).not.toContain(6101);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(1);
  });

  it('waits while calls of the tenant are not billed, then purges everything but the CDRs', async () => {
    const serviceId = 6102;
    const domain = await createAndTerminate(serviceId);
    const cdr = await insertCdr(domain);
    await bridge.api!.deps.pool.query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    await bridge.api!.deps.pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
       VALUES ($1, $2, $3, now(), 'outbound', 30, '0.120000', 'rated', to_char(now(), 'YYYY-MM'))`,
      [cdr, serviceId, domain],
    );
    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(held.waiting).toContainEqual({ serviceId, reason: '1 rated calls not billed yet' });
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(1);

    await bridge.api!.deps.pool.query('DELETE FROM cdr_charges WHERE xml_cdr_uuid = $1', [cdr]);
    const done = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(done.purged).toContain(serviceId);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(0);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_extensions WHERE accountcode = $1', [domain])).toBe(0);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_xml_cdr WHERE xml_cdr_uuid = $1', [cdr])).toBe(1);
    const [service] = (await bridge.api!.deps.pool.query('SELECT observed_state FROM services WHERE service_id = $1', [serviceId])).rows;
    expect(service.observed_state).toBe('purged');

    const again = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(again.purged).not.toContain(serviceId);
  });

  it('never purges an active or suspended tenant', async () => {
    const serviceId = 6103;
    const create = buildEvent({ serviceId });
    expect((await postWebhook(bridge.url, JSON.stringify(create), { query: '?wait=20' })).body.result).toBe('success');
    await bridge.api!.deps.pool.query(`UPDATE services SET updated_at = now() - interval '400 days' WHERE service_id = $1`, [serviceId]);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.purged).not.toContain(serviceId);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [`t${serviceId}.pbx.example.net`])).toBe(1);
  });
});

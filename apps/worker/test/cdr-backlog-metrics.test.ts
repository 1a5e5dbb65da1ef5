import { freePort } from '@ictvoip/testkit';
import { cdrBacklog, cdrBacklogByTenant, syncTenantCdrs } from '../src';
import { startBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

// CDR backlog (uncollected CDRs), lag and unrated calls per tenant, read over HTTP from /metrics.

/** Prometheus text → value of the sample with this name and exactly these labels, or null. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${wanted}} `));
  return line ? Number(line.split(' ').pop()) : null;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return response.text();
}

let kit: BillingKit;
let workerMetrics: string;
let apiMetrics: string;
let busy: Tenant;
let idle: Tenant;
let fresh: Tenant;

beforeAll(async () => {
  kit = await startBillingKit({ WORKER_METRICS_PORT: String(await freePort()) });
  await kit.bridge.startApi();
  workerMetrics = kit.bridge.worker!.metricsUrl!;
  apiMetrics = `${kit.bridge.url}/metrics`;
  busy = await kit.addTenant();
  idle = await kit.addTenant();
  fresh = await kit.addTenant();
  const now = Date.now();
  const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000).toISOString();
  await kit.insertCdr(busy, { start: minutesAgo(30), billsec: 60 });
  await kit.insertCdr(busy, { start: minutesAgo(29), billsec: 30, destination: '+999123' }); // no rate: unrated
  await kit.insertCdr(idle, { start: minutesAgo(20), billsec: 60 });
  for (const tenant of [busy, idle]) await syncTenantCdrs(kit.deps, tenant.serviceId);
  // Calls after the sync, not collected yet: three for busy, none for idle; fresh was never synced.
  for (const minutes of [5, 4, 3]) await kit.insertCdr(busy, { start: minutesAgo(minutes), billsec: 10 });
  await kit.insertCdr(fresh, { start: minutesAgo(2), billsec: 10 });
}, 60000);

afterAll(async () => {
  await kit.close();
});

describe('CDR backlog per tenant', () => {
  it('counts every synced tenant in one pass, the same as the per-tenant count', async () => {
    const all = await cdrBacklogByTenant(kit.deps);
    expect(all.sort((a, b) => a.serviceId - b.serviceId)).toEqual([
      { serviceId: busy.serviceId, backlog: 3 },
      { serviceId: idle.serviceId, backlog: 0 },
    ]);
    expect(await cdrBacklog(kit.deps, busy.serviceId)).toBe(3);
    expect(await cdrBacklog(kit.deps, fresh.serviceId)).toBeNull();
  });

  it("the worker's /metrics shows uncollected CDRs per service id; a tenant never synced has no series", async () => {
    const text = await scrape(workerMetrics);
    expect(text).toContain('# TYPE ictvoip_cdr_backlog gauge');
    expect(sample(text, 'ictvoip_cdr_backlog', { service_id: String(busy.serviceId) })).toBe(3);
    expect(sample(text, 'ictvoip_cdr_backlog', { service_id: String(idle.serviceId) })).toBe(0);
    expect(sample(text, 'ictvoip_cdr_backlog', { service_id: String(fresh.serviceId) })).toBeNull();
  });

  it('goes back to 0 once the sync collected them, at the next scrape', async () => {
    await syncTenantCdrs(kit.deps, busy.serviceId);
    const text = await scrape(workerMetrics);
    expect(sample(text, 'ictvoip_cdr_backlog', { service_id: String(busy.serviceId) })).toBe(0);
    await kit.insertCdr(idle, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 5 });
    expect(sample(await scrape(workerMetrics), 'ictvoip_cdr_backlog', { service_id: String(idle.serviceId) })).toBe(1);
  });

  it("the API's /metrics shows the lag and the unrated calls per tenant", async () => {
    const text = await scrape(apiMetrics);
    expect(sample(text, 'ictvoip_cdr_unrated_calls', { service_id: String(busy.serviceId) })).toBe(1);
    expect(sample(text, 'ictvoip_cdr_unrated_calls', { service_id: String(idle.serviceId) })).toBe(0);
    const lag = sample(text, 'ictvoip_cdr_sync_lag_seconds', { service_id: String(busy.serviceId) });
    expect(lag).toBeGreaterThanOrEqual(3 * 60);
    expect(lag).toBeLessThan(10 * 60);
  });

  it('a FusionPBX database that fails leaves /metrics answering and counts the failure', async () => {
    const fusion = kit.deps.targets.defaultTarget.pool;
    // A real failure from PostgreSQL: the statement runs against a table that is not there.
    await fusion.query('ALTER TABLE v_xml_cdr RENAME TO v_xml_cdr_moved');
    try {
      const first = await scrape(workerMetrics);
      expect(sample(first, 'ictvoip_cdr_backlog', { service_id: String(idle.serviceId) })).toBe(1);
      // The counter is read while the gauge collects, so a scrape shows the failures of the scrapes before it.
      const second = await scrape(workerMetrics);
      expect(sample(second, 'ictvoip_worker_metrics_collect_errors_total', { collector: 'cdr_backlog' })).toBe(1);
    } finally {
      await fusion.query('ALTER TABLE v_xml_cdr_moved RENAME TO v_xml_cdr');
    }
  });

  it('a scrape filtered with name[] answers only the named metrics and does not count the backlog', async () => {
    const worker = kit.bridge.worker!;
    let counted = 0;
    worker.metrics.watchCdrBacklog(() => {
      counted += 1;
      return cdrBacklogByTenant(kit.deps);
    });
    const heap = 'ictvoip_worker_nodejs_heap_size_used_bytes';
    const filtered = await scrape(`${workerMetrics}?name[]=${heap}&name[]=ictvoip_worker_process_cpu_seconds_total&name[]=no_such_metric`);
    expect(counted).toBe(0);
    const names = filtered
      .split('\n')
      .filter((line) => line.startsWith('# TYPE '))
      .map((line) => line.split(' ')[2]);
    expect(names).toEqual([heap, 'ictvoip_worker_process_cpu_seconds_total']);
    expect(Number(/^ictvoip_worker_nodejs_heap_size_used_bytes (\S+)$/m.exec(filtered)?.[1])).toBeGreaterThan(0);
    // Unfiltered, the backlog is counted as before.
    expect(sample(await scrape(workerMetrics), 'ictvoip_cdr_backlog', { service_id: String(idle.serviceId) })).toBe(1);
    expect(counted).toBe(1);
  });
});

import { freePort } from '@ictvoip/testkit';
import { cdrBacklog, cdrBacklogByTenant, syncTenantCdrs } from '../src';
import { createWorkerMetrics, startMetricsServer, type CdrBacklogSource } from '../src/metrics';
import { useBillingKit, type Tenant } from './cdr-billing-kit';
import { startBridge, waitFor } from './harness';

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

let workerMetrics: string;
let apiMetrics: string;
let busy: Tenant;
let idle: Tenant;
let fresh: Tenant;

// 0: these tests read a fresh count at every scrape (the cached count is tested below).
const kit = useBillingKit(async () => ({ WORKER_METRICS_PORT: String(await freePort()), CDR_BACKLOG_METRIC_SECONDS: '0' }), { setUp: startApiAndTenants, timeout: 60000 });

/** The API up, and the three tenants with their calls. */
async function startApiAndTenants(): Promise<void> {
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
}

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

describe('CDR backlog count: at most once per CDR_BACKLOG_METRIC_SECONDS', () => {
  // Metrics over loopback with a clock the test moves, counting the real backlog in PostgreSQL.
  let clock = Date.parse('2026-01-01T00:00:00Z');
  let counts = 0;
  let gate: Promise<void> | null = null;
  let metrics: ReturnType<typeof createWorkerMetrics>;
  let server: Awaited<ReturnType<typeof startMetricsServer>>;
  let requests = 0;
  let tenant: Tenant;

  const source: CdrBacklogSource = async () => {
    counts += 1;
    if (gate) await gate;
    return cdrBacklogByTenant(kit.deps);
  };
  const backlogOf = (text: string) => sample(text, 'ictvoip_cdr_backlog', { service_id: String(tenant.serviceId) });
  const ageOf = (text: string) => Number(/^ictvoip_cdr_backlog_age_seconds (\S+)$/m.exec(text)?.[1] ?? NaN);
  const newCall = () => kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 5 });

  beforeAll(async () => {
    metrics = createWorkerMetrics({ cdrBacklogEverySeconds: 60, now: () => clock });
    metrics.watchCdrBacklog(source);
    server = await startMetricsServer(metrics, 0, '127.0.0.1');
    server.server.on('request', () => (requests += 1));
    tenant = await kit.addTenant();
    await newCall();
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    await newCall();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('two scrapes within the interval run one count; the second shows the same figure and its age', async () => {
    const first = await scrape(server.url);
    expect(counts).toBe(1);
    expect(backlogOf(first)).toBe(1);
    expect(ageOf(first)).toBe(0);
    await newCall();
    clock += 59_000;
    const second = await scrape(server.url);
    expect(counts).toBe(1);
    expect(backlogOf(second)).toBe(1);
    expect(ageOf(second)).toBe(59);
  });

  it('once the interval has passed, the next scrape counts again', async () => {
    clock += 1_000;
    const text = await scrape(server.url);
    expect(counts).toBe(2);
    expect(backlogOf(text)).toBe(2);
    expect(ageOf(text)).toBe(0);
  });

  it('scrapes that arrive while a count runs wait for that one count, and all show its figure', async () => {
    await newCall();
    clock += 60_000;
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const before = requests;
    const scrapes = Array.from({ length: 4 }, () => scrape(server.url));
    // Each request has reached the collectors once the server saw it (the collect calls are synchronous).
    await waitFor(async () => requests - before === 4, 5000, 'four scrapes received');
    try {
      expect(counts).toBe(3);
    } finally {
      gate = null;
      open();
    }
    const texts = await Promise.all(scrapes);
    expect(counts).toBe(3);
    // None was answered with the figure before (2): each waited for the count it shared.
    for (const text of texts) expect(backlogOf(text)).toBe(3);
  });

  it('a failing count keeps /metrics answering with the last figure, its age growing, and is tried again only after the interval', async () => {
    const fusion = kit.deps.targets.defaultTarget.pool;
    await fusion.query('ALTER TABLE v_xml_cdr RENAME TO v_xml_cdr_moved');
    try {
      clock += 60_000;
      const failed = await scrape(server.url);
      expect(counts).toBe(4);
      expect(backlogOf(failed)).toBe(3);
      expect(ageOf(failed)).toBe(60);
      clock += 30_000;
      const next = await scrape(server.url);
      expect(counts).toBe(4);
      expect(sample(next, 'ictvoip_worker_metrics_collect_errors_total', { collector: 'cdr_backlog' })).toBe(1);
      expect(ageOf(next)).toBe(90);
    } finally {
      await fusion.query('ALTER TABLE v_xml_cdr_moved RENAME TO v_xml_cdr');
    }
    clock += 30_000;
    const recovered = await scrape(server.url);
    expect(counts).toBe(5);
    expect(ageOf(recovered)).toBe(0);
  });

  it('a filtered scrape of the age alone shows it without counting', async () => {
    clock += 120_000;
    const text = await scrape(`${server.url}?name[]=ictvoip_cdr_backlog_age_seconds`);
    expect(counts).toBe(5);
    expect(ageOf(text)).toBe(120);
  });

  it('the worker counts once per CDR_BACKLOG_METRIC_SECONDS (0 = at every scrape)', async () => {
    // The kit's worker runs with 0: two scrapes, two counts.
    let everyScrape = 0;
    kit.bridge.worker!.metrics.watchCdrBacklog(() => {
      everyScrape += 1;
      return cdrBacklogByTenant(kit.deps);
    });
    await scrape(workerMetrics);
    await scrape(workerMetrics);
    expect(everyScrape).toBe(2);
    // A worker started with an hour: two scrapes, one count.
    const bridge = await startBridge({ WORKER_METRICS_PORT: String(await freePort()), CDR_BACKLOG_METRIC_SECONDS: '3600' });
    try {
      const worker = await bridge.startWorker({ schedulers: false });
      let hourly = 0;
      worker.metrics.watchCdrBacklog(() => {
        hourly += 1;
        return cdrBacklogByTenant(worker.deps);
      });
      await scrape(worker.metricsUrl!);
      const second = await scrape(worker.metricsUrl!);
      expect(hourly).toBe(1);
      expect(ageOf(second)).toBeLessThan(60);
    } finally {
      await bridge.close();
    }
  }, 60000);
});

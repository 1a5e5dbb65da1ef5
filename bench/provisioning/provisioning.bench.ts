/**
 * Provisioning end to end: signed `create` webhooks (plan: M extensions + the `carrier` gateway
 * template) through apps/api and apps/worker (child processes) into a FusionPBX database, with
 * the ESL stand-in as FreeSWITCH. Two phases:
 *  - burst: N tenants posted at once → tenants/s until every inbox row succeeded;
 *  - one at a time: S tenants, each posted with ?wait=25 like the WHMCS module → per-tenant
 *    latency (inbox received_at → finished_at, i.e. FusionPBX committed and FreeSWITCH applied).
 * Baseline (bench/provisioning/baseline.ts): the same durable work by hand — a bcrypt hash, the very
 * rows the project committed written with one multi-row INSERT per table in one transaction, and the
 * same event-socket commands pipelined — as a burst of WORKER_CONCURRENCY lanes and one at a time.
 */
import { Pool } from 'pg';
import { buildEvent, createTestDatabase, loadFusionpbxSchema, postWebhook, seedFusionpbxBasics, TEST_PG_ADMIN_URL } from '@ictvoip/testkit';
import { BENCH_BASE_DOMAIN, BENCH_GATEWAY_TEMPLATE, BENCH_TEMPLATE_DOMAIN, createBenchBridge, DURABLE } from '../lib/bridge-env';
import { freePort, startService, type RunningService } from '../lib/child';
import { profileFlags } from '../lib/profile';
import { measuredRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import { elapsedMs, percentile, round } from '../lib/stats';
import { provisionByHand, type BaselineTenant } from './baseline';
import { describePerTenant, perTenant, startCpuPhase } from './cpu-split';
import { BENCH_OWN_APPLICATION } from '../lib/pg-cpu';
import { startCountingProxy, throughProxy, type CountingProxy } from '../lib/counting-proxy';

export class ProvisioningBenchError extends Error {
  readonly code = 'BENCH_PROVISIONING_FAILED';
}

const FIRST_SERVICE_ID = 700_000;

function createEvent(serviceId: number, extensions: number): string {
  return JSON.stringify(
    buildEvent({
      serviceId,
      plan: { maxExtensions: extensions, firstExtension: 100, gatewayTemplate: BENCH_GATEWAY_TEMPLATE, rateDeck: 'standard', brand: 'default', includedMinutes: 100 },
    }),
  );
}

interface InboxTiming {
  service_id: string;
  status: string;
  latency_ms: number;
  received_ms: number;
  finished_ms: number | null;
  last_error: string | null;
}

async function inboxTimings(pool: Pool, serviceIds: number[]): Promise<InboxTiming[]> {
  const { rows } = await pool.query<InboxTiming>(
    `SELECT service_id, status, last_error,
            extract(epoch FROM finished_at - received_at) * 1000 AS latency_ms,
            extract(epoch FROM received_at) * 1000 AS received_ms,
            extract(epoch FROM finished_at) * 1000 AS finished_ms
       FROM webhook_inbox WHERE service_id = ANY($1::bigint[]) AND action = 'create'`,
    [serviceIds],
  );
  return rows.map((row) => ({
    ...row,
    latency_ms: Number(row.latency_ms),
    received_ms: Number(row.received_ms),
    finished_ms: row.finished_ms === null ? null : Number(row.finished_ms),
  }));
}

async function waitAllFinished(pool: Pool, serviceIds: number[], timeoutMs: number): Promise<InboxTiming[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await inboxTimings(pool, serviceIds);
    const done = rows.filter((row) => row.status === 'succeeded' || row.status === 'failed');
    if (rows.length === serviceIds.length && done.length === rows.length) return rows;
    if (Date.now() > deadline) throw new ProvisioningBenchError(`only ${done.length} of ${serviceIds.length} tenants finished within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertSucceeded(rows: InboxTiming[]): void {
  const failed = rows.filter((row) => row.status !== 'succeeded');
  if (failed.length > 0) throw new ProvisioningBenchError(`${failed.length} tenants failed, e.g. service ${failed[0].service_id}: ${failed[0].last_error}`);
}

async function postAll(url: string, bodies: string[], inFlight: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < bodies.length) {
      const body = bodies[next];
      next += 1;
      const reply = await postWebhook(url, body);
      if (reply.status !== 202 && reply.status !== 200) throw new ProvisioningBenchError(`webhook answered ${reply.status}: ${JSON.stringify(reply.body)}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

async function assertFusionRows(fusion: Pool, domains: string[], extensions: number): Promise<void> {
  const { rows } = await fusion.query<{ domains: number; extensions: number; gateways: number }>(
    `SELECT (SELECT count(*)::int FROM v_domains WHERE domain_name = ANY($1)) AS domains,
            (SELECT count(*)::int FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = ANY($1) AND e.enabled = 'true') AS extensions,
            (SELECT count(*)::int FROM v_gateways g JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = ANY($1)) AS gateways`,
    [domains],
  );
  const expected = { domains: domains.length, extensions: domains.length * extensions, gateways: domains.length };
  if (JSON.stringify(rows[0]) !== JSON.stringify(expected)) throw new ProvisioningBenchError(`FusionPBX rows ${JSON.stringify(rows[0])}, expected ${JSON.stringify(expected)}`);
}

const domainOf = (serviceId: number) => `t${serviceId}.${BENCH_BASE_DOMAIN}`;

/** The worker's provisioning concurrency (WORKER_CONCURRENCY default): the baseline burst gets as many lanes. */
const WORKER_LANES = 8;

/** Per tenant, the event-socket commands the project sent for it: its domain's and its gateway's, plus the sofia.conf ones. */
async function eslCommandsByTenant(fusion: Pool, sent: readonly string[], serviceIds: readonly number[]): Promise<BaselineTenant[]> {
  const shared = [...new Set(sent.filter((command) => command === 'switchname' || command.includes('configuration:sofia.conf:')))];
  const tenants: BaselineTenant[] = [];
  for (const id of serviceIds) {
    const domainName = domainOf(id);
    const { rows } = await fusion.query<{ gateway_uuid: string }>('SELECT g.gateway_uuid::text FROM v_gateways g JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [
      domainName,
    ]);
    const marks = [domainName, ...rows.map((row) => row.gateway_uuid)];
    tenants.push({ domainName, eslCommands: [...shared, ...sent.filter((command) => marks.some((mark) => command.includes(mark)))] });
  }
  return tenants;
}

/** BENCH_PROTOCOL_COUNTS=1: the process's databases and Redis through counting proxies (statements and commands per tenant). */
async function countedEnv(env: Record<string, string>, proxies: Map<string, CountingProxy>, role: string): Promise<Record<string, string>> {
  if (process.env.BENCH_PROTOCOL_COUNTS !== '1') return env;
  const result = { ...env };
  for (const [key, protocol] of [
    ['DATABASE_URL', 'postgres'],
    ['FUSIONPBX_DATABASE_URL', 'postgres'],
    ['REDIS_URL', 'redis'],
  ] as const) {
    const url = new URL(env[key]!);
    const proxy = await startCountingProxy(protocol, { host: url.hostname, port: Number(url.port || (protocol === 'redis' ? 6379 : 5432)) });
    proxies.set(`${role} ${key}`, proxy);
    result[key] = throughProxy(env[key]!, proxy);
  }
  return result;
}

function describeCounts(proxies: Map<string, CountingProxy>, tenants: number): string[] {
  return [...proxies.entries()].map(([name, proxy]) => {
    const kinds = [...proxy.counts.byKind.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_PROTOCOL_KINDS ?? 8));
    const per = (value: number) => round(value / tenants, 1);
    return `    ${name}: ${per(proxy.counts.statements)} statements/commands, ${per(proxy.counts.roundTrips)} round trips per tenant${kinds.map(([kind, count]) => `\n      ${per(count)} × ${kind}`).join('')}`;
  });
}

export async function runProvisioningBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const { tenants, extensions, sequentialTenants } = sizes.provisioning;
  const bridge = await createBenchBridge('prov');
  const baselineDb = await createTestDatabase('bench_prov_base', DURABLE);
  const services: RunningService[] = [];
  // Its polling of the inbox is the bench's, not the bridge's: its backends are left out of the CPU split.
  const bridgePool = new Pool({ connectionString: bridge.bridgeDb.url, max: 2, application_name: BENCH_OWN_APPLICATION });
  const baselinePool = new Pool({ connectionString: baselineDb.url, max: 2 });
  const admin = new Pool({ connectionString: TEST_PG_ADMIN_URL, max: 1 });
  const proxies = new Map<string, CountingProxy>();
  try {
    const apiPort = await freePort();
    const api = await startService({
      name: 'apps/api',
      script: 'apps/api/src/main.ts',
      env: await countedEnv({ ...bridge.env, PORT: String(apiPort) }, proxies, 'api'),
      healthUrl: `http://127.0.0.1:${apiPort}/healthz`,
    });
    services.push(api);
    const worker = await startService({
      name: 'apps/worker',
      script: 'apps/worker/src/main.ts',
      env: await countedEnv(bridge.env, proxies, 'worker'),
      readyLine: 'worker started',
      nodeOptions: profileFlags('worker'),
    });
    services.push(worker);

    // Warm-up tenant (JIT, pools, ESL connection), not counted.
    const warmId = FIRST_SERVICE_ID - 1;
    const warm = await postWebhook(api.url, createEvent(warmId, extensions), { query: '?wait=25' });
    if (warm.body.result !== 'success') throw new ProvisioningBenchError(`warm-up tenant: ${JSON.stringify(warm.body)}`);

    const burstIds = Array.from({ length: tenants }, (_, i) => FIRST_SERVICE_ID + i);
    const pids = { worker: worker.child.pid, api: api.child.pid };
    const databases = { bridge: bridge.bridgeDb.url, fusion: bridge.fusionDb.url };
    for (const proxy of proxies.values()) proxy.reset();
    const eslBefore = bridge.esl.apiCommands.length;
    const burstCpu = await startCpuPhase(admin, pids, databases);
    const burstStart = process.hrtime.bigint();
    await postAll(
      api.url,
      burstIds.map((id) => createEvent(id, extensions)),
      20,
    );
    const burst = await waitAllFinished(bridgePool, burstIds, 30 * 60_000);
    const burstMs = elapsedMs(burstStart);
    assertSucceeded(burst);
    const burstSpanMs = Math.max(...burst.map((row) => row.finished_ms ?? 0)) - Math.min(...burst.map((row) => row.received_ms));
    const burstRate = tenants / (burstSpanMs / 1000);
    const burstSplit = await burstCpu.stop();
    log(`  provisioning burst: ${tenants} tenants × ${extensions} extensions in ${round(burstSpanMs / 1000, 1)} s → ${round(burstRate, 2)} tenants/s`);
    log(`    CPU ms per tenant (burst): ${describePerTenant(burstSplit, tenants)}; ESL commands per tenant ${round((bridge.esl.apiCommands.length - eslBefore) / tenants, 1)}`);
    for (const line of describeCounts(proxies, tenants)) log(line);
    for (const proxy of proxies.values()) proxy.reset();

    const sequentialIds = Array.from({ length: sequentialTenants }, (_, i) => FIRST_SERVICE_ID + tenants + i);
    const clientMs: number[] = [];
    const sequentialCpu = await startCpuPhase(admin, pids, databases);
    for (const id of sequentialIds) {
      const start = process.hrtime.bigint();
      const reply = await postWebhook(api.url, createEvent(id, extensions), { query: '?wait=25' });
      clientMs.push(elapsedMs(start));
      if (reply.body.result !== 'success') throw new ProvisioningBenchError(`tenant ${id}: ${JSON.stringify(reply.body)}`);
    }
    const sequential = await waitAllFinished(bridgePool, sequentialIds, 60_000);
    assertSucceeded(sequential);
    const sequentialSplit = await sequentialCpu.stop();
    log(`    CPU ms per tenant (one at a time): ${describePerTenant(sequentialSplit, sequentialTenants)}`);
    for (const line of describeCounts(proxies, sequentialTenants)) log(line);
    const latencies = sequential.map((row) => row.latency_ms);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    log(`  provisioning one at a time: p50 ${round(p50, 0)} ms p99 ${round(p99, 0)} ms (client-observed p50 ${round(percentile(clientMs, 50), 0)} ms)`);
    const workerRss = worker.peakRssMiB();
    const apiRss = api.peakRssMiB();

    const allDomains = [...burstIds, ...sequentialIds].map(domainOf);
    await assertFusionRows(bridge.fusion, allDomains, extensions);
    for (const service of services.splice(0).reverse()) await service.stop();

    await loadFusionpbxSchema(baselineDb.url);
    await seedFusionpbxBasics(baselinePool, BENCH_TEMPLATE_DOMAIN);
    const eslTarget = { host: bridge.esl.host, port: bridge.esl.port, password: bridge.esl.password };
    const sent = [...bridge.esl.apiCommands];
    const burstTenants = await eslCommandsByTenant(bridge.fusion, sent, burstIds);
    const baselineCpu = await startCpuPhase(admin, {}, { baseline: baselineDb.url });
    const baseline = await provisionByHand(bridge.fusion, baselinePool, eslTarget, burstTenants, WORKER_LANES);
    const baselineSplit = await baselineCpu.stop();
    log(`    baseline CPU ms per tenant (burst, the bench process does its work and the stand-in's): ${describePerTenant(baselineSplit, tenants)}`);
    await assertFusionRows(baselinePool, burstIds.map(domainOf), extensions);
    const baselineRate = tenants / (baseline.totalMs / 1000);
    const baselineOneAtATime = await provisionByHand(bridge.fusion, baselinePool, eslTarget, await eslCommandsByTenant(bridge.fusion, sent, sequentialIds), 1);
    log(
      `  provisioning baseline: burst ${round(baselineRate, 1)} tenants/s (${WORKER_LANES} lanes), one at a time p50 ${round(percentile(baselineOneAtATime.perTenantMs, 50), 1)} ms ` +
        `(${baseline.rowsPerTenant} rows in ${baseline.tables.length} tables, ${baseline.eslCommandsPerTenant} ESL commands, 1 bcrypt hash per tenant)`,
    );

    const size = `${tenants} tenants × ${extensions} extensions + 1 gateway`;
    const target = 'p50 < 40 ms (100 ext.)';
    const details = {
      burst: {
        tenants,
        spanMs: round(burstSpanMs, 0),
        wallMs: round(burstMs, 0),
        p50Ms: round(
          percentile(
            burst.map((r) => r.latency_ms),
            50,
          ),
          0,
        ),
        p99Ms: round(
          percentile(
            burst.map((r) => r.latency_ms),
            99,
          ),
          0,
        ),
      },
      sequential: {
        tenants: sequentialTenants,
        p50Ms: round(p50, 1),
        p99Ms: round(p99, 1),
        clientP50Ms: round(percentile(clientMs, 50), 1),
        clientP99Ms: round(percentile(clientMs, 99), 1),
      },
      baseline: {
        tables: baseline.tables,
        rowsPerTenant: baseline.rowsPerTenant,
        eslCommandsPerTenant: baseline.eslCommandsPerTenant,
        burstTotalMs: round(baseline.totalMs, 1),
        lanes: WORKER_LANES,
      },
      cpuMsPerTenant: { burst: perTenant(burstSplit, tenants), sequential: perTenant(sequentialSplit, sequentialTenants), baselineBurst: perTenant(baselineSplit, tenants) },
      workerPeakRssMiB: workerRss,
      apiPeakRssMiB: apiRss,
      eslCommands: bridge.esl.apiCommands.length,
    };
    return [
      measuredRow({
        benchmark: 'provisioning',
        metric: `throughput, ${size}, posted at once`,
        project: { value: burstRate, unit: 'tenants/s', label: 'webhook → api → worker → FusionPBX + ESL' },
        baseline: { value: baselineRate, unit: 'tenants/s', label: `by hand: bcrypt + same rows (multi-row INSERTs) + same ESL commands, ${WORKER_LANES} lanes` },
        better: 'higher',
        target: '≥ 60 tenants/s and ratio ≥ 0.5',
        targetMet: sizes.name === 'full' ? burstRate >= 60 && baselineRate > 0 && burstRate / baselineRate >= 0.5 : null,
        details,
      }),
      measuredRow({
        benchmark: 'provisioning',
        metric: `p50 per tenant (${extensions} ext.), one at a time`,
        project: { value: p50, unit: 'ms', label: 'inbox received → succeeded' },
        baseline: { value: percentile(baselineOneAtATime.perTenantMs, 50), unit: 'ms', label: 'by hand: bcrypt + one transaction of multi-row INSERTs + pipelined ESL' },
        better: 'lower',
        target,
        targetMet: sizes.name === 'full' ? p50 < 40 : null,
      }),
      measuredRow({
        benchmark: 'provisioning',
        metric: `p99 per tenant (${extensions} ext.), one at a time`,
        project: { value: p99, unit: 'ms', label: 'inbox received → succeeded' },
        baseline: { value: percentile(baselineOneAtATime.perTenantMs, 99), unit: 'ms', label: 'by hand: bcrypt + one transaction of multi-row INSERTs + pipelined ESL' },
        better: 'lower',
        target: '—',
        targetMet: null,
      }),
    ];
  } finally {
    for (const service of services.reverse()) await service.stop();
    await Promise.allSettled([bridgePool.end(), baselinePool.end(), admin.end(), ...[...proxies.values()].map((proxy) => proxy.close())]);
    await baselineDb.drop().catch(() => undefined);
    await bridge.close();
  }
}

/**
 * CDR sync: N CDRs across T tenants in FusionPBX's v_xml_cdr, synced by apps/worker (child
 * process) through its real jobs (one `cdr.sync-all` fan-out → a `cdr.sync-tenant` job per
 * service), each call rated against a P-prefix deck and ledgered in cdr_charges. Late rows (2 %)
 * are imported after the first pass; a second fan-out must pick them up through the look-back.
 * Baseline (child process, same run): the same keyset pages + unnest insert, no rating.
 * Setup (not timed): deck import, FusionPBX domains, services, CDR rows, an index on
 * v_xml_cdr(domain_uuid) — FusionPBX master's foreign-key index; 5.1/5.3 create none, and without
 * it every keyset page is a full scan, for the worker and the baseline alike.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { CDR_JOBS, closeQueues, createProducerConnection, createQueues, type QueueSet } from '@ictvoip/queue';
import { createTestDatabase, TEST_PG_ADMIN_URL, TEST_REDIS_URL } from '@ictvoip/testkit';
import { importRateDeck, migrateBridgeDatabase, ServicesRepository } from '@ictvoip/store';
import { BENCH_BASE_DOMAIN, createBenchBridge, DURABLE } from '../lib/bridge-env';
import { cpuSeconds, freePort, machineBusySeconds, peakRssMiB, runJsonChild, startService, type RunningService } from '../lib/child';
import { BackendCpuSampler, databaseOf } from '../lib/pg-cpu';
import { profileFlags } from '../lib/profile';
import { measuredRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import { elapsedMs, round } from '../lib/stats';
import { DECK_NUMBERING_PLAN, generateCdrs, generateDeck, type SyntheticCdr } from './generator';
import { insertCdrs, type TenantRef } from './load-cdrs';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export class CdrBenchError extends Error {
  readonly code = 'BENCH_CDR_FAILED';
}

const FIRST_SERVICE_ID = 800_000;
const SYNC_EVERY_SECONDS = 86_400;

function currentRssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The node flags production starts the worker with: those of `npm run start:worker` (the CLI and docker-compose pass the same). */
function productionWorkerFlags(): string[] {
  const scripts = (JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return (scripts['start:worker'] ?? '').split(/\s+/).filter((token) => token.startsWith('--'));
}

/**
 * BENCH_WORKER_V8_FLAGS='--max-semi-space-size=4' replaces production's worker flags (to compare GC
 * settings; 'none' for none); unset, the worker runs with exactly the flags production passes.
 */
function workerV8Flags(): string[] {
  const wanted = process.env.BENCH_WORKER_V8_FLAGS;
  if (wanted === undefined || wanted === '') return productionWorkerFlags();
  if (wanted === 'none') return [];
  return wanted.split(/\s+/).filter((flag) => flag.startsWith('--'));
}

/** BENCH_WORKER_ENV='MALLOC_ARENA_MAX=2 X=y' adds environment variables to the worker's (allocator settings). */
function workerExtraEnv(): Record<string, string> {
  const pairs = (process.env.BENCH_WORKER_ENV ?? '').split(/\s+/).filter((pair) => /^[A-Z_][A-Z0-9_]*=/.test(pair));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

/** The worker's heap as its /metrics reports it (prom-client's default Node metrics), in MiB. */
interface HeapSample {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const HEAP_METRICS: Record<keyof HeapSample, string> = {
  heapUsed: 'ictvoip_worker_nodejs_heap_size_used_bytes',
  heapTotal: 'ictvoip_worker_nodejs_heap_size_total_bytes',
  external: 'ictvoip_worker_nodejs_external_memory_bytes',
};

/**
 * Where the worker's RSS goes (V8 heap or buffers outside it): null when /metrics does not answer.
 * Only the heap metrics are asked for (`name[]`): a whole scrape also runs the CDR backlog gauge's
 * count of every synced tenant's uncollected rows in v_xml_cdr, whose PostgreSQL CPU (about half a
 * second per scrape at 1M CDRs, every 2 s) was counted as the sync's own.
 */
async function heapSample(metricsUrl: string): Promise<HeapSample | null> {
  try {
    const query = Object.values(HEAP_METRICS)
      .map((name) => `name[]=${name}`)
      .join('&');
    const text = await (await fetch(`${metricsUrl}?${query}`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 1048576;
    return { heapUsed: value(HEAP_METRICS.heapUsed), heapTotal: value(HEAP_METRICS.heapTotal), external: value(HEAP_METRICS.external) };
  } catch {
    return null;
  }
}

function peakHeap(samples: readonly HeapSample[]): HeapSample | null {
  if (samples.length === 0) return null;
  const peak = (key: keyof HeapSample) => round(Math.max(...samples.map((sample) => sample[key])), 0);
  return { heapUsed: peak('heapUsed'), heapTotal: peak('heapTotal'), external: peak('external') };
}

/** CPU µs per CDR between two readings (seconds), or null when either is missing. */
function cpuMicrosPerCdr(before: number | null, after: number | null, cdrs: number): number | null {
  if (before === null || after === null || cdrs === 0) return null;
  return round(((after - before) * 1e6) / cdrs, 1);
}

/** A pass's backend CPU per CDR split into FusionPBX's database (the keyset reads) and the one written to. */
function backendSplit(sampler: BackendCpuSampler, fusionUrl: string, cdrs: number): string {
  const fusion = databaseOf(fusionUrl);
  let read = 0;
  let written = 0;
  for (const [database, seconds] of sampler.byDatabase()) {
    if (database === fusion) read += seconds;
    else written += seconds;
  }
  return `FusionPBX ${cpuMicrosPerCdr(0, read, cdrs)} + written-to ${cpuMicrosPerCdr(0, written, cdrs)}`;
}

async function setUpTenants(bridgePool: Pool, fusion: Pool, count: number): Promise<TenantRef[]> {
  const tenants: TenantRef[] = Array.from({ length: count }, (_, i) => ({
    serviceId: FIRST_SERVICE_ID + i,
    domainUuid: randomUUID(),
    domainName: `t${FIRST_SERVICE_ID + i}.${BENCH_BASE_DOMAIN}`,
  }));
  await fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[])`, [
    tenants.map((t) => t.domainUuid),
    tenants.map((t) => t.domainName),
    tenants.map(() => true),
  ]);
  return tenants;
}

/** The services rows provisioning would have written (active, tenant domain known, plan with the deck). */
async function registerServices(bridgePool: Pool, tenants: readonly TenantRef[]): Promise<void> {
  const services = new ServicesRepository(bridgePool);
  for (const tenant of tenants) {
    await services.setDesired({ serviceId: tenant.serviceId, clientId: 55, desiredState: 'active', plan: { rateDeck: 'standard', includedMinutes: 100 }, eventId: randomUUID() });
    await services.recordObserved(tenant.serviceId, { state: 'active', tenantDomain: tenant.domainName });
  }
}

async function loadCdrs(
  fusion: Pool,
  tenants: TenantRef[],
  sizes: BenchSizes['cdr'],
  deck: ReturnType<typeof generateDeck>,
  windowEndMs: number,
): Promise<{ onTime: number; late: SyntheticCdr[] }> {
  const late: SyntheticCdr[] = [];
  let onTime = 0;
  for (const batch of generateCdrs({ count: sizes.cdrs, tenants: tenants.length, deck, windowEndMs, windowMs: 3.5 * 3600_000 })) {
    const now = batch.filter((cdr) => !cdr.late);
    late.push(...batch.filter((cdr) => cdr.late));
    await insertCdrs(fusion, tenants, now);
    onTime += now.length;
  }
  return { onTime, late };
}

async function waitForSync(queues: QueueSet, completedBefore: number, expected: number, timeoutMs: number, onTick: () => void): Promise<void> {
  const queue = queues['cdr-sync'];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized');
    if (counts.failed > 0) {
      const [failed] = await queue.getFailed(0, 0);
      throw new CdrBenchError(`${counts.failed} CDR sync job(s) failed, e.g. ${failed?.name}: ${failed?.failedReason}`);
    }
    // The worker's own scheduler keeps its next run in `delayed`; only retries count as unfinished.
    const retrying = counts.delayed > 0 ? (await queue.getDelayed()).filter((job) => !String(job.id).startsWith('repeat:')).length : 0;
    if (counts.completed - completedBefore >= expected && counts.active + counts.waiting + counts.prioritized + retrying === 0) return;
    if (Date.now() > deadline) throw new CdrBenchError(`CDR sync not finished within ${timeoutMs} ms (${JSON.stringify(counts)})`);
    onTick();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function fanOut(queues: QueueSet, now: Date, label: string): Promise<number> {
  const before = (await queues['cdr-sync'].getJobCounts('completed')).completed;
  await queues['cdr-sync'].add(CDR_JOBS.syncAll, { now: now.toISOString() }, { jobId: `bench-${label}`, removeOnComplete: false });
  return before;
}

async function chargeCounts(bridgePool: Pool): Promise<Record<string, number>> {
  const { rows } = await bridgePool.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM cdr_charges GROUP BY status');
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

export async function runCdrBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const size = sizes.cdr;
  const metricsPort = await freePort();
  const bridge = await createBenchBridge('cdr', {
    WORKER_METRICS_PORT: String(metricsPort),
    CDR_SYNC_EVERY_SECONDS: String(SYNC_EVERY_SECONDS),
    BILLING_CLOSE_EVERY_SECONDS: '86400',
    CDR_SYNC_PAGE_SIZE: String(size.pageSize),
  });
  const baselineDb = await createTestDatabase('bench_cdr_base', DURABLE);
  const bridgePool = new Pool({ connectionString: bridge.bridgeDb.url, max: 4 });
  const redis = createProducerConnection(TEST_REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: null });
  const queues = createQueues({ connection: redis, prefix: bridge.prefix });
  // Lists the PostgreSQL backends of the bench's databases (their CPU is PostgreSQL's share of each pass).
  const admin = new Pool({ connectionString: TEST_PG_ADMIN_URL, max: 1 });
  let worker: RunningService | null = null;
  try {
    const setupStart = process.hrtime.bigint();
    await migrateBridgeDatabase(bridgePool);
    const deck = generateDeck(size.prefixes);
    const imported = await importRateDeck(bridgePool, 'standard', deck.csv, { currency: 'USD', numberingPlan: DECK_NUMBERING_PLAN });
    if (!imported.ok) throw new CdrBenchError(`deck import failed: ${JSON.stringify(imported.report.issues.slice(0, 3))}`);
    const tenants = await setUpTenants(bridgePool, bridge.fusion, size.tenants);
    const { onTime, late } = await loadCdrs(bridge.fusion, tenants, size, deck, Date.now() - 60_000);
    await bridge.fusion.query('CREATE INDEX IF NOT EXISTS v_xml_cdr_domain_uuid_fkey ON v_xml_cdr (domain_uuid)');
    // The index the README tells a busy install to add (BENCH_CDR_KEYSET_INDEX=1): each keyset page an index range, not a re-scan of the tenant's rows.
    if (size.keysetIndex) await bridge.fusion.query('CREATE INDEX IF NOT EXISTS v_xml_cdr_keyset ON v_xml_cdr (domain_uuid, start_stamp, xml_cdr_uuid)');
    await bridge.fusion.query('VACUUM ANALYZE v_xml_cdr');
    log(
      `  cdr setup: ${size.prefixes}-prefix deck, ${size.tenants} tenants, ${onTime} CDRs (+${late.length} late) in ${round(elapsedMs(setupStart) / 1000, 1)} s${size.keysetIndex ? ', with the keyset index' : ''}`,
    );

    // Baseline first: the same pages, unnest insert, no rating.
    const baselineBackends = new BackendCpuSampler(admin, [databaseOf(bridge.fusionDb.url), databaseOf(baselineDb.url)]);
    await baselineBackends.start();
    const baselineBusyBefore = machineBusySeconds();
    const baseline = await runJsonChild<{ rows: number; ms: number; peakRssMiB: number; cpuMs: number }>('cdr baseline', 'bench/cdr/baseline-sync.child.ts', {
      FUSION_URL: bridge.fusionDb.url,
      TARGET_URL: baselineDb.url,
      PAGE_SIZE: String(size.pageSize),
      LANES: '8',
      DOMAINS: JSON.stringify(tenants.map((t) => [t.domainUuid, t.domainName])),
    });
    if (baseline.rows !== onTime) throw new CdrBenchError(`baseline copied ${baseline.rows} rows, expected ${onTime}`);
    const baselineRate = baseline.rows / (baseline.ms / 1000);
    // The machine's busy time includes the child's start and its table creation (well under 1 % of a full run).
    const baselineCpu = {
      machine: cpuMicrosPerCdr(baselineBusyBefore, machineBusySeconds(), baseline.rows),
      process: round((baseline.cpuMs * 1000) / baseline.rows, 1),
      postgres: cpuMicrosPerCdr(0, await baselineBackends.stop(), baseline.rows),
    };
    const baselineSplit = backendSplit(baselineBackends, bridge.fusionDb.url, baseline.rows);
    log(
      `  cdr baseline: ${round(baselineRate, 0)} CDR/s, peak RSS ${round(baseline.peakRssMiB, 0)} MiB; CPU per CDR: machine ${baselineCpu.machine} µs, baseline process ${baselineCpu.process} µs, its PostgreSQL backends ${baselineCpu.postgres} µs (${baselineSplit})`,
    );

    worker = await startService({
      name: 'apps/worker',
      script: 'apps/worker/src/main.ts',
      env: { ...bridge.env, ...workerExtraEnv() },
      readyLine: 'worker started',
      nodeOptions: [...workerV8Flags(), ...profileFlags('worker')],
    });
    // The worker's own scheduler may fan out once at start (no services yet → nothing); let it settle.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await registerServices(bridgePool, tenants);
    const startRss = currentRssMiB(worker.child.pid);
    const samples: number[] = [];
    const heapSamples: HeapSample[] = [];
    let ticks = 0;
    const projectBackends = new BackendCpuSampler(admin, [databaseOf(bridge.fusionDb.url), databaseOf(bridge.bridgeDb.url)]);
    await projectBackends.start();
    const workerCpuBefore = cpuSeconds(worker.child.pid);
    const busyBefore = machineBusySeconds();
    const before = await fanOut(queues, new Date(), 'pass-1');
    const start = process.hrtime.bigint();
    await waitForSync(queues, before, 1 + tenants.length, 60 * 60_000, () => {
      const rss = currentRssMiB(worker?.child.pid);
      if (rss !== null) samples.push(rss);
      // Every 2 s (a scrape costs the worker a little CPU): is the growth V8's heap or outside it?
      ticks += 1;
      if (ticks % 8 === 0) void heapSample(`http://127.0.0.1:${metricsPort}/metrics`).then((sample) => sample && heapSamples.push(sample));
    });
    const syncMs = elapsedMs(start);
    const projectCpu = {
      machine: cpuMicrosPerCdr(busyBefore, machineBusySeconds(), onTime),
      process: cpuMicrosPerCdr(workerCpuBefore, cpuSeconds(worker.child.pid), onTime),
      postgres: cpuMicrosPerCdr(0, await projectBackends.stop(), onTime),
    };
    const projectSplit = backendSplit(projectBackends, bridge.fusionDb.url, onTime);
    const afterPass1 = await chargeCounts(bridgePool);
    const charged1 = Object.values(afterPass1).reduce((a, b) => a + b, 0);
    if (charged1 !== onTime) throw new CdrBenchError(`pass 1 charged ${charged1} CDRs, expected ${onTime}`);
    const rate = onTime / (syncMs / 1000);
    const peak = peakRssMiB(worker.child.pid);
    const heapPeak = peakHeap(heapSamples);
    log(
      `  cdr sync (project): ${round(rate, 0)} CDR/s, worker RSS ${round(startRss ?? 0, 0)} → peak ${round(peak ?? 0, 0)} MiB` +
        (heapPeak ? ` (V8 heap peak ${heapPeak.heapUsed} used / ${heapPeak.heapTotal} total, external ${heapPeak.external} MiB)` : '') +
        `; CPU per CDR: machine ${projectCpu.machine} µs, worker ${projectCpu.process} µs, its PostgreSQL backends ${projectCpu.postgres} µs (${projectSplit})`,
    );

    // Late rows land (FusionPBX imported them late); the next sync must pick them up through the look-back.
    for (let i = 0; i < late.length; i += 5000) await insertCdrs(bridge.fusion, tenants, late.slice(i, i + 5000));
    const before2 = await fanOut(queues, new Date(Date.now() + SYNC_EVERY_SECONDS * 1000), 'pass-2');
    const start2 = process.hrtime.bigint();
    await waitForSync(queues, before2, 1 + tenants.length, 10 * 60_000, () => undefined);
    const pass2Ms = elapsedMs(start2);
    const final = await chargeCounts(bridgePool);
    const charged = Object.values(final).reduce((a, b) => a + b, 0);
    if (charged !== onTime + late.length) throw new CdrBenchError(`after the late rows ${charged} CDRs charged, expected ${onTime + late.length}`);
    log(`  cdr late rows: ${late.length} picked up by the next sync in ${round(pass2Ms / 1000, 1)} s; charges ${JSON.stringify(final)}`);

    const step = Math.max(1, Math.floor(samples.length / 10));
    const rssSamples = samples.filter((_, i) => i % step === 0).map((v) => round(v, 0));
    const details = {
      cdrs: onTime + late.length,
      firstPass: onTime,
      lateRows: late.length,
      tenants: size.tenants,
      prefixes: size.prefixes,
      pageSize: size.pageSize,
      syncMs: round(syncMs, 0),
      lateCatchUpMs: round(pass2Ms, 0),
      charges: final,
      workerRssMiB: { start: startRss && round(startRss, 0), peak: peak && round(peak, 0), end: rssSamples[rssSamples.length - 1] ?? null, samples: rssSamples },
      workerHeapPeakMiB: peakHeap(heapSamples),
      // CPU per first-pass CDR (µs): the whole machine's busy time (other load too), the syncing process's own and its PostgreSQL backends'.
      cpuPerCdrMicros: projectCpu,
      baseline: { ms: round(baseline.ms, 0), peakRssMiB: round(baseline.peakRssMiB, 0), cpuPerCdrMicros: baselineCpu },
    };
    const cdrsLabel = `${onTime.toLocaleString('en-US')} CDRs, ${size.tenants} tenants, ${size.prefixes.toLocaleString('en-US')}-prefix deck`;
    const full = sizes.name === 'full';
    const throughput = measuredRow({
      benchmark: 'CDR sync',
      metric: `throughput, ${cdrsLabel}`,
      project: { value: rate, unit: 'CDR/s', label: 'worker: keyset read + rating + ledger' },
      baseline: { value: baselineRate, unit: 'CDR/s', label: 'keyset read + unnest insert, no rating' },
      better: 'higher',
      target: 'ratio ≥ 0.85',
      targetMet: null,
      details,
    });
    throughput.targetMet = full ? throughput.ratio !== null && throughput.ratio >= 0.85 : null;
    const rss = measuredRow({
      benchmark: 'CDR sync',
      metric: 'peak RSS of the syncing process',
      project: { value: peak ?? Number.NaN, unit: 'MiB', label: 'apps/worker (whole process)' },
      baseline: { value: baseline.peakRssMiB, unit: 'MiB', label: 'baseline process' },
      better: 'lower',
      target: 'peak RSS < 150 MiB',
      targetMet: full && peak !== null ? peak < 150 : null,
    });
    return [throughput, rss];
  } finally {
    await worker?.stop();
    await closeQueues(queues);
    redis.disconnect();
    await bridgePool.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    await baselineDb.drop().catch(() => undefined);
    await bridge.close();
  }
}

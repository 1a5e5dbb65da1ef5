/**
 * The CDR sync's read-ahead (h135, issue #20), A/B in one process: the same tenants' CDRs synced
 * by two versions of `syncTenantCdrs` in alternating rounds (charges and cursors emptied between
 * rounds), 8 lanes as the worker's WORKER_CONCURRENCY, so both see the same load on a shared box.
 * B is the worker's sync-tenant.ts; A is another version of it copied next to it, e.g.
 *   git show a18fc36~1:apps/worker/src/jobs/cdr/sync-tenant.ts > apps/worker/src/jobs/cdr/sync-tenant-a.ts
 *   node --import tsx bench/cdr/read-ahead-ab.ts [cdrs] [tenants] [rounds]
 * The bench's databases commit durably: run with PGOPTIONS='-c synchronous_commit=on' for the same
 * (the test harness's databases do not). Prints per round and variant: CDR/s, CPU µs per CDR of
 * this process and of its PostgreSQL backends, the cores they kept busy, the machine's idle share.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Pool } from 'pg';
import { importRateDeck } from '@ictvoip/store';
import { TEST_PG_ADMIN_URL } from '@ictvoip/testkit';
import { BackendCpuSampler, BENCH_OWN_APPLICATION, databaseOf } from '../lib/pg-cpu';
import { startBridge } from '../../apps/worker/test/harness';
import type { WorkerDeps } from '../../apps/worker/src';
import { syncTenantCdrs as syncB } from '../../apps/worker/src/jobs/cdr/sync-tenant';
import { DECK_NUMBERING_PLAN, generateCdrs, generateDeck } from './generator';
import { insertCdrs, type TenantRef } from './load-cdrs';

type Sync = (deps: WorkerDeps, serviceId: number) => Promise<unknown>;

const LANES = 8;

/** The machine's idle and total CPU ticks so far (/proc/stat): how much of the 2 cores nobody used. */
function cpuTicks(): { idle: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
}

async function syncAll(sync: Sync, deps: WorkerDeps, tenants: readonly TenantRef[]): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < tenants.length) {
      const tenant = tenants[next]!;
      next += 1;
      await sync(deps, tenant.serviceId);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
}

async function main(): Promise<void> {
  const [cdrs = 100_000, tenantCount = 20, rounds = 4] = process.argv.slice(2).map(Number);
  // A variable, so the type check does not look for a file that exists only while measuring.
  const oldModule = '../../apps/worker/src/jobs/cdr/sync-tenant-a';
  const syncA = ((await import(oldModule)) as { syncTenantCdrs: Sync }).syncTenantCdrs;
  const bridge = await startBridge({ BILLING_TIMEZONE: 'UTC', CDR_SYNC_PAGE_SIZE: '500', CDR_SYNC_MAX_PAGES: '100000' }, { logLevel: 'warn' });
  // Lists the two databases' backends (their CPU is PostgreSQL's share of each round).
  const admin = new Pool({ connectionString: TEST_PG_ADMIN_URL, max: 1, application_name: BENCH_OWN_APPLICATION });
  try {
    const { deps } = await bridge.startWorker({ schedulers: false });
    const deck = generateDeck(2000);
    const imported = await importRateDeck(deps.pool, 'standard', deck.csv, { currency: 'USD', numberingPlan: DECK_NUMBERING_PLAN });
    if (!imported.ok) throw new Error('deck import failed');
    const tenants: TenantRef[] = Array.from({ length: tenantCount }, (_, i) => ({ serviceId: 900_000 + i, domainUuid: randomUUID(), domainName: `t${i}.pbx.example.net` }));
    for (const tenant of tenants) {
      await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [tenant.domainUuid, tenant.domainName]);
      await deps.pool.query(
        `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, 55, $2, 'active', $3, now() - interval '1 day')`,
        [tenant.serviceId, tenant.domainName, JSON.stringify({ rateDeck: 'standard', includedMinutes: 100 })],
      );
    }
    let loaded = 0;
    for (const batch of generateCdrs({ count: cdrs, tenants: tenantCount, deck, windowEndMs: Date.now() - 60_000, windowMs: 3.5 * 3600_000 })) {
      await insertCdrs(bridge.fusion, tenants, batch);
      loaded += batch.length;
    }
    await bridge.fusion.query('CREATE INDEX ON v_xml_cdr (domain_uuid)');
    await bridge.fusion.query('VACUUM ANALYZE v_xml_cdr');
    process.stdout.write(`${loaded} CDRs, ${tenantCount} tenants, ${LANES} lanes\n`);
    const variants: [string, Sync][] = [
      ['A', syncA],
      ['B', syncB],
    ];
    for (let round = 1; round <= rounds; round += 1) {
      for (const [name, sync] of round % 2 === 1 ? variants : [...variants].reverse()) {
        await deps.pool.query('TRUNCATE cdr_charges, cdr_sync_cursors CASCADE');
        await deps.pool.query('VACUUM ANALYZE cdr_charges');
        const load = loadavg()[0]!.toFixed(1);
        const ticks = cpuTicks();
        const backends = new BackendCpuSampler(admin, [databaseOf(bridge.bridgeDb.url), databaseOf(bridge.fusionDb.url)]);
        await backends.start();
        const cpu = process.cpuUsage();
        const start = process.hrtime.bigint();
        await syncAll(sync, deps, tenants);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const used = process.cpuUsage(cpu);
        const after = cpuTicks();
        const backendSeconds = await backends.stop();
        // Cores the round kept busy: this process and its backends, per second of the round.
        const cores = ((used.user + used.system) / 1e6 + backendSeconds) / (ms / 1000);
        const idle = (100 * (after.idle - ticks.idle)) / Math.max(1, after.total - ticks.total);
        const { rows } = await deps.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM cdr_charges');
        if (rows[0]?.n !== loaded) throw new Error(`${name} charged ${rows[0]?.n}, expected ${loaded}`);
        process.stdout.write(
          `round ${round} ${name}: ${Math.round(loaded / (ms / 1000))} CDR/s, ${Math.round(ms)} ms, process ${(((used.user + used.system) / loaded) * 1).toFixed(1)} µs/CDR + backends ${((backendSeconds * 1e6) / loaded).toFixed(1)} µs/CDR, ${cores.toFixed(2)} cores, machine idle ${idle.toFixed(0)} %, load ${load}\n`,
        );
      }
    }
  } finally {
    await admin.end();
    await bridge.close();
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});

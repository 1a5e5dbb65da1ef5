/**
 * Billing close: S services with rated calls in the last closed period; one `billing.close-periods`
 * job through apps/worker (child process) fans out a `billing.push-batch` per service, each
 * making its batch under the billing lock and pushing it to the WHMCS API stand-in
 * (GetClientsDetails + AddBillableItem over HTTP). Timed from the close job to every batch pushed.
 * Baseline (same run): the same two WHMCS calls per service from one process, 8 in parallel, with
 * no database at all: the floor set by the WHMCS API itself.
 * Runs only once the worker has billing jobs; otherwise the row is pending, never faked.
 */
import { existsSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Pool } from 'pg';
import { loadConfig } from '@ictvoip/config';
import { addJob, BILLING_JOBS, closeQueues, createProducerConnection, createQueues, type QueueSet } from '@ictvoip/queue';
import { startWhmcsStandin, TEST_REDIS_URL, type WhmcsStandin } from '@ictvoip/testkit';
import { insertCharges, latestClosedPeriod, migrateBridgeDatabase, ServicesRepository, type NewCharge } from '@ictvoip/store';
import { WhmcsApiClient } from '@ictvoip/whmcs';
import { BENCH_BASE_DOMAIN, createBenchBridge } from '../lib/bridge-env';
import { REPO_ROOT, startService, type RunningService } from '../lib/child';
import { profileFlags } from '../lib/profile';
import { measuredRow, pendingRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import { elapsedMs, prng, round } from '../lib/stats';

export class BillingBenchError extends Error {
  readonly code = 'BENCH_BILLING_FAILED';
}

const FIRST_SERVICE_ID = 900_000;
const CALLS_PER_SERVICE = 5;

export function billingJobsPresent(): boolean {
  const dir = path.join(REPO_ROOT, 'apps/worker/src/jobs/billing');
  return existsSync(dir) && readdirSync(dir).some((file) => file.endsWith('.ts'));
}

function chargesFor(serviceId: number, clientDomain: string, period: string, random: () => number): NewCharge[] {
  const [year, month] = period.split('-').map(Number);
  return Array.from({ length: CALLS_PER_SERVICE }, (_, i) => {
    const billsec = 30 + Math.floor(random() * 600);
    const micro = BigInt(1000 + Math.floor(random() * 900_000));
    return {
      xmlCdrUuid: randomUUID(),
      serviceId,
      domainName: clientDomain,
      startStamp: new Date(Date.UTC(year, month - 1, 2 + i, 12)).toISOString(),
      direction: 'outbound',
      destination: `+4420${String(10_000_000 + Math.floor(random() * 89_999_999))}`,
      billsec,
      billableSeconds: Math.ceil(billsec / 60) * 60,
      includedSeconds: 0,
      amount: `${micro / 1_000_000n}.${String(micro % 1_000_000n).padStart(6, '0')}`,
      currency: 'USD',
      status: 'rated',
      reason: null,
      deckId: null,
      deckRevision: null,
      period,
    };
  });
}

/**
 * Done when every service's batch is pushed and the queue is idle. Not by completed-job counts:
 * push jobs keep only the last 1,000 completed (removeOnComplete), fewer than the services.
 */
async function waitForBilling(queues: QueueSet, pool: Pool, services: number, timeoutMs: number): Promise<void> {
  const queue = queues.billing;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('failed', 'active', 'waiting', 'delayed', 'prioritized');
    if (counts.failed > 0) {
      const [failed] = await queue.getFailed(0, 0);
      throw new BillingBenchError(`${counts.failed} billing job(s) failed, e.g. ${failed?.name}: ${failed?.failedReason}`);
    }
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM billing_batches WHERE state = 'pushed'");
    const retrying = counts.delayed > 0 ? (await queue.getDelayed()).filter((job) => !String(job.id).startsWith('repeat:')).length : 0;
    if (rows[0].n >= services && counts.active + counts.waiting + counts.prioritized + retrying === 0) return;
    if (Date.now() > deadline) throw new BillingBenchError(`billing close not finished within ${timeoutMs} ms (${rows[0].n} pushed, ${JSON.stringify(counts)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function bareWhmcsCalls(standin: WhmcsStandin, clientIds: number[], lanes: number): Promise<number> {
  const client = new WhmcsApiClient({ url: standin.url, identifier: standin.identifier, secret: standin.secret, timeoutMs: 30_000 });
  const start = process.hrtime.bigint();
  let next = 0;
  const lane = async () => {
    while (next < clientIds.length) {
      const clientId = clientIds[next];
      next += 1;
      await client.getClientsDetails(clientId);
      await client.addBillableItem({ clientId, description: `baseline ${clientId}`, amount: '1.23', invoiceAction: 'nextcron' });
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return elapsedMs(start);
}

export async function runBillingBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const services = sizes.billing.services;
  const metric = `${services.toLocaleString('en-US')} services' period close against the WHMCS stand-in`;
  if (!billingJobsPresent()) {
    log('  billing: no billing jobs in apps/worker yet → pending');
    return [pendingRow('billing close', metric, '< 60 s', 'pending: billing jobs not merged (apps/worker/src/jobs/billing is empty)')];
  }
  const standin = await startWhmcsStandin();
  const bridge = await createBenchBridge('billing', {
    WHMCS_API_URL: standin.url,
    WHMCS_API_IDENTIFIER: standin.identifier,
    WHMCS_API_SECRET: standin.secret,
    BILLING_CLOSE_EVERY_SECONDS: '86400',
    CDR_SYNC_EVERY_SECONDS: '86400',
  });
  const bridgePool = new Pool({ connectionString: bridge.bridgeDb.url, max: 4 });
  const redis = createProducerConnection(TEST_REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: null });
  const queues = createQueues({ connection: redis, prefix: bridge.prefix });
  let worker: RunningService | null = null;
  try {
    await migrateBridgeDatabase(bridgePool);
    const clientIds = Array.from({ length: services }, () => standin.addClient({ currency_code: 'USD' }).id);
    const baselineClients = Array.from({ length: services }, () => standin.addClient({ currency_code: 'USD' }).id);

    const baselineMs = await bareWhmcsCalls(standin, baselineClients, 8);
    log(`  billing baseline: ${services} × (GetClientsDetails + AddBillableItem) in ${round(baselineMs / 1000, 2)} s`);
    const itemsBefore = standin.state.billableItems.length;

    worker = await startService({ name: 'apps/worker', script: 'apps/worker/src/main.ts', env: bridge.env, readyLine: 'worker started', nodeOptions: profileFlags('worker') });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const now = new Date();
    const { billing } = loadConfig(bridge.env);
    const period = latestClosedPeriod(now, billing.timeZone, billing.closeDelaySeconds);
    const random = prng(31);
    const repository = new ServicesRepository(bridgePool);
    for (let i = 0; i < services; i += 1) {
      const serviceId = FIRST_SERVICE_ID + i;
      await repository.setDesired({ serviceId, clientId: clientIds[i], desiredState: 'active', plan: { rateDeck: 'standard' }, eventId: randomUUID() });
      await repository.recordObserved(serviceId, { state: 'active', tenantDomain: `t${serviceId}.${BENCH_BASE_DOMAIN}` });
      await insertCharges(bridgePool, chargesFor(serviceId, `t${serviceId}.${BENCH_BASE_DOMAIN}`, period, random));
    }
    const start = process.hrtime.bigint();
    await addJob(queues, BILLING_JOBS.closePeriods, { now: now.toISOString() }, { jobId: 'bench-close', removeOnComplete: false });
    await waitForBilling(queues, bridgePool, services, 30 * 60_000);
    const closeMs = elapsedMs(start);
    const pushed = standin.state.billableItems.length - itemsBefore;
    const { rows } = await bridgePool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM billing_batches GROUP BY state');
    const states = Object.fromEntries(rows.map((row) => [row.state, row.n]));
    if (pushed !== services || states.pushed !== services)
      throw new BillingBenchError(`${pushed} items reached WHMCS, batches ${JSON.stringify(states)}; expected ${services} pushed`);
    log(
      `  billing close: ${services} services in ${round(closeMs / 1000, 2)} s (${round(services / (closeMs / 1000), 0)} services/s), worker peak RSS ${round(worker.peakRssMiB() ?? 0, 0)} MiB`,
    );
    const row = measuredRow({
      benchmark: 'billing close',
      metric,
      project: { value: closeMs / 1000, unit: 's', label: 'close job → every batch pushed (worker + WHMCS stand-in)' },
      baseline: { value: baselineMs / 1000, unit: 's', label: 'the same WHMCS calls alone, 8 in parallel, no database' },
      better: 'lower',
      target: '< 60 s',
      targetMet: sizes.name === 'full' ? closeMs < 60_000 : null,
      details: {
        services,
        callsPerService: CALLS_PER_SERVICE,
        period,
        batches: states,
        servicesPerSecond: round(services / (closeMs / 1000), 1),
        workerPeakRssMiB: worker.peakRssMiB(),
      },
    });
    return [row];
  } finally {
    await worker?.stop();
    await closeQueues(queues);
    redis.disconnect();
    await bridgePool.end().catch(() => undefined);
    await bridge.close();
    await standin.close();
  }
}

import type { Pool } from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueSet } from '@ictvoip/queue';
import { InboxRepository, ServicesRepository, TenantWritesRepository } from '@ictvoip/store';

export interface ApiMetrics {
  registry: Registry;
  webhookReceived(action: string, kind: 'new' | 'repeat'): void;
  /** The final answer to a webhook POST, by action ('unknown' before the body was valid) and HTTP status. */
  webhookOutcome(action: string, status: number): void;
  httpResponse(route: string, status: number): void;
  /** Webhook rows of one group-commit INSERT: committed together, or split into one INSERT each after the batch failed. */
  webhookGroupCommit(rows: number, outcome: 'committed' | 'split'): void;
  /** The finish listener (LISTEN connection) came up or was lost: waiting answers then poll until it is back. */
  finishListener(state: 'listening' | 'lost'): void;
}

/**
 * Where the shared state is read at scrape time. The API exports it (any API process answers the
 * same), so a Prometheus scraping several APIs should aggregate these gauges with max(), not sum().
 */
export interface ApiMetricsSources {
  queues: QueueSet;
  pool: Pool;
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children', 'completed'] as const;

async function collectQueues(queues: QueueSet, depth: Gauge<'queue' | 'state'>, oldest: Gauge<'queue'>): Promise<void> {
  const now = Date.now();
  await Promise.all(
    Object.entries(queues).map(async ([name, queue]) => {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) depth.set({ queue: name, state }, counts[state] ?? 0);
      // The oldest job still waiting to run; delayed jobs wait on purpose and are left out.
      const [waiting] = await queue.getJobs(['waiting', 'prioritized'], 0, 0, true);
      oldest.set({ queue: name }, waiting ? Math.max(0, (now - waiting.timestamp) / 1000) : 0);
    }),
  );
}

async function collectInbox(pool: Pool, inbox: Gauge<'status'>, pendingApply: Gauge, globalApplies: Gauge): Promise<void> {
  const counts = await new InboxRepository(pool).countByStatus();
  for (const [status, count] of Object.entries(counts)) inbox.set({ status }, count);
  // A global gateway write owes its server's FreeSWITCH outside any service's backlog: counted on its own.
  const owed = await new ServicesRepository(pool).freeswitchBehindSummary();
  pendingApply.set(owed.behind);
  globalApplies.set(owed.globalApplies);
}

async function collectTenantWrites(pool: Pool, writes: Gauge<'status'>): Promise<void> {
  const counts = await new TenantWritesRepository(pool).countByStatus();
  for (const [status, count] of Object.entries(counts)) writes.set({ status }, count);
}

async function collectBilling(pool: Pool, lag: Gauge<'service_id'>, unrated: Gauge<'service_id'>, batches: Gauge<'state'>): Promise<void> {
  const cursors = await pool.query<{ service_id: string; lag: string | null; unrated: string }>(
    `SELECT c.service_id, floor(extract(epoch FROM now() - c.last_start_stamp))::text AS lag,
            (SELECT count(*) FROM cdr_charges u WHERE u.service_id = c.service_id AND u.status = 'unrated')::text AS unrated
       FROM cdr_sync_cursors c`,
  );
  lag.reset();
  unrated.reset();
  for (const row of cursors.rows) {
    if (row.lag !== null) lag.set({ service_id: row.service_id }, Number(row.lag));
    unrated.set({ service_id: row.service_id }, Number(row.unrated));
  }
  const states = await pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM billing_batches GROUP BY state');
  batches.reset();
  for (const row of states.rows) batches.set({ state: row.state }, row.n);
}

/** Runs one collector; a down dependency leaves a gauge stale and counts the failure instead of breaking /metrics. */
async function guarded(name: string, errors: Counter<'collector'>, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch {
    errors.inc({ collector: name });
  }
}

export function createApiMetrics(sources?: ApiMetricsSources): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ictvoip_api_' });
  const registers = [registry];
  const webhooks = new Counter({
    name: 'ictvoip_webhooks_received_total',
    help: 'Signed, valid webhook events received, by action and first delivery or repeat',
    labelNames: ['action', 'kind'],
    registers,
  });
  const outcomes = new Counter({ name: 'ictvoip_webhook_responses_total', help: 'Webhook POST answers by action and HTTP status', labelNames: ['action', 'status'], registers });
  const responses = new Counter({ name: 'ictvoip_http_responses_total', help: 'HTTP responses by route group and status', labelNames: ['route', 'status'], registers });
  const groupCommits = new Histogram({
    name: 'ictvoip_webhook_group_commit_rows',
    help: 'Webhook inbox rows per group INSERT (concurrent webhooks are committed together); split: the batch failed and each row was tried alone',
    labelNames: ['outcome'],
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers,
  });
  const listenerUp = new Gauge({
    name: 'ictvoip_api_finish_listener_up',
    help: '1 while the LISTEN connection that wakes waiting answers (?wait=, /v1 writes) is up; 0: they poll',
    registers,
  });
  const listenerLost = new Counter({ name: 'ictvoip_api_finish_listener_losses_total', help: 'Times the LISTEN connection was lost (it reconnects with backoff)', registers });
  if (sources) registerStateGauges(registry, sources);
  return {
    registry,
    webhookReceived: (action, kind) => webhooks.inc({ action, kind }),
    webhookOutcome: (action, status) => outcomes.inc({ action, status: String(status) }),
    httpResponse: (route, status) => responses.inc({ route, status: String(status) }),
    webhookGroupCommit: (rows, outcome) => groupCommits.observe({ outcome }, rows),
    finishListener: (state) => {
      listenerUp.set(state === 'listening' ? 1 : 0);
      if (state === 'lost') listenerLost.inc();
    },
  };
}

function registerStateGauges(registry: Registry, sources: ApiMetricsSources): void {
  // prom-client reads every metric at once: each gauge joins the one refresh in flight for this scrape.
  let inflight: Promise<void> | null = null;
  const collect = () =>
    (inflight ??= refresh().finally(() => {
      inflight = null;
    }));
  const common = { registers: [registry], collect };
  const errors = new Counter({
    name: 'ictvoip_metrics_collect_errors_total',
    help: 'Scrapes where a collector could not read its source',
    labelNames: ['collector'],
    registers: [registry],
  });
  const depth = new Gauge({ ...common, name: 'ictvoip_queue_jobs', help: 'Jobs per queue and state', labelNames: ['queue', 'state'] });
  const oldest = new Gauge({
    ...common,
    name: 'ictvoip_queue_oldest_waiting_job_age_seconds',
    help: 'Age of the oldest job waiting to run, per queue (0 when none waits)',
    labelNames: ['queue'],
  });
  const inbox = new Gauge({ ...common, name: 'ictvoip_inbox_events', help: 'Webhook inbox events by status', labelNames: ['status'] });
  const writes = new Gauge({
    ...common,
    name: 'ictvoip_tenant_writes',
    help: 'REST writes of extensions and gateways (kept 30 days) by status; queued/running ones wait on a worker',
    labelNames: ['status'],
  });
  const pendingApply = new Gauge({ ...common, name: 'ictvoip_pending_apply_services', help: 'Services whose FusionPBX change is committed but not yet applied to FreeSWITCH' });
  const globalApplies = new Gauge({
    ...common,
    name: 'ictvoip_pending_apply_global_gateways',
    help: 'Global gateway writes committed in FusionPBX whose FreeSWITCH apply is still owed (global_freeswitch_applies)',
  });
  const lag = new Gauge({ ...common, name: 'ictvoip_cdr_sync_lag_seconds', help: 'Seconds between now and the newest CDR synced, per tenant', labelNames: ['service_id'] });
  const unrated = new Gauge({ ...common, name: 'ictvoip_cdr_unrated_calls', help: 'Synced calls that could not be rated, per tenant', labelNames: ['service_id'] });
  const batches = new Gauge({ ...common, name: 'ictvoip_billing_batches', help: 'Billing batches by state', labelNames: ['state'] });
  const duration = new Gauge({ ...common, name: 'ictvoip_metrics_collect_duration_seconds', help: 'Time spent reading queue, inbox and billing state for this scrape' });
  async function refresh(): Promise<void> {
    const started = process.hrtime.bigint();
    await Promise.all([
      guarded('queues', errors, () => collectQueues(sources.queues, depth, oldest)),
      guarded('inbox', errors, () => collectInbox(sources.pool, inbox, pendingApply, globalApplies)),
      guarded('tenant-writes', errors, () => collectTenantWrites(sources.pool, writes)),
      guarded('billing', errors, () => collectBilling(sources.pool, lag, unrated, batches)),
    ]);
    duration.set(Number(process.hrtime.bigint() - started) / 1e9);
  }
}

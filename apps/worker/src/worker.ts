import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import { EslClient, FusionTargets, provisionerOptionsFrom, type CacheOptions } from '@ictvoip/fusionpbx';
import {
  closeQueues,
  createQueues,
  createWorkerConnection,
  MAINTENANCE_JOBS,
  FREESWITCH_JOBS,
  PROVISIONING_JOBS,
  QUEUE_NAMES,
  SCHEDULER_IDS,
  JobPayloadError,
  BILLING_JOBS,
  BILLING_SCHEDULER_IDS,
  CDR_JOBS,
  TENANT_WRITE_JOBS,
} from '@ictvoip/queue';
import { WhmcsApiClient } from '@ictvoip/whmcs';
import { AuditRepository, createPool, FusionServersRepository, InboxRepository, migrateBridgeDatabase, ServicesRepository, TenantWritesRepository } from '@ictvoip/store';
import type { WorkerDeps } from './deps';
import { processProvisioningJob } from './event-processor';
import { PermanentJobError } from './errors';
import { purgeTerminatedTenants, PURGE_JOB_NAME, PURGE_SCHEDULER_ID } from './jobs/maintenance/purge-terminated';
import { reconcileInbox } from './jobs/maintenance/reconcile-inbox';
import { BILLING_JOB_HANDLERS } from './jobs/billing';
import { cdrBacklogByTenant, CDR_JOB_HANDLERS } from './jobs/cdr';
import { applyFreeswitchJob } from './jobs/freeswitch/freeswitch-apply';
import { applyFreeswitchBacklogJob } from './jobs/freeswitch/freeswitch-backlog';
import { TENANT_WRITE_JOB_HANDLERS } from './jobs/tenant-writes';
import { PROVISIONING_JOB_DEFINITIONS } from './jobs/provisioning';
import { HandlerRegistry } from './registry';
import { closeWorkerWithin, closingReserveMs, ShutdownBudget } from './shutdown';
import type { ProvisioningJobDefinition } from './tenant-action';
import { createWorkerMetrics, instrumentEsl, instrumentProvisioner, instrumentWhmcs, startMetricsServer, timeJob, type WorkerMetrics } from './metrics';
import { DRIFT_JOB_NAME, ensureDriftScheduler, runDriftJob } from './jobs/maintenance/drift-job';

export interface RunningWorker {
  deps: WorkerDeps;
  workers: Worker[];
  metrics: WorkerMetrics;
  /** The worker's own /metrics URL, or null when WORKER_METRICS_PORT is 0. */
  metricsUrl: string | null;
  close(): Promise<void>;
}

export interface StartWorkerOptions {
  definitions?: readonly ProvisioningJobDefinition[];
  /** Tests turn the periodic scheduler watchdog off and call the reconciler directly. */
  schedulers?: boolean;
}

type JobHandler = (job: Job) => Promise<unknown>;

function buildRegistry(deps: WorkerDeps | null, definitions: readonly ProvisioningJobDefinition[], metrics?: WorkerMetrics): HandlerRegistry<JobHandler> {
  const byAction = new Map(definitions.map((d) => [d.action as string, d]));
  const registry = new HandlerRegistry<JobHandler>();
  for (const definition of definitions) {
    registry.register(definition.jobName, async (job) => {
      try {
        return await processProvisioningJob(deps!, job, byAction);
      } catch (error) {
        // BullMQ skips the remaining attempts for an UnrecoverableError.
        if (error instanceof PermanentJobError || error instanceof JobPayloadError) throw new UnrecoverableError(error.message);
        throw error;
      }
    });
  }
  registry.register(MAINTENANCE_JOBS.reconcileInbox, (job) => reconcileInbox(deps!, job));
  registry.register(DRIFT_JOB_NAME, (job) => runDriftJob(deps!, job, metrics));
  registry.register(PURGE_JOB_NAME, () => purgeTerminatedTenants(deps!));
  for (const [name, handle] of [...Object.entries(CDR_JOB_HANDLERS), ...Object.entries(BILLING_JOB_HANDLERS), ...Object.entries(TENANT_WRITE_JOB_HANDLERS), [FREESWITCH_JOBS.apply, applyFreeswitchJob] as const, [FREESWITCH_JOBS.backlog, applyFreeswitchBacklogJob] as const]) {
    registry.register(name, async (job) => {
      try {
        return await handle(deps!, job);
      } catch (error) {
        if (error instanceof PermanentJobError || error instanceof JobPayloadError) throw new UnrecoverableError(error.message);
        throw error;
      }
    });
  }
  registry.assertComplete(EXPECTED_JOB_NAMES);
  return registry;
}

async function ensureSchedulers(deps: WorkerDeps): Promise<void> {
  await deps.queues.maintenance.upsertJobScheduler(
    SCHEDULER_IDS.reconcileInbox,
    { every: deps.config.worker.reconcileEverySeconds * 1000 },
    { name: MAINTENANCE_JOBS.reconcileInbox, data: {}, opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
  await ensureDriftScheduler(deps);
  // Purging is not urgent; a few times a day keeps FusionPBX tidy without adding load.
  await deps.queues.maintenance.upsertJobScheduler(PURGE_SCHEDULER_ID, { every: 6 * 3600 * 1000 }, { name: PURGE_JOB_NAME, data: {}, opts: { attempts: 1, removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } } });
  const fanOut = { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } };
  await deps.queues['cdr-sync'].upsertJobScheduler(BILLING_SCHEDULER_IDS.cdrSyncAll, { every: deps.config.cdr.syncEverySeconds * 1000 }, { name: CDR_JOBS.syncAll, data: {}, opts: fanOut });
  await deps.queues.billing.upsertJobScheduler(BILLING_SCHEDULER_IDS.billingClosePeriods, { every: deps.config.billing.closeEverySeconds * 1000 }, { name: BILLING_JOBS.closePeriods, data: {}, opts: fanOut });
}

/** Starts the provisioning and maintenance workers; refuses to start on an incomplete handler registry. */
function cacheOptionsFrom(config: BridgeConfig): CacheOptions {
  if (config.fusionpbx.cacheMethod === 'file') return { method: 'file', location: config.fusionpbx.cacheDir };
  return { method: config.fusionpbx.cacheMethod };
}

/** Billing needs the WHMCS API; without it batches are made but wait (logged) until it is configured. */
function whmcsClientFrom(config: BridgeConfig, logger: Logger): WhmcsApiClient | null {
  if (!config.whmcs.apiUrl || !config.whmcs.identifier || !config.whmcs.secret) return null;
  return new WhmcsApiClient({ url: config.whmcs.apiUrl, identifier: config.whmcs.identifier, secret: config.whmcs.secret, timeoutMs: config.whmcs.timeoutMs, logger });
}

const EXPECTED_JOB_NAMES = [...Object.values(PROVISIONING_JOBS), ...Object.values(FREESWITCH_JOBS), ...Object.values(TENANT_WRITE_JOBS), ...Object.values(MAINTENANCE_JOBS), ...Object.values(CDR_JOBS), ...Object.values(BILLING_JOBS), DRIFT_JOB_NAME, PURGE_JOB_NAME];

export async function startWorker(config: BridgeConfig, logger: Logger, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const definitions = options.definitions ?? PROVISIONING_JOB_DEFINITIONS;
  // Checked before any connection is opened, so a bad build fails fast and leaves nothing behind.
  buildRegistry(null, definitions);
  const provisionerOptions = provisionerOptionsFrom(config);
  const metrics = createWorkerMetrics();
  // Before any connection: a taken port stops the start-up with nothing left open.
  const metricsServer = config.worker.metricsPort > 0 ? await startMetricsServer(metrics, config.worker.metricsPort, config.http.host) : null;
  // Each in-flight job holds one client for its service lock (or FusionPBX transaction) and needs
  // another for its queries: a pool smaller than that starves itself once concurrency reaches it.
  const poolSize = { max: config.worker.concurrency * 2 + 4 };
  const pool = createPool(config.database.url, poolSize, (error) => logger.warn({ err: error.message }, 'bridge database connection error'));
  const producer = createWorkerConnection(config.redis.url);
  const queues = createQueues({ connection: producer, prefix: config.redis.queuePrefix, attempts: config.worker.jobAttempts, backoffMs: config.worker.jobBackoffMs });
  const fusionServers = new FusionServersRepository(pool, config.sealing);
  // Every FusionPBX server gets its own pool of the same size and its own event socket, opened on first use.
  const targets = new FusionTargets({
    defaultServer: { databaseUrl: config.fusionpbx.databaseUrl, eslHost: config.esl.host, eslPort: config.esl.port, eslPassword: config.esl.password },
    loadServer: (name) => fusionServers.spec(name),
    listServers: () => fusionServers.specs(),
    openPool: (url, server) => createPool(url, poolSize, (error) => logger.warn({ err: error.message, server }, 'FusionPBX database connection error')),
    openEsl: (connection, server) => instrumentEsl(new EslClient({ ...connection, commandTimeoutMs: config.esl.timeoutMs }), metrics, logger, server),
    provisionerOptions,
    cacheOptions: cacheOptionsFrom(config),
    wrapProvisioner: (provisioner, server) => instrumentProvisioner(provisioner, metrics, logger, server),
  });
  const fallback = targets.defaultTarget;
  const deps: WorkerDeps = {
    config, logger, pool, queues,
    fusionPool: fallback.pool,
    esl: fallback.esl,
    provisioner: fallback.provisioner,
    cacheOptions: fallback.cacheOptions,
    fusionServer: null,
    targets,
    fusionServers,
    inbox: new InboxRepository(pool),
    tenantWrites: new TenantWritesRepository(pool),
    services: new ServicesRepository(pool),
    audit: new AuditRepository(pool),
    whmcs: whmcsClientFrom(config, logger),
  };
  if (deps.whmcs) instrumentWhmcs(deps.whmcs, metrics, logger);
  metrics.watchCdrBacklog(() => cdrBacklogByTenant(deps));
  const registry = buildRegistry(deps, definitions, metrics);
  await migrateBridgeDatabase(pool);

  const processor = (job: Job) => timeJob(metrics, job, () => registry.get(job.name)(job));
  const workerConnection = createWorkerConnection(config.redis.url);
  // A killed worker's jobs are taken over once their lock expires; checking as often as the lock lasts keeps that bounded.
  const common = { connection: workerConnection, prefix: config.redis.queuePrefix, lockDuration: config.worker.lockDurationMs, stalledInterval: config.worker.lockDurationMs };
  const workers = [
    new Worker(QUEUE_NAMES.provisioning, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.maintenance, processor, { ...common, concurrency: 1 }),
    new Worker(QUEUE_NAMES.cdrSync, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.billing, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.tenantWrites, processor, { ...common, concurrency: config.worker.concurrency }),
  ];
  for (const worker of workers) {
    worker.on('error', (error) => logger.warn({ err: error.message, queue: worker.name }, 'worker error'));
    worker.on('failed', (job, error) => logger.warn({ jobId: job?.id, job: job?.name, attempts: job?.attemptsMade, err: error.message }, 'job failed'));
  }

  let watchdog: NodeJS.Timeout | undefined;
  if (options.schedulers !== false) {
    await ensureSchedulers(deps);
    // A FLUSHALL also removes job schedulers; re-upserting is idempotent and brings them back.
    watchdog = setInterval(() => void ensureSchedulers(deps).catch((error: Error) => logger.warn({ err: error.message }, 'scheduler upsert failed')), config.worker.reconcileEverySeconds * 1000);
    watchdog.unref();
  }
  logger.info({ jobs: registry.names(), concurrency: config.worker.concurrency, metricsUrl: metricsServer?.url ?? null }, 'worker started');

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(watchdog);
    const deadlineMs = config.worker.shutdownDeadlineMs;
    const budget = new ShutdownBudget(deadlineMs);
    const graceMs = deadlineMs - closingReserveMs(deadlineMs);
    const outcomes = await Promise.all(workers.map((worker) => closeWorkerWithin(worker, graceMs, budget)));
    logger.info({ outcomes }, 'workers closed');
    await budget.within(closeQueues(queues));
    producer.disconnect();
    workerConnection.disconnect();
    if (metricsServer) await budget.within(metricsServer.close());
    // After a forced close, jobs still running here hold pool clients and pool.end() would wait for
    // them past the deadline; their work is handed back (stalled, retried elsewhere, idempotent).
    // targets.close() ends every FusionPBX server's pool and event socket.
    await budget.within(Promise.allSettled([pool.end(), targets.close()]));
  };
  return { deps, workers, metrics, metricsUrl: metricsServer?.url ?? null, close };
}

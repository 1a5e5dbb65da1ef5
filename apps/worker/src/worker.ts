import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  BILLING_JOBS,
  BILLING_SCHEDULER_IDS,
  CDR_JOBS,
  closeQueues,
  createQueues,
  createWorkerConnection,
  CREDIT_JOBS,
  CREDIT_SCHEDULER_IDS,
  FREESWITCH_JOBS,
  isJobName,
  JobPayloadError,
  MAINTENANCE_JOBS,
  MONITORING_JOBS,
  MONITORING_SCHEDULER_IDS,
  PROVISIONING_JOBS,
  QUEUE_NAMES,
  SCHEDULER_IDS,
  TENANT_WRITE_JOBS,
  upsertJobScheduler,
  validateJobPayload,
  type JobHandlers,
  type ProvisioningAction,
  type ProvisioningJobData,
  cappedBackoff,
} from '@ictvoip/queue';
import type { WorkerDeps } from './deps';
import { HandlerRegistryError, PermanentJobError } from './errors';
import { processProvisioningJob } from './event-processor';
import { handleBillingClose } from './jobs/billing/close-periods';
import { handleBillingPushOrFinalBill } from './jobs/billing/final-bill';
import { handleBillingRerate } from './jobs/billing/rerate-period';
import { handleCdrBackfill } from './jobs/cdr/backfill';
import { handleCdrReconcile } from './jobs/cdr/reconcile';
import { handleCdrSyncAll } from './jobs/cdr/sync-all';
import { handleCdrSyncTenant } from './jobs/cdr/sync-tenant';
import { handleCreditCheck, handleCreditCheckAll, handlePrepaidInvoice, handlePrepaidInvoiceAll } from './jobs/credit';
import { applyFreeswitchJob } from './jobs/freeswitch/freeswitch-apply';
import { applyFreeswitchBacklogJob } from './jobs/freeswitch/freeswitch-backlog';
import { ensureDriftScheduler, restoreDriftMetrics, runDriftJob } from './jobs/maintenance/drift-job';
import { purgeTerminatedTenants } from './jobs/maintenance/purge-terminated';
import { reconcileInbox } from './jobs/maintenance/reconcile-inbox';
import { handleRegistrationAlert } from './jobs/monitoring/registration-alert';
import { handleRegistrationPoll, handleRegistrationPollAll } from './jobs/monitoring/registrations-poll';
import { extensionWriteJob } from './jobs/tenant-writes/extension-write';
import { destinationWriteJob } from './jobs/tenant-writes/destination-write';
import { gatewayWriteJob } from './jobs/tenant-writes/gateway-write';
import { createWorkerMetrics, instrumentEsl, instrumentProvisioner, instrumentWhmcs, startMetricsServer, timeJob, type WorkerMetrics } from './metrics';
import type { ProvisioningDefinitions } from './tenant-action';
import { rateLimitedWarn, type BridgeConfig, type Logger } from '@ictvoip/config';
import { cacheOptionsFromConfig, FusionTargets, provisionerOptionsFrom } from '@ictvoip/fusionpbx';
import { EslClient } from '@ictvoip/freeswitch';
import { WhmcsApiClient } from '@ictvoip/whmcs';
import {
  AuditRepository,
  billingPeriodsMode,
  billingServiceCounts,
  bridgeApplicationName,
  createPool,
  creditStatesOfLiveServices,
  FusionServersRepository,
  InboxRepository,
  migrateBridgeDatabase,
  ServicesRepository,
  TenantWritesRepository,
} from '@ictvoip/store';
import { cdrBacklogByTenant } from './jobs/cdr';
import { PROVISIONING_DEFINITIONS } from './jobs/provisioning';
import { closeWorkerWithin, closingReserveMs, ShutdownBudget } from './shutdown';

/** The handler of the one provisioning job that serves `action`: typed for that job name only. */
export function provisioningHandler<A extends ProvisioningAction>(action: A, definitions: ProvisioningDefinitions) {
  return (deps: WorkerDeps, job: Job<ProvisioningJobData, unknown, (typeof PROVISIONING_JOBS)[A]>) => processProvisioningJob(deps, job, action, definitions);
}

/**
 * Exactly one handler per job of the catalogue (@ictvoip/queue JOBS): the map is typed by JobName,
 * so a job without a handler, a handler for no job, or a handler taking another job's payload does
 * not compile. Each provisioning job runs the definition of its own action (`provisioning('create')`
 * types its handler for tenant.create only), and the definitions table is typed by the actions.
 */
export function jobHandlers(definitions: ProvisioningDefinitions, metrics?: WorkerMetrics): JobHandlers<WorkerDeps> {
  const provisioning = <A extends ProvisioningAction>(action: A) => provisioningHandler(action, definitions);
  return {
    [PROVISIONING_JOBS.create]: provisioning('create'),
    [PROVISIONING_JOBS.suspend]: provisioning('suspend'),
    [PROVISIONING_JOBS.unsuspend]: provisioning('unsuspend'),
    [PROVISIONING_JOBS.terminate]: provisioning('terminate'),
    [PROVISIONING_JOBS.change_package]: provisioning('change_package'),
    [PROVISIONING_JOBS.change_password]: provisioning('change_password'),
    [PROVISIONING_JOBS.test_connection]: provisioning('test_connection'),
    [PROVISIONING_JOBS.reconcile]: provisioning('reconcile'),
    [FREESWITCH_JOBS.apply]: applyFreeswitchJob,
    [FREESWITCH_JOBS.backlog]: applyFreeswitchBacklogJob,
    [TENANT_WRITE_JOBS.extension]: extensionWriteJob,
    [TENANT_WRITE_JOBS.gateway]: gatewayWriteJob,
    [TENANT_WRITE_JOBS.destination]: destinationWriteJob,
    [MAINTENANCE_JOBS.reconcileInbox]: (deps, job) => reconcileInbox(deps, job),
    [MAINTENANCE_JOBS.driftReport]: (deps, job) => runDriftJob(deps, job, metrics),
    [MAINTENANCE_JOBS.purgeTerminated]: (deps) => purgeTerminatedTenants(deps),
    [CDR_JOBS.syncAll]: handleCdrSyncAll,
    [CDR_JOBS.syncTenant]: (deps, job) => handleCdrSyncTenant(deps, job, metrics),
    [CDR_JOBS.backfill]: handleCdrBackfill,
    [CDR_JOBS.reconcile]: (deps, job) => handleCdrReconcile(deps, job, metrics),
    [BILLING_JOBS.closePeriods]: handleBillingClose,
    [BILLING_JOBS.pushBatch]: handleBillingPushOrFinalBill,
    [BILLING_JOBS.reratePeriod]: handleBillingRerate,
    [MONITORING_JOBS.pollAll]: handleRegistrationPollAll,
    [MONITORING_JOBS.poll]: (deps, job) => handleRegistrationPoll(deps, job, metrics),
    [MONITORING_JOBS.alert]: (deps, job) => handleRegistrationAlert(deps, job, metrics),
    [CREDIT_JOBS.checkAll]: handleCreditCheckAll,
    [CREDIT_JOBS.checkClient]: (deps, job) => handleCreditCheck(deps, job, metrics),
    [CREDIT_JOBS.prepaidInvoiceAll]: handlePrepaidInvoiceAll,
    [CREDIT_JOBS.prepaidInvoice]: handlePrepaidInvoice,
  };
}

/**
 * Runs a job: its payload is validated against the catalogue here, once, and the handler gets it
 * typed. A payload that does not match, or a PermanentJobError, fails the job without retries.
 */
export async function runJob(deps: WorkerDeps, handlers: JobHandlers<WorkerDeps>, job: Job): Promise<unknown> {
  // Not unrecoverable: while workers of two releases run side by side, another one may know the job.
  if (!isJobName(job.name)) throw new HandlerRegistryError(`no handler for job "${job.name}"`);
  const handle = handlers[job.name] as (deps: WorkerDeps, job: Job) => Promise<unknown>;
  try {
    job.data = validateJobPayload(job.name, job.data);
    return await handle(deps, job);
  } catch (error) {
    // BullMQ skips the remaining attempts for an UnrecoverableError.
    if (error instanceof PermanentJobError || error instanceof JobPayloadError) throw new UnrecoverableError(error.message);
    throw error;
  }
}

/** This process as BullMQ names it on the jobs it runs (`processedBy`): `host:pid`. */
export function workerProcessName(): string {
  return `${hostname()}:${process.pid}`;
}

export interface RunningWorker {
  deps: WorkerDeps;
  workers: Worker[];
  metrics: WorkerMetrics;
  /** The worker's own /metrics URL, or null when WORKER_METRICS_PORT is 0. */
  metricsUrl: string | null;
  close(): Promise<void>;
}

export interface StartWorkerOptions {
  /** Tests turn the periodic scheduler watchdog off and call the reconciler directly. */
  schedulers?: boolean;
}

async function ensureSchedulers(deps: WorkerDeps): Promise<void> {
  await upsertJobScheduler(
    deps.queues,
    SCHEDULER_IDS.reconcileInbox,
    { every: deps.config.worker.reconcileEverySeconds * 1000 },
    MAINTENANCE_JOBS.reconcileInbox,
    {},
    { attempts: 1 },
  );
  await ensureDriftScheduler(deps);
  // Purging is not urgent; a few times a day keeps FusionPBX tidy without adding load.
  await upsertJobScheduler(deps.queues, SCHEDULER_IDS.purgeTerminated, { every: 6 * 3600 * 1000 }, MAINTENANCE_JOBS.purgeTerminated, {}, { attempts: 1 });
  const fanOut = { attempts: 1 };
  await upsertJobScheduler(deps.queues, BILLING_SCHEDULER_IDS.cdrSyncAll, { every: deps.config.cdr.syncEverySeconds * 1000 }, CDR_JOBS.syncAll, {}, fanOut);
  // CDR_RECONCILE_DAYS=0: no per-day count check. The queue's retries apply: a rerun collects only what is still missing.
  if (deps.config.cdr.reconcileDays > 0) {
    await upsertJobScheduler(deps.queues, BILLING_SCHEDULER_IDS.cdrReconcile, { every: deps.config.cdr.reconcileEverySeconds * 1000 }, CDR_JOBS.reconcile, {});
  } else {
    await deps.queues['cdr-sync'].removeJobScheduler(BILLING_SCHEDULER_IDS.cdrReconcile);
  }
  await upsertJobScheduler(deps.queues, BILLING_SCHEDULER_IDS.billingClosePeriods, { every: deps.config.billing.closeEverySeconds * 1000 }, BILLING_JOBS.closePeriods, {}, fanOut);
  // CREDIT_CHECK_EVERY_SECONDS=0: no timer (checks still follow every CDR sync of a credit-controlled tenant).
  if (deps.config.credit.checkEverySeconds > 0) {
    await upsertJobScheduler(deps.queues, CREDIT_SCHEDULER_IDS.creditCheckAll, { every: deps.config.credit.checkEverySeconds * 1000 }, CREDIT_JOBS.checkAll, {}, fanOut);
  }
  if (deps.config.credit.prepaidInvoiceEverySeconds > 0) {
    await upsertJobScheduler(
      deps.queues,
      CREDIT_SCHEDULER_IDS.prepaidInvoiceAll,
      { every: deps.config.credit.prepaidInvoiceEverySeconds * 1000 },
      CREDIT_JOBS.prepaidInvoiceAll,
      {},
      fanOut,
    );
  }
  await upsertJobScheduler(deps.queues, MONITORING_SCHEDULER_IDS.registrationsPollAll, { every: deps.config.monitoring.pollSeconds * 1000 }, MONITORING_JOBS.pollAll, {}, fanOut);
}

/** Billing needs the WHMCS API; without it batches are made but wait (logged) until it is configured. */
function whmcsClientFrom(config: BridgeConfig, logger: Logger): WhmcsApiClient | null {
  if (!config.whmcs.apiUrl || !config.whmcs.identifier || !config.whmcs.secret) return null;
  return new WhmcsApiClient({ url: config.whmcs.apiUrl, identifier: config.whmcs.identifier, secret: config.whmcs.secret, timeoutMs: config.whmcs.timeoutMs, logger });
}

/** Starts the provisioning and maintenance workers (the compiler has proved every job has one handler). */
export async function startWorker(config: BridgeConfig, logger: Logger, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const provisionerOptions = provisionerOptionsFrom(config);
  const metrics = createWorkerMetrics({ cdrBacklogEverySeconds: config.worker.cdrBacklogMetricSeconds });
  // Before any connection: a taken port stops the start-up with nothing left open.
  const metricsServer = config.worker.metricsPort > 0 ? await startMetricsServer(metrics, config.worker.metricsPort, config.http.host) : null;
  // Each in-flight job holds one client for its service lock (or FusionPBX transaction) and needs
  // another for its queries: a pool smaller than that starves itself once concurrency reaches it.
  const poolSize = { max: config.worker.concurrency * 2 + 4 };
  // A database or Redis that is down makes these fire on every attempt: one line per minute with the count.
  const repeatedWarn = rateLimitedWarn(logger);
  const pool = createPool(config.database.url, { ...poolSize, fallback_application_name: bridgeApplicationName('worker') }, (error) =>
    repeatedWarn({ err: error.message }, 'bridge database connection error', `bridge-db:${error.message}`),
  );
  const producer = createWorkerConnection(config.redis.url);
  const queues = createQueues({
    connection: producer,
    prefix: config.redis.queuePrefix,
    attempts: config.worker.jobAttempts,
    backoffMs: config.worker.jobBackoffMs,
    retention: config.redis.jobHistory,
  });
  const fusionServers = new FusionServersRepository(pool, config.sealing);
  // Every FusionPBX server gets its own pool of the same size and its own event socket, opened on first use.
  const targets = new FusionTargets({
    defaultServer: { databaseUrl: config.fusionpbx.databaseUrl, eslHost: config.esl.host, eslPort: config.esl.port, eslPassword: config.esl.password },
    loadServer: (name) => fusionServers.spec(name),
    listServers: () => fusionServers.list(),
    registry: fusionServers,
    openPool: (url, server) =>
      createPool(url, { ...poolSize, fallback_application_name: bridgeApplicationName('worker', server) }, (error) =>
        repeatedWarn({ err: error.message, server }, 'FusionPBX database connection error', `fusion-db:${server}:${error.message}`),
      ),
    openEsl: (connection, server) => instrumentEsl(new EslClient({ ...connection, commandTimeoutMs: config.esl.timeoutMs }), metrics, logger, server),
    provisionerOptions,
    cacheOptions: cacheOptionsFromConfig(config),
    wrapProvisioner: (provisioner, server) => instrumentProvisioner(provisioner, metrics, logger, server),
  });
  const deps: WorkerDeps = {
    config,
    logger,
    pool,
    queues,
    targets,
    fusionServers,
    inbox: new InboxRepository(pool),
    tenantWrites: new TenantWritesRepository(pool),
    services: new ServicesRepository(pool),
    audit: new AuditRepository(pool),
    whmcs: whmcsClientFrom(config, logger),
    metrics,
  };
  if (deps.whmcs) instrumentWhmcs(deps.whmcs, metrics, logger);
  metrics.watchCdrBacklog(() => cdrBacklogByTenant(deps));
  metrics.watchBilling(async () => ({
    periodsMode: await billingPeriodsMode(pool, config.billing.periods),
    credit: await creditStatesOfLiveServices(pool),
    services: await billingServiceCounts(pool),
  }));
  const handlers = jobHandlers(PROVISIONING_DEFINITIONS, metrics);
  await migrateBridgeDatabase(pool);
  // A registered server following FUSIONPBX_CACHE_METHOD=file never has its cache cleared: said at every start until it has its own method.
  await targets.warnAboutLocalFileCaches(logger);
  await restoreDriftMetrics(deps, metrics);

  const processor = (job: Job) => timeJob(metrics, job, () => runJob(deps, handlers, job));
  const workerConnection = createWorkerConnection(config.redis.url);
  // A killed worker's jobs are taken over once their lock expires; checking as often as the lock lasts keeps that bounded.
  // The name (host:pid) is stored on each job it takes (BullMQ's processedBy): which process holds a job in flight.
  const common = {
    name: workerProcessName(),
    connection: workerConnection,
    prefix: config.redis.queuePrefix,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.lockDurationMs,
    // Every job is idempotent (replayed jobs converge to the same rows): a job whose worker was killed
    // twice is taken over again, not failed with "stalled more than allowable limit" (BullMQ's default 1).
    maxStalledCount: 5,
    settings: { backoffStrategy: cappedBackoff(config.worker.jobBackoffMs, config.worker.freeswitchRetryMaxMs) },
  };
  const workers = [
    new Worker(QUEUE_NAMES.provisioning, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.maintenance, processor, { ...common, concurrency: 1 }),
    new Worker(QUEUE_NAMES.cdrSync, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.billing, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.tenantWrites, processor, { ...common, concurrency: config.worker.concurrency }),
    new Worker(QUEUE_NAMES.monitoring, processor, { ...common, concurrency: config.worker.concurrency }),
  ];
  for (const worker of workers) {
    worker.on('error', (error) => repeatedWarn({ err: error.message, queue: worker.name }, 'worker error', `worker:${worker.name}:${error.message}`));
    // Keyed by job name and error: an outage fails many jobs (one backlog per service) the same way.
    worker.on('failed', (job, error) =>
      repeatedWarn({ jobId: job?.id, job: job?.name, attempts: job?.attemptsMade, err: error.message }, 'job failed', `job-failed:${job?.name}:${error.message}`),
    );
  }

  let watchdog: NodeJS.Timeout | undefined;
  if (options.schedulers !== false) {
    await ensureSchedulers(deps);
    // A FLUSHALL also removes job schedulers; re-upserting is idempotent and brings them back.
    watchdog = setInterval(
      () => void ensureSchedulers(deps).catch((error: Error) => logger.warn({ err: error.message }, 'scheduler upsert failed')),
      config.worker.reconcileEverySeconds * 1000,
    );
    watchdog.unref();
  }
  logger.info({ jobs: Object.keys(handlers), concurrency: config.worker.concurrency, metricsUrl: metricsServer?.url ?? null }, 'worker started');

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(watchdog);
    repeatedWarn.flush();
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

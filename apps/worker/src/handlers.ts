import { UnrecoverableError, type Job } from 'bullmq';
import {
  BILLING_JOBS,
  CDR_JOBS,
  CREDIT_JOBS,
  FREESWITCH_JOBS,
  isJobName,
  JobPayloadError,
  MAINTENANCE_JOBS,
  MONITORING_JOBS,
  PROVISIONING_JOBS,
  TENANT_WRITE_JOBS,
  validateJobPayload,
  type JobHandlers,
  type ProvisioningJobName,
  type TypedJob,
} from '@ictvoip/queue';
import type { WorkerDeps } from './deps';
import { HandlerRegistryError, PermanentJobError } from './errors';
import { processProvisioningJob } from './event-processor';
import { handleBillingClose } from './jobs/billing/close-periods';
import { handleBillingPushOrFinalBill } from './jobs/billing/final-bill';
import { handleBillingRerate } from './jobs/billing/rerate-period';
import { handleCdrBackfill } from './jobs/cdr/backfill';
import { handleCdrSyncAll } from './jobs/cdr/sync-all';
import { handleCdrSyncTenant } from './jobs/cdr/sync-tenant';
import { handleCreditCheck, handleCreditCheckAll, handlePrepaidInvoice, handlePrepaidInvoiceAll } from './jobs/credit';
import { applyFreeswitchJob } from './jobs/freeswitch/freeswitch-apply';
import { applyFreeswitchBacklogJob } from './jobs/freeswitch/freeswitch-backlog';
import { runDriftJob } from './jobs/maintenance/drift-job';
import { purgeTerminatedTenants } from './jobs/maintenance/purge-terminated';
import { reconcileInbox } from './jobs/maintenance/reconcile-inbox';
import { handleRegistrationAlert } from './jobs/monitoring/registration-alert';
import { handleRegistrationPoll, handleRegistrationPollAll } from './jobs/monitoring/registrations-poll';
import { extensionWriteJob } from './jobs/tenant-writes/extension-write';
import { destinationWriteJob } from './jobs/tenant-writes/destination-write';
import { gatewayWriteJob } from './jobs/tenant-writes/gateway-write';
import type { WorkerMetrics } from './metrics';
import type { ProvisioningJobDefinition } from './tenant-action';

/**
 * Exactly one handler per job of the catalogue (@ictvoip/queue JOBS): the map is typed by JobName,
 * so a job without a handler, a handler for no job, or a handler taking another job's payload does
 * not compile. Provisioning jobs share one handler that runs the event's definition (by action).
 */
export function jobHandlers(definitions: ReadonlyMap<string, ProvisioningJobDefinition>, metrics?: WorkerMetrics): JobHandlers<WorkerDeps> {
  const provisioning = (deps: WorkerDeps, job: TypedJob<ProvisioningJobName>) => processProvisioningJob(deps, job, definitions);
  return {
    [PROVISIONING_JOBS.create]: provisioning,
    [PROVISIONING_JOBS.suspend]: provisioning,
    [PROVISIONING_JOBS.unsuspend]: provisioning,
    [PROVISIONING_JOBS.terminate]: provisioning,
    [PROVISIONING_JOBS.change_package]: provisioning,
    [PROVISIONING_JOBS.change_password]: provisioning,
    [PROVISIONING_JOBS.test_connection]: provisioning,
    [PROVISIONING_JOBS.reconcile]: provisioning,
    [FREESWITCH_JOBS.apply]: applyFreeswitchJob,
    [FREESWITCH_JOBS.backlog]: applyFreeswitchBacklogJob,
    [TENANT_WRITE_JOBS.extension]: extensionWriteJob,
    [TENANT_WRITE_JOBS.gateway]: gatewayWriteJob,
    [TENANT_WRITE_JOBS.destination]: destinationWriteJob,
    [MAINTENANCE_JOBS.reconcileInbox]: (deps, job) => reconcileInbox(deps, job),
    [MAINTENANCE_JOBS.driftReport]: (deps, job) => runDriftJob(deps, job, metrics),
    [MAINTENANCE_JOBS.purgeTerminated]: (deps) => purgeTerminatedTenants(deps),
    [CDR_JOBS.syncAll]: handleCdrSyncAll,
    [CDR_JOBS.syncTenant]: handleCdrSyncTenant,
    [CDR_JOBS.backfill]: handleCdrBackfill,
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
 * The provisioning definitions are data (tests pass their own): checked at start-up so an action
 * without its definition, or with two, stops the worker before it takes any job.
 */
export function assertProvisioningDefinitions(definitions: readonly ProvisioningJobDefinition[]): void {
  const expected: readonly string[] = Object.values(PROVISIONING_JOBS);
  const names: string[] = definitions.map((definition) => definition.jobName);
  const problems = [
    ...expected.filter((name) => !names.includes(name)).map((name) => `no handler for job "${name}"`),
    ...[...new Set(names.filter((name, i) => names.indexOf(name) !== i))].map((name) => `two handlers for job "${name}"`),
    ...names.filter((name) => !expected.includes(name)).map((name) => `handler for unknown job "${name}"`),
  ];
  if (problems.length > 0) throw new HandlerRegistryError(problems.join('; '));
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

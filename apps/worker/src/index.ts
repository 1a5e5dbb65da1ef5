export { startWorker, type RunningWorker, type StartWorkerOptions } from './worker';
export { reconcileInbox } from './jobs/maintenance/reconcile-inbox';
export { PROVISIONING_JOB_DEFINITIONS } from './jobs/provisioning';
export { HandlerRegistry } from './registry';
export type { WorkerDeps } from './deps';
export { CDR_JOB_HANDLERS, syncTenantCdrs, fanOutCdrSync, cdrBacklog, cdrBacklogByTenant, type TenantCdrBacklog } from './jobs/cdr';
export { BILLING_JOB_HANDLERS, closeBillingPeriods, pushBillingBatch } from './jobs/billing';
export { DRIFT_JOB_NAME, DRIFT_SCHEDULER_ID, type DriftJobResult } from './jobs/maintenance/drift-job';

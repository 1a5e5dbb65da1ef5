export { startWorker, workerProcessName, type RunningWorker, type StartWorkerOptions } from './worker';
export { reconcileInbox } from './jobs/maintenance/reconcile-inbox';
export { PROVISIONING_DEFINITIONS } from './jobs/provisioning';
export type { WorkerDeps } from './deps';
export { syncTenantCdrs, fanOutCdrSync, cdrBacklog, cdrBacklogByTenant, reconcileCdrs, type TenantCdrBacklog, type CdrReconcileOutcome } from './jobs/cdr';
export { closeBillingPeriods, pushBillingBatch } from './jobs/billing';
export { DRIFT_JOB_NAME, DRIFT_SCHEDULER_ID, type DriftJobResult } from './jobs/maintenance/drift-job';
export { fanOutCreditChecks, fanOutPrepaidInvoices, invoicePrepaidUsage, runCreditCheck } from './jobs/credit';
export { pollServerRegistrations, type RegistrationPollResult } from './jobs/monitoring/registrations-poll';

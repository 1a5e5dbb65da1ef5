import type { Job } from 'bullmq';
import { CDR_JOBS, type CdrJobName } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { handleCdrBackfill } from './backfill';
import { handleCdrSyncAll } from './sync-all';
import { handleCdrSyncTenant } from './sync-tenant';

/** Exactly one handler per CDR job name (checked by the worker's registry at start-up). */
export const CDR_JOB_HANDLERS: Record<CdrJobName, (deps: WorkerDeps, job: Job) => Promise<unknown>> = {
  [CDR_JOBS.syncAll]: handleCdrSyncAll,
  [CDR_JOBS.syncTenant]: handleCdrSyncTenant,
  [CDR_JOBS.backfill]: handleCdrBackfill,
};

export { syncTenantCdrs, type CdrSyncHooks, type CdrSyncOptions, type CdrSyncOutcome } from './sync-tenant';
export { fanOutCdrSync } from './sync-all';
export { cdrBacklog, cdrBacklogByTenant, type TenantCdrBacklog } from './backlog';

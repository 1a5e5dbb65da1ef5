import type { CDR_JOBS, TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { syncTenantCdrs, type CdrSyncOutcome } from './sync-tenant';

/**
 * Re-reads a tenant's CDRs from a date (e.g. calls before the bridge adopted the domain, or
 * after a long outage beyond the look-back window). Already charged CDRs are skipped by their
 * uuid; the cursor only moves forward. Not a sync run: the sync's run time stays (see ChargePage.collection).
 */
export async function handleCdrBackfill(deps: WorkerDeps, job: TypedJob<typeof CDR_JOBS.backfill>): Promise<CdrSyncOutcome> {
  const data = job.data;
  return syncTenantCdrs(deps, data.serviceId, { from: new Date(data.from as string) });
}

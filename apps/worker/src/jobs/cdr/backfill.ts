import type { CDR_JOBS, TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { collectCdrs, type CdrSyncOutcome } from './sync-tenant';

/**
 * Re-reads a tenant's CDRs from a date (e.g. calls before the bridge adopted the domain, or
 * after a long outage beyond the look-back window), to the newest, run after run of
 * CDR_SYNC_MAX_PAGES pages (collectCdrs). Already charged CDRs are skipped by their uuid; the cursor
 * only moves forward. Not a sync run: the sync's run time stays (see ChargePage.collection).
 */
export async function handleCdrBackfill(deps: WorkerDeps, job: TypedJob<typeof CDR_JOBS.backfill>): Promise<CdrSyncOutcome> {
  const data = job.data;
  const outcome = await collectCdrs(deps, data.serviceId, { from: new Date(data.from as string) });
  // A backfill enqueued without --wait is seen in the log only: its partial counts are said to be partial there too.
  if (outcome.stoppedEarly)
    deps.logger.warn(
      { serviceId: data.serviceId, from: data.from, status: outcome.stoppedEarly.status, runs: outcome.stoppedEarly.runs, inserted: outcome.inserted },
      `cdr backfill ${outcome.stoppedEarly.message}`,
    );
  return outcome;
}

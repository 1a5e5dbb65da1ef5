import { addJobs, CDR_JOBS, cdrSyncJobId, type TypedJob } from '@ictvoip/queue';
import { servicesToSyncCdrs } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';

const PAGE = 500;
const HOUR_MS = 3600_000;

/**
 * Scheduled fan-out: one `cdr.sync-tenant` job per service with a tenant domain (terminated ones
 * too: their unbilled CDRs are still billed). The job id carries the time slot, so several
 * schedulers or a replay in the same slot add each tenant once; tenants sync in parallel across
 * workers, each under its own lock.
 *
 * Purged tenants are left out. A settled terminated one (past BILLING_CLOSE_DELAY_SECONDS, which is
 * at least the look-back: its final bill has read every late CDR) syncs about once an hour, each in
 * its own slot of the hour so years of churn do not all land in one fan-out. Not never: a CDR
 * imported later still gets billed, and purge waits for a sync after the termination
 * (`cdr_sync_cursors.last_run_at > services.updated_at`), which the hourly one keeps true; a tenant
 * with no cursor was never synced (every run records itself, even one that read nothing), so it is
 * in every fan-out until one ran: its calls may still wait in FusionPBX. A
 * fan-out that misses its slot (late scheduler) skips that hour's share; the next hour catches up.
 */
export async function fanOutCdrSync(deps: WorkerDeps, now = new Date()): Promise<{ enqueued: number }> {
  const everyMs = deps.config.cdr.syncEverySeconds * 1000;
  const slotIndex = Math.floor(now.getTime() / everyMs);
  const slot = `t${slotIndex}`;
  const slots = Math.max(1, Math.floor(HOUR_MS / everyMs));
  const settledBefore = new Date(now.getTime() - deps.config.billing.closeDelaySeconds * 1000);
  let enqueued = 0;
  for (let after = 0; ;) {
    const serviceIds = await servicesToSyncCdrs(deps.pool, { afterServiceId: after, limit: PAGE, settledBefore, settledSlot: { slots, slot: slotIndex % slots } });
    if (serviceIds.length === 0) break;
    after = serviceIds[serviceIds.length - 1]!;
    const jobs = serviceIds.map((serviceId) => ({ data: { serviceId }, opts: { jobId: cdrSyncJobId(serviceId, slot) } }));
    await addJobs(deps.queues, CDR_JOBS.syncTenant, jobs);
    enqueued += jobs.length;
    if (serviceIds.length < PAGE) break;
  }
  return { enqueued };
}

export async function handleCdrSyncAll(deps: WorkerDeps, job: TypedJob<typeof CDR_JOBS.syncAll>): Promise<{ enqueued: number }> {
  const data = job.data;
  return fanOutCdrSync(deps, data.now ? new Date(data.now) : new Date());
}

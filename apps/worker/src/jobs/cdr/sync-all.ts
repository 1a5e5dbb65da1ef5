import { addJobs, assertValidJobId, CDR_JOBS, cdrSyncJobId, type TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';

/**
 * Scheduled fan-out: one `cdr.sync-tenant` job per service with a tenant domain (terminated ones
 * too: their unbilled CDRs are still billed). The job id carries the time slot, so several
 * schedulers or a replay in the same slot add each tenant once; tenants sync in parallel across
 * workers, each under its own lock.
 */
export async function fanOutCdrSync(deps: WorkerDeps, now = new Date()): Promise<{ enqueued: number }> {
  const slot = `t${Math.floor(now.getTime() / (deps.config.cdr.syncEverySeconds * 1000))}`;
  let enqueued = 0;
  let after = 0;
  for (;;) {
    const services = await deps.services.list(500, after);
    if (services.length === 0) break;
    after = services[services.length - 1]!.serviceId;
    const jobs = services
      .filter((service) => service.tenantDomain)
      .map((service) => ({
        data: { serviceId: service.serviceId },
        opts: { jobId: assertValidJobId(cdrSyncJobId(service.serviceId, slot)) },
      }));
    if (jobs.length > 0) await addJobs(deps.queues, CDR_JOBS.syncTenant, jobs);
    enqueued += jobs.length;
  }
  return { enqueued };
}

export async function handleCdrSyncAll(deps: WorkerDeps, job: TypedJob<typeof CDR_JOBS.syncAll>): Promise<{ enqueued: number }> {
  const data = job.data;
  return fanOutCdrSync(deps, data.now ? new Date(data.now) : new Date());
}

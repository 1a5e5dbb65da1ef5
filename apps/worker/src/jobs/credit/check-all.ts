import { addJobs, CREDIT_JOBS, creditCheckJobId, type TypedJob } from '@ictvoip/queue';
import { clientsUnderCreditControl } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';

/**
 * The timer (CREDIT_CHECK_EVERY_SECONDS): one `credit.check-client` job per client with a service
 * under credit control. The job id carries the time slot: several schedulers or a replay in the
 * same slot add each client once.
 */
export async function fanOutCreditChecks(deps: WorkerDeps, now = new Date()): Promise<{ enqueued: number }> {
  const every = Math.max(1, deps.config.credit.checkEverySeconds);
  const slot = `t${Math.floor(now.getTime() / (every * 1000))}`;
  const clients = await clientsUnderCreditControl(deps.pool);
  const jobs = clients.map((clientId) => ({
    data: { clientId },
    opts: { jobId: creditCheckJobId(clientId, slot) },
  }));
  if (jobs.length > 0) await addJobs(deps.queues, CREDIT_JOBS.checkClient, jobs);
  return { enqueued: jobs.length };
}

export function handleCreditCheckAll(deps: WorkerDeps, job: TypedJob<typeof CREDIT_JOBS.checkAll>): Promise<{ enqueued: number }> {
  return fanOutCreditChecks(deps, job.data.now ? new Date(job.data.now) : new Date());
}

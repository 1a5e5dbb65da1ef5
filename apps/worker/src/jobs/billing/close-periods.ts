import { addJobs, assertValidJobId, BILLING_JOBS, billingPushJobId, type TypedJob } from '@ictvoip/queue';
import { latestClosedPeriod, servicesToBill } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';

export interface CloseOutcome {
  period: string;
  enqueued: number;
  /** The `billing.push-batch` job ids (deterministic; a repeat in the same slot names the same jobs). */
  jobIds: string[];
}

/**
 * Scheduled at period close: the latest closed period in BILLING_TIMEZONE (ended at least
 * BILLING_CLOSE_DELAY_SECONDS ago, so late CDRs inside the look-back window are in), then one
 * `billing.push-batch` job per service with something to bill, plus one per batch still to push,
 * reconcile or verify. Job ids carry the time slot: a repeat in the same slot adds nothing.
 */
export async function closeBillingPeriods(deps: WorkerDeps, now = new Date()): Promise<CloseOutcome> {
  const { timeZone, closeDelaySeconds, closeEverySeconds } = deps.config.billing;
  const period = latestClosedPeriod(now, timeZone, closeDelaySeconds);
  const slot = `t${Math.floor(now.getTime() / (closeEverySeconds * 1000))}`;
  // Pushed batches are also looked for on WHMCS invoices (-> verified), unless WHMCS never invoices them.
  const verify = deps.whmcs !== null && deps.config.billing.invoiceAction !== 'noinvoice';
  const work = await servicesToBill(deps.pool, period, { verify });
  const jobs = work.map((item) => ({
    data: { serviceId: item.serviceId, period: item.period },
    opts: { jobId: assertValidJobId(billingPushJobId(item.serviceId, item.period, slot)), removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } },
  }));
  if (jobs.length > 0) await addJobs(deps.queues, BILLING_JOBS.pushBatch, jobs);
  deps.logger.info({ period, enqueued: jobs.length }, 'billing close: pushes enqueued');
  return { period, enqueued: jobs.length, jobIds: jobs.map((job) => job.opts.jobId) };
}

export async function handleBillingClose(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.closePeriods>): Promise<CloseOutcome> {
  const data = job.data;
  return closeBillingPeriods(deps, data.now ? new Date(data.now) : new Date());
}

import { addJobs, BILLING_JOBS, billingPushJobId, type TypedJob } from '@ictvoip/queue';
import {
  billingPeriodsMode,
  closingServicePeriods,
  finalBillDueBefore,
  latestClosedPeriod,
  servicesToBill,
  servicesToBillPerService,
  servicesWithBelowCentLeft,
  servicesWithUnbilledWork,
  withBillingLock,
  type BillingPeriodsMode,
} from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { billsOnPrepaidInvoices } from '../credit/prepaid-invoice';
import { reportBelowCentSettled, reportCreditsLeft } from './push-batch';

export interface CloseOutcome {
  mode: BillingPeriodsMode;
  /** the closing period (calendar mode); `service` when each service closes its own cycle period */
  period: string;
  enqueued: number;
  /** The `billing.push-batch` job ids (deterministic; a repeat in the same slot names the same jobs). */
  jobIds: string[];
}

/** Per service with something unbilled: the label of its latest closed cycle period. */
async function closingPerService(deps: WorkerDeps, now: Date): Promise<Map<number, string>> {
  return closingServicePeriods(deps.pool, await servicesWithUnbilledWork(deps.pool), now, deps.config.billing);
}

/**
 * Scheduled at period close: the latest closed period (ended at least BILLING_CLOSE_DELAY_SECONDS
 * ago, so late CDRs inside the look-back window are in): one calendar month in BILLING_TIMEZONE for
 * every service, or with service billing periods each service's own cycle period. Then one
 * `billing.push-batch` job per service with something that period's bill can take (once it is made,
 * a late call waits for the next period's bill, a prepaid service's, once its period's closing invoice
 * is made, for its next daily prepaid invoice: no job, hour after hour, that bills nothing), plus one
 * per batch still to push, reconcile or verify. Job ids carry the time slot: a repeat in the same slot adds nothing.
 */
export async function closeBillingPeriods(deps: WorkerDeps, now = new Date()): Promise<CloseOutcome> {
  const { timeZone, closeDelaySeconds, closeEverySeconds } = deps.config.billing;
  const mode = await billingPeriodsMode(deps.pool, deps.config.billing.periods);
  const slot = `t${Math.floor(now.getTime() / (closeEverySeconds * 1000))}`;
  // Pushed batches are also looked for on WHMCS invoices (-> verified), unless WHMCS never invoices them.
  const verify = deps.whmcs !== null && deps.config.billing.invoiceAction !== 'noinvoice';
  const period = mode === 'calendar' ? latestClosedPeriod(now, timeZone, closeDelaySeconds) : 'service';
  // Read on the clock pushBillingBatch's final-bill test reads (not `now`, a close may be run for another time).
  // A prepaid plan's calls are listed as pushBillingBatch bills them (billsOnPrepaidInvoices): on the period's closing invoice, once.
  const options = { verify, finalBillDueBefore: finalBillDueBefore(closeDelaySeconds), prepaidInvoices: billsOnPrepaidInvoices(deps, { billingMode: 'prepaid' }) };
  const work = mode === 'calendar' ? await servicesToBill(deps.pool, period, options) : await servicesToBillPerService(deps.pool, await closingPerService(deps, now), options);
  const jobs = work.map((item) => ({
    data: { serviceId: item.serviceId, period: item.period },
    opts: { jobId: billingPushJobId(item.serviceId, item.period, slot) },
  }));
  if (jobs.length > 0) await addJobs(deps.queues, BILLING_JOBS.pushBatch, jobs);
  // A credit recorded after a terminated service's final bill (a re-rating, a manual credit) makes no bill: reported here.
  await reportCreditsLeft(deps, deps.pool, { changedBefore: new Date(now.getTime() - closeDelaySeconds * 1000) });
  // Likewise an amount under a cent left once a terminated service's calls are all read (the final bill settles it when they are).
  for (const serviceId of await servicesWithBelowCentLeft(deps.pool, new Date(now.getTime() - closeDelaySeconds * 1000)))
    await withBillingLock(deps.pool, serviceId, (client) => reportBelowCentSettled(deps, client, serviceId));
  deps.logger.info({ mode, period, enqueued: jobs.length }, 'billing close: pushes enqueued');
  return { mode, period, enqueued: jobs.length, jobIds: jobs.map((job) => job.opts.jobId) };
}

export async function handleBillingClose(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.closePeriods>): Promise<CloseOutcome> {
  const data = job.data;
  return closeBillingPeriods(deps, data.now ? new Date(data.now) : new Date());
}

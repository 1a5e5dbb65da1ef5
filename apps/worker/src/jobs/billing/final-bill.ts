import { addJob, BILLING_JOBS, requeueJobUnlessLive, type TypedJob } from '@ictvoip/queue';
import { servicePeriods } from '@ictvoip/operations';
import { batchIdFor, billingPeriodsMode, getBatch, hasUnbilledRatedCharges, listPrepaidInvoices, prepaidCloseKey, terminatedAtSql, unbilledRatedChargeSql } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { billsOnPrepaidInvoices } from '../credit/prepaid-invoice';
import { syncTenantCdrs, type CdrSyncOutcome } from '../cdr/sync-tenant';
import { handleBillingPush, pushBillingBatch, type PushHooks, type PushResult } from './push-batch';

/**
 * Termination's final bill. After a terminate event succeeds, one delayed `billing.push-batch`
 * job (id `billing-final-<service>-<event>`, so a replayed event adds nothing) waits
 * BILLING_CLOSE_DELAY_SECONDS (at least the CDR look-back window: CDRs imported late have arrived),
 * then syncs the tenant's CDRs to the end and closes + pushes the batch of the termination's
 * period, which takes every unbilled rated charge of that and earlier periods.
 *
 * Exactly once by construction: a charge joins at most one batch (cdr_charges.batch_id), a batch
 * exists once per service and period, and the regular period close finds nothing left of those
 * charges (or the same batch, already pushed).
 */
const FINAL_JOB_PREFIX = 'billing-final-';

export function finalBillJobId(serviceId: number, eventId: string): string {
  return `${FINAL_JOB_PREFIX}${serviceId}-${eventId}`;
}

export function isFinalBillJobId(jobId: string | undefined): boolean {
  return jobId?.startsWith(FINAL_JOB_PREFIX) === true;
}

export interface FinalBillEnqueued {
  jobId: string;
  period: string;
  delayMs: number;
}

/** Enqueues the final bill of a service terminated by `eventId` (idempotent per event). */
export async function enqueueFinalBill(
  deps: Pick<WorkerDeps, 'config' | 'queues' | 'logger' | 'pool'>,
  serviceId: number,
  eventId: string,
  now = new Date(),
): Promise<FinalBillEnqueued> {
  const period = (await servicePeriods(deps.pool, serviceId, deps.config))(now);
  const jobId = finalBillJobId(serviceId, eventId);
  const delayMs = deps.config.billing.closeDelaySeconds * 1000;
  await addJob(deps.queues, BILLING_JOBS.pushBatch, { serviceId, period }, { jobId, delay: delayMs });
  deps.logger.info({ serviceId, period, jobId, delayMs }, 'final bill scheduled after termination');
  return { jobId, period, delayMs };
}

export interface FinalBillResult {
  serviceId: number;
  period: string;
  /** `not-terminated`: the service was created again in between; its charges wait for the regular close */
  status: 'billed' | 'not-terminated' | 'unknown-service';
  syncs: CdrSyncOutcome[];
  push: PushResult | null;
}

export interface FinalBillOptions {
  hooks?: PushHooks;
  /**
   * When the termination was scheduled (the job's timestamp, the same on every replay). With service
   * billing periods the final batch is the period containing it, computed after the final sync has
   * recorded the service's cycle (the period named at enqueue may predate that).
   */
  terminatedAt?: Date;
}

/** The final CDR sync (every page, not just one run's worth) followed by the close and push of `period`. */
export async function runFinalBill(deps: WorkerDeps, serviceId: number, period: string, options: FinalBillOptions = {}): Promise<FinalBillResult> {
  const result: FinalBillResult = { serviceId, period, status: 'billed', syncs: [], push: null };
  const service = await deps.services.get(serviceId);
  if (!service) return { ...result, status: 'unknown-service' };
  if (service.desiredState !== 'terminated') return { ...result, status: 'not-terminated' };
  for (;;) {
    const sync = await syncTenantCdrs(deps, serviceId);
    // Its server disabled: the calls since the last sync are not read yet. The bill waits (retried) rather than go out without them.
    if (sync.status === 'server-unavailable')
      throw new Error(`final bill of service ${serviceId} waits: FusionPBX server ${service.fusionpbxServer ?? 'default'} is unavailable, so its last calls cannot be read`);
    // Its domain missing from its server's database (a wrong database URL, a domain deleted by hand): its calls are as unread,
    // and a bill now would leave them for a bill after the final one.
    if (sync.status === 'domain-missing')
      throw new Error(
        `final bill of service ${serviceId} waits: its domain ${service.tenantDomain ?? ''} is missing from FusionPBX server ${service.fusionpbxServer ?? 'default'}'s database, so its last calls cannot be read`,
      );
    result.syncs.push(sync);
    if (!sync.more) break;
  }
  if (options.terminatedAt && (await billingPeriodsMode(deps.pool, deps.config.billing.periods)) === 'service')
    result.period = (await servicePeriods(deps.pool, serviceId, deps.config))(options.terminatedAt);
  result.push = await pushBillingBatch(deps, serviceId, result.period, options.hooks);
  deps.logger.info({ serviceId, period: result.period, outcome: result.push.outcome, batchId: result.push.batchId }, 'final bill after termination');
  return result;
}

/**
 * Final bills Redis lost (a flush, a failover without persistence) or whose job used up its attempts
 * (its server disabled or its database down for longer than the retries): a terminated service
 * terminated more than BILLING_CLOSE_DELAY_SECONDS (+ `graceSeconds`) ago (terminatedAtSql, as the
 * close, the purge and the CDR sync read it: not when its terminate event finished, which a replayed
 * or late-applied event moves), whose final
 * bill job is gone or failed, that has no batch of its termination period yet (a prepaid one: no closing
 * invoice of it) and still has unbilled rated charges up to it, gets its final bill again (same job id;
 * due at once, stamped with the termination time). A bill that ran leaves its batch (or closing invoice),
 * so it is never re-added (the batch's own retries are the regular close's); calls rated after it go on
 * the next period's bill at the next close (push-batch's `later`), a prepaid service's on its next daily
 * prepaid invoice. Returns how many were added.
 */
export async function requeueLostFinalBills(deps: WorkerDeps, graceSeconds: number): Promise<number> {
  const { rows } = await deps.pool.query<{ service_id: string; event_id: string; terminated_at: Date }>(
    `SELECT DISTINCT ON (i.service_id) i.service_id::text, i.event_id::text, ${terminatedAtSql('s')} AS terminated_at
     FROM webhook_inbox i JOIN services s ON s.service_id = i.service_id
     WHERE i.action = 'terminate' AND i.status IN ('succeeded', 'pending_apply') AND s.desired_state = 'terminated'
       AND ${terminatedAtSql('s')} < now() - make_interval(secs => $1)
       AND EXISTS (SELECT 1 FROM cdr_charges c WHERE c.service_id = i.service_id AND ${unbilledRatedChargeSql('c')})
     ORDER BY i.service_id, i.seq DESC`,
    [deps.config.billing.closeDelaySeconds + graceSeconds],
  );
  let added = 0;
  for (const found of rows) {
    // bigint comes back as text: the job's data must carry the number, as enqueueFinalBill's does.
    const row = { ...found, service_id: Number(found.service_id) };
    const jobId = finalBillJobId(row.service_id, row.event_id);
    const previousState = (await (await deps.queues.billing.getJob(jobId))?.getState()) ?? 'missing';
    // Waiting, running, or finished without a batch (nothing to bill then): left alone. Failed for good: due again.
    if (previousState !== 'missing' && previousState !== 'failed') continue;
    const period = (await servicePeriods(deps.pool, row.service_id, deps.config))(row.terminated_at);
    if (await getBatch(deps.pool, batchIdFor(row.service_id, period))) continue;
    if (await prepaidFinalBillMade(deps, row.service_id, period)) continue;
    // The selection asked for an unbilled call of any period; the bill needs one of its period or earlier.
    if (!(await hasUnbilledRatedCharges(deps.pool, row.service_id, period))) continue;
    const requeued = await requeueJobUnlessLive(deps.queues, BILLING_JOBS.pushBatch, { serviceId: row.service_id, period }, jobId, { timestamp: row.terminated_at.getTime() });
    if (!requeued.added) continue;
    deps.logger.warn(
      { serviceId: row.service_id, period, jobId, previousState },
      `final bill after termination added again (its job was ${previousState === 'failed' ? 'out of attempts' : 'lost'})`,
    );
    added += 1;
  }
  return added;
}

/**
 * A prepaid service's final bill (billsOnPrepaidInvoices) makes no batch: its calls go on the period's
 * closing invoice. Once that is made, the bill ran; a call rated after it waits for the next daily
 * prepaid invoice, and a final bill added again would bill nothing (invoicePrepaidClose makes one
 * closing invoice per period).
 */
async function prepaidFinalBillMade(deps: WorkerDeps, serviceId: number, period: string): Promise<boolean> {
  const service = await deps.services.get(serviceId);
  if (!service || !billsOnPrepaidInvoices(deps, service.plan)) return false;
  return (await listPrepaidInvoices(deps.pool, { serviceId })).some((invoice) => invoice.invoiceKey === prepaidCloseKey(serviceId, period));
}

/** `billing.push-batch` jobs: a final bill when the job id says so, else a regular push. */
export async function handleBillingPushOrFinalBill(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.pushBatch>): Promise<PushResult | FinalBillResult> {
  if (!isFinalBillJobId(job.id)) return handleBillingPush(deps, job);
  const data = job.data;
  return runFinalBill(deps, data.serviceId, data.period, { terminatedAt: new Date(job.timestamp) });
}

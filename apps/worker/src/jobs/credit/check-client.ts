import { addJob, CREDIT_JOBS, creditAlertJobId, creditCheckJobId, MONITORING_JOBS, requeueJobUnlessLive, type TypedJob } from '@ictvoip/queue';
import { checkClientCredit, type CreditCheckOutcome, type CreditHooks } from '@ictvoip/operations';
import { unsentCreditAlerts } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { describeError } from '../../errors';
import { deliverRegistrationAlert } from '../monitoring/registration-alert';
import type { WorkerMetrics } from '../../metrics';

/** What was done (not only decided), as counted in ictvoip_credit_actions_total. */
const DONE_ACTIONS: ReadonlySet<string> = new Set(['suspended', 'unsuspended', 'outbound-restricted', 'outbound-lifted']);

/** One client's credit check (see checkClientCredit); counted in the ictvoip_credit_* metrics. */
export async function runCreditCheck(deps: WorkerDeps, clientId: number, metrics?: WorkerMetrics, hooks?: CreditHooks): Promise<CreditCheckOutcome> {
  const outcome = await checkClientCredit(deps, clientId, { hooks });
  await deliverCreditAlerts(deps, clientId, metrics);
  for (const service of outcome.services) {
    metrics?.creditChecks.inc({ outcome: service.unreadable ? 'unreadable' : 'read' });
    if (service.before !== service.after) metrics?.creditTransitions.inc({ from: service.before, to: service.after });
    for (const action of service.actions.filter((done) => DONE_ACTIONS.has(done) || done.startsWith('mailed:'))) {
      metrics?.creditActions.inc({ action });
    }
  }
  return outcome;
}

/**
 * The client's credit alerts not yet delivered (a new one, or one an earlier check could not send):
 * to ALERT_WEBHOOK_URL, signed, once per alert (the delivery outbox). A failed send never fails the
 * check: the alert goes to the monitoring queue's delivery job (exponential backoff, as registration
 * alerts), so it is retried even when no check of the client comes; a check that comes first sends
 * it too, and the delivery rows keep it from being sent twice.
 */
async function deliverCreditAlerts(deps: WorkerDeps, clientId: number, metrics?: WorkerMetrics): Promise<void> {
  for (const alert of await unsentCreditAlerts(deps.pool, { clientId })) {
    try {
      await deliverRegistrationAlert(deps, alert.id, metrics, 'credit');
    } catch (error) {
      deps.logger.warn({ alertId: alert.id, clientId, err: describeError(error) }, 'credit alert not delivered yet: retried with backoff');
      await retryCreditAlert(deps, alert.id).catch((queueError: unknown) =>
        deps.logger.warn({ alertId: alert.id, err: describeError(queueError) }, 'credit alert retry not queued: sent again at the next check'),
      );
    }
  }
}

/** The delivery job of one credit alert, after a first backoff step (unless one is already waiting or running). */
async function retryCreditAlert(deps: WorkerDeps, alertId: number): Promise<void> {
  await requeueJobUnlessLive(deps.queues, MONITORING_JOBS.alert, { historyId: alertId, kind: 'credit' }, creditAlertJobId(alertId), {
    delay: deps.config.worker.jobBackoffMs,
  });
}

export function handleCreditCheck(deps: WorkerDeps, job: TypedJob<typeof CREDIT_JOBS.checkClient>, metrics?: WorkerMetrics): Promise<CreditCheckOutcome> {
  return runCreditCheck(deps, job.data.clientId, metrics);
}

/**
 * After a CDR sync that stored new charges of a service under credit control: a check of its
 * client, soon. The job id carries a short slot, so a burst of syncs of one client's tenants adds
 * one check, and a sync in the next slot adds the next.
 */
export async function queueCreditCheckAfterSync(deps: WorkerDeps, clientId: number, now = new Date()): Promise<void> {
  const slot = `s${Math.floor(now.getTime() / 10_000)}`;
  await addJob(deps.queues, CREDIT_JOBS.checkClient, { clientId }, { jobId: creditCheckJobId(clientId, slot) });
}

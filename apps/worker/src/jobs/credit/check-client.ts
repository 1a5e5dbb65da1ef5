import { addJob, assertValidJobId, CREDIT_JOBS, creditCheckJobId, type TypedJob } from '@ictvoip/queue';
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
 * check; the client's next check sends it again.
 */
async function deliverCreditAlerts(deps: WorkerDeps, clientId: number, metrics?: WorkerMetrics): Promise<void> {
  for (const alert of await unsentCreditAlerts(deps.pool, { clientId })) {
    try {
      await deliverRegistrationAlert(deps, alert.id, metrics, 'credit');
    } catch (error) {
      deps.logger.warn({ alertId: alert.id, clientId, err: describeError(error) }, 'credit alert not delivered yet: sent again at the next check');
    }
  }
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
  await addJob(deps.queues, CREDIT_JOBS.checkClient, { clientId }, { jobId: assertValidJobId(creditCheckJobId(clientId, slot)) });
}

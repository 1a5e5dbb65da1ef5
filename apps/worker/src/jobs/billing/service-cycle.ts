import type { PoolClient } from 'pg';
import { billingPeriodsMode, localDateOf, periodOf, recordCycleObservation, serviceCycleSegments, servicePeriodLabeller, type CycleObservation } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { describeError } from '../../errors';

// The CDR sync's side of service billing cycles; the cycle a module event states is recorded as the
// event runs (event-processor.ts recordEventCycle).

/** How old a service's recorded cycle may get before the CDR sync asks WHMCS again (an admin can change it in WHMCS without any module event). */
export const CYCLE_REFRESH_SECONDS = 86_400;

/** A service's cycle is not known and WHMCS could not be asked: its calls wait (the cursor stays) rather than land in a guessed period. */
export class BillingCycleUnknownError extends Error {
  readonly code = 'BILLING_CYCLE_UNKNOWN';
  constructor(serviceId: number, reason: string) {
    super(`service ${serviceId}: billing cycle not known yet and WHMCS GetClientsProducts failed (${reason}); CDR sync retries`);
    this.name = 'BillingCycleUnknownError';
  }
}

async function askWhmcs(deps: WorkerDeps, serviceId: number): Promise<CycleObservation> {
  if (!deps.whmcs) return { whmcsCycle: 'Monthly', nextDueDate: '', source: 'default' };
  const service = await deps.whmcs.getService(serviceId);
  // A service WHMCS does not list has no cycle to follow: calendar months.
  if (!service) return { whmcsCycle: 'Monthly', nextDueDate: '', source: 'default' };
  return { whmcsCycle: service.billingCycle, nextDueDate: service.nextDueDate, source: 'whmcs' };
}

/**
 * In service-period mode, makes sure the service's cycle is recorded before its calls are rated, and
 * refreshes it from WHMCS once a day. Called under the service's billing lock (`client`). Without a
 * recorded cycle a WHMCS failure stops the sync (BillingCycleUnknownError, retried); with one, the
 * recorded cycle is used and the refresh is tried again at the next sync.
 * Returns the service's period labeller (calendar months, or its cycle's periods) from the rows it
 * read, so the sync does not read the mode and the cycle again.
 */
export async function ensureServiceCycle(deps: WorkerDeps, client: PoolClient, serviceId: number, now = new Date()): Promise<(at: Date) => string> {
  const { timeZone } = deps.config.billing;
  if ((await billingPeriodsMode(client, deps.config.billing.periods)) !== 'service') return (at) => periodOf(at, timeZone);
  const segments = await serviceCycleSegments(client, serviceId);
  const newest = segments[segments.length - 1];
  if (newest && now.getTime() - newest.checkedAt.getTime() < CYCLE_REFRESH_SECONDS * 1000) return servicePeriodLabeller(segments, timeZone);
  await refreshServiceCycle(deps, client, serviceId, newest !== undefined, now);
  return servicePeriodLabeller(await serviceCycleSegments(client, serviceId), timeZone);
}

/** Asks WHMCS for the cycle and records it (see ensureServiceCycle). */
async function refreshServiceCycle(deps: WorkerDeps, client: PoolClient, serviceId: number, recorded: boolean, now: Date): Promise<void> {
  let observation: CycleObservation;
  try {
    observation = await askWhmcs(deps, serviceId);
  } catch (error) {
    if (!recorded) throw new BillingCycleUnknownError(serviceId, describeError(error));
    deps.logger.warn({ serviceId, err: describeError(error) }, 'billing cycle refresh from WHMCS failed; the recorded cycle stays');
    return;
  }
  try {
    const outcome = await recordCycleObservation(client, serviceId, observation, localDateOf(now, deps.config.billing.timeZone));
    if (outcome === 'changed') deps.logger.info({ serviceId, ...observation }, 'billing cycle changed in WHMCS: a new usage period starts today');
  } catch (error) {
    // An unknown cycle word from WHMCS: the recorded cycle stays, or calendar months when there is none; said loudly.
    deps.logger.warn({ serviceId, whmcsCycle: observation.whmcsCycle, err: describeError(error) }, 'billing cycle from WHMCS not understood');
    if (recorded) return;
    await recordCycleObservation(client, serviceId, { whmcsCycle: 'Monthly', nextDueDate: '', source: 'default' }, localDateOf(now, deps.config.billing.timeZone));
  }
}

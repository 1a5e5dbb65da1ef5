import type { BILLING_JOBS, TypedJob } from '@ictvoip/queue';
import { rerateServicePeriod, type RerateOutcome } from '@ictvoip/operations';
import type { WorkerDeps } from '../../deps';

export async function handleBillingRerate(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.reratePeriod>): Promise<RerateOutcome> {
  const data = job.data;
  const outcome = await rerateServicePeriod(deps, data.serviceId, data.period);
  const still = outcome.releasedCurrency;
  // Re-rated in the released invoice's currency, the calls are no longer held: the next prepaid run holds them again.
  if (still)
    deps.logger.warn(
      { serviceId: data.serviceId, period: data.period, ...still },
      "re-rated calls are still in the currency of a released prepaid invoice (its client pays in another): the next prepaid run holds them on a new invoice; give the service a deck in the client's currency and re-rate again",
    );
  return outcome;
}

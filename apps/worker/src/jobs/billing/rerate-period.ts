import type { BILLING_JOBS, TypedJob } from '@ictvoip/queue';
import { rerateServicePeriod, type RerateOutcome } from '@ictvoip/operations';
import type { WorkerDeps } from '../../deps';

export async function handleBillingRerate(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.reratePeriod>): Promise<RerateOutcome> {
  const data = job.data;
  return rerateServicePeriod(deps, data.serviceId, data.period);
}

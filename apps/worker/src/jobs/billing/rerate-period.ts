import type { Job } from 'bullmq';
import { BILLING_JOBS, billingRerateJobDataSchema, validatePayload } from '@ictvoip/queue';
import { rerateServicePeriod, type RerateOutcome } from '@ictvoip/operations';
import type { WorkerDeps } from '../../deps';

export async function handleBillingRerate(deps: WorkerDeps, job: Job): Promise<RerateOutcome> {
  const data = validatePayload(billingRerateJobDataSchema, BILLING_JOBS.reratePeriod, job.data);
  return rerateServicePeriod(deps, data.serviceId, data.period);
}

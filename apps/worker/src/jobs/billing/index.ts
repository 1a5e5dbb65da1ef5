import type { Job } from 'bullmq';
import { BILLING_JOBS, type BillingJobName } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { handleBillingClose } from './close-periods';
import { handleBillingPushOrFinalBill } from './final-bill';
import { handleBillingRerate } from './rerate-period';

/** Exactly one handler per billing job name (checked by the worker's registry at start-up). */
export const BILLING_JOB_HANDLERS: Record<BillingJobName, (deps: WorkerDeps, job: Job) => Promise<unknown>> = {
  [BILLING_JOBS.closePeriods]: handleBillingClose,
  [BILLING_JOBS.pushBatch]: handleBillingPushOrFinalBill,
  [BILLING_JOBS.reratePeriod]: handleBillingRerate,
};

export { closeBillingPeriods, type CloseOutcome } from './close-periods';
export { pushBillingBatch, type PushAttempt, type PushHooks, type PushOutcome, type PushResult } from './push-batch';
export {
  enqueueFinalBill,
  finalBillJobId,
  isFinalBillJobId,
  runFinalBill,
  type FinalBillEnqueued,
  type FinalBillOptions,
  type FinalBillResult,
} from './final-bill';

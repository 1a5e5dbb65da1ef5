export { closeBillingPeriods, type CloseOutcome } from './close-periods';
export { pushBillingBatch, type PushAttempt, type PushHooks, type PushOutcome, type PushResult } from './push-batch';
export { enqueueFinalBill, finalBillJobId, isFinalBillJobId, runFinalBill, type FinalBillEnqueued, type FinalBillOptions, type FinalBillResult } from './final-bill';

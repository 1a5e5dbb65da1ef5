import Joi from 'joi';

// A calendar month, or a service period's first day (`YYYY-MM-DD`; a period starting on the 1st is named `YYYY-MM`).
const PERIOD = /^\d{4}-(0[1-9]|1[0-2])(-(0[2-9]|[12]\d|3[01]))?$/;

/** One tenant's CDR sync; `from` (ISO-8601) re-reads from that date (a backfill), else from the cursor. */
export interface CdrSyncJobData {
  serviceId: number;
  from?: string;
}

export const cdrSyncJobDataSchema = Joi.object<CdrSyncJobData>({
  serviceId: Joi.number().integer().min(1).required(),
  from: Joi.string().isoDate(),
});

/** Backfill needs the date. */
export const cdrBackfillJobDataSchema = cdrSyncJobDataSchema.keys({ from: Joi.string().isoDate().required() });

/** The fan-out jobs carry nothing but may pin "now" (tests, `ictvoip billing close --at`). */
export interface BillingFanOutJobData {
  now?: string;
}

export const billingFanOutJobDataSchema = Joi.object<BillingFanOutJobData>({
  now: Joi.string().isoDate(),
});

/** Push (or reconcile) the batch of one service and closing period. */
export interface BillingPushJobData {
  serviceId: number;
  period: string;
}

export const billingPushJobDataSchema = Joi.object<BillingPushJobData>({
  serviceId: Joi.number().integer().min(1).required(),
  period: Joi.string().pattern(PERIOD).required(),
});

export type BillingRerateJobData = BillingPushJobData;
export const billingRerateJobDataSchema = billingPushJobDataSchema;

/** Deterministic ids: a repeat add inside the same slot is a no-op; `slot` is a time bucket or a date. */
export function cdrSyncJobId(serviceId: number, slot: string): string {
  return `cdr-sync-${serviceId}-${slot}`;
}

export function billingPushJobId(serviceId: number, period: string, slot: string): string {
  return `billing-push-${serviceId}-${period}-${slot}`;
}

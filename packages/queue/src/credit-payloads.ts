import Joi from 'joi';

/** The timer's fan-out: one `credit.check-client` per client under credit control; `now` pins the slot (tests). */
export interface CreditCheckAllJobData {
  now?: string;
}

export const creditCheckAllJobDataSchema = Joi.object<CreditCheckAllJobData>({
  now: Joi.string().isoDate(),
});

/** One WHMCS client's credit check (its balance is shared by its services). */
export interface CreditCheckJobData {
  clientId: number;
}

export const creditCheckJobDataSchema = Joi.object<CreditCheckJobData>({
  clientId: Joi.number().integer().min(1).required(),
});

/** One check per client and slot: the timer and the CDR syncs of a client's tenants in the same slot add it once. */
export function creditCheckJobId(clientId: number, slot: string): string {
  return `credit-check-${clientId}-${slot}`;
}

/** One prepaid service's invoice of its unbilled usage, paid from credit; `now` pins the day (tests). */
export interface PrepaidInvoiceJobData {
  serviceId: number;
  now?: string;
}

export const prepaidInvoiceJobDataSchema = Joi.object<PrepaidInvoiceJobData>({
  serviceId: Joi.number().integer().min(1).required(),
  now: Joi.string().isoDate(),
});

export function prepaidInvoiceJobId(serviceId: number, slot: string): string {
  return `prepaid-invoice-${serviceId}-${slot}`;
}

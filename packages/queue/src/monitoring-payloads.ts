import Joi from 'joi';

/** The scheduled fan-out; `now` pins the poll time (tests). */
export interface RegistrationPollAllJobData {
  now?: string;
}

export const registrationPollAllJobDataSchema = Joi.object<RegistrationPollAllJobData>({
  now: Joi.string().isoDate(),
});

/** One FusionPBX server's poll: `server` is a registered server's name or 'default'; `now` pins the poll time. */
export interface RegistrationPollJobData {
  server: string;
  now?: string;
}

export const registrationPollJobDataSchema = Joi.object<RegistrationPollJobData>({
  server: Joi.string()
    .pattern(/^[a-z0-9][a-z0-9-]{0,62}$/)
    .required(),
  now: Joi.string().isoDate(),
});

/** Delivery of the alert of one registration_history row (or, with kind 'gateway', of one gateway_history row; with kind 'credit', of one credit_alerts row). */
export interface RegistrationAlertJobData {
  historyId: number;
  kind?: 'registration' | 'gateway' | 'credit';
}

export const registrationAlertJobDataSchema = Joi.object<RegistrationAlertJobData>({
  historyId: Joi.number().integer().min(1).required(),
  kind: Joi.string().valid('registration', 'gateway', 'credit'),
});

/** One poll per server and time slot: two schedulers (or a replay) in the same slot add it once. */
export function registrationPollJobId(server: string, slot: string): string {
  return `registrations-poll-${server}-${slot}`;
}

/** One delivery per transition, whichever worker recorded or re-queued it. */
export function registrationAlertJobId(historyId: number): string {
  return `registration-alert-${historyId}`;
}

/** One delivery per gateway transition, whichever worker recorded or re-queued it. */
export function gatewayAlertJobId(historyId: number): string {
  return `gateway-alert-${historyId}`;
}

/** The retries of one credit alert a check could not deliver, whichever worker queued them. */
export function creditAlertJobId(alertId: number): string {
  return `credit-alert-${alertId}`;
}

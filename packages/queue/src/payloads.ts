import Joi from 'joi';

/** Provisioning jobs carry only references: the event itself (and its sealed secrets) stays in PostgreSQL. */
export interface ProvisioningJobData {
  eventId: string;
  serviceId: number;
  action: string;
  requestId?: string;
}

export const provisioningJobDataSchema = Joi.object<ProvisioningJobData>({
  eventId: Joi.string().guid().required(),
  serviceId: Joi.number().integer().min(0).required(),
  action: Joi.string().required(),
  requestId: Joi.string().max(100),
});

export interface ReconcileJobData {
  olderThanSeconds?: number;
}

export const reconcileJobDataSchema = Joi.object<ReconcileJobData>({
  olderThanSeconds: Joi.number().integer().min(0),
});

/** drift.report: with `fix` it also converges what a job can converge. */
export interface DriftJobData {
  fix?: boolean;
}

export const driftJobDataSchema = Joi.object<DriftJobData>({ fix: Joi.boolean() });

/** A job that carries nothing (tenant.purge_terminated). */
export type EmptyJobData = Record<string, never>;

export const emptyJobDataSchema = Joi.object<EmptyJobData>({});

export class JobPayloadError extends Error {
  readonly code = 'JOB_PAYLOAD_INVALID';
  constructor(jobName: string, message: string) {
    super(`payload of ${jobName} is invalid: ${message}`);
    this.name = 'JobPayloadError';
  }
}

export function validatePayload<T>(schema: Joi.ObjectSchema<T>, jobName: string, data: unknown): T {
  const { value, error } = schema.validate(data, { abortEarly: false });
  if (error) throw new JobPayloadError(jobName, error.message);
  return value as T;
}

export class JobIdError extends Error {
  readonly code = 'JOB_ID_INVALID';
  constructor(id: string, reason: string) {
    super(`job id ${JSON.stringify(id)} ${reason}`);
    this.name = 'JobIdError';
  }
}

/** BullMQ 6 rejects custom ids containing ':' and ids made only of digits; check before adding. */
export function assertValidJobId(id: string): string {
  if (id.length === 0 || id.length > 200) throw new JobIdError(id, 'must be 1..200 characters');
  if (id.includes(':')) throw new JobIdError(id, 'must not contain ":"');
  if (/^\d+$/.test(id)) throw new JobIdError(id, 'must not be all digits');
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new JobIdError(id, 'may contain only letters, digits, ".", "_" and "-"');
  return id;
}

/** Deterministic: the same event always maps to the same job, so a repeat add is a no-op. */
export function eventJobId(serviceId: number, action: string, eventId: string): string {
  return assertValidJobId(`svc-${serviceId}-${action.replace(/_/g, '-')}-${eventId}`);
}

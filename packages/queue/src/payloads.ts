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

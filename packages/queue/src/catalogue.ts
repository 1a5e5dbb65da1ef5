import type { Job, JobsOptions } from 'bullmq';
import Joi from 'joi';
import { billingFanOutJobDataSchema, billingPushJobDataSchema, billingRerateJobDataSchema, cdrBackfillJobDataSchema, cdrSyncJobDataSchema } from './billing-payloads';
import { freeswitchApplyJobDataSchema, freeswitchBacklogJobDataSchema } from './freeswitch-payloads';
import { creditCheckAllJobDataSchema, creditCheckJobDataSchema, prepaidInvoiceJobDataSchema } from './credit-payloads';
import {
  BILLING_JOBS,
  CDR_JOBS,
  CREDIT_JOBS,
  FREESWITCH_JOBS,
  MAINTENANCE_JOBS,
  MONITORING_JOBS,
  PROVISIONING_JOBS,
  QUEUE_NAMES,
  TENANT_WRITE_JOBS,
  type ProvisioningAction,
  type QueueName,
} from './names';
import type { QueueSet } from './queues';
import { requeueUnlessLive } from './requeue';
import { tenantWriteJobDataSchema } from './tenant-write-payloads';
import { registrationAlertJobDataSchema, registrationPollAllJobDataSchema, registrationPollJobDataSchema } from './monitoring-payloads';

// The provisioning and maintenance jobs' payloads; each other group's are in its own *-payloads.ts.

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

/**
 * BullMQ 6 rejects custom ids containing ':' and ids made only of digits. The catalogue's add functions
 * check every custom id with this before BullMQ sees it, so the id builders of the payload files only format.
 */
export function assertValidJobId(id: string): string {
  if (id.length === 0 || id.length > 200) throw new JobIdError(id, 'must be 1..200 characters');
  if (id.includes(':')) throw new JobIdError(id, 'must not contain ":"');
  if (/^\d+$/.test(id)) throw new JobIdError(id, 'must not be all digits');
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new JobIdError(id, 'may contain only letters, digits, ".", "_" and "-"');
  return id;
}

/** Deterministic: the same event always maps to the same job, so a repeat add is a no-op. */
export function eventJobId(serviceId: number, action: string, eventId: string): string {
  return `svc-${serviceId}-${action.replace(/_/g, '-')}-${eventId}`;
}

/** One job: the queue it goes on and the schema of its payload (typed by the payload's interface). */
export interface JobDefinition<Payload = unknown> {
  readonly queue: QueueName;
  readonly payload: Joi.ObjectSchema<Payload>;
}

const job = <Payload>(queue: QueueName, payload: Joi.ObjectSchema<Payload>): JobDefinition<Payload> => ({ queue, payload });

const provisioning = job(QUEUE_NAMES.provisioning, provisioningJobDataSchema);

/**
 * Every job there is, once: its name, queue and payload schema. The payload's type comes from the
 * schema (JobPayload), producers add jobs through addJob (which picks the queue), and the worker's
 * handler map is typed by JobName, so a job without a handler (or a handler without a job) does not
 * compile. The name constants in names.ts group these names by concern.
 */
export const JOBS = {
  [PROVISIONING_JOBS.create]: provisioning,
  [PROVISIONING_JOBS.suspend]: provisioning,
  [PROVISIONING_JOBS.unsuspend]: provisioning,
  [PROVISIONING_JOBS.terminate]: provisioning,
  [PROVISIONING_JOBS.change_package]: provisioning,
  [PROVISIONING_JOBS.change_password]: provisioning,
  [PROVISIONING_JOBS.test_connection]: provisioning,
  [PROVISIONING_JOBS.reconcile]: provisioning,
  // FreeSWITCH jobs share the provisioning queue with the events whose steps they apply.
  [FREESWITCH_JOBS.apply]: job(QUEUE_NAMES.provisioning, freeswitchApplyJobDataSchema),
  [FREESWITCH_JOBS.backlog]: job(QUEUE_NAMES.provisioning, freeswitchBacklogJobDataSchema),
  [TENANT_WRITE_JOBS.extension]: job(QUEUE_NAMES.tenantWrites, tenantWriteJobDataSchema),
  [TENANT_WRITE_JOBS.gateway]: job(QUEUE_NAMES.tenantWrites, tenantWriteJobDataSchema),
  [TENANT_WRITE_JOBS.destination]: job(QUEUE_NAMES.tenantWrites, tenantWriteJobDataSchema),
  [MAINTENANCE_JOBS.reconcileInbox]: job(QUEUE_NAMES.maintenance, reconcileJobDataSchema),
  [MAINTENANCE_JOBS.driftReport]: job(QUEUE_NAMES.maintenance, driftJobDataSchema),
  [MAINTENANCE_JOBS.purgeTerminated]: job(QUEUE_NAMES.maintenance, emptyJobDataSchema),
  [CDR_JOBS.syncAll]: job(QUEUE_NAMES.cdrSync, billingFanOutJobDataSchema),
  [CDR_JOBS.syncTenant]: job(QUEUE_NAMES.cdrSync, cdrSyncJobDataSchema),
  [CDR_JOBS.backfill]: job(QUEUE_NAMES.cdrSync, cdrBackfillJobDataSchema),
  [CDR_JOBS.reconcile]: job(QUEUE_NAMES.cdrSync, billingFanOutJobDataSchema),
  [BILLING_JOBS.closePeriods]: job(QUEUE_NAMES.billing, billingFanOutJobDataSchema),
  [BILLING_JOBS.pushBatch]: job(QUEUE_NAMES.billing, billingPushJobDataSchema),
  [BILLING_JOBS.reratePeriod]: job(QUEUE_NAMES.billing, billingRerateJobDataSchema),
  [MONITORING_JOBS.pollAll]: job(QUEUE_NAMES.monitoring, registrationPollAllJobDataSchema),
  [MONITORING_JOBS.poll]: job(QUEUE_NAMES.monitoring, registrationPollJobDataSchema),
  [MONITORING_JOBS.alert]: job(QUEUE_NAMES.monitoring, registrationAlertJobDataSchema),
  [CREDIT_JOBS.checkAll]: job(QUEUE_NAMES.billing, creditCheckAllJobDataSchema),
  [CREDIT_JOBS.checkClient]: job(QUEUE_NAMES.billing, creditCheckJobDataSchema),
  [CREDIT_JOBS.prepaidInvoiceAll]: job(QUEUE_NAMES.billing, creditCheckAllJobDataSchema),
  [CREDIT_JOBS.prepaidInvoice]: job(QUEUE_NAMES.billing, prepaidInvoiceJobDataSchema),
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = (typeof JOBS)[N] extends JobDefinition<infer Payload> ? Payload : never;
/** A job as its handler sees it: its own name, and a payload already validated against the catalogue. */
export type TypedJob<N extends JobName> = Job<JobPayload<N>, unknown, N>;
/** Exactly one handler per job name: a missing or an extra one is a compile error. */
export type JobHandlers<Deps> = { [N in JobName]: (deps: Deps, job: TypedJob<N>) => Promise<unknown> };

// Every name in the groups of names.ts is in the catalogue (the catalogue's keys are built from them).
type ValueOf<T> = T[keyof T];
type GroupNames =
  | ValueOf<typeof PROVISIONING_JOBS>
  | ValueOf<typeof FREESWITCH_JOBS>
  | ValueOf<typeof TENANT_WRITE_JOBS>
  | ValueOf<typeof MAINTENANCE_JOBS>
  | ValueOf<typeof CDR_JOBS>
  | ValueOf<typeof BILLING_JOBS>
  | ValueOf<typeof MONITORING_JOBS>
  | ValueOf<typeof CREDIT_JOBS>;
const everyGroupedNameIsCatalogued: [GroupNames] extends [JobName] ? ([JobName] extends [GroupNames] ? true : never) : never = true;
void everyGroupedNameIsCatalogued;

export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

/** An inbox row's action is a string from PostgreSQL: this narrows it to one a provisioning job serves. */
export function isProvisioningAction(action: string): action is ProvisioningAction {
  return Object.hasOwn(PROVISIONING_JOBS, action);
}

export function queueOf(name: JobName): QueueName {
  return JOBS[name].queue;
}

/** Validates a job's payload against the catalogue (JobPayloadError when it does not match). */
export function validateJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return validatePayload(JOBS[name].payload as Joi.ObjectSchema<JobPayload<N>>, name, data);
}

/** Adds a job on the queue the catalogue gives it: the compiler checks the payload, assertValidJobId a custom id (a bad one rejects). */
export async function addJob<N extends JobName>(queues: QueueSet, name: N, payload: JobPayload<N>, opts?: JobsOptions): Promise<Job<JobPayload<N>, unknown, N>> {
  if (opts?.jobId !== undefined) assertValidJobId(opts.jobId);
  return queues[queueOf(name)].add(name, payload, opts) as Promise<Job<JobPayload<N>, unknown, N>>;
}

/** One bulk add of jobs of one name (a fan-out); every custom id checked first, as by addJob. */
export async function addJobs<N extends JobName>(
  queues: QueueSet,
  name: N,
  jobs: readonly { data: JobPayload<N>; opts?: JobsOptions }[],
): Promise<Job<JobPayload<N>, unknown, N>[]> {
  for (const entry of jobs) if (entry.opts?.jobId !== undefined) assertValidJobId(entry.opts.jobId);
  return queues[queueOf(name)].addBulk(jobs.map((entry) => ({ name, data: entry.data, opts: entry.opts }))) as Promise<Job<JobPayload<N>, unknown, N>[]>;
}

/** Creates or updates a repeatable job of the catalogue on its own queue. */
export async function upsertJobScheduler<N extends JobName>(
  queues: QueueSet,
  schedulerId: string,
  repeat: { every: number },
  name: N,
  payload: JobPayload<N>,
  opts?: JobsOptions,
): Promise<void> {
  await queues[queueOf(name)].upsertJobScheduler(schedulerId, repeat, { name, data: payload, opts });
}

/** requeueUnlessLive for a job of the catalogue, on its own queue. */
export async function requeueJobUnlessLive<N extends JobName>(
  queues: QueueSet,
  name: N,
  payload: JobPayload<N>,
  jobId: string,
  opts: JobsOptions = {},
): Promise<{ previousState: string; added: boolean }> {
  return requeueUnlessLive(queues[queueOf(name)], name, payload, assertValidJobId(jobId), opts);
}

import type { Job } from 'bullmq';
import { withDeadline } from '@ictvoip/config';
import { writeRejectionOf } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide, type FreeswitchStep } from '@ictvoip/freeswitch';
import { freeswitchBacklogJobId, type TenantWriteJobName, type TypedJob } from '@ictvoip/queue';
import {
  failedForGoodMessage,
  lockBusyAnswer,
  lockBusyWriteFailure,
  openSecrets,
  withServiceLock,
  type ServiceRecord,
  type TenantWrite,
  type TenantWriteOutcome,
} from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { describeError, EslDeadlineError, PermanentJobError } from '../../errors';
import { permanentWhenServerUnavailable, scopeForService } from '../../fusion-scope';
import { withJobLogger } from '../../metrics';
import { addOwedJob, addWriteSteps, queueBacklogJob } from '../freeswitch/freeswitch-backlog';

/** What a resource's write gives back: the answer's outcome and body, and its FreeSWITCH side. */
export interface ResourceWriteResult {
  outcome: 'created' | 'updated' | 'unchanged' | 'deleted';
  body: Record<string, unknown>;
  freeswitch: FreeswitchStep[];
}

/** Everything a resource's write needs: the row, its opened secrets, its tenant's server. */
export interface TenantWriteContext {
  /** Scoped to the FusionPBX server of the write's service. */
  deps: ScopedDeps;
  write: TenantWrite;
  service: ServiceRecord;
  secrets: Record<string, string>;
  /** A later attempt: an earlier one may have committed before its worker died. */
  replay: boolean;
}

export type ResourceWriter = (ctx: TenantWriteContext) => Promise<ResourceWriteResult>;

/**
 * What a resource may hold around its write and FreeSWITCH side, inside the service lock (e.g. a
 * gateway switched on takes the client's credit lock and checks the restriction there).
 */
export type WriteGuard = <T>(ctx: TenantWriteContext, work: () => Promise<T>) => Promise<T>;

/** What the job returns (kept by BullMQ): never a secret, only where the answer is. */
export interface TenantWriteJobResult {
  writeId: string;
  /** `withdrawn`: the API took the write back (Redis refused the add) before this job ran. */
  status: TenantWrite['status'] | 'withdrawn';
  httpStatus: number | null;
}

export interface FreeswitchOutcome {
  applied: boolean;
  job?: { id: string; url: string };
  message?: string;
}

/**
 * The FreeSWITCH side of a committed write. When FreeSWITCH is in step for the service, it is sent at
 * once within API_ESL_DEADLINE_MS. When the event socket does not answer in time, or the service's
 * FreeSWITCH side is already behind, the steps join the service's backlog (the one events use) and
 * its `freeswitch.backlog` job sends them; the answer says so (also when that job could not be added:
 * the backlog is saved, the reconciler adds it). Only an error without a code (a bug) fails the write job.
 */
async function applyFreeswitch(ctx: TenantWriteContext, scoped: ScopedDeps, steps: FreeswitchStep[]): Promise<FreeswitchOutcome> {
  if (steps.length === 0) return { applied: true };
  let reason = 'FreeSWITCH is behind for this tenant';
  if (!ctx.service.pendingApply) {
    try {
      const ms = ctx.deps.config.api.eslDeadlineMs;
      // Bounded, so a silent event socket makes the answer "queued for FreeSWITCH", not a hang.
      await withDeadline(applyFreeswitchSide(scoped.fusion.esl, steps, { cache: scoped.fusion.cacheOptions }), ms, () => new EslDeadlineError(ms));
      return { applied: true };
    } catch (error) {
      if (!(error instanceof Error && 'code' in error)) throw error;
      reason = error.message;
    }
  }
  const { backlog } = await addWriteSteps(ctx.deps, ctx.write.serviceId, steps);
  const id = freeswitchBacklogJobId({ serviceId: ctx.write.serviceId, version: backlog.origin });
  await addOwedJob(ctx.deps, id, () => queueBacklogJob(ctx.deps, ctx.write.serviceId, backlog.origin));
  ctx.deps.logger.warn({ err: reason, writeId: ctx.write.writeId, steps: steps.length, backlogJob: id }, 'FreeSWITCH side of a REST write queued');
  return queuedFreeswitch(reason, id);
}

/**
 * A committed write whose FreeSWITCH side did not go out and is left to job `id`: the answer's
 * success with its warning (202), never a failure, so the client knows the row exists.
 */
export function queuedFreeswitch(reason: string, id: string): FreeswitchOutcome {
  const url = `/v1/jobs/${id}`;
  return { applied: false, job: { id, url }, message: `FusionPBX is updated; FreeSWITCH not yet (${reason}). A worker applies it once the event socket answers: GET ${url}.` };
}

const OK_STATUS = { created: 201, updated: 200, unchanged: 200, deleted: 204 } as const;

export function succeeded(result: ResourceWriteResult, freeswitch: FreeswitchOutcome): TenantWriteOutcome {
  const httpStatus = freeswitch.applied ? OK_STATUS[result.outcome] : 202;
  return { status: 'succeeded', httpStatus, result: { outcome: result.outcome, ...result.body, freeswitch } };
}

async function serviceOf(deps: WorkerDeps, write: TenantWrite): Promise<ServiceRecord> {
  const service = await deps.services.get(write.serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${write.serviceId} is not managed by the bridge`);
  return service;
}

async function attempt(deps: WorkerDeps, write: TenantWrite, writer: ResourceWriter, guard?: WriteGuard): Promise<TenantWriteOutcome> {
  const service = await serviceOf(deps, write);
  const scoped = await scopeForService(deps, service).catch(permanentWhenServerUnavailable);
  const secrets = write.sealedSecrets ? openSecrets(write.sealedSecrets, deps.config.sealing) : {};
  const ctx: TenantWriteContext = { deps: scoped, write, service, secrets, replay: write.attempts > 1 };
  // The lock every provisioning job of this service holds: a REST write never interleaves with one,
  // and its FreeSWITCH side is sent before the next write of the service commits (a gateway's
  // start never lands after a later delete of it).
  const work = async () => {
    const result = await writer(ctx);
    return succeeded(result, await applyFreeswitch(ctx, scoped, result.freeswitch));
  };
  return withServiceLock(deps.pool, write.serviceId, () => (guard ? guard(ctx, work) : work()), deps.config.worker.writeLockWaitMs);
}

type Refusal = Extract<TenantWriteOutcome, { status: 'rejected' | 'failed' }>;

/**
 * A write failed for good of a cause that can pass: a 503 with its Retry-After, and a message that
 * says the write failed and how to send it again. Its answer is kept (the same X-Request-Id gets it
 * again), so every such failure says so, whatever its cause.
 */
export function failedForGood(code: string, cause: string, retryAfterSeconds: number): Refusal {
  return { status: 'failed', httpStatus: 503, error: { code, message: failedForGoodMessage(cause, retryAfterSeconds), retryAfter: retryAfterSeconds } };
}

/**
 * A job that stops at once: a cause that can pass (the tenant's server disabled) is a 503 to send
 * again later; a write that can never be applied is no "try again": 404 for a service the bridge no
 * longer manages, else 500 (a write the API should never have recorded), without Retry-After.
 */
function stoppedOutcome(error: PermanentJobError): Refusal {
  if (error.canPass) return failedForGood(error.code, error.message, 30);
  return { status: 'failed', httpStatus: error.code === 'SERVICE_UNKNOWN' ? 404 : 500, error: { code: error.code, message: error.message } };
}

function refusedOutcome(error: unknown): Refusal | null {
  const rejection = writeRejectionOf(error);
  if (rejection)
    return {
      status: 'rejected',
      httpStatus: rejection.status,
      error: { code: rejection.code, message: rejection.message, ...(rejection.field ? { field: rejection.field } : {}) },
    };
  if (error instanceof PermanentJobError) return stoppedOutcome(error);
  return null;
}

const isLastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * A write's last failure as the REST caller is told it, and a repeat of the same request is told it
 * again (the answer is kept). A store lock still held on the last attempt (the service's, a client's
 * credit check, a FusionPBX server's global write) keeps the lock's own code and Retry-After, as the
 * API gives them for a lock it takes itself (TENANT_BUSY, 2 s); anything else is WRITE_FAILED with
 * the error's message. Either says the write failed and how to send it again: not "retry", which
 * with the same X-Request-Id would only return this answer.
 */
function failedOutcome(error: unknown, attempts: number): Refusal {
  const busy = lockBusyWriteFailure(error, attempts);
  if (busy) return { status: 'failed', httpStatus: 503, error: { code: busy.code, message: busy.message, retryAfter: busy.retryAfterSeconds } };
  const which = attempts > 1 ? `the last of the write's ${attempts} attempts` : "the write's only attempt";
  return failedForGood('WRITE_FAILED', `${describeError(error)} (on ${which})`, 30);
}

/** Why an attempt failed, while the job will try again: what was busy, or the error. */
const retryingReason = (error: unknown) => lockBusyAnswer(error)?.message ?? describeError(error);

/**
 * One REST write, as a job: the request is read from tenant_writes, applied to the tenant's own
 * FusionPBX server under the service lock, and its answer stored there for the API. A replayed job
 * (its write already answered) changes nothing; a client's mistake (quota, duplicate, unknown
 * resource) is an answer, not a retry; anything else is retried, and the last failure is stored.
 */
export function runTenantWrite(deps: WorkerDeps, job: TypedJob<TenantWriteJobName>, writer: ResourceWriter, guard?: WriteGuard): Promise<TenantWriteJobResult> {
  return runWriteJob(deps, job, (write) => attempt(deps, write, writer, guard));
}

/**
 * The job's frame around one attempt of a write (a tenant's, or a server's global one): the row
 * marked running, the outcome or refusal stored, anything else retried.
 */
export async function runWriteJob(
  deps: WorkerDeps,
  job: TypedJob<TenantWriteJobName>,
  attemptWrite: (write: TenantWrite) => Promise<TenantWriteOutcome>,
): Promise<TenantWriteJobResult> {
  const data = job.data;
  const logger = deps.logger.child({ requestId: data.requestId, serviceId: data.serviceId, writeId: data.writeId, jobId: job.id });
  const write = await deps.tenantWrites.markRunning(data.writeId);
  if (!write) {
    const done = await deps.tenantWrites.get(data.writeId);
    return { writeId: data.writeId, status: done?.status ?? 'withdrawn', httpStatus: done?.httpStatus ?? null };
  }
  try {
    const outcome = await withJobLogger(logger, () => attemptWrite(write));
    await deps.tenantWrites.finish(write.writeId, outcome);
    logger.info({ resource: write.resource, operation: write.operation, httpStatus: outcome.httpStatus }, 'REST write applied');
    return { writeId: write.writeId, status: outcome.status, httpStatus: outcome.httpStatus };
  } catch (error) {
    const refused = refusedOutcome(error);
    if (refused) {
      await deps.tenantWrites.finish(write.writeId, refused);
      logger.info({ code: refused.error.code, httpStatus: refused.httpStatus }, 'REST write refused');
      if (error instanceof PermanentJobError) throw error;
      return { writeId: write.writeId, status: refused.status, httpStatus: refused.httpStatus };
    }
    if (isLastAttempt(job)) {
      await deps.tenantWrites.finish(write.writeId, failedOutcome(error, write.attempts));
    } else {
      await deps.tenantWrites.markRetrying(write.writeId, retryingReason(error));
    }
    throw error;
  }
}

import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { requeueJobUnlessLive, TENANT_WRITE_JOBS, tenantWriteId, type TenantWriteJobData } from '@ictvoip/queue';
import {
  derivedHmacKey,
  FINISH_CHANNELS,
  FINISHED_WRITE_STATUSES,
  openSecrets,
  sealSecrets,
  type TenantWrite,
  type TenantWriteOperation,
  type TenantWriteResource,
} from '@ictvoip/store';
import { clientGone, finishNotification, redisReady, waitForRow, withEnqueueTimeout } from '../../enqueue';
import { DependencyUnavailableError, HttpError } from '../../errors';
import { rejectionToHttpError } from './domain-errors';
import { scrubSecrets } from './jobs';
import type { ApiDeps, ScopedApiDeps } from '../../deps';
import { requireDomain, type TenantContext } from './tenant-context';

/**
 * A REST write of one extension or gateway, as the issue asks: it goes through a job like every
 * provisioning event. The request is committed to tenant_writes (its passwords sealed), a worker
 * applies it to the tenant's FusionPBX server under the service lock, and the API answers with the
 * final state, or 202 with the job's URL when that takes longer than API_WRITE_WAIT_MS.
 */
export interface WriteRequest {
  resource: TenantWriteResource;
  operation: TenantWriteOperation;
  /** The extension number or gateway uuid of the URL; null for a gateway create. */
  target: string | null;
  /** The request's fields, without any password. */
  input: Record<string, unknown>;
  /** Passwords the client sent (sealed, never stored or queued in clear). */
  secrets?: Record<string, string>;
}

/** What the bridge itself fixes for a write when it is first queued, so a replay repeats it exactly. */
export interface WriteChoices {
  /** A gateway create's uuid. */
  target?: string;
  /** An extension create's SIP password. */
  secrets?: Record<string, string>;
}

/**
 * Where a write goes: the deps scoped to its FusionPBX server and the service it is for
 * (GLOBAL_WRITE_SERVICE_ID: the server's own). Scoped, so a write is recorded only once its server
 * resolved (a disabled or unreadable one is a 503 before anything is stored).
 */
export interface WriteScope {
  deps: ScopedApiDeps;
  serviceId: number;
}

const requestIdOf = (res: Response) => (typeof res.locals.requestId === 'string' ? res.locals.requestId : randomUUID());

/** The 202 answer of every write route, as /openapi.json describes it. */
export const PENDING_RESPONSE =
  'not finished within API_WRITE_WAIT_MS: {outcome:"pending", job:{id,url}} (GET job.url, or repeat with the same X-Request-Id); or written, with FreeSWITCH not reached yet: {outcome, …, freeswitch:{applied:false, job:{id,url}}}';

/**
 * The password chosen for a created extension is part of the answer (the one time the client sees
 * it): when the create is known (finished with outcome created, or a pending POST).
 */
function shownPassword(context: TenantContext, write: TenantWrite): Record<string, string> {
  const created = write.status === 'succeeded' ? write.result?.outcome === 'created' : write.operation === 'create';
  const password = created ? sealedExtensionPassword(context, write) : null;
  return password ? { password } : {};
}

/** The SIP password an extension write carries sealed (a create's or a reset's), or none. */
export function sealedExtensionPassword(context: TenantContext, write: TenantWrite): string | null {
  if (write.resource !== 'extension' || !write.sealedSecrets) return null;
  return openSecrets(write.sealedSecrets, context.deps.config.sealing).password ?? null;
}

async function recordWrite(scope: WriteScope, res: Response, request: WriteRequest, choose: () => WriteChoices): Promise<{ inserted: boolean; write: TenantWrite }> {
  const { deps, serviceId } = scope;
  const requestId = requestIdOf(res);
  // Keyed by the sealing keys, not the webhook secret: a WEBHOOK_SECRET rotation keeps write ids.
  const asked = [requestId, request.resource, request.operation, request.target, request.input, request.secrets ?? {}];
  const [writeId, ...olderIds] = deps.config.sealing.keys.map((key) => tenantWriteId(serviceId, asked, derivedHmacKey(key, 'tenant-write-id')));
  // During a SEALING_KEY rotation a repeat of a request first made under an older key is that write.
  for (const olderId of olderIds) {
    const older = await deps.tenantWrites.get(olderId);
    if (older) return { inserted: false, write: older };
  }
  // On a repeat these choices are discarded: the first request's row (and password) is kept.
  const choices = choose();
  const secrets = { ...request.secrets, ...choices.secrets };
  return deps.tenantWrites.record({
    writeId: writeId!,
    serviceId,
    resource: request.resource,
    operation: request.operation,
    target: choices.target ?? request.target,
    input: request.input,
    sealedSecrets: Object.keys(secrets).length > 0 ? sealSecrets(secrets, deps.config.sealing) : null,
    requestId,
  });
}

/**
 * Adds the write's job (again, when its job was lost); a write Redis refuses is withdrawn: nothing
 * happens. Logged once, by the error handler's answer line (answerLog), which carries the write's id,
 * whether its row was withdrawn and Redis's error besides the code and request id.
 */
async function enqueue(deps: ApiDeps, write: TenantWrite, inserted: boolean): Promise<void> {
  const data: TenantWriteJobData = { writeId: write.writeId, serviceId: write.serviceId, requestId: write.requestId };
  try {
    if (!(await redisReady(deps.redis))) throw new DependencyUnavailableError('the job queue (Redis)');
    await withEnqueueTimeout(requeueJobUnlessLive(deps.queues, TENANT_WRITE_JOBS[write.resource], data, write.writeId));
  } catch (error) {
    if (inserted) await deps.tenantWrites.withdraw(write.writeId);
    const refused = new HttpError(503, 'DEPENDENCY_UNAVAILABLE', 'the job queue (Redis) is unavailable; nothing was written, repeat the request', undefined, 5);
    // A repeat of an earlier request keeps the row it found (inserted false): only a new one is withdrawn.
    refused.logFields = { writeId: write.writeId, withdrawn: inserted, cause: (error as Error).message };
    throw refused;
  }
}

function sendFinished(context: TenantContext, res: Response, write: TenantWrite): void {
  const failure = writeFailure(write);
  if (failure) throw failure;
  if (write.httpStatus === 204) return void res.status(204).end();
  res.status(write.httpStatus ?? 200).json({ ...write.result, ...shownPassword(context, write) });
}

function sendPending(context: TenantContext, res: Response, write: TenantWrite): void {
  const url = `/v1/jobs/${write.writeId}`;
  res.status(202).json({
    outcome: 'pending',
    state: write.status,
    job: { id: write.writeId, url },
    message: `The write is queued for a worker and has not finished within ${context.deps.config.api.writeWaitMs} ms. GET ${url} for its outcome; repeating the request with the same X-Request-Id returns it too.`,
    ...shownPassword(context, write),
  });
}

/** A finished write's refusal or failure as the HTTP error /v1 answers; null when it succeeded. */
export function writeFailure(write: TenantWrite): HttpError | null {
  if (write.status === 'rejected' && write.error && write.httpStatus) {
    return rejectionToHttpError({ status: write.httpStatus as 400 | 404 | 409, code: write.error.code, message: write.error.message, field: write.error.field });
  }
  if (write.status !== 'succeeded' || !write.httpStatus) {
    return new HttpError(
      write.httpStatus ?? 503,
      write.error?.code ?? 'WRITE_FAILED',
      scrubSecrets(write.error?.message) ?? 'the write failed',
      undefined,
      write.error?.retryAfter,
    );
  }
  return null;
}

export const isFinishedWrite = (write: TenantWrite) => FINISHED_WRITE_STATUSES.includes(write.status);

/**
 * Records the write (once per request), queues its job and waits up to API_WRITE_WAIT_MS (or the
 * caller's shorter `waitMs`) for it: the write as it then stands, finished or not. /v1 and ictVoIP's
 * endpoints answer from it.
 */
export function performWrite(
  context: TenantContext,
  res: Response,
  request: WriteRequest,
  choose: () => WriteChoices = () => ({}),
  waitMs: number = context.deps.config.api.writeWaitMs,
): Promise<TenantWrite> {
  requireDomain(context);
  return performScopedWrite({ deps: context.deps, serviceId: context.service.serviceId }, res, request, choose, waitMs);
}

/** performWrite for any scope, a tenant's or (GLOBAL_WRITE_SERVICE_ID) a server's own resources. */
export async function performScopedWrite(
  scope: WriteScope,
  res: Response,
  request: WriteRequest,
  choose: () => WriteChoices = () => ({}),
  waitMs: number = scope.deps.config.api.writeWaitMs,
): Promise<TenantWrite> {
  const { deps } = scope;
  const recorded = await recordWrite(scope, res, request, choose);
  const write = recorded.write;
  if (isFinishedWrite(write)) return write;
  await enqueue(deps, write, recorded.inserted);
  // A write's job takes a few milliseconds once a worker has it: its finishing commit wakes the wait;
  // without the listener the poll looks again soon.
  const notification = finishNotification(deps, FINISH_CHANNELS.tenantWrites, write.writeId);
  const waited = Math.min(waitMs, deps.config.api.writeWaitMs);
  return (await waitForRow(() => deps.tenantWrites.get(write.writeId), isFinishedWrite, waited, { firstDelayMs: 4, signal: clientGone(res), notification })) ?? write;
}

/** The password the client may see in this answer (a created extension's), or none. */
export function passwordShown(context: TenantContext, write: TenantWrite): string | null {
  return shownPassword(context, write).password ?? null;
}

/** Queues the write (once per request), waits up to API_WRITE_WAIT_MS for its answer, and sends it. */
export async function submitWrite(context: TenantContext, res: Response, request: WriteRequest, choose: () => WriteChoices = () => ({})): Promise<void> {
  const write = await performWrite(context, res, request, choose);
  if (isFinishedWrite(write)) return sendFinished(context, res, write);
  sendPending(context, res, write);
}

import Joi from 'joi';
import type { Job } from 'bullmq';
import { FREESWITCH_JOBS, parseFreeswitchBacklogJobId, queueOf } from '@ictvoip/queue';
import { GLOBAL_WRITE_SERVICE_ID, ServicesRepository, type InboxEvent, type TenantWrite } from '@ictvoip/store';
import { isAdmin, serversOf, type Principal } from '../../api-keys/principal';
import { redisDeadline } from '../../api-keys/rate-limit-middleware';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { resolveService } from './tenant-context';

/** Removes what could be a secret from an error text (passwords, tokens, URLs with credentials). */
export function scrubSecrets(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  return text
    .replace(/ivk_[a-z0-9]+_[A-Za-z0-9_-]+/g, 'ivk_[redacted]')
    .replace(/\b(bearer|basic)\s+\S+/gi, '$1 [redacted]')
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1[redacted]@')
    .replace(/\b(password|passwd|secret|token|api[_-]?key|auth)(["']?\s*[:=]\s*["']?)[^\s"',;&}]+/gi, '$1$2[redacted]');
}

interface JobData {
  serviceId?: number;
  /** A global gateway write's FreeSWITCH job (service 0): the server it names. */
  server?: string | null;
  eventId?: string;
  action?: string;
}

/**
 * Once Redis has dropped a finished job (or while Redis is down), its PostgreSQL row tells the outcome.
 * An event `pending_apply` ran its job to the end (its FusionPBX side is committed; its FreeSWITCH side is
 * its service's backlog job's, answered under that job's id): the job itself is completed, as Redis says.
 */
function stateFromRow(status: string | undefined): string {
  if (status === 'succeeded' || status === 'rejected' || status === 'pending_apply') return 'completed';
  if (status === 'failed') return 'failed';
  return 'unknown';
}

/**
 * When the event's job ended, as its row tells: a finished event's finished_at; a `pending_apply` one's job ended
 * as its row went `pending_apply` (Redis's finishedOn then), its updated_at. Each later failed FreeSWITCH send
 * is noted on the row too and moves updated_at on: then it is that send's time, a little after the job's end.
 * The event itself gets finished_at once its backlog is applied.
 */
function rowFinishedAt(event: InboxEvent | null): Date | null {
  if (!event) return null;
  return event.finishedAt ?? (event.status === 'pending_apply' ? event.updatedAt : null);
}

/** A REST write's answer as the request would have had it (its result never holds a password). */
function writeView(write: TenantWrite) {
  return {
    status: write.status,
    httpStatus: write.httpStatus,
    resource: write.resource,
    operation: write.operation,
    target: write.target,
    result: write.result,
    error: write.error ? { ...write.error, message: scrubSecrets(write.error.message) } : null,
    attempts: write.attempts,
  };
}

/**
 * How long the job status read waits on Redis (after the rate limiter's own 1 s, for a key). The API's Redis
 * connection has no command timeout (one there would bound every add too, not only this read): a connection
 * that stalls while still `ready` would otherwise hold the request forever.
 */
export const JOB_STATUS_REDIS_TIMEOUT_MS = 2000;

/** Redis's own answer for job `id` (its queue name and state with it), or null when no queue holds it. */
async function findJob(deps: ApiDeps, id: string): Promise<{ job: Job; state: string } | null> {
  for (const [queueName, queue] of Object.entries(deps.queues)) {
    const job = await queue.getJob(id);
    if (job) {
      Object.defineProperty(job, 'queueName', { value: queueName, configurable: true });
      return { job, state: await job.getState() };
    }
  }
  return null;
}

/**
 * findJob, bounded: a stalled connection (still `ready`) or an error from Redis answers `unavailable`, so the
 * caller answers from PostgreSQL as when Redis is down (the abandoned read settles later, or never, unobserved).
 */
async function readRedisJob(deps: ApiDeps, id: string): Promise<{ found: { job: Job; state: string } | null } | { unavailable: unknown }> {
  try {
    return { found: await redisDeadline(findJob(deps, id), 'the job queue (Redis)', JOB_STATUS_REDIS_TIMEOUT_MS) };
  } catch (error) {
    return { unavailable: error };
  }
}

/** A FreeSWITCH job PostgreSQL records as owed, whose job Redis does not have (lost, or its add refused). */
interface OwedJob {
  name: (typeof FREESWITCH_JOBS)[keyof typeof FREESWITCH_JOBS];
  serviceId: number;
  server: string | null;
  since: string;
  lastError: string | null;
  /** Sends of it FreeSWITCH refused, as PostgreSQL counts them (a tenant's backlog, across its jobs); null where it counts none (a global apply). */
  failedSends: number | null;
}

/** Said of an owed job Redis does not have: the client's 202 still holds, the work is not lost. */
const OWED_DETAIL = 'The job is not in the queue (Redis lost it, or refused to add it); what it sends is saved in PostgreSQL and the reconciler adds it again.';

/** Said of an owed job while Redis cannot be asked: PostgreSQL still knows it is owed, not whether its job is running. */
const OWED_REDIS_DOWN_DETAIL =
  'The job queue (Redis) is unavailable: answered from PostgreSQL, which still owes what this job sends; the job sends it once Redis and the event socket answer (the reconciler adds it again if Redis lost it).';

/**
 * The durable record behind FreeSWITCH job `id`: a tenant's backlog (services.pending_apply, whose
 * job id names its origin version) or a global gateway write's apply (global_freeswitch_applies).
 */
async function owedJob(deps: ApiDeps, id: string): Promise<OwedJob | null> {
  const backlogJob = parseFreeswitchBacklogJobId(id);
  if (backlogJob) {
    const backlog = await new ServicesRepository(deps.pool).freeswitchBacklog(backlogJob.serviceId);
    if (backlog?.origin !== backlogJob.version) return null;
    return { name: FREESWITCH_JOBS.backlog, serviceId: backlogJob.serviceId, server: null, since: backlog.since, lastError: backlog.lastError, failedSends: backlog.attempts };
  }
  const owed = await deps.tenantWrites.globalApply(id);
  if (!owed) return null;
  return { name: FREESWITCH_JOBS.apply, serviceId: GLOBAL_WRITE_SERVICE_ID, server: owed.server, since: owed.since.toISOString(), lastError: null, failedSends: null };
}

export type JobView = NonNullable<Awaited<ReturnType<typeof jobView>>>['view'];

/**
 * The job (a webhook event, a REST write, a queued FreeSWITCH side) as it stands, or null when neither Redis nor PostgreSQL knows it.
 * With Redis unavailable, PostgreSQL answers what it knows: a job whose webhook_inbox / tenant_writes row is finished (or
 * `pending_apply`) from that row, a FreeSWITCH job it still owes (a tenant's backlog, a global apply) as waiting; any other is
 * 503 (only Redis knows it, and an id PostgreSQL no longer owes may have completed).
 * `server` is the FusionPBX server a global gateway write names (who may see it), else null.
 */
async function jobView(deps: ApiDeps, id: string) {
  const { rows } = await deps.pool.query<{ event_id: string }>('SELECT event_id FROM webhook_inbox WHERE job_id = $1 LIMIT 1', [id]);
  const event = rows[0] ? await deps.inbox.get(rows[0].event_id) : null;
  const write = await deps.tenantWrites.get(id);
  // Not ready, stalled, or answering an error: Redis cannot tell, PostgreSQL answers what it knows.
  const read = deps.redis.status === 'ready' ? await readRedisJob(deps, id) : { unavailable: new Error(`Redis connection ${deps.redis.status}`) };
  const redisReady = 'found' in read;
  const job = 'found' in read ? (read.found?.job ?? null) : null;
  // A FreeSWITCH job Redis lost (or never took), or cannot be asked about, is still owed: answered waiting, not unknown.
  const owed = !job && !event && !write ? await owedJob(deps, id) : null;
  if ('unavailable' in read && !owed && stateFromRow(event?.status ?? write?.status) === 'unknown') throw redisDown(read.unavailable);
  if (!job && !event && !write && !owed) return null;
  const data = (job?.data ?? {}) as JobData;
  const serviceId = typeof data.serviceId === 'number' ? data.serviceId : (event?.serviceId ?? write?.serviceId ?? owed?.serviceId ?? null);
  const view = {
    id,
    queue: job ? ((job as Job & { queueName?: string }).queueName ?? null) : owed ? queueOf(owed.name) : null,
    name: job?.name ?? owed?.name ?? null,
    // Completed jobs are removed from Redis after a while; the inbox row then tells the outcome.
    state: 'found' in read && read.found ? read.found.state : owed ? 'waiting' : stateFromRow(event?.status ?? write?.status),
    // An owed job's attempts are its job's, which Redis does not hold: unknown, not 0 (PostgreSQL counts failed sends instead).
    attempts: owed ? null : (job?.attemptsMade ?? event?.attempts ?? 0),
    maxAttempts: job?.opts.attempts ?? null,
    lastError: scrubSecrets(job?.failedReason || event?.lastError || owed?.lastError),
    serviceId,
    action: data.action ?? event?.action ?? (write ? `${write.resource}.${write.operation}` : null),
    createdAt: job?.timestamp ? new Date(job.timestamp).toISOString() : (event?.receivedAt.toISOString() ?? owed?.since ?? null),
    processedAt: job?.processedOn ? new Date(job.processedOn).toISOString() : null,
    finishedAt: job?.finishedOn ? new Date(job.finishedOn).toISOString() : (rowFinishedAt(event)?.toISOString() ?? null),
    event: event ? { eventId: event.eventId, status: event.status, retryable: event.retryable, lastError: scrubSecrets(event.lastError) } : null,
    write: write ? writeView(write) : null,
    ...(owed ? { failedSends: owed.failedSends, detail: redisReady ? OWED_DETAIL : OWED_REDIS_DOWN_DETAIL } : {}),
  };
  // Answered only because PostgreSQL owes it while Redis is down: its id (fs-backlog-<service>-<version>) can be guessed.
  const owedWhileRedisDown = !redisReady && owed !== null;
  return { view, server: write?.input.server ?? data.server ?? owed?.server ?? null, owedWhileRedisDown };
}

/** With Redis down, the answer for a job only Redis could tell about (and for one the caller may not see: the same answer). */
function redisDown(cause?: unknown): HttpError {
  const error = new HttpError(503, 'DEPENDENCY_UNAVAILABLE', 'the job queue (Redis) is unavailable; retry later', undefined, 5);
  // The operator's log line says why (a timeout, Redis's own error); the client is told only that Redis is unavailable.
  if (cause instanceof Error) error.logFields = { redisError: scrubSecrets(cause.message) };
  return error;
}

/**
 * The job as `principal` may see it, else null (unknown, or not its tenant's: the same answer; with
 * Redis down, another's owed FreeSWITCH job is 503, as an id PostgreSQL does not owe is): a
 * tenant key sees only its tenant's jobs, a FusionPBX superadmin (ictVoIP's endpoints) only those of
 * the tenants of its own servers (resolveService's rules) and its servers' own gateway writes, an
 * admin every job.
 */
export async function visibleJob(deps: ApiDeps, principal: Principal, id: string): Promise<JobView | null> {
  const found = await jobView(deps, id);
  if (!found) return null;
  if (await maySee(deps, principal, found)) return found.view;
  // With Redis down an id PostgreSQL does not owe is 503: another's owed job must read the same, or a key
  // could tell which of another tenant's guessable backlog job ids PostgreSQL still owes (its FreeSWITCH is behind).
  if (found.owedWhileRedisDown) throw redisDown();
  return null;
}

async function maySee(deps: ApiDeps, principal: Principal, { view, server }: { view: JobView; server: unknown }): Promise<boolean> {
  if (isAdmin(principal)) return true;
  if (view.serviceId === null) return false;
  if (view.serviceId === GLOBAL_WRITE_SERVICE_ID) {
    // A server's own gateway (ictVoIP's provision.php naming no tenant): a superadmin of that server.
    return serversOf(principal)?.includes(server as string | null) ?? false;
  }
  const service = await resolveService(deps, principal, String(view.serviceId)).catch((error: unknown) => {
    if (error instanceof HttpError && error.status === 404) return null;
    throw error;
  });
  return service !== null;
}

export const getJobRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/jobs/{id}',
    summary:
      'A background job (a webhook event, a REST write, a queued FreeSWITCH side): state, attempts, last error (secrets scrubbed), and a REST write’s answer; a tenant key sees only its tenant’s jobs',
    params: Joi.object({
      id: Joi.string()
        .max(200)
        .pattern(/^[A-Za-z0-9._-]+$/, 'job id')
        .required(),
    }),
    responses: {
      '200':
        'job (a FreeSWITCH job the bridge still owes but Redis does not hold, or while Redis is down: state waiting, with a `detail` saying why, `attempts` null (its job’s, which Redis holds) and `failedSends` (PostgreSQL’s count of its refused sends, null for a global apply); with Redis down, only what PostgreSQL knows is answered; Redis counts as down when it does not answer the job’s read within 2 s or answers it with an error; a `pending_apply` event’s job is completed, `finishedAt` when its row went pending_apply or last noted a failed FreeSWITCH send)',
      '503':
        'Redis is down (or stalled past 2 s, or answering an error) and only Redis knows this job (PostgreSQL neither finished nor owes it), or it is another tenant’s FreeSWITCH job PostgreSQL owes (the same answer as one it does not)',
      '404': 'unknown job, or another tenant’s',
    },
  },
  // Reads only the bridge's database once Redis is down: a finished job is still answered then.
  whenLimiterBlind: 'allow',
  async handler({ deps, res, principal, input }) {
    const id = input.params.id as string;
    const view = await visibleJob(deps, principal, id);
    if (!view) throw new HttpError(404, 'NOT_FOUND', `job ${id} not found`);
    res.json(view);
  },
};

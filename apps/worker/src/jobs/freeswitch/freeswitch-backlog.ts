import { withDeadline } from '@ictvoip/config';
import { DEFAULT_SERVER_NAME, sendWithCurrentHangups, withoutStaleGatewayStarts } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide, coalesceSteps, validateStep, type FreeswitchStep } from '@ictvoip/freeswitch';
import { CAPPED_BACKOFF, FREESWITCH_JOBS, freeswitchBacklogJobId, requeueJobUnlessLive, type FreeswitchBacklogJobData, type TypedJob } from '@ictvoip/queue';
import { inBridgeTransaction, requestedBy, withFreeswitchLock, type BacklogEvent, type FreeswitchBacklog } from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { describeError, PermanentJobError } from '../../errors';
import { permanentWhenServerUnavailable, scopeForService } from '../../fusion-scope';

/**
 * A service's FreeSWITCH side is level-triggered: every event commits its FusionPBX rows and adds its
 * steps to the service's backlog (coalesced), and one apply sends whatever is owed. The database side
 * of the next events never waits for the event socket; an outage leaves a backlog, not a queue of
 * blocked events.
 */

export interface ObservedChange {
  state: string;
  tenantDomain: string;
  properties?: Record<string, unknown>;
}

export interface BacklogAddition {
  /** The backlog after the addition; null when nothing is owed. */
  backlog: FreeswitchBacklog | null;
  /** FreeSWITCH was already behind before this addition (its backlog job exists). */
  wasBehind: boolean;
  /** This event owes steps and waits for the backlog. */
  waits: boolean;
}

export type BacklogApplyOutcome =
  | { state: 'none' }
  | { state: 'applied'; version: number; steps: number; dropped: number; events: string[] }
  /** `jobId`: the backlog job an inline attempt (`ensureJob`) added before its events showed pending_apply. */
  | { state: 'failed'; version: number; error: string; jobId?: string };

/**
 * The retries of a job that sends what FreeSWITCH is owed (a service's backlog, a global gateway's
 * apply): the event socket may be down for a while. Capped (FREESWITCH_RETRY_MAX_MS, the worker's
 * backoff strategy), so it is sent soon after the event socket is back; once they are used up, the
 * reconciler adds the job again while PostgreSQL still says it is owed.
 */
export const FREESWITCH_RETRY_JOB = { attempts: 16, backoff: { type: CAPPED_BACKOFF } };
const MAX_ROUNDS = 5;

/** `event` null: a REST write's steps, which no inbox event waits for (the write answered 202 already). */
function nextBacklog(current: FreeswitchBacklog | null, steps: FreeswitchStep[], event: BacklogEvent | null): FreeswitchBacklog {
  const started = Date.now();
  const waiting = event ? [event] : [];
  if (!current) return { version: started, origin: started, steps: coalesceSteps([], steps), events: waiting, since: new Date().toISOString(), lastError: null, attempts: 0 };
  return {
    ...current,
    version: current.version + 1,
    steps: coalesceSteps(current.steps as FreeswitchStep[], steps),
    events: [...current.events.filter((known) => known.eventId !== event?.eventId), ...waiting],
  };
}

/** Adds a REST write's FreeSWITCH steps to the service's backlog (the same backlog events use). */
export function addWriteSteps(deps: WorkerDeps, serviceId: number, steps: FreeswitchStep[]): Promise<{ backlog: FreeswitchBacklog; wasBehind: boolean }> {
  return inBridgeTransaction(deps, async ({ services }) => {
    const current = await services.lockFreeswitchBacklog(serviceId);
    const backlog = nextBacklog(current, steps, null);
    await services.writeFreeswitchBacklog(serviceId, backlog);
    return { backlog, wasBehind: current !== null };
  });
}

/** Records the event's converged FusionPBX state and adds its FreeSWITCH steps to the backlog, in one transaction. */
export function recordConverged(deps: WorkerDeps, serviceId: number, observed: ObservedChange, steps: FreeswitchStep[], event: BacklogEvent): Promise<BacklogAddition> {
  return inBridgeTransaction(deps, async ({ services }) => {
    const current = await services.lockFreeswitchBacklog(serviceId);
    if (steps.length === 0) {
      await services.recordObserved(serviceId, observed);
      return { backlog: current, wasBehind: current !== null, waits: false };
    }
    const backlog = nextBacklog(current, steps, event);
    await services.recordObserved(serviceId, { ...observed, pendingApply: backlog });
    return { backlog, wasBehind: current !== null, waits: true };
  });
}

export function pendingMessage(backlog: Pick<FreeswitchBacklog, 'since' | 'steps'>, error: string | null): string {
  const why = error ? `; event socket: ${error}` : '';
  return `FusionPBX updated; FreeSWITCH side pending since ${backlog.since} (${backlog.steps.length} step(s)${why}). Applied automatically once the event socket answers.`;
}

/** Adds the backlog's job unless a live one exists (a failed one is added again: the backlog is still owed). */
export async function queueBacklogJob(deps: WorkerDeps, serviceId: number, version: number): Promise<{ jobId: string; added: boolean }> {
  const data: FreeswitchBacklogJobData = { serviceId, version };
  const jobId = freeswitchBacklogJobId(data);
  const { added } = await requeueJobUnlessLive(deps.queues, FREESWITCH_JOBS.backlog, data, jobId, FREESWITCH_RETRY_JOB);
  return { jobId, added };
}

/**
 * Adds the job of what PostgreSQL already records as owed to FreeSWITCH (a service's backlog, a
 * global gateway's apply), for a write whose FusionPBX rows are committed. A failure to add it (Redis
 * down or refusing) is logged, not thrown: the write must not end as a failure a client would send
 * again into a duplicate, and the reconciler adds the job from that record, with the same id.
 */
export async function addOwedJob(deps: WorkerDeps, jobId: string, add: () => Promise<unknown>): Promise<void> {
  try {
    await add();
  } catch (error) {
    deps.logger.warn({ err: describeError(error), jobId }, 'FreeSWITCH job not added; the reconciler adds it from PostgreSQL');
  }
}

function checkedSteps(deps: WorkerDeps, serviceId: number, steps: readonly unknown[]): FreeswitchStep[] {
  return steps.flatMap((step) => {
    try {
      return [validateStep(step as FreeswitchStep)];
    } catch (error) {
      // Never sent, never retried: a step that could break out of its command is dropped and said so.
      deps.logger.error({ serviceId, err: describeError(error) }, 'invalid FreeSWITCH step dropped from the backlog');
      return [];
    }
  });
}

/** Clears exactly the applied version and finishes its events (status, result and audit) together, in one statement. */
function completeBacklog(deps: WorkerDeps, serviceId: number, backlog: FreeswitchBacklog, sent: number): Promise<boolean> {
  return deps.inbox.succeedClearingBacklog(
    serviceId,
    backlog.version,
    backlog.events.map((event) => ({
      eventId: event.eventId,
      result: { message: event.message, serviceProperties: event.serviceProperties },
      audit: {
        actor: 'worker',
        action: event.action,
        detail: { message: event.message, steps: sent, freeswitch: 'applied', backlogVersion: backlog.version, ...requestedBy(event) },
      },
    })),
  );
}

async function noteFailure(deps: WorkerDeps, serviceId: number, backlog: FreeswitchBacklog, error: string): Promise<void> {
  await inBridgeTransaction(deps, async ({ services, inbox }) => {
    await services.noteFreeswitchFailure(serviceId, backlog.version, error);
    for (const event of backlog.events) await inbox.markPendingApply(event.eventId, pendingMessage(backlog, error));
  });
}

/**
 * Sends the service's backlog to the event socket of `deps` (the service's own server) and clears
 * what was sent. A later event adding to the backlog meanwhile makes it send again with the new
 * steps (every step is idempotent). `deadlineMs` bounds an inline attempt; `ensureJob` (an inline
 * attempt: no backlog job runs it) adds the backlog's job when the send fails, before the failure is
 * noted: an event is never pending_apply with no job to finish it, even when the worker dies between.
 * The job may start at once; it waits for this lock, then finds the backlog (or none) and sends it.
 */
export function applyBacklog(deps: ScopedDeps, serviceId: number, options: { deadlineMs?: number; ensureJob?: boolean } = {}): Promise<BacklogApplyOutcome> {
  return withFreeswitchLock(deps.pool, serviceId, async () => {
    let outcome: BacklogApplyOutcome = { state: 'none' };
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const backlog = await deps.services.freeswitchBacklog(serviceId);
      if (!backlog) return outcome;
      const steps = checkedSteps(deps, serviceId, backlog.steps);
      const wanted = await withoutStaleGatewayStarts(deps.fusion.pool, steps);
      let sent: number;
      try {
        // A hangup is checked against the tenant's state as it goes out, not as it was read here.
        const sending = sendWithCurrentHangups(deps.fusion.pool, serviceId, wanted, async (current) => {
          await applyFreeswitchSide(deps.fusion.esl, current, { cache: deps.fusion.cacheOptions });
        });
        sent = await (options.deadlineMs ? withDeadline(sending, options.deadlineMs, () => new Error(`no answer within ${options.deadlineMs} ms`)) : sending);
      } catch (error) {
        const message = describeError(error);
        const job = options.ensureJob ? await queueBacklogJob(deps, serviceId, backlog.origin) : null;
        await noteFailure(deps, serviceId, backlog, message);
        return { state: 'failed', version: backlog.version, error: message, ...(job ? { jobId: job.jobId } : {}) };
      }
      outcome = {
        state: 'applied',
        version: backlog.version,
        steps: sent,
        dropped: backlog.steps.length - sent,
        events: backlog.events.map((event) => event.eventId),
      };
      if (await completeBacklog(deps, serviceId, backlog, sent)) return outcome;
    }
    // Steps kept arriving faster than they were sent: nothing is cleared, so nobody may report done.
    const owed = await deps.services.freeswitchBacklog(serviceId);
    if (!owed) return outcome;
    return { state: 'failed', version: owed.version, error: `the backlog changed during each of ${MAX_ROUNDS} sends; the backlog job finishes it` };
  });
}

/** The `freeswitch.backlog` job: applies what the service owes FreeSWITCH, retried with backoff until it answers. */
export async function applyFreeswitchBacklogJob(deps: WorkerDeps, job: TypedJob<typeof FREESWITCH_JOBS.backlog>): Promise<BacklogApplyOutcome & { server: string }> {
  const data = job.data;
  const service = await deps.services.get(data.serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${data.serviceId} is not managed by the bridge`);
  const server = service.fusionpbxServer ?? DEFAULT_SERVER_NAME;
  if (!service.pendingApply) return { state: 'none', server };
  const scoped = await scopeForService(deps, service).catch(permanentWhenServerUnavailable);
  const logger = deps.logger.child({ serviceId: data.serviceId, jobId: job.id, server });
  const outcome = await applyBacklog(scoped, data.serviceId);
  if (outcome.state === 'failed') {
    // At debug: the failed job is logged once per interval and error by the worker ('job failed').
    logger.debug({ err: outcome.error, attempt: job.attemptsMade + 1 }, 'FreeSWITCH backlog not applied; will retry');
    throw new Error(`FreeSWITCH side still pending: ${outcome.error}`);
  }
  if (outcome.state === 'applied') logger.info({ steps: outcome.steps, dropped: outcome.dropped, events: outcome.events.length }, 'FreeSWITCH backlog applied');
  return { ...outcome, server };
}

/** The reconciler's safety net: a backlog whose job is gone or failed (Redis lost, attempts used up) gets one again. */
export async function requeueBacklogs(deps: WorkerDeps, olderThanSeconds: number): Promise<{ behind: number; requeued: number }> {
  const behind = await deps.services.freeswitchBehind();
  let requeued = 0;
  const cutoff = Date.now() - olderThanSeconds * 1000;
  for (const { serviceId, backlog } of behind) {
    if (Date.parse(backlog.since) > cutoff) continue;
    const { added, jobId } = await queueBacklogJob(deps, serviceId, backlog.origin);
    if (!added) continue;
    requeued += 1;
    deps.logger.info({ serviceId, jobId, since: backlog.since }, 'reconciler re-enqueued a FreeSWITCH backlog');
  }
  return { behind: behind.length, requeued };
}

import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { applyFreeswitchSide, cacheOptionsFromConfig, type CacheOptions, type FreeswitchStep } from '@ictvoip/fusionpbx';
import { FREESWITCH_JOBS, freeswitchApplyJobId } from '@ictvoip/queue';
import type { ApiDeps } from '../../deps';
import { withEnqueueTimeout } from '../../enqueue-timeout';
import { EventSocketUnavailableError, isEslFailure } from './domain-errors';

/** Races `work` against the API's event-socket deadline, so a slow FreeSWITCH is a 503, never a hang. */
export async function withEslDeadline<T>(deps: ApiDeps, work: () => Promise<T>): Promise<T> {
  if (deps.esl === undefined) throw new EventSocketUnavailableError('not configured');
  const ms = deps.config.api.eslDeadlineMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new EventSocketUnavailableError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function cacheOptionsFrom(deps: ApiDeps): CacheOptions {
  return cacheOptionsFromConfig(deps.config);
}

export interface FreeswitchOutcome {
  applied: boolean;
  /** Not applied, and queued for a worker to apply once the event socket answers (GET `url` for its state). */
  job?: { id: string; url: string };
  /** Set when FusionPBX is committed but FreeSWITCH was not reached. */
  message?: string;
}

/** Which write the steps follow: the job is the service's, named after the request. */
export interface WriteOrigin {
  serviceId: number;
  requestId: string;
}

/** The write's service and the request id the API gave it (X-Request-Id). */
export function writeOrigin(context: { service: { serviceId: number } }, res: Response): WriteOrigin {
  const requestId = typeof res.locals.requestId === 'string' ? res.locals.requestId : randomUUID();
  return { serviceId: context.service.serviceId, requestId };
}

/** Queues the steps for a worker; null when Redis does not take the job either (the caller must repeat). */
async function queueForWorker(deps: ApiDeps, steps: FreeswitchStep[], origin: WriteOrigin): Promise<{ id: string; url: string } | null> {
  const data = { serviceId: origin.serviceId, requestId: origin.requestId, steps };
  const id = freeswitchApplyJobId(data);
  try {
    // 16 attempts, the delay doubling from JOB_BACKOFF_MS (2 s by default): retried for up to about 18 hours.
    await withEnqueueTimeout(deps.queues.provisioning.add(FREESWITCH_JOBS.apply, data, { jobId: id, attempts: 16 }));
    return { id, url: `/v1/jobs/${id}` };
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message, serviceId: origin.serviceId }, 'FreeSWITCH side could not be queued either');
    return null;
  }
}

/**
 * Applies the FreeSWITCH side of a committed write. The database part is already committed; when
 * the event socket does not answer, the steps are queued for a worker (the caller answers 202 with
 * the job), and every step is idempotent, so repeating the same request is also safe.
 */
export async function applyAfterWrite(deps: ApiDeps, steps: FreeswitchStep[], origin: WriteOrigin): Promise<FreeswitchOutcome> {
  if (steps.length === 0) return { applied: true };
  try {
    await withEslDeadline(deps, () => applyFreeswitchSide(deps.esl, steps, { cache: cacheOptionsFrom(deps) }));
    return { applied: true };
  } catch (error) {
    if (!isEslFailure(error) && !(error instanceof Error && 'code' in error)) throw error;
    const reason = (error as Error).message;
    deps.logger.warn({ err: reason, steps: steps.length }, 'FreeSWITCH side not applied after API write');
    const job = await queueForWorker(deps, steps, origin);
    if (job) return { applied: false, job, message: `FusionPBX is updated; FreeSWITCH not yet (${reason}). A worker applies it once the event socket answers: GET ${job.url}.` };
    return { applied: false, message: `FusionPBX is updated; FreeSWITCH not yet (${reason}). Repeat the request to apply it.` };
  }
}

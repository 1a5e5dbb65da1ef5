import { DEFAULT_SERVER_NAME, withoutStaleGatewayStarts } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide, validateStep, type FreeswitchStep } from '@ictvoip/freeswitch';
import { DEFAULT_FUSION_SERVER, GLOBAL_WRITE_SERVICE_ID, withServerLock, withServiceLock } from '@ictvoip/store';
import type { FREESWITCH_JOBS, TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { describeError, PermanentJobError } from '../../errors';
import { permanentWhenServerUnavailable, scopeForService } from '../../fusion-scope';
import { withJobLogger } from '../../metrics';

export interface FreeswitchApplyResult {
  server: string;
  steps: number;
  /** gateway_start steps left out because their gateway was deleted or disabled since. */
  dropped: number;
}

function checkedSteps(steps: readonly unknown[]): FreeswitchStep[] {
  try {
    return steps.map((step) => validateStep(step as FreeswitchStep));
  } catch (error) {
    throw new PermanentJobError('FREESWITCH_STEP_INVALID', describeError(error));
  }
}

/**
 * A global apply with a step that can never be sent (validateStep refuses it) is owed no more: its
 * record goes with the job's permanent failure, so the reconciler does not add it again each sweep.
 */
async function checkedGlobalSteps(deps: WorkerDeps, job: TypedJob<typeof FREESWITCH_JOBS.apply>): Promise<FreeswitchStep[]> {
  try {
    return checkedSteps(job.data.steps);
  } catch (error) {
    if (job.id && (await deps.tenantWrites.forgetGlobalApply(job.id))) {
      deps.logger.error({ jobId: job.id, err: describeError(error) }, 'FreeSWITCH side of a global gateway write given up: a step cannot be sent');
    }
    throw error;
  }
}

/**
 * The FreeSWITCH side of a global gateway write (service 0) the event socket did not take: sent to
 * the named server's event socket under the server's global-write lock, as the write itself was, so
 * a later global write of the server does not interleave with it. Its record in
 * global_freeswitch_applies is deleted once sent (see global-apply.ts).
 */
async function applyGlobalSteps(deps: WorkerDeps, job: TypedJob<typeof FREESWITCH_JOBS.apply>, steps: FreeswitchStep[]): Promise<FreeswitchApplyResult> {
  const server = job.data.server ?? null;
  const target = await deps.targets.get(server).catch(permanentWhenServerUnavailable);
  const name = server ?? DEFAULT_FUSION_SERVER;
  const logger = deps.logger.child({ requestId: job.data.requestId, server: name, jobId: job.id });
  const sent = await withServerLock(
    deps.pool,
    name,
    async () => {
      const wanted = await withoutStaleGatewayStarts(target.pool, steps);
      await withJobLogger(logger, () => applyFreeswitchSide(target.esl, wanted, { cache: target.cacheOptions }));
      return wanted.length;
    },
    deps.config.worker.writeLockWaitMs,
  );
  // Nothing owed any more: the reconciler stops adding this job.
  if (job.id) await deps.tenantWrites.forgetGlobalApply(job.id);
  logger.info({ steps: sent, dropped: steps.length - sent }, 'FreeSWITCH side of a global gateway write applied');
  return { server: server ?? DEFAULT_SERVER_NAME, steps: sent, dropped: steps.length - sent };
}

/**
 * The FreeSWITCH side of a REST write whose event socket did not answer (a tenant's, queued by the
 * API before backlogs existed; a global gateway's, queued by its write job): its FusionPBX rows are
 * committed already. Every step is idempotent, so a retry or a replay repeats
 * nothing harmful; the steps go to the event socket of the server the service lives on. A gateway
 * start whose gateway a later write removed or disabled is left out.
 */
export async function applyFreeswitchJob(deps: WorkerDeps, job: TypedJob<typeof FREESWITCH_JOBS.apply>): Promise<FreeswitchApplyResult> {
  const data = job.data;
  if (data.serviceId === GLOBAL_WRITE_SERVICE_ID) return applyGlobalSteps(deps, job, await checkedGlobalSteps(deps, job));
  const steps = checkedSteps(data.steps);
  const service = await deps.services.get(data.serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${data.serviceId} is not managed by the bridge`);
  const scoped = await scopeForService(deps, service).catch(permanentWhenServerUnavailable);
  const server = service.fusionpbxServer ?? DEFAULT_SERVER_NAME;
  const logger = deps.logger.child({ requestId: data.requestId, serviceId: data.serviceId, jobId: job.id });
  // Under the service lock, like the writes: no write of this service commits while the steps go out.
  const sent = await withServiceLock(deps.pool, data.serviceId, async () => {
    const wanted = await withoutStaleGatewayStarts(scoped.fusion.pool, steps);
    await withJobLogger(logger, () => applyFreeswitchSide(scoped.fusion.esl, wanted, { cache: scoped.fusion.cacheOptions }));
    return wanted.length;
  });
  logger.info({ steps: sent, dropped: steps.length - sent, server }, 'FreeSWITCH side of a REST write applied');
  return { server, steps: sent, dropped: steps.length - sent };
}

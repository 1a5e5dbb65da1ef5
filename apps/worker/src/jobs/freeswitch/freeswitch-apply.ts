import { DEFAULT_SERVER_NAME, withoutStaleGatewayStarts } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide, validateStep, type FreeswitchStep } from '@ictvoip/freeswitch';
import { withServiceLock } from '@ictvoip/store';
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
 * The FreeSWITCH side of a REST write, queued by the API when the event socket did not answer: its
 * FusionPBX rows are committed already. Every step is idempotent, so a retry or a replay repeats
 * nothing harmful; the steps go to the event socket of the server the service lives on. A gateway
 * start whose gateway a later write removed or disabled is left out.
 */
export async function applyFreeswitchJob(deps: WorkerDeps, job: TypedJob<typeof FREESWITCH_JOBS.apply>): Promise<FreeswitchApplyResult> {
  const data = job.data;
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

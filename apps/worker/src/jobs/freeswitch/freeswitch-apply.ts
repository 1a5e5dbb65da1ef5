import type { Job } from 'bullmq';
import { applyFreeswitchSide, validateStep, type FreeswitchStep } from '@ictvoip/fusionpbx';
import { FREESWITCH_JOBS, freeswitchApplyJobDataSchema, validatePayload } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { describeError, PermanentJobError } from '../../errors';
import { isServerUnavailable, scopeForService } from '../../fusion-scope';
import { withJobLogger } from '../../metrics';

export interface FreeswitchApplyResult {
  server: string;
  steps: number;
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
 * nothing harmful; the steps go to the event socket of the server the service lives on.
 */
export async function applyFreeswitchJob(deps: WorkerDeps, job: Job): Promise<FreeswitchApplyResult> {
  const data = validatePayload(freeswitchApplyJobDataSchema, FREESWITCH_JOBS.apply, job.data);
  const steps = checkedSteps(data.steps);
  const service = await deps.services.get(data.serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${data.serviceId} is not managed by the bridge`);
  let scoped: WorkerDeps;
  try {
    scoped = await scopeForService(deps, service);
  } catch (error) {
    if (isServerUnavailable(error)) throw new PermanentJobError(error.code, error.message);
    throw error;
  }
  const logger = deps.logger.child({ requestId: data.requestId, serviceId: data.serviceId, jobId: job.id });
  await withJobLogger(logger, () => applyFreeswitchSide(scoped.esl, steps, { cache: scoped.cacheOptions }));
  logger.info({ steps: steps.length, server: service.fusionpbxServer ?? 'default' }, 'FreeSWITCH side of a REST write applied');
  return { server: service.fusionpbxServer ?? 'default', steps: steps.length };
}

import { FREESWITCH_JOBS, requeueJobUnlessLive, type FreeswitchStepData } from '@ictvoip/queue';
import { DEFAULT_FUSION_SERVER, GLOBAL_WRITE_SERVICE_ID, type OwedGlobalApply } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { describeError } from '../../errors';
import { isServerUnavailable } from '../../fusion-scope';
import { addOwedJob, FREESWITCH_RETRY_JOB } from './freeswitch-backlog';

/**
 * A global gateway write's FreeSWITCH side has no service, so no backlog in services.pending_apply:
 * what it owes is kept in global_freeswitch_applies instead, written before its `freeswitch.apply`
 * job is added and deleted by that job once FreeSWITCH took the steps. The reconciler adds the job
 * again as it does a tenant's backlog job (same id, same retries), so attempts used up or a Redis
 * that lost the job never leave a gateway in FusionPBX that FreeSWITCH does not load.
 */

/** The audit action of a global apply given up because its server was removed or disabled. */
export const GLOBAL_APPLY_DROPPED = 'freeswitch.global_apply_dropped';

/** The job that sends a global write's FreeSWITCH side: one per write, so a replay or the reconciler finds it. */
export const globalApplyJobId = (writeId: string) => `fs-global-${writeId}`;

type OwedApply = Omit<OwedGlobalApply, 'since' | 'jobId'>;

function addApplyJob(deps: WorkerDeps, jobId: string, owed: OwedApply): Promise<{ previousState: string; added: boolean }> {
  // A gateway's steps (cache deletes, rescan, killgw/startgw) are all step data, validated again by the job.
  const data = { serviceId: GLOBAL_WRITE_SERVICE_ID, requestId: owed.requestId, server: owed.server, steps: owed.steps as FreeswitchStepData[] };
  return requeueJobUnlessLive(deps.queues, FREESWITCH_JOBS.apply, data, jobId, FREESWITCH_RETRY_JOB);
}

/** Records what the write owes FreeSWITCH, then adds its job: a crash or a Redis failure between leaves the record for the reconciler. */
export async function oweGlobalApply(deps: WorkerDeps, owed: OwedApply): Promise<string> {
  const jobId = globalApplyJobId(owed.writeId);
  await deps.tenantWrites.oweGlobalApply({ ...owed, jobId });
  await addOwedJob(deps, jobId, () => addApplyJob(deps, jobId, owed));
  return jobId;
}

/** The server of an owed apply can still take it; else the record is deleted, said once in the log and the audit. */
async function serverStillThere(deps: WorkerDeps, owed: OwedGlobalApply): Promise<boolean> {
  try {
    await deps.targets.get(owed.server);
    return true;
  } catch (error) {
    if (!isServerUnavailable(error)) throw error;
    if (!(await deps.tenantWrites.forgetGlobalApply(owed.jobId))) return false;
    const detail = { jobId: owed.jobId, writeId: owed.writeId, server: owed.server ?? DEFAULT_FUSION_SERVER, since: owed.since.toISOString(), reason: describeError(error) };
    deps.logger.warn(detail, 'FreeSWITCH side of a global gateway write given up: its FusionPBX server was removed or disabled');
    await deps.audit.append({ actor: 'worker', action: GLOBAL_APPLY_DROPPED, detail });
    return false;
  }
}

/** The reconciler's safety net for global writes: an owed apply whose job is gone or failed (attempts used up) gets it again. */
export async function requeueGlobalApplies(deps: WorkerDeps, olderThanSeconds: number): Promise<{ owed: number; requeued: number; dropped: number }> {
  const owed = await deps.tenantWrites.globalAppliesOwed(olderThanSeconds);
  let requeued = 0;
  let dropped = 0;
  for (const apply of owed) {
    const outcome = await requeueOne(deps, apply).catch((error: unknown) => {
      // One server that cannot be opened (its stored secrets unreadable) is left for the next pass, not a crash of this one.
      deps.logger.error({ jobId: apply.jobId, server: apply.server ?? DEFAULT_FUSION_SERVER, err: describeError(error) }, 'reconciler skipped an owed global apply');
      return 'kept' as const;
    });
    if (outcome === 'dropped') dropped += 1;
    if (outcome === 'requeued') requeued += 1;
  }
  return { owed: owed.length, requeued, dropped };
}

async function requeueOne(deps: WorkerDeps, apply: OwedGlobalApply): Promise<'dropped' | 'requeued' | 'kept'> {
  if (!(await serverStillThere(deps, apply))) return 'dropped';
  const { added, previousState } = await addApplyJob(deps, apply.jobId, apply);
  if (!added) return 'kept';
  deps.logger.info(
    { jobId: apply.jobId, writeId: apply.writeId, server: apply.server ?? DEFAULT_FUSION_SERVER, previousState },
    'reconciler re-enqueued the FreeSWITCH side of a global gateway write',
  );
  return 'requeued';
}

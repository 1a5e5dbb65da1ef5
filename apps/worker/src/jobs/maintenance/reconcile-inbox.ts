import {
  addJob,
  isProvisioningAction,
  MAINTENANCE_JOBS,
  PROVISIONING_JOBS,
  requeueJobUnlessLive,
  TENANT_WRITE_JOBS,
  type ProvisioningJobData,
  type TenantWriteJobData,
  type TypedJob,
} from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { requeueBacklogs } from '../freeswitch/freeswitch-backlog';
import { requeueGlobalApplies } from '../freeswitch/global-apply';
import { requeueLostFinalBills } from '../billing/final-bill';

export interface ReconcileOutcome {
  examined: number;
  requeued: number;
  /** REST writes (tenant_writes) looked at and re-enqueued. */
  writesExamined: number;
  writesRequeued: number;
  /** Sealed passwords wiped and rows deleted from REST writes finished long ago. */
  writesPurged: { secretsWiped: number; deleted: number };
  /** Services whose FreeSWITCH side is behind, and how many of their backlog jobs were added again. */
  freeswitchBehind: number;
  backlogsRequeued: number;
  /** Global gateway writes whose FreeSWITCH side is owed: their apply jobs added again, and those given up (server removed or disabled). */
  globalAppliesOwed: number;
  globalAppliesRequeued: number;
  globalAppliesDropped: number;
  /** Final bills after a termination whose job Redis lost, added again. */
  finalBillsRequeued: number;
}

/** A repeated create shows its password again within a day; a write's answer is kept for 30 days. */
const WRITE_SECRET_HOURS = 24;
const WRITE_KEEP_DAYS = 30;

async function reconcileEvents(deps: WorkerDeps, olderThanSeconds: number): Promise<{ examined: number; requeued: number }> {
  const stale = await deps.inbox.stale(olderThanSeconds);
  let requeued = 0;
  for (const event of stale) {
    // The row's action is a string from PostgreSQL: one no job serves is left for an operator, not a crash of the whole pass.
    if (!isProvisioningAction(event.action)) {
      deps.logger.error({ eventId: event.eventId, action: event.action }, 'reconciler skipped an unfinished event no job serves');
      continue;
    }
    const payload: ProvisioningJobData = { eventId: event.eventId, serviceId: event.serviceId, action: event.action, requestId: event.requestId ?? undefined };
    const name = PROVISIONING_JOBS[event.action];
    // Every row written since the first release has a deterministic job id; one without gets a fresh job.
    const { previousState, added } = event.jobId
      ? await requeueJobUnlessLive(deps.queues, name, payload, event.jobId)
      : { previousState: 'missing', added: !!(await addJob(deps.queues, name, payload)) };
    if (!added) continue;
    await deps.inbox.markQueued(event.eventId);
    requeued += 1;
    deps.logger.info({ eventId: event.eventId, previousState }, 'reconciler re-enqueued an unfinished event');
  }
  return { examined: stale.length, requeued };
}

async function reconcileWrites(deps: WorkerDeps, olderThanSeconds: number): Promise<{ examined: number; requeued: number }> {
  const stale = await deps.tenantWrites.stale(olderThanSeconds);
  let requeued = 0;
  for (const write of stale) {
    const payload: TenantWriteJobData = { writeId: write.writeId, serviceId: write.serviceId, requestId: write.requestId };
    const { previousState, added } = await requeueJobUnlessLive(deps.queues, TENANT_WRITE_JOBS[write.resource], payload, write.writeId);
    if (!added) continue;
    requeued += 1;
    deps.logger.info({ writeId: write.writeId, previousState }, 'reconciler re-enqueued an unfinished REST write');
  }
  return { examined: stale.length, requeued };
}

/**
 * PostgreSQL is the source of truth: any inbox event, REST write, FreeSWITCH backlog or global apply not finished
 * after a while and without a live job in Redis (flushed, failed over, or never added because Redis was down) is
 * enqueued again with its deterministic id, so it runs once. REST writes finished long ago are
 * forgotten here too.
 */
export async function reconcileInbox(
  deps: WorkerDeps,
  job: TypedJob<typeof MAINTENANCE_JOBS.reconcileInbox> | null,
  olderThanSeconds = deps.config.worker.reconcileAfterSeconds,
): Promise<ReconcileOutcome> {
  const data = job?.data ?? {};
  const after = data.olderThanSeconds ?? olderThanSeconds;
  const events = await reconcileEvents(deps, after);
  const writes = await reconcileWrites(deps, after);
  const backlogs = await requeueBacklogs(deps, after);
  const globalApplies = await requeueGlobalApplies(deps, after);
  const finalBillsRequeued = await requeueLostFinalBills(deps, after);
  const writesPurged = await deps.tenantWrites.purge(WRITE_SECRET_HOURS, WRITE_KEEP_DAYS);
  return {
    examined: events.examined,
    requeued: events.requeued,
    writesExamined: writes.examined,
    writesRequeued: writes.requeued,
    writesPurged,
    freeswitchBehind: backlogs.behind,
    backlogsRequeued: backlogs.requeued,
    globalAppliesOwed: globalApplies.owed,
    globalAppliesRequeued: globalApplies.requeued,
    globalAppliesDropped: globalApplies.dropped,
    finalBillsRequeued,
  };
}

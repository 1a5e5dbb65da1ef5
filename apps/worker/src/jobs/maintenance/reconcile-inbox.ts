import { MAINTENANCE_JOBS, PROVISIONING_JOBS, reconcileJobDataSchema, validatePayload, type ProvisioningJobData } from '@ictvoip/queue';
import type { Job } from 'bullmq';
import type { WorkerDeps } from '../../deps';

export interface ReconcileOutcome {
  examined: number;
  requeued: number;
}

/**
 * PostgreSQL is the source of truth: any inbox event not finished after a while and without a live
 * job in Redis (flushed, failed over, or never added because Redis was down) is enqueued again with
 * its deterministic id, so it runs once.
 */
export async function reconcileInbox(deps: WorkerDeps, job: Job | null, olderThanSeconds = deps.config.worker.reconcileAfterSeconds): Promise<ReconcileOutcome> {
  const data = job ? validatePayload(reconcileJobDataSchema, MAINTENANCE_JOBS.reconcileInbox, job.data) : {};
  const stale = await deps.inbox.stale(data.olderThanSeconds ?? olderThanSeconds);
  let requeued = 0;
  for (const event of stale) {
    const jobId = event.jobId ?? undefined;
    const existing = jobId ? await deps.queues.provisioning.getJob(jobId) : undefined;
    const state = existing ? await existing.getState() : 'missing';
    if (state === 'waiting' || state === 'active' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') continue;
    // A failed or completed job with an unfinished event lost its outcome: remove it so the id is free.
    if (existing) await existing.remove().catch(() => undefined);
    const payload: ProvisioningJobData = { eventId: event.eventId, serviceId: event.serviceId, action: event.action, requestId: event.requestId ?? undefined };
    await deps.queues.provisioning.add(PROVISIONING_JOBS[event.action as keyof typeof PROVISIONING_JOBS], payload, { jobId });
    await deps.inbox.markQueued(event.eventId);
    requeued += 1;
    deps.logger.info({ eventId: event.eventId, previousState: state }, 'reconciler re-enqueued an unfinished event');
  }
  return { examined: stale.length, requeued };
}

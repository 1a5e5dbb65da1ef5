import type { Job } from 'bullmq';
import type { ProvisioningJobName, TypedJob } from '@ictvoip/queue';
import { openSecrets, withServiceLock, type InboxEvent } from '@ictvoip/store';
import { commandFromStored, type TenantCommand } from '@ictvoip/whmcs';
import type { WorkerDeps } from './deps';
import { describeError, PermanentJobError } from './errors';
import { queueBacklogJob } from './jobs/freeswitch/freeswitch-backlog';
import type { ProvisioningJobDefinition } from './tenant-action';
import { withJobLogger } from './metrics';
import { scopeForEvent } from './fusion-scope';
import { inBridgeTransaction } from './transaction';

export type EventOutcome = { eventId: string; status: 'succeeded' | 'pending_apply' | 'failed' | 'skipped'; message: string };

/** The stored command with its sealed secrets opened; a row an earlier release stored is read the same way. */
function restoreCommand(deps: WorkerDeps, inboxEvent: InboxEvent): TenantCommand {
  const secrets = inboxEvent.sealedSecrets ? openSecrets(inboxEvent.sealedSecrets, deps.config.sealing) : undefined;
  try {
    return commandFromStored(inboxEvent.payload, secrets);
  } catch (error) {
    throw new PermanentJobError('EVENT_UNREADABLE', `stored event ${inboxEvent.eventId} is not a valid command: ${describeError(error)}`);
  }
}

function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

async function runEvent(deps: WorkerDeps, job: Job, definition: ProvisioningJobDefinition, inboxEvent: InboxEvent): Promise<EventOutcome> {
  const logger = deps.logger.child({ eventId: inboxEvent.eventId, serviceId: inboxEvent.serviceId, action: inboxEvent.action, jobId: job.id, requestId: inboxEvent.requestId });
  await deps.inbox.markRunning(inboxEvent.eventId);
  try {
    const service = inboxEvent.serviceId > 0 ? await deps.services.get(inboxEvent.serviceId) : null;
    const event = restoreCommand(deps, inboxEvent);
    // The job acts on the service's FusionPBX server only (a new service: the one its event names).
    const scoped = await scopeForEvent(deps, service, event);
    // FusionPBX, event-socket and WHMCS calls made by the job log through this logger (request id included).
    const result = await withJobLogger(logger, () => definition.run({ event, inboxEvent, service, deps: scoped, logger }));
    if (result.freeswitch?.state === 'settled') {
      logger.info({ message: result.message }, 'event applied');
      return { eventId: inboxEvent.eventId, status: 'succeeded', message: result.message };
    }
    if (result.freeswitch?.state === 'pending') {
      // The database side is done: the service's next events go on; the backlog job finishes this one.
      await deps.inbox.markPendingApply(inboxEvent.eventId, result.freeswitch.message);
      logger.warn({ message: result.message, backlogJob: result.freeswitch.jobId }, 'FusionPBX updated; FreeSWITCH side pending');
      return { eventId: inboxEvent.eventId, status: 'pending_apply', message: result.freeswitch.message };
    }
    // An event's final state and its audit entry are written together or not at all (a kill -9 between them).
    await inBridgeTransaction(deps, async ({ inbox, audit }) => {
      await inbox.markSucceeded(inboxEvent.eventId, { message: result.message, serviceProperties: result.serviceProperties ?? {} });
      await audit.append({
        actor: 'worker',
        action: inboxEvent.action,
        serviceId: inboxEvent.serviceId || null,
        eventId: inboxEvent.eventId,
        detail: result.detail ?? { message: result.message },
      });
    });
    logger.info({ message: result.message }, 'event applied');
    return { eventId: inboxEvent.eventId, status: 'succeeded', message: result.message };
  } catch (error) {
    const message = describeError(error);
    if (error instanceof PermanentJobError) {
      await inBridgeTransaction(deps, async ({ inbox, audit }) => {
        await inbox.markFailed(inboxEvent.eventId, message, false);
        await audit.append({
          actor: 'worker',
          action: `${inboxEvent.action}.failed`,
          serviceId: inboxEvent.serviceId || null,
          eventId: inboxEvent.eventId,
          detail: { code: error.code, message },
        });
      });
      logger.warn({ code: error.code, message }, 'event refused');
      return { eventId: inboxEvent.eventId, status: 'failed', message };
    }
    if (isLastAttempt(job)) {
      await deps.inbox.markFailed(inboxEvent.eventId, message, true);
      logger.error({ message }, 'event failed after the last attempt');
    } else {
      await deps.inbox.markRetrying(inboxEvent.eventId, message);
      logger.warn({ message, attempt: job.attemptsMade + 1 }, 'event failed, will retry');
    }
    throw error;
  }
}

/** A replayed job of an event whose database side is done: its service's backlog job finishes it. */
async function ensureBacklogOf(deps: WorkerDeps, target: InboxEvent): Promise<EventOutcome> {
  const backlog = await deps.services.freeswitchBacklog(target.serviceId);
  if (backlog) await queueBacklogJob(deps, target.serviceId, backlog.origin);
  return { eventId: target.eventId, status: 'skipped', message: backlog ? 'database side done; FreeSWITCH side pending' : 'database side done' };
}

/**
 * Runs a provisioning job: under the service's advisory lock, applies every unfinished event of the
 * service up to this one in arrival order (so a suspend never overtakes its create), each at most
 * once to completion. A replayed job finds its event finished and does nothing.
 */
export async function processProvisioningJob(
  deps: WorkerDeps,
  job: TypedJob<ProvisioningJobName>,
  definitions: ReadonlyMap<string, ProvisioningJobDefinition>,
): Promise<EventOutcome[]> {
  const data = job.data;
  const target = await deps.inbox.get(data.eventId);
  if (!target) throw new PermanentJobError('EVENT_UNKNOWN', `event ${data.eventId} is not in the inbox`);
  if (target.status === 'succeeded' || target.status === 'failed') return [{ eventId: target.eventId, status: 'skipped', message: 'already finished' }];
  if (target.status === 'pending_apply') return [await ensureBacklogOf(deps, target)];
  const definitionOf = (action: string) => {
    const definition = definitions.get(action);
    if (!definition) throw new PermanentJobError('ACTION_UNKNOWN', `no job handles action ${action}`);
    return definition;
  };
  const targetDefinition = definitionOf(target.action);
  if (!targetDefinition.perService) return [await runEvent(deps, job, targetDefinition, target)];
  return withServiceLock(deps.pool, target.serviceId, async () => {
    const outcomes: EventOutcome[] = [];
    for (const pending of await deps.inbox.unfinishedForService(target.serviceId, target.seq)) {
      const definition = definitionOf(pending.action);
      if (!definition.perService) continue;
      outcomes.push(await runEvent(deps, job, definition, pending));
    }
    return outcomes;
  });
}

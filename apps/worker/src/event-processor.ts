import type { Job } from 'bullmq';
import { isProvisioningAction, type ProvisioningAction, type ProvisioningJobName, type TypedJob } from '@ictvoip/queue';
import { localDateOf, openSecrets, recordCycleObservation, requestedBy, withServiceLock, type InboxEvent, type BacklogEvent, type DesiredState } from '@ictvoip/store';
import { commandFromStored, type TenantCommand, storedPlan } from '@ictvoip/whmcs';
import type { ScopedDeps, WorkerDeps } from './deps';
import { describeError, PermanentJobError } from './errors';
import { queueBacklogJob, applyBacklog, pendingMessage, recordConverged, type BacklogAddition } from './jobs/freeswitch/freeswitch-backlog';
import type { ProvisioningDefinitions, ProvisioningJobDefinition, ActionResult, TenantActionContext } from './tenant-action';
import { withJobLogger } from './metrics';
import { permanentWhenServerUnavailable } from './fusion-scope';
import { PROVISIONING_REFUSALS, tenantDomainName, type ProvisionResult } from '@ictvoip/fusionpbx';

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
  let asked: Pick<BacklogEvent, 'requestedBy'> = {};
  try {
    const service = inboxEvent.serviceId > 0 ? await deps.services.get(inboxEvent.serviceId) : null;
    const event = restoreCommand(deps, inboxEvent);
    asked = requestedBy(event);
    // The job acts on the service's FusionPBX server only (a new service: the one its event names).
    const scoped: ScopedDeps = { ...deps, fusion: await deps.targets.forEvent(service, event).catch(permanentWhenServerUnavailable) };
    // FusionPBX, event-socket and WHMCS calls made by the job log through this logger (request id included).
    const result = await withJobLogger(logger, () => definition.run({ event, inboxEvent, service, deps: scoped, logger }));
    if (result.freeswitch?.state === 'settled') {
      logger.info({ message: result.message }, 'event applied');
      return { eventId: inboxEvent.eventId, status: 'succeeded', message: result.message };
    }
    if (result.freeswitch?.state === 'pending') {
      // The database side is done: the service's next events go on; the backlog job finishes this one.
      await deps.inbox.markPendingApply(inboxEvent.eventId, result.freeswitch.message, { message: result.message, serviceProperties: result.serviceProperties ?? {} });
      logger.warn({ message: result.message, backlogJob: result.freeswitch.jobId }, 'FusionPBX updated; FreeSWITCH side pending');
      return { eventId: inboxEvent.eventId, status: 'pending_apply', message: result.freeswitch.message };
    }
    // An event's final state and its audit entry are written together or not at all (a kill -9 between them): one statement.
    await deps.inbox.finishWithAudit(
      inboxEvent.eventId,
      { status: 'succeeded', result: { message: result.message, serviceProperties: result.serviceProperties ?? {} } },
      {
        actor: 'worker',
        action: inboxEvent.action,
        serviceId: inboxEvent.serviceId || null,
        eventId: inboxEvent.eventId,
        detail: { ...(result.detail ?? { message: result.message }), ...asked },
      },
    );
    logger.info({ message: result.message }, 'event applied');
    return { eventId: inboxEvent.eventId, status: 'succeeded', message: result.message };
  } catch (error) {
    const message = describeError(error);
    if (error instanceof PermanentJobError) {
      await deps.inbox.finishWithAudit(
        inboxEvent.eventId,
        { status: 'failed', error: message },
        {
          actor: 'worker',
          action: `${inboxEvent.action}.failed`,
          serviceId: inboxEvent.serviceId || null,
          eventId: inboxEvent.eventId,
          detail: { code: error.code, message, ...asked },
        },
      );
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

/** An earlier event of the service, read from the inbox: its action is a string until checked. */
function definitionOf(definitions: ProvisioningDefinitions, action: string): ProvisioningJobDefinition {
  if (!isProvisioningAction(action)) throw new PermanentJobError('ACTION_UNKNOWN', `no job handles action ${action}`);
  return definitions[action];
}

/**
 * Runs a provisioning job with the definition of its own action (the worker's handler map binds each
 * job name to it): under the service's advisory lock, applies every unfinished event of the service
 * up to this one in arrival order (so a suspend never overtakes its create), each at most once to
 * completion, each earlier one with the definition of its own action. A replayed job finds its event
 * finished and does nothing.
 */
export async function processProvisioningJob(
  deps: WorkerDeps,
  job: TypedJob<ProvisioningJobName>,
  action: ProvisioningAction,
  definitions: ProvisioningDefinitions,
): Promise<EventOutcome[]> {
  const data = job.data;
  const target = await deps.inbox.get(data.eventId);
  if (!target) throw new PermanentJobError('EVENT_UNKNOWN', `event ${data.eventId} is not in the inbox`);
  if (target.status === 'succeeded' || target.status === 'failed') return [{ eventId: target.eventId, status: 'skipped', message: 'already finished' }];
  if (target.status === 'pending_apply') return [await ensureBacklogOf(deps, target)];
  const jobDefinition = definitions[action];
  if (!jobDefinition.perService) return [await runEvent(deps, job, jobDefinition, target)];
  return withServiceLock(deps.pool, target.serviceId, async () => {
    const outcomes: EventOutcome[] = [];
    for (const pending of await deps.inbox.unfinishedForService(target.serviceId, target.seq)) {
      const definition = definitionOf(definitions, pending.action);
      if (!definition.perService) continue;
      outcomes.push(await runEvent(deps, job, definition, pending));
    }
    return outcomes;
  });
}

export type ProvisionerCall = 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'changePackage' | 'changePassword';

const PERMANENT_ERRORS = PROVISIONING_REFUSALS;

function asPermanent(error: unknown): never {
  if (PERMANENT_ERRORS.some((type) => error instanceof type)) {
    throw new PermanentJobError((error as { code: string }).code, describeError(error));
  }
  throw error;
}

function summarise(result: ProvisionResult): string {
  const parts = [`${result.action} ${result.domainName}: ${result.status}`];
  const { createdExtensions, disabledExtensions, reenabledExtensions, skippedExtensions, aliasedExtensions } = result.report;
  if (createdExtensions.length) parts.push(`extensions created ${createdExtensions.join(',')}`);
  if (disabledExtensions.length) parts.push(`extensions over the plan disabled ${disabledExtensions.join(',')}`);
  if (reenabledExtensions.length) parts.push(`extensions re-enabled ${reenabledExtensions.join(',')}`);
  if (skippedExtensions.length) parts.push(`extensions not created (plan limit in use) ${skippedExtensions.join(',')}`);
  if (aliasedExtensions.length) parts.push(`extensions not created (number is another extension's alias in FusionPBX) ${aliasedExtensions.join(',')}`);
  if (!result.changed) parts.push('no change');
  return parts.join('; ');
}

/** This event's entry in the service's FreeSWITCH backlog: its database side committed before (a replay). */
function committedEarlier(ctx: TenantActionContext): BacklogEvent | null {
  return ctx.service?.pendingApply?.events.find((known) => known.eventId === ctx.inboxEvent.eventId) ?? null;
}

/**
 * A create naming a domain the bridge has given another service is refused before FusionPBX is
 * touched: on another server the domain would be created there (nothing in that database knows the
 * name), then the bridge could not record it (its services are unique by domain) and the event would
 * fail over and over, leaving a tenant on that server the bridge does not track.
 */
async function refuseDomainOfAnotherService(ctx: TenantActionContext): Promise<void> {
  const { deps, event, inboxEvent } = ctx;
  let domain: string;
  try {
    domain = tenantDomainName(event, deps.targets.provisionerOptions, String(inboxEvent.serviceId));
  } catch (error) {
    asPermanent(error);
  }
  const conflict = await deps.services.domainConflict(domain, inboxEvent.serviceId);
  if (conflict) throw new PermanentJobError('TENANT_CONFLICT', conflict);
}

async function convergeDatabase(ctx: TenantActionContext, call: ProvisionerCall, desired: DesiredState | null): Promise<{ event: BacklogEvent; addition: BacklogAddition }> {
  const { deps, event, inboxEvent } = ctx;
  const wasTerminated = ctx.service?.desiredState === 'terminated';
  if (call === 'create') await refuseDomainOfAnotherService(ctx);
  const result = await deps.fusion.provisioner[call](event).catch(asPermanent);
  const serviceProperties = result.serviceProperties ? { ...result.serviceProperties } : (ctx.service?.properties ?? {});
  const plan = call === 'create' || call === 'changePackage' ? storedPlan(event) : undefined;
  // change_package keeps the desired state but must store its plan: quotas and drift read it.
  const desiredState = desired ?? (plan ? (ctx.service?.desiredState ?? 'active') : null);
  if (desiredState) {
    await deps.services.setDesired({
      serviceId: inboxEvent.serviceId,
      clientId: inboxEvent.clientId,
      desiredState,
      plan,
      eventId: inboxEvent.eventId,
      newGeneration: call === 'create' && wasTerminated,
      fusionpbxServer: deps.fusion.storedName,
    });
  }
  const entry: BacklogEvent = { eventId: inboxEvent.eventId, action: inboxEvent.action, message: summarise(result), serviceProperties, ...requestedBy(event) };
  const observed = { state: result.status, tenantDomain: result.domainName, properties: result.serviceProperties ? { ...result.serviceProperties } : undefined };
  return { event: entry, addition: await recordConverged(deps, inboxEvent.serviceId, observed, result.freeswitch, entry) };
}

/**
 * Records the cycle a module event carries (`service.billingCycle`, `service.nextDueDate`), seen on
 * the event's local day: what the event states is recorded as it runs, like its plan and desired
 * state. It is WHMCS's billing fact, not part of the tenant's rows: runTenantAction records it once
 * the database side has run (succeeded or not), so the path from an event to its FusionPBX rows does
 * not pass through billing code. Best effort: a failure is logged and the CDR sync's daily check
 * (jobs/billing/service-cycle.ts) catches up.
 */
export async function recordEventCycle(deps: WorkerDeps, command: TenantCommand, serviceId: number): Promise<void> {
  const whmcsCycle = command.service.billingCycle;
  if (typeof whmcsCycle !== 'string' || whmcsCycle === '') return;
  const nextDueDate = typeof command.service.nextDueDate === 'string' ? command.service.nextDueDate : '';
  try {
    const today = localDateOf(new Date(command.occurredAt), deps.config.billing.timeZone);
    const outcome = await recordCycleObservation(deps.pool, serviceId, { whmcsCycle, nextDueDate, source: 'event' }, today);
    if (outcome === 'changed') deps.logger.info({ serviceId, whmcsCycle, nextDueDate, from: today }, 'billing cycle changed: a new usage period starts');
  } catch (error) {
    deps.logger.warn({ serviceId, err: describeError(error) }, 'billing cycle of the event not recorded; the CDR sync asks WHMCS');
  }
}

/** Bounds the inline FreeSWITCH attempt of an event: past it, the backlog job takes over. */
function inlineDeadlineMs(ctx: TenantActionContext): number {
  return Math.min(ctx.deps.config.esl.timeoutMs, ctx.deps.config.api.eslDeadlineMs);
}

/**
 * The FreeSWITCH side of an event whose steps joined the backlog. When FreeSWITCH was in step, one
 * bounded attempt is made at once (the common case: the event finishes here). When it was already
 * behind, or the attempt fails, the event waits for the backlog job and the service's next events go on.
 */
async function settleFreeswitch(ctx: TenantActionContext, entry: BacklogEvent, addition: BacklogAddition): Promise<ActionResult> {
  const { deps, inboxEvent } = ctx;
  const backlog = addition.backlog!;
  const done = { message: entry.message, serviceProperties: entry.serviceProperties };
  let reason = ctx.service?.pendingApply?.lastError ?? 'FreeSWITCH was already behind for this service';
  let jobId: string | undefined;
  if (!addition.wasBehind) {
    const outcome = await applyBacklog(deps, inboxEvent.serviceId, { deadlineMs: inlineDeadlineMs(ctx), ensureJob: true });
    if (outcome.state !== 'failed') return { ...done, freeswitch: { state: 'settled' } };
    reason = outcome.error;
    jobId = outcome.jobId;
  }
  // Added before runEvent marks the event pending_apply (the failed send above added it already).
  jobId ??= (await queueBacklogJob(deps, inboxEvent.serviceId, backlog.origin)).jobId;
  return { ...done, freeswitch: { state: 'pending', message: pendingMessage(backlog, reason), jobId } };
}

/**
 * The shape of every tenant job: converge FusionPBX in one transaction and record its state, add the
 * FreeSWITCH steps to the service's backlog, then settle that side without ever holding up the next
 * event. An event-socket failure never rolls back or repeats database work.
 *
 * `afterDatabase` runs once the database side is committed (again on a replay) and before the event
 * can be marked finished: work it starts is never lost to a crash between the two.
 */
export async function runTenantAction(
  ctx: TenantActionContext,
  call: ProvisionerCall,
  desired: DesiredState | null,
  afterDatabase: () => Promise<void> = async () => {},
): Promise<ActionResult> {
  const { deps, inboxEvent } = ctx;
  // WHMCS's billing cycle as the event states it (service billing periods), recorded after the database
  // side whatever its outcome; best effort, never fails the event.
  const recordCycle = () => recordEventCycle(deps, ctx.event, inboxEvent.serviceId);
  const earlier = committedEarlier(ctx);
  if (earlier) {
    await recordCycle();
    const backlog = ctx.service!.pendingApply!;
    const othersOwed = backlog.events.some((known) => known.eventId !== earlier.eventId);
    await afterDatabase();
    return settleFreeswitch(ctx, earlier, { backlog, wasBehind: othersOwed, waits: true });
  }
  let converged: Awaited<ReturnType<typeof convergeDatabase>>;
  try {
    if (!ctx.service && call !== 'create') {
      await deps.services.setDesired({
        serviceId: inboxEvent.serviceId,
        clientId: inboxEvent.clientId,
        desiredState: desired ?? 'active',
        eventId: inboxEvent.eventId,
        fusionpbxServer: deps.fusion.storedName,
      });
    }
    converged = await convergeDatabase(ctx, call, desired);
  } finally {
    await recordCycle();
  }
  const { event, addition } = converged;
  await afterDatabase();
  if (!addition.waits) return { message: event.message, serviceProperties: event.serviceProperties, detail: { message: event.message, steps: 0 } };
  return settleFreeswitch(ctx, event, addition);
}

import {
  FusionpbxConfigError,
  FusionpbxValidationError,
  NumberOwnedError,
  TenantConflictError,
  TenantNotFoundError,
  TenantStateError,
  UniquenessError,
  type ProvisionResult,
} from '@ictvoip/fusionpbx';
import type { BacklogEvent, DesiredState } from '@ictvoip/store';
import { storedPlan } from '@ictvoip/whmcs';
import { describeError, PermanentJobError } from '../../errors';
import { applyBacklog, pendingMessage, queueBacklogJob, recordConverged, type BacklogAddition } from '../freeswitch/freeswitch-backlog';
import type { ActionResult, TenantActionContext } from '../../tenant-action';
import { recordEventCycle } from '../billing/service-cycle';

export type ProvisionerCall = 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'changePackage' | 'changePassword';

const PERMANENT_ERRORS = [FusionpbxValidationError, TenantConflictError, TenantNotFoundError, TenantStateError, FusionpbxConfigError, UniquenessError, NumberOwnedError];

function asPermanent(error: unknown): never {
  if (PERMANENT_ERRORS.some((type) => error instanceof type)) {
    throw new PermanentJobError((error as { code: string }).code, describeError(error));
  }
  throw error;
}

function summarise(result: ProvisionResult): string {
  const parts = [`${result.action} ${result.domainName}: ${result.status}`];
  const { createdExtensions, disabledExtensions, reenabledExtensions, skippedExtensions } = result.report;
  if (createdExtensions.length) parts.push(`extensions created ${createdExtensions.join(',')}`);
  if (disabledExtensions.length) parts.push(`extensions over the plan disabled ${disabledExtensions.join(',')}`);
  if (reenabledExtensions.length) parts.push(`extensions re-enabled ${reenabledExtensions.join(',')}`);
  if (skippedExtensions.length) parts.push(`extensions not created (plan limit in use) ${skippedExtensions.join(',')}`);
  if (!result.changed) parts.push('no change');
  return parts.join('; ');
}

/** This event's entry in the service's FreeSWITCH backlog: its database side committed before (a replay). */
function committedEarlier(ctx: TenantActionContext): BacklogEvent | null {
  return ctx.service?.pendingApply?.events.find((known) => known.eventId === ctx.inboxEvent.eventId) ?? null;
}

async function convergeDatabase(ctx: TenantActionContext, call: ProvisionerCall, desired: DesiredState | null): Promise<{ event: BacklogEvent; addition: BacklogAddition }> {
  const { deps, event, inboxEvent } = ctx;
  const wasTerminated = ctx.service?.desiredState === 'terminated';
  const result = await deps.provisioner[call](event).catch(asPermanent);
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
      fusionpbxServer: deps.fusionServer,
    });
  }
  const entry: BacklogEvent = { eventId: inboxEvent.eventId, action: inboxEvent.action, message: summarise(result), serviceProperties };
  const observed = { state: result.status, tenantDomain: result.domainName, properties: result.serviceProperties ? { ...result.serviceProperties } : undefined };
  return { event: entry, addition: await recordConverged(deps, inboxEvent.serviceId, observed, result.freeswitch, entry) };
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
  if (!addition.wasBehind) {
    const outcome = await applyBacklog(deps, inboxEvent.serviceId, { deadlineMs: inlineDeadlineMs(ctx) });
    if (outcome.state !== 'failed') return { ...done, freeswitch: { state: 'settled' } };
    reason = outcome.error;
  }
  const { jobId } = await queueBacklogJob(deps, inboxEvent.serviceId, backlog.origin);
  return { ...done, freeswitch: { state: 'pending', message: pendingMessage(backlog, reason), jobId } };
}

/**
 * The shape of every tenant job: converge FusionPBX in one transaction and record its state, add the
 * FreeSWITCH steps to the service's backlog, then settle that side without ever holding up the next
 * event. An event-socket failure never rolls back or repeats database work.
 */
export async function runTenantAction(ctx: TenantActionContext, call: ProvisionerCall, desired: DesiredState | null): Promise<ActionResult> {
  const { deps, inboxEvent } = ctx;
  // WHMCS's billing cycle as the event states it (service billing periods); best effort, never fails the event.
  await recordEventCycle(deps, ctx.event, inboxEvent.serviceId);
  const earlier = committedEarlier(ctx);
  if (earlier) {
    const backlog = ctx.service!.pendingApply!;
    const othersOwed = backlog.events.some((known) => known.eventId !== earlier.eventId);
    return settleFreeswitch(ctx, earlier, { backlog, wasBehind: othersOwed, waits: true });
  }
  if (!ctx.service && call !== 'create') {
    await deps.services.setDesired({
      serviceId: inboxEvent.serviceId,
      clientId: inboxEvent.clientId,
      desiredState: desired ?? 'active',
      eventId: inboxEvent.eventId,
      fusionpbxServer: deps.fusionServer,
    });
  }
  const { event, addition } = await convergeDatabase(ctx, call, desired);
  if (!addition.waits) return { message: event.message, serviceProperties: event.serviceProperties, detail: { message: event.message, steps: 0 } };
  return settleFreeswitch(ctx, event, addition);
}

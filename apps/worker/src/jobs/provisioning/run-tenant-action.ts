import {
  applyFreeswitchSide,
  FusionpbxConfigError,
  FusionpbxValidationError,
  TenantConflictError,
  TenantNotFoundError,
  TenantStateError,
  UniquenessError,
  type FreeswitchStep,
  type ProvisionResult,
  type TenantEvent,
} from '@ictvoip/fusionpbx';
import type { DesiredState } from '@ictvoip/store';
import { effectivePlan, storedPlan, type WebhookEvent } from '@ictvoip/whmcs';
import { describeError, PendingApplyError, PermanentJobError } from '../../errors';
import type { ActionResult, TenantActionContext } from '../../tenant-action';

export type ProvisionerCall = 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'changePackage' | 'changePassword';

/** What is kept in the bridge database between the FusionPBX commit and the FreeSWITCH apply. */
export interface PendingApply {
  eventId: string;
  steps: FreeswitchStep[];
  message: string;
  serviceProperties: Record<string, unknown>;
  status: string;
  domainName: string;
}

const PERMANENT_ERRORS = [FusionpbxValidationError, TenantConflictError, TenantNotFoundError, TenantStateError, FusionpbxConfigError, UniquenessError];

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

/** Configurable options (`key|Label` names) are folded into the plan once, here, by the contract's rules. */
function tenantEventOf(event: WebhookEvent): TenantEvent {
  return { ...event, plan: effectivePlan(event), configurableOptions: {} } as unknown as TenantEvent;
}

function storedPendingApply(ctx: TenantActionContext): PendingApply | null {
  const pending = ctx.service?.pendingApply as PendingApply | null | undefined;
  return pending && pending.eventId === ctx.inboxEvent.eventId ? pending : null;
}

async function convergeDatabase(ctx: TenantActionContext, call: ProvisionerCall, desired: DesiredState | null): Promise<PendingApply> {
  const { deps, event, inboxEvent } = ctx;
  const wasTerminated = ctx.service?.desiredState === 'terminated';
  const result = await deps.provisioner[call](tenantEventOf(event)).catch(asPermanent);
  const pending: PendingApply = {
    eventId: inboxEvent.eventId,
    steps: result.freeswitch,
    message: summarise(result),
    serviceProperties: result.serviceProperties ? { ...result.serviceProperties } : ctx.service?.properties ?? {},
    status: result.status,
    domainName: result.domainName,
  };
  const plan = call === 'create' || call === 'changePackage' ? storedPlan(event) : undefined;
  // change_package keeps the desired state but must store its plan: quotas and drift read it.
  const desiredState = desired ?? (plan ? ctx.service?.desiredState ?? 'active' : null);
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
  await deps.services.recordObserved(inboxEvent.serviceId, { state: result.status, tenantDomain: result.domainName, properties: result.serviceProperties ? { ...result.serviceProperties } : undefined, pendingApply: pending });
  return pending;
}

/**
 * The shape of every tenant job: converge FusionPBX in one transaction (skipped when this event's
 * database part already committed), remember the FreeSWITCH steps, then apply them as a separate,
 * retryable step. An event-socket failure never rolls back or repeats database work.
 */
export async function runTenantAction(ctx: TenantActionContext, call: ProvisionerCall, desired: DesiredState | null): Promise<ActionResult> {
  const { deps, inboxEvent } = ctx;
  if (!ctx.service && call !== 'create') {
    await deps.services.setDesired({ serviceId: inboxEvent.serviceId, clientId: inboxEvent.clientId, desiredState: desired ?? 'active', eventId: inboxEvent.eventId, fusionpbxServer: deps.fusionServer });
  }
  const pending = storedPendingApply(ctx) ?? (await convergeDatabase(ctx, call, desired));
  try {
    await applyFreeswitchSide(deps.esl, pending.steps, { cache: deps.cacheOptions });
  } catch (error) {
    throw new PendingApplyError(`FusionPBX updated; FreeSWITCH not yet: ${describeError(error)}`);
  }
  await deps.services.recordObserved(inboxEvent.serviceId, { state: pending.status, pendingApply: null });
  return { message: pending.message, serviceProperties: pending.serviceProperties, detail: { message: pending.message, steps: pending.steps.length } };
}

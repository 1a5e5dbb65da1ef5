import {
  effectivePlan,
  EventValidationError,
  parseWebhookEvent,
  PLAN_LIMITS,
  STORED_PACKAGE_KEY,
  type ValidationDetail,
  type WebhookAction,
  type WebhookEvent,
  type WebhookPlan,
} from './event';
import { IctvoipFormatError, isIctvoipList, parseIctvoipDomainField } from './ictvoip-formats';

/**
 * The one shape a WHMCS module event has inside the bridge, from the webhook route to the
 * provisioner: validated once at ingest, configurable options folded into the plan (so nothing
 * downstream reads them again), the same field names as the webhook body. `secrets` is present only
 * where it was opened (the worker); the inbox stores the command redacted and the secrets sealed.
 */
export interface TenantCommand {
  schemaVersion: 1;
  eventId: string;
  action: WebhookAction;
  occurredAt: string;
  service: WebhookEvent['service'];
  client: WebhookEvent['client'];
  server?: WebhookEvent['server'];
  plan: WebhookPlan;
  /** Always empty: the options are part of `plan`. Kept so a stored command reads like the webhook body. */
  configurableOptions: Record<string, never>;
  customFields?: Record<string, unknown>;
  /** Who made the event when not WHMCS (e.g. `drift-fix`). */
  origin?: string;
  secrets?: { servicePassword?: string };
}

/** Builds the command from a validated event: the plan with its configurable options applied; unknown top-level keys are not carried. */
export function toTenantCommand(event: WebhookEvent): TenantCommand {
  const { schemaVersion, eventId, action, occurredAt, client, server, customFields, secrets } = event;
  return {
    schemaVersion,
    eventId,
    action,
    occurredAt,
    service: withPlainDomain(event.service),
    client,
    ...(server ? { server } : {}),
    plan: effectivePlan(event),
    configurableOptions: {},
    ...(customFields ? { customFields } : {}),
    ...(typeof event.origin === 'string' ? { origin: event.origin } : {}),
    ...(secrets ? { secrets } : {}),
  };
}

/**
 * ictVoIP's service Domain field `"<tenant domain> | <main DID>"`: the domain is the tenant's; the
 * DIDs after it are not the tenant's domain (numbers are provisioned from the plan), so they are
 * dropped here. A malformed field is an IctvoipFormatError naming service.domain.
 */
function withPlainDomain(service: WebhookEvent['service']): WebhookEvent['service'] {
  if (typeof service.domain !== 'string' || !isIctvoipList(service.domain)) return service;
  return { ...service, domain: parseIctvoipDomainField(service.domain, 'service.domain').domain };
}

/**
 * Validates a webhook body and builds its command. A configurable option that moves a plan limit
 * outside the one set of limits (PLAN_LIMITS) is refused here, naming the option, like any other
 * field: the worker never sees a plan it would have to refuse.
 */
export function parseTenantCommand(body: unknown): TenantCommand {
  let command: TenantCommand;
  try {
    command = toTenantCommand(parseWebhookEvent(body));
  } catch (error) {
    if (error instanceof IctvoipFormatError) throw new EventValidationError([{ path: error.field, message: error.message }]);
    throw error;
  }
  const problems = planLimitProblems(command.plan);
  if (problems.length > 0) throw new EventValidationError(problems);
  return command;
}

function planLimitProblems(plan: WebhookPlan): ValidationDetail[] {
  return (Object.keys(PLAN_LIMITS) as (keyof typeof PLAN_LIMITS)[]).flatMap((key) => {
    const value = plan[key];
    const { min, max } = PLAN_LIMITS[key];
    if (value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)) return [];
    return [{ path: `configurableOptions.${key}`, message: `'${key}' must be a whole number from ${min} to ${max} (the plan with its configurable options)` }];
  });
}

/** The command as it may be stored or logged: the service password removed. */
export function redactCommand(command: TenantCommand): Omit<TenantCommand, 'secrets'> {
  const { secrets: _secrets, ...rest } = command;
  return rest;
}

/**
 * A command read back from the inbox (jsonb), with the secrets opened by the caller. Rows stored by
 * earlier releases hold the webhook event itself; those go through the same validation and folding,
 * so every row comes out as a command whatever release wrote it.
 */
export function commandFromStored(stored: Record<string, unknown>, secrets?: { servicePassword?: string }): TenantCommand {
  const { secrets: _redacted, ...event } = stored;
  return parseTenantCommand(secrets?.servicePassword ? { ...event, secrets: { servicePassword: secrets.servicePassword } } : event);
}

/** The plan as the bridge stores it: the command's plan plus the WHMCS package id when the event names one. */
export function storedPlan(command: Pick<TenantCommand, 'plan' | 'service'>): Record<string, unknown> {
  const pid = command.service.pid;
  const plan: Record<string, unknown> = { ...command.plan };
  if (typeof pid === 'number' && pid > 0) plan[STORED_PACKAGE_KEY] = pid;
  return plan;
}

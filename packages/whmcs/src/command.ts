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
import { trunkCidrProblems } from './trunk-cidrs';

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

/**
 * The service's own trunk addresses may come from a WHMCS custom field named `trunkCidrs` (or
 * `Trunk CIDRs`, `trunk_cidrs|…`): they belong to one customer, not to the product. The plan's own
 * `trunkCidrs` wins when both are set.
 */
function trunkCidrsField(customFields: Record<string, unknown> | undefined): [name: string, value: unknown] | null {
  for (const [name, value] of Object.entries(customFields ?? {})) {
    const key = name
      .split('|')[0]!
      .trim()
      .toLowerCase()
      .replace(/[\s_-]/g, '');
    if (key === 'trunkcidrs' && value !== '' && value !== null && value !== undefined) return [name, value];
  }
  return null;
}

function planWithTrunk(event: WebhookEvent): WebhookPlan {
  const plan = effectivePlan(event);
  const field = trunkCidrsField(event.customFields);
  return field && plan.trunkCidrs === undefined ? { ...plan, trunkCidrs: field[1] as string } : plan;
}

/** Builds the command from a validated event: the plan with its configurable options applied; unknown top-level keys are not carried. */
export function toTenantCommand(event: WebhookEvent): TenantCommand {
  const { schemaVersion, eventId, action, occurredAt, service, client, server, customFields, secrets } = event;
  return {
    schemaVersion,
    eventId,
    action,
    occurredAt,
    service,
    client,
    ...(server ? { server } : {}),
    plan: planWithTrunk(event),
    configurableOptions: {},
    ...(customFields ? { customFields } : {}),
    ...(typeof event.origin === 'string' ? { origin: event.origin } : {}),
    ...(secrets ? { secrets } : {}),
  };
}

/**
 * Validates a webhook body and builds its command. A configurable option that moves a plan limit
 * outside the one set of limits (PLAN_LIMITS) is refused here, naming the option, like any other
 * field: the worker never sees a plan it would have to refuse.
 */
export function parseTenantCommand(body: unknown): TenantCommand {
  const event = parseWebhookEvent(body);
  const command = toTenantCommand(event);
  const problems = [...planLimitProblems(command.plan), ...customTrunkProblems(event)];
  if (problems.length > 0) throw new EventValidationError(problems);
  return command;
}

/** A trunk custom field is checked like plan.trunkCidrs, naming the custom field. */
function customTrunkProblems(event: WebhookEvent): ValidationDetail[] {
  const field = trunkCidrsField(event.customFields);
  if (!field || event.plan.trunkCidrs !== undefined) return [];
  const [problem] = trunkCidrProblems(field[1], `customFields.${field[0]}`);
  return problem ? [{ path: `customFields.${field[0]}`, message: `'${problem.path}' ${problem.message}` }] : [];
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

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
  const { schemaVersion, eventId, action, occurredAt, service, client, server, customFields, secrets } = event;
  return {
    schemaVersion,
    eventId,
    action,
    occurredAt,
    service,
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
 * Validates a webhook body and builds its command. A configurable option that moves a plan limit
 * outside the one set of limits (PLAN_LIMITS) is refused here, naming the option, like any other
 * field: the worker never sees a plan it would have to refuse.
 */
export function parseTenantCommand(body: unknown): TenantCommand {
  const command = toTenantCommand(parseWebhookEvent(body));
  const problems = [...planLimitProblems(command.plan), ...planBillingProblems(command.plan)];
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

/**
 * The plan's billing fields after the configurable options are folded in, checked with the grammar
 * the rating reads them with (packages/rating plan-billing.ts; whmcs cannot depend on rating): a value
 * the rating would refuse is a 400 naming the field, never a CDR sync that fails later.
 */
const EXCLUSION_ITEM = /^\s*(\[\s*(local|inbound|outbound|emergency|tollfree)\s*\]|\+?[\s().-]*[0-9xX*#][0-9xX*#\s().-]*)\s*$/i;
const YES_NO = /^(true|false|on|off|yes|no|1|0|enabled|disabled)$/i;
const PRICE = /^\d{1,12}(\.\d{1,6})?$/;
const INCREMENT = /^\s*0*[1-9]\d{0,4}\s*(\/\s*0*[1-9]\d{0,4}\s*)?$/;

function billingText(plan: WebhookPlan, key: string): string | undefined {
  const value = plan[key];
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value).trim() : '\u0000';
  return text === '' ? undefined : text;
}

function planBillingProblems(plan: WebhookPlan): ValidationDetail[] {
  const problems: ValidationDetail[] = [];
  const problem = (key: string, message: string) => problems.push({ path: `plan.${key}`, message: `'${key}' ${message}` });
  const excludes = billingText(plan, 'billingExcludes');
  if (excludes !== undefined && excludes.toLowerCase() !== 'none') {
    const bad = excludes.split(',').filter((item) => item.trim() !== '' && !EXCLUSION_ITEM.test(item));
    if (bad.length > 0)
      problem(
        'billingExcludes',
        `has patterns that are not ictVoIP exclusions ('${bad.map((b) => b.trim()).join("', '")}'): use digits, x, *, # or [local], [inbound], [outbound], [emergency], [tollfree]`,
      );
  }
  const inbound = billingText(plan, 'inboundBilling');
  if (inbound !== undefined && !YES_NO.test(inbound)) problem('inboundBilling', 'must be yes or no (on, off, true, false, 1, 0)');
  const rate = billingText(plan, 'inboundRate');
  if (rate !== undefined && !PRICE.test(rate)) problem('inboundRate', 'must be a price per minute: a non-negative decimal with up to 6 places');
  const increment = billingText(plan, 'inboundIncrement');
  if (increment !== undefined && !INCREMENT.test(increment)) problem('inboundIncrement', 'must be seconds like 60/6 or 6 (each at least 1)');
  if (rate !== undefined && billingText(plan, 'inboundRateDeck') !== undefined) problem('inboundRate', 'cannot be set together with inboundRateDeck');
  return problems;
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

import { planBillingProblems } from '@ictvoip/rating';
import {
  BILLING_MODES,
  CREDIT_RESTRICTIONS,
  effectivePlan,
  PLAN_AMOUNT_PATTERN,
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
  /** suspend: WHMCS's suspend reason as the module sent it (credit control tells its own from others by it). */
  reason?: string;
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

/** Custom field names (lower case, without spaces, `_` and `-`) that hold the service's DIDs. */
const DID_FIELDS: ReadonlySet<string> = new Set(['dids', 'did', 'maindid', 'didnumbers', 'phonenumbers', 'numbers']);
const DID_PATTERN = /^\+?[0-9 ().-]{3,40}$/;

/** ictVoIP writes lists as `2112 | 2113`; commas and new lines are accepted too. */
function splitList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map((item) => String(item).trim()).filter((item) => item !== '');
  if (typeof value === 'number') return [String(value)];
  if (typeof value !== 'string') return [];
  return value
    .split(/[|,;\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * The plan's DIDs, main number first: the DID of ictVoIP's `domain | DID` service field, then
 * `plan.dids` (a list or ictVoIP's `a | b` text), then a custom field named like "DIDs". The same
 * number written twice (formatting aside) counts once. Each is checked here, naming where it came from.
 */
function planDids(plan: WebhookPlan, domainDids: readonly string[], customFields: Record<string, unknown> | undefined): { dids: string[]; stated: boolean } {
  const sources: [string, string[]][] = [['service.domain', [...domainDids]]];
  if (plan.dids !== undefined) sources.push(['plan.dids', splitList(plan.dids)]);
  for (const [name, value] of Object.entries(customFields ?? {})) {
    const key = name
      .split('|')[0]
      .trim()
      .toLowerCase()
      .replace(/[\s_-]/g, '');
    if (DID_FIELDS.has(key)) sources.push([`customFields.${name}`, splitList(value)]);
  }
  const seen = new Set<string>();
  const dids: string[] = [];
  const problems: ValidationDetail[] = [];
  for (const [path, items] of sources) {
    items.forEach((item, index) => {
      if (!DID_PATTERN.test(item)) {
        problems.push({ path: path === 'service.domain' ? path : `${path}[${index}]`, message: `'${item.slice(0, 40)}' is not a phone number (digits, optional leading +)` });
        return;
      }
      const key = item.replace(/[^0-9+]/g, '');
      if (seen.has(key)) return;
      seen.add(key);
      dids.push(item);
    });
  }
  if (problems.length > 0) throw new EventValidationError(problems);
  // An empty source still states the numbers (an emptied custom field removes them); no source leaves them alone.
  return { dids, stated: domainDids.length > 0 || sources.length > 1 };
}

/** The plan with its DIDs as one list (absent when the event names none, so stored plans stay as they were). */
function planWithDids(event: WebhookEvent, domainDids: readonly string[]): WebhookPlan {
  const plan = planWithTrunk(event);
  const { dids, stated } = planDids(plan, domainDids, event.customFields);
  const { dids: _raw, ...rest } = plan;
  return stated ? { ...rest, dids } : rest;
}

/** Builds the command from a validated event: the plan with its configurable options applied; unknown top-level keys are not carried. */
export function toTenantCommand(event: WebhookEvent): TenantCommand {
  const { schemaVersion, eventId, action, occurredAt, client, server, customFields, secrets } = event;
  const { service, dids: domainDids } = splitDomainField(event.service);
  return {
    schemaVersion,
    eventId,
    action,
    occurredAt,
    service,
    client,
    ...(server ? { server } : {}),
    plan: planWithDids(event, domainDids),
    configurableOptions: {},
    ...(customFields ? { customFields } : {}),
    ...(typeof event.origin === 'string' ? { origin: event.origin } : {}),
    ...(typeof event.reason === 'string' && event.reason.trim() !== '' ? { reason: event.reason.trim().slice(0, 255) } : {}),
    ...(secrets ? { secrets } : {}),
  };
}

/**
 * ictVoIP's service Domain field `"<tenant domain> | <main DID> | …"`: the tenant's domain, and the
 * DIDs after it, which join the plan's numbers (main number first). A malformed field is an
 * IctvoipFormatError naming service.domain.
 */
function splitDomainField(service: WebhookEvent['service']): { service: WebhookEvent['service']; dids: string[] } {
  if (typeof service.domain !== 'string' || !isIctvoipList(service.domain)) return { service, dids: [] };
  const { domain, dids } = parseIctvoipDomainField(service.domain, 'service.domain');
  return { service: { ...service, domain }, dids };
}

/**
 * Validates a webhook body and builds its command. A configurable option that moves a plan limit
 * outside the one set of limits (PLAN_LIMITS) is refused here, naming the option, like any other
 * field: the worker never sees a plan it would have to refuse.
 */
export function parseTenantCommand(body: unknown): TenantCommand {
  let event: WebhookEvent;
  let command: TenantCommand;
  try {
    event = parseWebhookEvent(body);
    command = toTenantCommand(event);
  } catch (error) {
    if (error instanceof IctvoipFormatError) throw new EventValidationError([{ path: error.field, message: error.message }]);
    throw error;
  }
  const problems = [...planLimitProblems(command.plan), ...planBillingDetails(command.plan), ...customTrunkProblems(event)];
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
  return [...numericLimitProblems(plan), ...creditPlanProblems(plan)];
}

/** The credit-control fields a configurable option may set: the same rules as the plan's own fields. */
function creditPlanProblems(plan: WebhookPlan): ValidationDetail[] {
  const problems: ValidationDetail[] = [];
  for (const key of ['creditLimit', 'lowBalanceThreshold'] as const) {
    const value = plan[key];
    if (value !== undefined && !(typeof value === 'string' && PLAN_AMOUNT_PATTERN.test(value))) {
      problems.push({ path: `configurableOptions.${key}`, message: `'${key}' must be a decimal amount such as "5.00" (not negative, at most 6 decimals)` });
    }
  }
  const choices = [
    ['billingMode', BILLING_MODES],
    ['creditRestriction', CREDIT_RESTRICTIONS],
  ] as const;
  for (const [key, allowed] of choices) {
    const value = plan[key];
    if (value !== undefined && !(allowed as readonly unknown[]).includes(value)) {
      problems.push({ path: `configurableOptions.${key}`, message: `'${key}' must be one of ${allowed.join(', ')}` });
    }
  }
  return problems;
}

function numericLimitProblems(plan: WebhookPlan): ValidationDetail[] {
  return (Object.keys(PLAN_LIMITS) as (keyof typeof PLAN_LIMITS)[]).flatMap((key) => {
    const value = plan[key];
    const { min, max } = PLAN_LIMITS[key];
    if (value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)) return [];
    return [{ path: `configurableOptions.${key}`, message: `'${key}' must be a whole number from ${min} to ${max} (the plan with its configurable options)` }];
  });
}

/**
 * The plan's billing fields after the configurable options are folded in, checked by the parsers the
 * rating reads them with (packages/rating planBillingProblems, the grammar's one home): a value the
 * rating would refuse is a 400 naming the field, never a CDR sync that fails later.
 */
function planBillingDetails(plan: WebhookPlan): ValidationDetail[] {
  return planBillingProblems(plan).map((problem) => ({ path: problem.path, message: problem.message }));
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

/**
 * The webhook event's schema written out as plain code for the bodies WHMCS sends on every tenant
 * action (issue #20: joi cost ~50 µs of CPU per webhook, more than the rest of the validation).
 *
 * It only ever vouches for a body: it returns the value joi would return (same conversions, same
 * defaults, same copies) when it is sure joi accepts the body, and null otherwise. A null body goes
 * to the joi schema, which accepts it or names every failing field, so the refusals and their
 * messages stay joi's. Anything unusual (a value joi would convert from a string, a `__proto__` key,
 * an object of another class, test_connection and the read actions) is left to joi the same way.
 * The rules (limits, patterns, the extension-list parser) are handed in by event.ts, which keeps
 * the one definition of each (test: event-check.test.ts compares both over fuzzed bodies).
 */

type Obj = Record<string, unknown>;

/** A value joi would refuse or convert in a way this code does not: the body goes to joi. */
const BAD = Symbol('bad');
/** A value joi turns into undefined (`.empty('')`): the key is deleted, as joi deletes it. */
const DROP = Symbol('drop');
type Check = (value: unknown) => unknown;

export interface EventCheckRules {
  actions: readonly string[];
  planLimits: Readonly<Record<string, { min: number; max: number }>>;
  amountPattern: RegExp;
  billingCyclePattern: RegExp;
  billingModes: readonly string[];
  creditRestrictions: readonly string[];
  /** The custom rule of plan.extensionNumbers: returns the list, throws on a bad one. */
  extensionNumbers: (value: unknown) => string[];
  /** plan.trunkCidrs' rule: true when joi's custom check passes it unchanged. */
  trunkCidrsValid: (value: unknown) => boolean;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1457][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** A strict subset of joi's isoDate: what WHMCS and the bridge write (`2026-11-29T02:00:00Z`, with or without fractions). */
const ISO_INSTANT = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z$/;
const WHMCS_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DID = /^\+?[0-9 ().-]{3,40}$/;
const COUNTRY_CODE = /^\+?[1-9][0-9]{0,3}$/;
const RING_GROUP = /^[0-9]{1,15}$/;
const CALLER_ID_PREFIX = /^[A-Za-z0-9 _.:+#-]*$/;

/** joi's number with integer, min and max (and its -0 → 0). */
const int =
  (min: number, max = MAX_SAFE): Check =>
  (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value + 0 : BAD;
/** joi's string with max (and allow('') when `empty`). */
const text =
  (max: number, empty = true, pattern?: RegExp): Check =>
  (value) =>
    typeof value === 'string' && value.length <= max && (value === '' ? empty : pattern === undefined || pattern.test(value)) ? value : BAD;
const oneOf =
  (...allowed: string[]): Check =>
  (value) =>
    typeof value === 'string' && allowed.includes(value) ? value : BAD;
/** joi's string().trim().lowercase().valid(...allowed, '').empty(''). */
const choice =
  (allowed: readonly string[]): Check =>
  (value) => {
    if (typeof value !== 'string') return BAD;
    const word = value.trim().toLowerCase();
    return word === '' ? DROP : allowed.includes(word) ? word : BAD;
  };
/** Joi.alternatives(string rule, number rule): the first that passes. */
const either =
  (first: Check, second: Check): Check =>
  (value) => {
    const out = first(value);
    return out === BAD ? second(value) : out;
  };
/** joi's number().min(0) (no integer rule), safe range only. */
const amountNumber: Check = (value) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_SAFE ? value + 0 : BAD);
/** Joi.boolean() converts 'true'/'false' (trimmed, any case); the string rule takes the rest. */
const booleanOrText: Check = (value) => {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return BAD;
  const word = value.trim().toLowerCase();
  return word === 'true' ? true : word === 'false' ? false : text(10)(value);
};
/** One DID item: a trimmed phone-number string, or an integer from 100. */
const didItem = either((value) => {
  if (typeof value !== 'string') return BAD;
  const trimmed = value.trim();
  return trimmed.length <= 40 && DID.test(trimmed) ? trimmed : BAD;
}, int(100));
const dids =
  (maxItems: number): Check =>
  (value) => {
    if (typeof value === 'string') return value.length <= 20_000 ? value : BAD;
    if (!Array.isArray(value) || value.length > maxItems) return BAD;
    const out: unknown[] = new Array(value.length);
    for (let index = 0; index < value.length; index += 1) {
      const item = didItem(value[index]);
      if (item === BAD) return BAD;
      out[index] = item;
    }
    return out;
  };

/** joi's shallow copy of an object it checks keys of; null for what joi would copy otherwise (another prototype, an own `__proto__`). */
function plainCopy(value: unknown): Obj | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return null;
  if (Object.hasOwn(value, '__proto__')) return null;
  return { ...(value as Obj) };
}

/** Applies the checks in schema order (the order joi writes the keys back in); false when one fails. */
function applyChecks(target: Obj, checks: readonly (readonly [string, Check])[]): boolean {
  for (const [key, check] of checks) {
    const value = target[key];
    if (value === undefined) continue;
    const out = check(value);
    if (out === BAD) return false;
    if (out === DROP) delete target[key];
    else target[key] = out;
  }
  return true;
}

interface Compiled {
  service: (readonly [string, Check])[];
  client: (readonly [string, Check])[];
  server: (readonly [string, Check])[];
  plan: (readonly [string, Check])[];
}

function compile(rules: EventCheckRules): Compiled {
  const optionalText = text(255);
  const whmcsDate = text(Infinity, true, WHMCS_DATE);
  const limit = (key: string) => int(rules.planLimits[key]!.min, rules.planLimits[key]!.max);
  const amount: Check = (value) => {
    if (typeof value !== 'string') return BAD;
    const trimmed = value.trim();
    return trimmed === '' ? DROP : rules.amountPattern.test(trimmed) ? trimmed : BAD;
  };
  const extensionNumbers: Check = (value) => {
    try {
      return rules.extensionNumbers(value);
    } catch {
      return BAD;
    }
  };
  return {
    service: [
      ['pid', int(0)],
      ['domain', optionalText],
      ['username', optionalText],
      ['status', optionalText],
      ['billingCycle', text(Infinity, true, rules.billingCyclePattern)],
      ['nextDueDate', whmcsDate],
      ['regDate', whmcsDate],
    ],
    client: [
      ['email', optionalText],
      ['companyName', optionalText],
      ['firstName', optionalText],
      ['lastName', optionalText],
    ],
    server: [
      ['id', int(0)],
      ['hostname', optionalText],
    ],
    // The order of event.ts's planSchema keys.
    plan: [
      ['maxExtensions', int(0, 10_000)],
      ['initialExtensions', limit('initialExtensions')],
      ['firstExtension', int(1, 99_999_999)],
      ['extensionNumbers', extensionNumbers],
      ['maxGateways', limit('maxGateways')],
      ['maxDestinations', limit('maxDestinations')],
      ['maxDevices', limit('maxDevices')],
      ['maxRingGroups', limit('maxRingGroups')],
      ['maxIvrMenus', limit('maxIvrMenus')],
      ['maxCallCenterQueues', limit('maxCallCenterQueues')],
      ['maxUsers', limit('maxUsers')],
      ['routeTemplate', optionalText],
      ['trunkCidrs', (value) => (rules.trunkCidrsValid(value) ? value : BAD)],
      ['gatewayTemplate', optionalText],
      ['rateDeck', optionalText],
      ['billingMode', choice(rules.billingModes)],
      ['creditLimit', amount],
      ['lowBalanceThreshold', amount],
      ['creditRestriction', choice(rules.creditRestrictions)],
      ['brand', optionalText],
      ['includedMinutes', int(0)],
      ['dids', dids(rules.planLimits.maxDestinations!.max)],
      ['countryCode', either(text(Infinity, false, COUNTRY_CODE), int(1, 9999))],
      ['numberFormat', oneOf('national', 'e164')],
      ['ringGroup', either(text(Infinity, false, RING_GROUP), int(0))],
      ['callerIdNamePrefix', text(32, true, CALLER_ID_PREFIX)],
      ['billingExcludes', text(2000)],
      ['inboundBilling', booleanOrText],
      ['inboundRateDeck', optionalText],
      ['inboundRate', either(text(32), amountNumber)],
      ['inboundIncrement', either(text(16), int(1))],
      ['registrationWatch', oneOf('all', 'marked', 'off')],
    ],
  };
}

/** An object with a required integer id (service, client); null when joi must look at it. */
function withId(value: unknown, min: number, checks: Compiled['service']): Obj | null {
  const copy = plainCopy(value);
  if (copy === null) return null;
  const id = int(min)(copy.id);
  if (id === BAD) return null;
  copy.id = id;
  return applyChecks(copy, checks) ? copy : null;
}

/** secrets: an object with servicePassword (1 to 255 characters) and nothing else; required for change_password, absent for the other non-create actions. */
function secretsOf(value: unknown, action: string): Obj | undefined | null {
  if (value === undefined) return action === 'change_password' ? null : undefined;
  if (action !== 'create' && action !== 'change_password') return null;
  const copy = plainCopy(value);
  if (copy === null) return null;
  const keys = Object.keys(copy);
  const password = copy.servicePassword;
  if (password === undefined) return action === 'create' && keys.length === 0 ? copy : null;
  return keys.length === 1 && typeof password === 'string' && password.length >= 1 && password.length <= 255 ? copy : null;
}

/** An object joi takes as it is (configurableOptions, customFields: no keys of their own to check, so not even copied). */
const anyObject = (value: unknown): boolean => value === undefined || (value !== null && typeof value === 'object' && !Array.isArray(value));

/**
 * The compiled check: `check(body)` is the validated event when joi would accept the body with this
 * very value, null when the body must go to joi.
 */
export function compileEventCheck(rules: EventCheckRules): (body: unknown) => Obj | null {
  const compiled = compile(rules);
  const actions = new Set(rules.actions);
  const head = (event: Obj): boolean => {
    if (event.schemaVersion !== 1 || typeof event.eventId !== 'string' || !GUID.test(event.eventId)) return false;
    const at = event.occurredAt;
    if (typeof at !== 'string' || !ISO_INSTANT.test(at)) return false;
    const time = new Date(at).getTime();
    if (Number.isNaN(time)) return false;
    event.occurredAt = new Date(time).toISOString();
    return true;
  };
  return (body) => {
    const event = plainCopy(body);
    if (event === null || typeof event.action !== 'string' || !actions.has(event.action) || !head(event)) return null;
    const service = withId(event.service, 1, compiled.service);
    const client = withId(event.client, 0, compiled.client);
    if (service === null || client === null) return null;
    event.service = service;
    event.client = client;
    if (event.server !== undefined) {
      const server = plainCopy(event.server);
      if (server === null || !applyChecks(server, compiled.server)) return null;
      event.server = server;
    }
    const plan = event.plan === undefined ? {} : plainCopy(event.plan);
    if (plan === null || !applyChecks(plan, compiled.plan)) return null;
    if (plan.firstExtension === undefined) plan.firstExtension = 100;
    event.plan = plan;
    if (!anyObject(event.configurableOptions) || !anyObject(event.customFields)) return null;
    const secrets = secretsOf(event.secrets, event.action);
    if (secrets === null) return null;
    if (secrets !== undefined) event.secrets = secrets;
    return event;
  };
}

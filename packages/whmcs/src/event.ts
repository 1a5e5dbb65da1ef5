import { isIPv4, isIPv6 } from 'node:net';
import Joi from 'joi';
import {
  COUNTRY_CODE_DIGITS,
  COUNTRY_CODE_RULE,
  parseExclusions,
  parseIncrements,
  parseMoney,
  RatingConfigError,
  type CdrDirection,
  type ExclusionList,
  type Increments,
  type Micro,
} from '@ictvoip/rating';
import { describeBadCharacters, FreeswitchValidationError, validateDomainName } from '@ictvoip/freeswitch';

export const WEBHOOK_ACTIONS = ['create', 'suspend', 'unsuspend', 'terminate', 'change_package', 'change_password', 'test_connection', 'reconcile', 'status'] as const;

/** Reads answered at once, never stored or queued (the admin service tab, the client area). */
export const READ_ACTIONS: readonly WebhookAction[] = ['status'];
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

/** Actions that change the tenant; `test_connection` only probes. */
export const TENANT_ACTIONS: readonly WebhookAction[] = ['create', 'suspend', 'unsuspend', 'terminate', 'change_package', 'change_password'];

/**
 * The actions whose event must carry `secrets.servicePassword` (the tenant admin's portal password:
 * create sets it, change_password changes it); every other action must not carry secrets. Ingest
 * refuses a missing one naming the field (webhookEventSchema, the compiled check) and the provisioner
 * reads this same list (fusionpbx input.ts), so a create WHMCS sent without it is a 400, never a
 * 2xx and then a job that can never succeed.
 */
export const SERVICE_PASSWORD_ACTIONS: readonly WebhookAction[] = ['create', 'change_password'];

/** Whether an event of this action must carry `secrets.servicePassword` (SERVICE_PASSWORD_ACTIONS). */
export function requiresServicePassword(action: string): boolean {
  return (SERVICE_PASSWORD_ACTIONS as readonly string[]).includes(action);
}

export interface WebhookPlan {
  maxExtensions?: number;
  initialExtensions?: number;
  /** Gateways the tenant may have (the /v1 quota and FusionPBX's own `limit/gateways/numeric`). */
  maxGateways?: number;
  /** Destinations the tenant may add in FusionPBX (`limit/destinations/numeric`). */
  maxDestinations?: number;
  /** FusionPBX-only limits (`limit/<key>/numeric`): devices, ring groups, IVR menus, call-center queues, users. */
  maxDevices?: number;
  maxRingGroups?: number;
  maxIvrMenus?: number;
  maxCallCenterQueues?: number;
  maxUsers?: number;
  /** Outbound route template (PROVISIONING_FILE routeTemplates) written through the plan's gateway. */
  routeTemplate?: string;
  /** IP-authenticated trunk: the tenant PBX's addresses, added to FusionPBX's access control list. */
  trunkCidrs?: string[] | string;
  /** Unset: PROVISIONING_FILE's defaultFirstExtension, else 100 (the provisioner decides). */
  firstExtension?: number;
  /**
   * The tenant's extension numbers, not necessarily consecutive (ictVoIP's `"2112 | 2113 | 2120"`,
   * or a list): provisioned instead of the firstExtension range; maxExtensions defaults to its length.
   */
  extensionNumbers?: string[];
  gatewayTemplate?: string;
  rateDeck?: string;
  /** Credit control (issue 16): `postpaid` (default) or `prepaid`. */
  billingMode?: BillingMode;
  /** Postpaid only: how far below zero the client's balance may go, decimal string ("50.00"). */
  creditLimit?: string;
  /** Available credit under which the low-balance mail goes out, decimal string ("5.00"). */
  lowBalanceThreshold?: string;
  /** At zero: `suspend` through WHMCS (ModuleSuspend, default) or `outbound` (FusionPBX gateways off, inbound and emergency kept). */
  creditRestriction?: CreditRestriction;
  brand?: string;
  includedMinutes?: number;
  /** The tenant's phone numbers (DIDs), main number first; see `planDids`. */
  dids?: string[];
  /** Country code the plan's numbers belong to (digits, e.g. `1`, `44`): national numbers are completed with it. */
  countryCode?: string;
  /** How a DID is written to FusionPBX: `national` (destination_prefix + national number) or `e164` (`+<digits>`). */
  numberFormat?: 'national' | 'e164';
  /** Extension of a ring group of the plan's extensions; the plan's DIDs ring it when set. */
  ringGroup?: string;
  /** Caller ID name prefix inbound calls on the plan's DIDs get (destination_cid_name_prefix). */
  callerIdNamePrefix?: string;
  /** Exclusions in ictVoIP's syntax (`911,112,800xxxxxxx,*xx,[local]`); unset = BILLING_EXCLUDES. */
  billingExcludes?: string;
  /** Bill inbound calls (true) or not (false); unset = whether BILLING_DIRECTIONS lists inbound. */
  inboundBilling?: boolean | string;
  /** Deck for inbound calls, looked up by the number called (the DID). */
  inboundRateDeck?: string;
  /** Flat inbound price per minute (decimal string, up to 6 places), in the main deck's currency. */
  inboundRate?: string;
  /** Increments of the flat inbound rate: `60/6` or `6` (default 60/60). */
  inboundIncrement?: string;
  /** Registration monitoring's watch scope (module setting 16): every extension, only those marked, or none. */
  registrationWatch?: 'all' | 'marked' | 'off';
  [key: string]: unknown;
}

export interface WebhookEvent {
  schemaVersion: 1;
  eventId: string;
  action: WebhookAction;
  occurredAt: string;
  service: {
    id: number;
    pid?: number;
    domain?: string;
    username?: string;
    status?: string;
    /** WHMCS's words: Monthly, Quarterly, Semi-Annually, Annually, Biennially, Triennially, Free Account, One Time */
    billingCycle?: string;
    /** YYYY-MM-DD; '0000-00-00' or '' when WHMCS has none */
    nextDueDate?: string;
    regDate?: string;
    [key: string]: unknown;
  };
  client: { id: number; email?: string; companyName?: string; firstName?: string; lastName?: string; [key: string]: unknown };
  server?: { id?: number; hostname?: string; [key: string]: unknown };
  plan: WebhookPlan;
  configurableOptions?: Record<string, unknown>;
  customFields?: Record<string, unknown>;
  secrets?: { servicePassword?: string };
  [key: string]: unknown;
}

export const BILLING_MODES = ['postpaid', 'prepaid'] as const;
export type BillingMode = (typeof BILLING_MODES)[number];
export const CREDIT_RESTRICTIONS = ['suspend', 'outbound'] as const;
export type CreditRestriction = (typeof CREDIT_RESTRICTIONS)[number];

/** A plan's country code: rating's COUNTRY_CODE_DIGITS (what rate decks take too), with an optional +. */
export const COUNTRY_CODE_PATTERN = new RegExp(`^\\+?${COUNTRY_CODE_DIGITS.source.slice(1)}`);
/** What a bad plan.countryCode is told, at ingest and wherever a stored plan's is read (fusionpbx numberPlanOf): rating's, as a deck's. */
export { COUNTRY_CODE_RULE };

/**
 * Whether a plan's countryCode is one, as planSchema takes it: text (spaces around it ignored) or a
 * whole number, matching COUNTRY_CODE_PATTERN. The one rule for the webhook and for a plan read back
 * from the bridge's rows (fusionpbx numberPlanOf), so neither keeps its own pattern.
 */
export function isCountryCode(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && COUNTRY_CODE_PATTERN.test(String(value));
  return typeof value === 'string' && COUNTRY_CODE_PATTERN.test(value.trim());
}

/** A plan amount: a plain decimal string with at most 6 decimals, never negative ("0", "5.00", "12.345"). */
export const PLAN_AMOUNT_PATTERN = /^\d{1,12}(\.\d{1,6})?$/;
const planAmount = Joi.string()
  .trim()
  .pattern(PLAN_AMOUNT_PATTERN)
  .messages({ 'string.pattern.base': '{{#label}} must be a decimal amount such as "5.00" (not negative, at most 6 decimals)' });

/** The plan's numeric limits: the webhook schema and FusionPBX's provisioning input both read these. */
export const PLAN_LIMITS = {
  firstExtension: { min: 1, max: 99_999_999 },
  maxExtensions: { min: 0, max: 10_000 },
  /** How many of maxExtensions a create provisions (default all). */
  initialExtensions: { min: 0, max: 10_000 },
  maxGateways: { min: 0, max: 1_000 },
  maxDestinations: { min: 0, max: 10_000 },
  maxDevices: { min: 0, max: 10_000 },
  maxRingGroups: { min: 0, max: 10_000 },
  maxIvrMenus: { min: 0, max: 10_000 },
  maxCallCenterQueues: { min: 0, max: 10_000 },
  maxUsers: { min: 0, max: 10_000 },
} as const;

const optionalText = Joi.string().allow('').max(255);
/** One phone number as WHMCS holds it: digits with an optional leading + or 00, spaces, dots, dashes and brackets allowed. */
const didSchema = Joi.alternatives(
  Joi.string()
    .trim()
    .max(40)
    .pattern(/^\+?[0-9 ().-]{3,40}$/, 'phone number'),
  Joi.number().integer().min(100),
);

/** `["2112", "2113"]` or ictVoIP's `"2112 | 2113"`: the same list; anything else is refused with the part at fault. */
function extensionNumbersOf(value: unknown): string[] {
  const text = Array.isArray(value) ? value.map((item) => (typeof item === 'string' || typeof item === 'number' ? String(item) : '?')).join('|') : value;
  if (typeof text !== 'string' || text.trim() === '') throw new Error('must be a list of extension numbers or "2112 | 2113 | 2120"');
  const numbers = parseIctvoipExtensionList(text, 'plan.extensionNumbers');
  if (numbers.length > PLAN_LIMITS.maxExtensions.max) throw new Error(`lists more than ${PLAN_LIMITS.maxExtensions.max} extensions`);
  return numbers;
}
const positiveInt = Joi.number().integer().min(0);

const limit = (key: keyof typeof PLAN_LIMITS) => Joi.number().integer().min(PLAN_LIMITS[key].min).max(PLAN_LIMITS[key].max);
const FUSIONPBX_ONLY_LIMITS = {
  maxDevices: limit('maxDevices'),
  maxRingGroups: limit('maxRingGroups'),
  maxIvrMenus: limit('maxIvrMenus'),
  maxCallCenterQueues: limit('maxCallCenterQueues'),
  maxUsers: limit('maxUsers'),
};

const planSchema = Joi.object({
  maxExtensions: limit('maxExtensions'),
  // How many of maxExtensions the create provisions (default all); the rest is room for /v1 POSTs.
  initialExtensions: limit('initialExtensions'),
  // Unset stays unset: the provisioner applies PROVISIONING_FILE's defaultFirstExtension (else 100).
  firstExtension: limit('firstExtension'),
  extensionNumbers: Joi.any().custom(extensionNumbersOf, 'extension numbers'),
  maxGateways: limit('maxGateways'),
  maxDestinations: limit('maxDestinations'),
  ...FUSIONPBX_ONLY_LIMITS,
  routeTemplate: optionalText,
  trunkCidrs: Joi.any().custom((value: unknown, helpers) => {
    const [problem] = trunkCidrProblems(value, 'plan.trunkCidrs');
    return problem ? helpers.message({ custom: `'${problem.path}' ${problem.message}` }) : value;
  }),
  gatewayTemplate: optionalText,
  rateDeck: optionalText,
  billingMode: Joi.string()
    .trim()
    .lowercase()
    .valid(...BILLING_MODES, '')
    .empty(''),
  creditLimit: planAmount.allow('').empty(''),
  lowBalanceThreshold: planAmount.allow('').empty(''),
  creditRestriction: Joi.string()
    .trim()
    .lowercase()
    .valid(...CREDIT_RESTRICTIONS, '')
    .empty(''),
  brand: optionalText,
  includedMinutes: Joi.number().integer().min(0),
  dids: Joi.alternatives(Joi.array().items(didSchema).max(PLAN_LIMITS.maxDestinations.max), Joi.string().allow('').max(20_000)),
  // E.164 country codes have no leading zero: '01' is refused, never read as 1 (the number form takes numbers only, no conversion).
  countryCode: Joi.alternatives(
    Joi.string()
      .trim()
      .pattern(COUNTRY_CODE_PATTERN)
      .messages({ 'string.pattern.base': `{{#label}} ${COUNTRY_CODE_RULE}` }),
    Joi.number().strict().integer().min(1).max(9999),
  ),
  numberFormat: Joi.string().valid('national', 'e164'),
  ringGroup: Joi.alternatives(Joi.string().pattern(/^[0-9]{1,15}$/, 'extension number'), Joi.number().integer().min(0)),
  callerIdNamePrefix: Joi.string()
    .allow('')
    .max(32)
    .pattern(/^[A-Za-z0-9 _.:+#-]*$/, 'letters, digits, space _ . : + # -'),
  billingExcludes: Joi.string().allow('').max(2000),
  inboundBilling: Joi.alternatives(Joi.boolean(), Joi.string().allow('').max(10)),
  inboundRateDeck: optionalText,
  inboundRate: Joi.alternatives(Joi.string().allow('').max(32), Joi.number().min(0)),
  inboundIncrement: Joi.alternatives(Joi.string().allow('').max(16), Joi.number().integer().min(1)),
  registrationWatch: Joi.string().valid('all', 'marked', 'off'),
}).unknown(true);

// Split around service and client so both schemas keep the keys (and so the reported details) in one order.
const headKeys = {
  schemaVersion: Joi.number().valid(1).required(),
  eventId: Joi.string()
    .guid({ version: ['uuidv1', 'uuidv4', 'uuidv5', 'uuidv7'] })
    .required(),
  action: Joi.string()
    .valid(...WEBHOOK_ACTIONS)
    .required(),
  occurredAt: Joi.string().isoDate().required(),
};
const tailKeys = {
  server: Joi.object({ id: positiveInt, hostname: optionalText }).unknown(true),
  plan: planSchema.default(),
  configurableOptions: Joi.object().unknown(true),
  customFields: Joi.object().unknown(true),
};
// WHMCS's tblhosting values as the module sends them: the billing cycle's words and dates ('0000-00-00' = none).
const WHMCS_CYCLE = /^(free ?account|one ?time|monthly|quarterly|semi-?annually|annually|biennially|triennially)$/i;
const whmcsDate = Joi.string()
  .allow('')
  .pattern(/^\d{4}-\d{2}-\d{2}$/)
  .messages({ 'string.pattern.base': '{{#label}} must be YYYY-MM-DD' });
const serviceKeys = {
  pid: positiveInt,
  domain: optionalText,
  username: optionalText,
  status: optionalText,
  billingCycle: Joi.string()
    .allow('')
    .pattern(WHMCS_CYCLE)
    .messages({ 'string.pattern.base': '{{#label}} must be a WHMCS billing cycle (Monthly, Quarterly, Semi-Annually, Annually, Biennially, Triennially, Free Account, One Time)' }),
  nextDueDate: whmcsDate,
  regDate: whmcsDate,
};
const clientKeys = { id: positiveInt.required(), email: Joi.string().allow('').max(255), companyName: optionalText, firstName: optionalText, lastName: optionalText };
const secretsSchema = Joi.object({ servicePassword: Joi.string().min(1).max(255) }).unknown(false);
const SECRETS_FORBIDDEN = { 'any.unknown': `"secrets" is only allowed for ${SERVICE_PASSWORD_ACTIONS.join(' and ')}` };
/**
 * secrets.servicePassword required: a body without `secrets` at all is told about the field it lacks
 * (joi would name `secrets`), so a create or change_password without it is always one detail naming
 * `secrets.servicePassword`, whichever of the two is missing.
 */
const secretsRequired = Joi.object({ servicePassword: Joi.required() })
  .required()
  .error((reports) => {
    for (const report of reports) {
      if (report.code === 'any.required' && report.path.length === 1) {
        report.path = [...report.path, 'servicePassword'];
        report.local = { ...report.local, key: 'servicePassword', label: 'secrets.servicePassword' };
      }
    }
    return reports;
  });

export const webhookEventSchema = Joi.object<WebhookEvent>({
  ...headKeys,
  service: Joi.object({
    // test_connection is server-level in WHMCS: it has no service, sent as id 0.
    id: positiveInt.required().when('...action', { is: 'test_connection', otherwise: Joi.number().min(1) }),
    ...serviceKeys,
  })
    .unknown(true)
    .when('action', { is: 'test_connection', then: Joi.optional().default({ id: 0 }), otherwise: Joi.required() }),
  client: Joi.object(clientKeys)
    .unknown(true)
    .when('action', { is: 'test_connection', then: Joi.optional().default({ id: 0 }), otherwise: Joi.required() }),
  ...tailKeys,
  secrets: secretsSchema,
})
  .unknown(true)
  .when(Joi.object({ action: Joi.valid(...SERVICE_PASSWORD_ACTIONS) }).unknown(), {
    then: Joi.object({ secrets: secretsRequired }),
    otherwise: Joi.object({ secrets: Joi.forbidden().messages(SECRETS_FORBIDDEN) }),
  });

// ---- The compiled check ----

/**
 * The webhook event's schema written out as plain code for the bodies WHMCS sends on every tenant
 * action (issue #20: joi cost ~50 µs of CPU per webhook, more than the rest of the validation).
 *
 * It only ever vouches for a body: it returns the value joi would return (same conversions, same
 * defaults, same copies) when it is sure joi accepts the body, and null otherwise. A null body goes
 * to the joi schema, which accepts it or names every failing field, so the refusals and their
 * messages stay joi's. Anything unusual (a value joi would convert from a string, a `__proto__` key,
 * an object of another class, test_connection and the read actions) is left to joi the same way.
 * The rules (limits, patterns, the extension-list parser) are handed in from the schema's own
 * definitions above, so each has one (test: event-check.test.ts compares both over fuzzed bodies).
 * It lives in this file because the webhook's create path is counted in files (create-path.test.ts).
 */

type Obj = Record<string, unknown>;

/** A value joi would refuse or convert in a way this code does not: the body goes to joi. */
const BAD = Symbol('bad');
/** A value joi turns into undefined (`.empty('')`): the key is deleted, as joi deletes it. */
const DROP = Symbol('drop');
type Check = (value: unknown) => unknown;

interface EventCheckRules {
  actions: readonly string[];
  /** The actions whose event must carry secrets.servicePassword (the others must carry no secrets). */
  passwordActions: readonly string[];
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
const COUNTRY_CODE = COUNTRY_CODE_PATTERN;
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
      ['maxExtensions', limit('maxExtensions')],
      ['initialExtensions', limit('initialExtensions')],
      ['firstExtension', limit('firstExtension')],
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

/** secrets: an object with servicePassword (1 to 255 characters) and nothing else; required for the password actions, absent for the others. */
function secretsOf(value: unknown, carriesPassword: boolean): Obj | undefined | null {
  if (value === undefined) return carriesPassword ? null : undefined;
  if (!carriesPassword) return null;
  const copy = plainCopy(value);
  if (copy === null) return null;
  const keys = Object.keys(copy);
  const password = copy.servicePassword;
  return keys.length === 1 && typeof password === 'string' && password.length >= 1 && password.length <= 255 ? copy : null;
}

/** An object joi takes as it is (configurableOptions, customFields: no keys of their own to check, so not even copied). */
const anyObject = (value: unknown): boolean => value === undefined || (value !== null && typeof value === 'object' && !Array.isArray(value));

/**
 * The compiled check: `check(body)` is the validated event when joi would accept the body with this
 * very value, null when the body must go to joi.
 */
function compileEventCheck(rules: EventCheckRules): (body: unknown) => Obj | null {
  const compiled = compile(rules);
  const actions = new Set(rules.actions);
  const passwordActions = new Set(rules.passwordActions);
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
    event.plan = plan;
    if (!anyObject(event.configurableOptions) || !anyObject(event.customFields)) return null;
    const secrets = secretsOf(event.secrets, passwordActions.has(event.action));
    if (secrets === null) return null;
    if (secrets !== undefined) event.secrets = secrets;
    return event;
  };
}

// ---- end of the compiled check ----

/**
 * The schema above as plain code for the tenant actions WHMCS sends: resolving
 * joi's `when`s and rules cost more than the rest of the webhook's handling. Only an accepted body
 * is taken from it; anything else goes to the full schema, whose details are the ones reported
 * (tests: event-schema.test.ts, event-check.test.ts).
 */
export const checkTenantEvent = compileEventCheck({
  actions: TENANT_ACTIONS,
  passwordActions: SERVICE_PASSWORD_ACTIONS,
  planLimits: PLAN_LIMITS,
  amountPattern: PLAN_AMOUNT_PATTERN,
  billingCyclePattern: WHMCS_CYCLE,
  billingModes: BILLING_MODES,
  creditRestrictions: CREDIT_RESTRICTIONS,
  extensionNumbers: extensionNumbersOf,
  trunkCidrsValid: (value) => trunkCidrProblems(value, 'plan.trunkCidrs').length === 0,
});

const VALIDATION_OPTIONS: Joi.ValidationOptions = { abortEarly: false, convert: true };

export interface ValidationDetail {
  path: string;
  message: string;
}

export class EventValidationError extends Error {
  readonly code = 'VALIDATION_FAILED';
  constructor(readonly details: ValidationDetail[]) {
    super(`invalid webhook event: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`);
    this.name = 'EventValidationError';
  }
}

/** Validates and normalises a webhook body; lists every failing path at once. */
export function parseWebhookEvent(body: unknown): WebhookEvent {
  const checked = checkTenantEvent(body);
  if (checked !== null) return checked as WebhookEvent;
  const { value, error } = webhookEventSchema.validate(body, VALIDATION_OPTIONS);
  if (error) {
    throw new EventValidationError(error.details.map((detail) => ({ path: detail.path.join('.') || '(body)', message: detail.message.replace(/"/g, "'") })));
  }
  return value as WebhookEvent;
}

/** An option's or custom field's name as the bridge compares it: the key before `|`, lower case, without spaces, `_` and `-`. */
const fieldKey = (name: string) =>
  name
    .split('|')[0]!
    .trim()
    .toLowerCase()
    .replace(/[\s_-]/g, '');

const OPTION_LIMITS: Record<string, keyof WebhookPlan> = {
  maxextensions: 'maxExtensions',
  extensions: 'maxExtensions',
  initialextensions: 'initialExtensions',
  firstextension: 'firstExtension',
  maxgateways: 'maxGateways',
  maxdestinations: 'maxDestinations',
  maxdevices: 'maxDevices',
  maxringgroups: 'maxRingGroups',
  maxivrmenus: 'maxIvrMenus',
  maxcallcenterqueues: 'maxCallCenterQueues',
  maxusers: 'maxUsers',
  routetemplate: 'routeTemplate',
  includedminutes: 'includedMinutes',
  ratedeck: 'rateDeck',
  gatewaytemplate: 'gatewayTemplate',
  brand: 'brand',
  billingmode: 'billingMode',
  creditlimit: 'creditLimit',
  lowbalancethreshold: 'lowBalanceThreshold',
  creditrestriction: 'creditRestriction',
  billingexcludes: 'billingExcludes',
  inboundbilling: 'inboundBilling',
  inboundratedeck: 'inboundRateDeck',
  inboundrate: 'inboundRate',
  inboundincrement: 'inboundIncrement',
};

const LOWER_CASE_OPTIONS: ReadonlySet<keyof WebhookPlan> = new Set(['billingMode', 'creditRestriction']);

const NUMERIC_OPTIONS: ReadonlySet<keyof WebhookPlan> = new Set([
  'maxExtensions',
  'initialExtensions',
  'firstExtension',
  'includedMinutes',
  'maxGateways',
  'maxDestinations',
  'maxDevices',
  'maxRingGroups',
  'maxIvrMenus',
  'maxCallCenterQueues',
  'maxUsers',
]);

/**
 * The plan limits configurable options set (`key|Label` names, numeric strings; empty or
 * non-numeric values for numeric keys are ignored). Used on webhook events and on WHMCS API answers
 * alike, so both read the same options the same way. An `extensions` option holding a list
 * (`2112 | 2113`), or any `extensions` option when `plan` already lists its extensions (the module
 * mapped ictVoIP's names), is the extension list and never the Max extensions quantity.
 */
export function planOverridesFromOptions(options: Record<string, unknown>, plan: Readonly<Record<string, unknown>> = {}): Partial<WebhookPlan> {
  const overrides: Partial<WebhookPlan> = {};
  for (const [rawName, rawValue] of Object.entries(options)) {
    const name = fieldKey(rawName);
    // Own keys only: an option named "constructor" or "toString" is no plan field.
    const key = Object.hasOwn(OPTION_LIMITS, name) ? OPTION_LIMITS[name] : undefined;
    const value = optionText(rawValue);
    if (key === undefined || value === null) continue;
    if (name === 'extensions' && (plan.extensionNumbers !== undefined || isExtensionList(value))) {
      // ictVoIP's "Extensions" option is the extension list ("2112 | 2113"), never a quantity.
      if (plan.extensionNumbers === undefined) overrides.extensionNumbers = extensionNumbersOf(value);
      continue;
    }
    const text = value.split('|')[0].trim();
    const numeric = NUMERIC_OPTIONS.has(key);
    if (numeric && !/^\d+$/.test(text)) continue;
    overrides[key] = numeric ? Number.parseInt(text, 10) : LOWER_CASE_OPTIONS.has(key) ? text.toLowerCase() : text;
  }
  return overrides;
}

/** A WHMCS option's value as text; null when empty or not a plain value (WHMCS sends strings and numbers, a fuzzer anything). */
function optionText(value: unknown): string | null {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return null;
  const text = String(value);
  return text === '' ? null : text;
}

/** `2112 | 2113`: two or more distinct numbers (a dropdown's `50|50 extensions` is a value and its label). */
function isExtensionList(value: string): boolean {
  // Empty parts are skipped as in parseIctvoipExtensionList: "2112 | 2113 |" is a list, not the quantity 2112.
  const parts = value
    .split('|')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  return parts.length > 1 && new Set(parts).size === parts.length && parts.every((part) => /^\d{1,15}$/.test(part));
}

/** The plan after configurable options override its limits. */
export function effectivePlan(event: WebhookEvent): WebhookPlan {
  return { ...event.plan, ...planOverridesFromOptions(event.configurableOptions ?? {}, event.plan) };
}

/**
 * The plan key under which the bridge keeps the WHMCS package (product id) of the last create or
 * change_package, so drift can tell when WHMCS moved the service to another package.
 */
export const STORED_PACKAGE_KEY = 'whmcsPid';

/** The event as it may be stored or logged: the service password removed. */
export function redactEvent(event: WebhookEvent): WebhookEvent {
  if (event.secrets === undefined) return event;
  const { secrets: _secrets, ...rest } = event;
  return { ...rest, secrets: { servicePassword: '[redacted]' } } as WebhookEvent;
}

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
  /** The WHMCS admin who pressed the button (module: `<username> (admin #<id>)`), for the audit entry. */
  requestedBy?: string;
  /** suspend: WHMCS's suspend reason as the module sent it (credit control tells its own from others by it). */
  reason?: string;
  /**
   * The body's top-level fields the command does not read (the module's `moduleSettings`,
   * `configurableOptionsNormalized`, …), kept as sent with the stored event for the audit trail
   * (the contract: unknown fields are kept, not rejected). Nothing reads them to provision.
   */
  received?: Record<string, unknown>;
  secrets?: { servicePassword?: string };
}

/**
 * ictVoIP's service-field formats (clientadmin/clientadmin.rst), kept with the event whose fields are
 * written in them (the command below reads them; provisioning input, adoption and the drift report use
 * the same functions): the Domain field `"<tenant domain> | <main DID>"` (Vodia's form, `"t | d1 | d2 | 8300"`, is
 * refused: its last part is an extension) and the extension list `"2112 | 2113 | 2120"` (not necessarily consecutive). `|`
 * separates, spaces around it do not matter, and neither do empty parts (`"dom.ca |"`,
 * `"dom.ca | | 5192229000"`, `"2112 | 2113 |"`: what a hand-edited WHMCS field holds, and nothing is
 * lost by skipping them); the Domain field's first part stays the domain. Each problem names the
 * field and the part at fault, counted as written.
 */
export class IctvoipFormatError extends Error {
  readonly code = 'ICTVOIP_FORMAT_INVALID';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
    this.name = 'IctvoipFormatError';
  }
}

export interface IctvoipDomainField {
  domain: string;
  /** The DID after the domain (the tenant's main DID), or none; a list of one since Vodia's longer form is refused. */
  dids: string[];
}

const ICTVOIP_DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ICTVOIP_DID = /^\+?[0-9]{3,20}$/;
const ICTVOIP_EXTENSION = /^[0-9]{1,15}$/;

const ictvoipParts = (value: string) => value.split('|').map((part) => part.trim());
/** The non-empty parts with their 1-based position as written, so a message names the part the operator sees. */
const givenParts = (parts: readonly string[], firstPosition: number) => parts.flatMap((part, index) => (part === '' ? [] : [{ part, position: index + firstPosition }]));

/** True when the value uses ictVoIP's `a | b` form (a plain domain or number does not). */
export const isIctvoipList = (value: string) => value.includes('|');

/** `"mcon.example.ca | 5192229000"` → domain + DIDs; a plain domain gives no DIDs. */
export function parseIctvoipDomainField(value: string, field = 'service.domain'): IctvoipDomainField {
  const [domain = '', ...rest] = ictvoipParts(value);
  if (!ICTVOIP_DOMAIN.test(domain))
    throw new IctvoipFormatError(field, `must start with a tenant domain (e.g. "mcon.example.ca | 5192229000"); got ${JSON.stringify(domain.slice(0, 80))}`);
  const dids = givenParts(rest, 2).map(({ part, position }) => {
    const did = part.replace(/[\s().-]/g, '');
    if (!ICTVOIP_DID.test(did)) throw new IctvoipFormatError(field, `part ${position} must be a DID of 3 to 20 digits (optionally +); got ${JSON.stringify(part.slice(0, 40))}`);
    return did;
  });
  const distinct = [...new Set(dids)];
  // Vodia's form ("tenant | DID1 | DID2 | 8300", modules/vodia.rst) ends in the billed extension, which
  // nothing here can tell from a DID: refused, never read with an extension taken for a number.
  if (distinct.length > 1)
    throw new IctvoipFormatError(
      field,
      `lists ${distinct.length} numbers after the tenant domain: that is ictVoIP's Vodia form ("tenant | DID | DID | ..."), and Vodia products are not supported; a FusionPBX product's Domain field is "<tenant domain> | <main DID>" (more DIDs go in a "DIDs" configurable option or custom field)`,
    );
  return { domain: domain.toLowerCase(), dids: distinct };
}

/** `"2112 | 2113 | 2120"` → ['2112', '2113', '2120']; a single number is a list of one. */
export function parseIctvoipExtensionList(value: string, field = 'extensions'): string[] {
  const given = givenParts(ictvoipParts(value), 1);
  if (given.length === 0) throw new IctvoipFormatError(field, 'lists no extension number (e.g. "2112 | 2113 | 2120")');
  const numbers = given.map(({ part }) => part);
  const seen = new Set<string>();
  given.forEach(({ part: number, position }) => {
    if (!ICTVOIP_EXTENSION.test(number))
      throw new IctvoipFormatError(field, `part ${position} must be an extension number (digits only); got ${JSON.stringify(number.slice(0, 40))}`);
    if (seen.has(number)) throw new IctvoipFormatError(field, `lists extension ${number} twice`);
    seen.add(number);
  });
  return numbers;
}

/** The ictVoIP form of a domain and its DIDs, as its Domain field holds them. */
export function formatIctvoipDomainField(domain: string, dids: readonly string[] = []): string {
  return [domain, ...dids].join(' | ');
}

/**
 * The plan's IP-authenticated trunk addresses (`plan.trunkCidrs`): one IPv4/IPv6 address or CIDR each,
 * as a list or as one string separated by `|`, `,` or spaces (the form a WHMCS module setting holds).
 * Normalised the way FusionPBX's access_control_edit.php stores a node: an IPv4 address without a
 * prefix gets `/32`; IPv6 is kept as written.
 */
export const MAX_TRUNK_CIDRS = 50;

export interface TrunkCidrProblem {
  /** `plan.trunkCidrs[1]` */
  path: string;
  message: string;
}

function entriesOf(value: unknown): unknown[] | null {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return value.split(/[|,\s]+/).filter((part) => part !== '');
  return null;
}

/** One entry as FusionPBX stores it, or null when it is not an address or CIDR. */
export function normaliseTrunkCidr(entry: unknown): string | null {
  if (typeof entry !== 'string') return null;
  const text = entry.trim();
  const [address = '', prefix, extra] = text.split('/');
  if (extra !== undefined) return null;
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (max === 0) return null;
  if (prefix === undefined) return max === 32 ? `${address}/32` : address;
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > max) return null;
  return `${address}/${Number(prefix)}`;
}

export function trunkCidrProblems(value: unknown, field = 'plan.trunkCidrs'): TrunkCidrProblem[] {
  const entries = entriesOf(value);
  if (entries === null) return [{ path: field, message: 'must be a list of IP addresses or CIDRs' }];
  if (entries.length > MAX_TRUNK_CIDRS) return [{ path: field, message: `must hold at most ${MAX_TRUNK_CIDRS} entries` }];
  return entries.flatMap((entry, index) =>
    normaliseTrunkCidr(entry) === null
      ? [
          {
            path: `${field}[${index}]`,
            message: `'${typeof entry === 'string' ? entry : JSON.stringify(entry)}' is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.10 or 198.51.100.0/24)`,
          },
        ]
      : [],
  );
}

/** The normalised, de-duplicated list; throws nothing (call trunkCidrProblems first). */
export function normaliseTrunkCidrs(value: unknown): string[] {
  const entries = entriesOf(value) ?? [];
  return [...new Set(entries.map(normaliseTrunkCidr).filter((cidr): cidr is string => cidr !== null))];
}

/**
 * The service's own trunk addresses may come from a WHMCS custom field named `trunkCidrs` (or
 * `Trunk CIDRs`, `trunk_cidrs|…`): they belong to one customer, not to the product. The plan's own
 * `trunkCidrs` wins when both are set.
 */
function trunkCidrsField(customFields: Record<string, unknown> | undefined): [name: string, value: unknown] | null {
  for (const [name, value] of Object.entries(customFields ?? {})) {
    const key = fieldKey(name);
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
  // An object in the list stays in it as text the number check refuses (naming the field), not a TypeError.
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'object' && item !== null ? '[object]' : String(item)).trim()).filter((item) => item !== '');
  if (typeof value === 'number') return [String(value)];
  if (typeof value !== 'string') return [];
  return value
    .split(/[|,;\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Configurable option names (compared like DID_FIELDS) that hold the service's DIDs; "Numbers" alone is too likely a quantity. */
const DID_OPTIONS: ReadonlySet<string> = new Set(['dids', 'did', 'maindid', 'didnumbers', 'phonenumbers', 'phonenumber']);
/** A dropdown's "no number" choice: the plan's numbers are stated, and there are none. */
const NO_NUMBER = /^(none|no|-)?$/i;
/** A quantity or a checkbox under a DID option's name: a count of numbers, not numbers. */
const NOT_NUMBERS = /^(\d{1,2}|on|off|yes)$/i;
/** Two letters in a row: the part is a dropdown label's text, not a number. */
const LABEL_WORD = /[A-Za-z]{2}/;

/**
 * The numbers a configurable option holds, or null when it holds none (a quantity, a checkbox).
 * WHMCS hands over a dropdown's choice as `value|Label`, and ictVoIP writes a list as `a | b`: the
 * parts from the first on are the value (`,` `;` or new lines inside a part split it too) up to the
 * first part with a word in it (`Toronto (519) 555-0100`), which starts the label. A part without a
 * word is a number and checked as one, so a typo (`519555010x`) is refused, not taken for a label.
 * A label that is the number written another way (`5195550100|(519) 555-0100`) is the same number
 * once the plan's format normalises both.
 */
function optionDids(value: unknown): string[] | null {
  if (typeof value === 'number') return value >= 100 ? [String(value)] : null;
  if (typeof value !== 'string' || NOT_NUMBERS.test(value.trim())) return null;
  const [first = '', ...rest] = value.split('|').map((part) => part.trim());
  if (NO_NUMBER.test(first)) return [];
  const parts = [first];
  for (const part of rest) {
    if (LABEL_WORD.test(part)) break;
    parts.push(part);
  }
  return parts.flatMap(splitList);
}

/**
 * The plan's DIDs, main number first: the DID of ictVoIP's `domain | DID` service field, then
 * `plan.dids` (a list or ictVoIP's `a | b` text), then a configurable option named like "DIDs" or
 * "Phone Numbers", then a custom field named like "DIDs". The same number written twice (formatting
 * aside) counts once. Each is checked here, naming where it came from.
 */
function planDids(plan: WebhookPlan, domainDids: readonly string[], event: Pick<WebhookEvent, 'configurableOptions' | 'customFields'>): { dids: string[]; stated: boolean } {
  const sources: [string, string[]][] = [['service.domain', [...domainDids]]];
  if (plan.dids !== undefined) sources.push(['plan.dids', splitList(plan.dids)]);
  for (const [name, value] of Object.entries(event.configurableOptions ?? {})) {
    const items = DID_OPTIONS.has(fieldKey(name)) ? optionDids(value) : null;
    if (items !== null) sources.push([`configurableOptions.${name.split('|')[0]!.trim()}`, items]);
  }
  for (const [name, value] of Object.entries(event.customFields ?? {})) {
    if (DID_FIELDS.has(fieldKey(name))) sources.push([`customFields.${name}`, splitList(value)]);
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
  const { dids, stated } = planDids(plan, domainDids, event);
  const { dids: _raw, ...rest } = plan;
  return stated ? { ...rest, dids } : rest;
}

/** The body's top-level keys a command reads; every other one is kept under `received`. */
const COMMAND_KEYS = new Set([
  'schemaVersion',
  'eventId',
  'action',
  'occurredAt',
  'service',
  'client',
  'server',
  'plan',
  'configurableOptions',
  'customFields',
  'origin',
  'requestedBy',
  'reason',
  'secrets',
  'received',
]);

/** The fields a command does not read, as sent; a command read back from the inbox keeps its own `received`. */
function receivedOf(event: WebhookEvent): { received?: Record<string, unknown> } {
  const earlier = Object.entries(plainCopy(event.received) ?? {});
  const unread = Object.entries(event).filter(([key]) => !COMMAND_KEYS.has(key));
  // fromEntries: a key named __proto__ stays a plain field, never the object's prototype.
  return earlier.length + unread.length > 0 ? { received: Object.fromEntries([...earlier, ...unread]) } : {};
}

/** Builds the command from a validated event: the plan with its configurable options applied; fields it does not read are kept under `received`. */
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
    ...requestedByOf(event.requestedBy),
    ...(typeof event.reason === 'string' && event.reason.trim() !== '' ? { reason: event.reason.trim().slice(0, 255) } : {}),
    ...receivedOf(event),
    ...(secrets ? { secrets } : {}),
  };
}

/**
 * The admin named by the module is informational (the audit says who pressed Resync, Suspend, …): a
 * text of printable characters, cut to 120; anything else is left out rather than refusing the event.
 */
function requestedByOf(value: unknown): { requestedBy?: string } {
  if (typeof value !== 'string') return {};
  const text = value
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .slice(0, 120);
  return text === '' ? {} : { requestedBy: text };
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
  const problems = [...planLimitProblems(command.plan), ...planBillingProblems(command.plan), ...customTrunkProblems(event), ...tenantIdentityProblems(command)];
  if (problems.length > 0) throw new EventValidationError(problems);
  return command;
}

/** The tenant admin's username as FusionPBX's user rows take it (the provisioner's validateUsername reads this rule). */
export const ADMIN_USERNAME_PATTERN = /^[A-Za-z0-9_.@+-]{1,64}$/;
export const ADMIN_USERNAME_RULE = 'allowed: A-Z a-z 0-9 _ . @ + -, up to 64';
/** The admin's e-mail: one @, no white space (the provisioner's user row reads this rule). */
export const ADMIN_EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** Why a portal password cannot be the admin's (bcrypt reads 72 bytes; FusionPBX's login form sends no control characters), or null. */
export function portalPasswordProblem(value: string): string | null {
  if (value.length === 0) return 'is required';
  if (Buffer.byteLength(value, 'utf8') > 72) return 'is longer than 72 bytes (bcrypt limit)';
  if (/[\x00-\x1f\x7f]/.test(value)) return 'contains control characters';
  return null;
}

/**
 * What the provisioner reads of the service and client with FusionPBX's rules, checked here so a
 * webhook it would refuse is a 400 naming the field, never a 2xx and then a failed job. Only the
 * actions that read a field check it: create and change_package take the requested domain and
 * username (change_password keeps the tenant's own), all three write the admin's e-mail, and the
 * password is checked wherever it is sent.
 */
function tenantIdentityProblems(command: TenantCommand): ValidationDetail[] {
  const problems: ValidationDetail[] = [];
  const { action, service, client } = command;
  const writesAdmin = action === 'create' || action === 'change_package' || action === 'change_password';
  if (action === 'create' || action === 'change_package') {
    if (service.domain !== undefined && service.domain !== '') problems.push(...domainProblems(service.domain));
    if (service.username !== undefined && service.username !== '' && !ADMIN_USERNAME_PATTERN.test(service.username))
      problems.push({ path: 'service.username', message: `${describeBadCharacters(service.username)} (${ADMIN_USERNAME_RULE})` });
  }
  if (writesAdmin && typeof client.email === 'string' && client.email !== '' && !ADMIN_EMAIL_PATTERN.test(client.email))
    problems.push({ path: 'client.email', message: 'is not an e-mail address' });
  const password = command.secrets?.servicePassword;
  const passwordProblem = password === undefined ? null : portalPasswordProblem(password);
  if (passwordProblem) problems.push({ path: 'secrets.servicePassword', message: passwordProblem });
  return problems;
}

function domainProblems(domain: string): ValidationDetail[] {
  try {
    validateDomainName(domain, 'service.domain');
    return [];
  } catch (error) {
    if (error instanceof FreeswitchValidationError) return [{ path: 'service.domain', message: error.reason }];
    throw error;
  }
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
 * The billing fields of a plan (the TenantCommand's `plan`, configurable options folded in, or the plan
 * a service has stored), read here for both the webhook's validation and the rating: exclusions,
 * whether inbound calls are billed and how they are priced. They are fields of the one plan, so their
 * grammar lives with it; the values inside them are rating's own (exclusion lists, increments, money),
 * parsed by @ictvoip/rating. A bad value throws RatingConfigError naming `plan.<field>`.
 */
export interface PlanBilling {
  exclusions: ExclusionList;
  /** the directions billed: the install's default with the plan's inbound switch applied */
  billedDirections: CdrDirection[];
  /** a deck name for inbound calls, or a flat rate, or neither (the main deck) */
  inbound: { kind: 'deck'; deck: string } | { kind: 'flat'; ratePerMinute: Micro; increments: Increments } | null;
}

export interface PlanBillingDefaults {
  /** BILLING_EXCLUDES */
  excludes: string;
  /** BILLING_DIRECTIONS */
  billedDirections: readonly CdrDirection[];
}

const TRUE_WORDS = new Set(['true', 'on', 'yes', '1', 'enabled']);
const FALSE_WORDS = new Set(['false', 'off', 'no', '0', 'disabled']);

/** Plan fields the rating reads (for callers that list or validate them). */
export const PLAN_BILLING_FIELDS = ['billingExcludes', 'inboundBilling', 'inboundRateDeck', 'inboundRate', 'inboundIncrement'] as const;

function billingText(plan: Record<string, unknown>, key: string): string | undefined {
  const value = plan[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new RatingConfigError('must be text', `plan.${key}`);
}

/** WHMCS yes/no settings arrive as `on`/'' or yes/no; '' (an unticked box) means "not set": the default applies. */
function inboundSwitch(plan: Record<string, unknown>): boolean | undefined {
  const value = billingText(plan, 'inboundBilling')?.toLowerCase();
  if (value === undefined) return undefined;
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  throw new RatingConfigError(`"${value}" is not yes/no (on, off, true, false, 1, 0)`, 'plan.inboundBilling');
}

function flatRate(plan: Record<string, unknown>): Micro | undefined {
  const rate = billingText(plan, 'inboundRate');
  if (rate === undefined) return undefined;
  try {
    return parseMoney(rate);
  } catch {
    throw new RatingConfigError(`"${rate}" is not a price per minute (a non-negative decimal with up to 6 places)`, 'plan.inboundRate');
  }
}

export type PlanBillingField = (typeof PLAN_BILLING_FIELDS)[number];

/** One bad billing field of a plan: `plan.<field>` and what is wrong with it. */
export interface PlanBillingProblem {
  path: `plan.${PlanBillingField}`;
  message: string;
}

const bothInbound = () => new RatingConfigError('set either inboundRateDeck or inboundRate, not both', 'plan.inboundRate');

/**
 * Every bad billing field of a plan, each checked on its own by the parser planBilling reads it with
 * (one grammar for ingest and rating): parseTenantCommand turns these into a 400 naming the field, so
 * a value the rating would refuse never reaches a CDR sync. An empty list = valid.
 */
export function planBillingProblems(plan: Record<string, unknown>): PlanBillingProblem[] {
  const checks: [PlanBillingField, () => unknown][] = [
    [
      'billingExcludes',
      () => {
        const own = billingText(plan, 'billingExcludes');
        return own === undefined || own.toLowerCase() === 'none' ? null : parseExclusions(own, 'plan.billingExcludes');
      },
    ],
    ['inboundBilling', () => inboundSwitch(plan)],
    ['inboundRate', () => flatRate(plan)],
    [
      'inboundIncrement',
      () => {
        const increment = billingText(plan, 'inboundIncrement');
        return increment === undefined ? null : parseIncrements(increment, 'plan.inboundIncrement');
      },
    ],
    ['inboundRateDeck', () => billingText(plan, 'inboundRateDeck')],
  ];
  const problems: PlanBillingProblem[] = [];
  for (const [field, check] of checks) {
    try {
      check();
    } catch (error) {
      if (!(error instanceof RatingConfigError)) throw error;
      problems.push({ path: `plan.${field}`, message: error.message });
    }
  }
  if (billingText(plan, 'inboundRate') !== undefined && billingText(plan, 'inboundRateDeck') !== undefined)
    problems.push({ path: 'plan.inboundRate', message: bothInbound().message });
  return problems;
}

/** The rating's reading of a plan's billing fields, with the install's defaults for what the plan leaves unset. */
export function planBilling(plan: Record<string, unknown>, defaults: PlanBillingDefaults): PlanBilling {
  // An empty setting is "not set" (the emergency and toll-free defaults stay); `none` turns every exclusion off.
  const own = billingText(plan, 'billingExcludes');
  const excludes = own === undefined ? defaults.excludes : own.toLowerCase() === 'none' ? '' : own;
  const exclusions = parseExclusions(excludes, own === undefined ? 'BILLING_EXCLUDES' : 'plan.billingExcludes');
  const billInbound = inboundSwitch(plan);
  const directions = new Set(defaults.billedDirections);
  if (billInbound === true) directions.add('inbound');
  if (billInbound === false) directions.delete('inbound');
  const deck = billingText(plan, 'inboundRateDeck');
  const rate = flatRate(plan);
  const incrementText = billingText(plan, 'inboundIncrement');
  const increments = incrementText === undefined ? { initial: 60, subsequent: 60 } : parseIncrements(incrementText, 'plan.inboundIncrement');
  if (deck !== undefined && rate !== undefined) throw bothInbound();
  const inbound = rate !== undefined ? { kind: 'flat' as const, ratePerMinute: rate, increments } : deck !== undefined ? { kind: 'deck' as const, deck } : null;
  return { exclusions, billedDirections: [...directions], inbound };
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

import Joi from 'joi';

export const WEBHOOK_ACTIONS = ['create', 'suspend', 'unsuspend', 'terminate', 'change_package', 'change_password', 'test_connection', 'reconcile', 'status'] as const;

/** Reads answered at once, never stored or queued (the admin service tab, the client area). */
export const READ_ACTIONS: readonly WebhookAction[] = ['status'];
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

/** Actions that change the tenant; `test_connection` only probes. */
export const TENANT_ACTIONS: readonly WebhookAction[] = ['create', 'suspend', 'unsuspend', 'terminate', 'change_package', 'change_password'];

export interface WebhookPlan {
  maxExtensions?: number;
  initialExtensions?: number;
  /** Gateways the tenant may have (the /v1 quota and FusionPBX's own `limit/gateways/numeric`). */
  maxGateways?: number;
  /** Destinations the tenant may add in FusionPBX (`limit/destinations/numeric`). */
  maxDestinations?: number;
  firstExtension: number;
  gatewayTemplate?: string;
  rateDeck?: string;
  billingMode?: string;
  brand?: string;
  includedMinutes?: number;
  /** Registration monitoring's watch scope (module setting 10): every extension, only those marked, or none. */
  registrationWatch?: 'all' | 'marked' | 'off';
  [key: string]: unknown;
}

export interface WebhookEvent {
  schemaVersion: 1;
  eventId: string;
  action: WebhookAction;
  occurredAt: string;
  service: { id: number; pid?: number; domain?: string; username?: string; status?: string; [key: string]: unknown };
  client: { id: number; email?: string; companyName?: string; firstName?: string; lastName?: string; [key: string]: unknown };
  server?: { id?: number; hostname?: string; [key: string]: unknown };
  plan: WebhookPlan;
  configurableOptions?: Record<string, unknown>;
  customFields?: Record<string, unknown>;
  secrets?: { servicePassword?: string };
  [key: string]: unknown;
}

/** The plan's numeric limits: the webhook schema and FusionPBX's provisioning input both read these. */
export const PLAN_LIMITS = {
  firstExtension: { min: 1, max: 99_999_999 },
  maxExtensions: { min: 0, max: 10_000 },
  /** How many of maxExtensions a create provisions (default all). */
  initialExtensions: { min: 0, max: 10_000 },
  maxGateways: { min: 0, max: 1_000 },
  maxDestinations: { min: 0, max: 10_000 },
} as const;

const optionalText = Joi.string().allow('').max(255);
const positiveInt = Joi.number().integer().min(0);

const planSchema = Joi.object({
  maxExtensions: Joi.number().integer().min(0).max(10000),
  // How many of maxExtensions the create provisions (default all); the rest is room for /v1 POSTs.
  initialExtensions: Joi.number().integer().min(PLAN_LIMITS.initialExtensions.min).max(PLAN_LIMITS.initialExtensions.max),
  firstExtension: Joi.number().integer().min(1).max(99999999).default(100),
  maxGateways: Joi.number().integer().min(PLAN_LIMITS.maxGateways.min).max(PLAN_LIMITS.maxGateways.max),
  maxDestinations: Joi.number().integer().min(PLAN_LIMITS.maxDestinations.min).max(PLAN_LIMITS.maxDestinations.max),
  gatewayTemplate: optionalText,
  rateDeck: optionalText,
  billingMode: optionalText,
  brand: optionalText,
  includedMinutes: Joi.number().integer().min(0),
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
const serviceKeys = { pid: positiveInt, domain: optionalText, username: optionalText, status: optionalText };
const clientKeys = { id: positiveInt.required(), email: Joi.string().allow('').max(255), companyName: optionalText, firstName: optionalText, lastName: optionalText };
const secretsSchema = Joi.object({ servicePassword: Joi.string().min(1).max(255) }).unknown(false);
const SECRETS_FORBIDDEN = { 'any.unknown': '"secrets" is only allowed for create and change_password' };

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
  .when(Joi.object({ action: Joi.valid('change_password') }).unknown(), {
    then: Joi.object({ secrets: Joi.object({ servicePassword: Joi.required() }).required() }),
  })
  .when(Joi.object({ action: Joi.valid('create', 'change_password') }).unknown(), {
    otherwise: Joi.object({ secrets: Joi.forbidden().messages(SECRETS_FORBIDDEN) }),
  });

/**
 * The schema above with its `when`s resolved for one tenant action. Resolving them costs more than
 * the rest of the validation, on every webhook; so a body naming one of these actions is checked
 * against its own schema first. Only an accepted body is taken from it: any refusal is checked
 * again against the full schema, whose details are the ones reported (test: event-schema.test.ts).
 */
function tenantActionSchema(action: WebhookAction): Joi.ObjectSchema<WebhookEvent> {
  const secrets =
    action === 'create'
      ? secretsSchema
      : action === 'change_password'
        ? secretsSchema.keys({ servicePassword: Joi.string().min(1).max(255).required() }).required()
        : Joi.forbidden();
  return Joi.object<WebhookEvent>({
    ...headKeys,
    action: Joi.string().valid(action).required(),
    service: Joi.object({ id: Joi.number().integer().min(1).required(), ...serviceKeys })
      .unknown(true)
      .required(),
    client: Joi.object(clientKeys).unknown(true).required(),
    ...tailKeys,
    secrets,
  }).unknown(true);
}

const TENANT_ACTION_SCHEMAS: ReadonlyMap<unknown, Joi.ObjectSchema<WebhookEvent>> = new Map(TENANT_ACTIONS.map((action) => [action, tenantActionSchema(action)]));

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
  const action = body !== null && typeof body === 'object' ? (body as { action?: unknown }).action : undefined;
  const fast = TENANT_ACTION_SCHEMAS.get(action)?.validate(body, VALIDATION_OPTIONS);
  if (fast && !fast.error) return fast.value as WebhookEvent;
  const { value, error } = webhookEventSchema.validate(body, VALIDATION_OPTIONS);
  if (error) {
    throw new EventValidationError(error.details.map((detail) => ({ path: detail.path.join('.') || '(body)', message: detail.message.replace(/"/g, "'") })));
  }
  return value as WebhookEvent;
}

const OPTION_LIMITS: Record<string, keyof WebhookPlan> = {
  maxextensions: 'maxExtensions',
  extensions: 'maxExtensions',
  initialextensions: 'initialExtensions',
  firstextension: 'firstExtension',
  maxgateways: 'maxGateways',
  maxdestinations: 'maxDestinations',
  includedminutes: 'includedMinutes',
  ratedeck: 'rateDeck',
  gatewaytemplate: 'gatewayTemplate',
  brand: 'brand',
};

const NUMERIC_OPTIONS: ReadonlySet<keyof WebhookPlan> = new Set(['maxExtensions', 'initialExtensions', 'firstExtension', 'includedMinutes', 'maxGateways', 'maxDestinations']);

/**
 * The plan limits configurable options set (`key|Label` names, numeric strings; empty or
 * non-numeric values for numeric keys are ignored). Used on webhook events and on WHMCS API answers
 * alike, so both read the same options the same way.
 */
export function planOverridesFromOptions(options: Record<string, unknown>): Partial<WebhookPlan> {
  const overrides: Partial<WebhookPlan> = {};
  for (const [rawName, rawValue] of Object.entries(options)) {
    const key =
      OPTION_LIMITS[
        rawName
          .split('|')[0]
          .trim()
          .toLowerCase()
          .replace(/[\s_-]/g, '')
      ];
    if (key === undefined || rawValue === null || rawValue === undefined || rawValue === '') continue;
    const text = String(rawValue).split('|')[0].trim();
    const numeric = NUMERIC_OPTIONS.has(key);
    if (numeric && !/^\d+$/.test(text)) continue;
    overrides[key] = numeric ? Number.parseInt(text, 10) : text;
  }
  return overrides;
}

/** The plan after configurable options override its limits. */
export function effectivePlan(event: WebhookEvent): WebhookPlan {
  return { ...event.plan, ...planOverridesFromOptions(event.configurableOptions ?? {}) };
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

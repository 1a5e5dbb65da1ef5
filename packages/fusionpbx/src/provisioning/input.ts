/**
 * An event's input for FusionPBX, checked before the first SQL statement: the validators for names
 * that reach rows and event-socket commands, the template rules, and the parsed TenantInput.
 */
import * as freeswitch from '@ictvoip/freeswitch';
import { FusionpbxValidationError, FusionpbxConfigError } from '../errors';
import { validatePortalPassword } from '../passwords';
import { type NumberPlan, type PhoneNumber, normaliseNumber } from '../destinations/numbers';
import {
  type TenantCommand,
  type WebhookAction,
  normaliseTrunkCidrs,
  requiresServicePassword,
  isCountryCode,
  ADMIN_EMAIL_PATTERN,
  ADMIN_USERNAME_PATTERN,
  ADMIN_USERNAME_RULE,
  COUNTRY_CODE_RULE,
} from '@ictvoip/whmcs';
import type { BrandConfig, GatewayTemplate, ProvisionerOptions, RouteTemplate, ThemeSetting } from './types';

/** Everything an action needs, validated before the first SQL statement (bad input writes nothing). */
export interface TenantInput {
  serviceId: string;
  domainName: string;
  adminUsername: string;
  adminPassword: string | null;
  adminEmail: string | null;
  firstExtension: number;
  maxExtensions: number;
  /** How many of the plan's extensions provisioning creates (first…first+n-1); the rest of maxExtensions is room for the tenant's own. */
  initialExtensions: number;
  /** The plan's own numbers (ictVoIP's non-consecutive list), provisioned instead of the range; null = the range. */
  extensionNumbers: string[] | null;
  gatewayTemplateKey: string | null;
  gatewayTemplate: GatewayTemplate | null;
  theme: Required<ThemeSetting>[];
  /** The outbound routes written through the plan's gateway (empty without a route template). */
  routes: RouteTemplate[];
  /** The `routeTemplates` entry `routes` come from (errors name its fields), or null. */
  routeTemplateKey: string | null;
  /** The tenant PBX's addresses for the access control list, as FusionPBX stores them. */
  trunkCidrs: string[];
  /** FusionPBX's own GUI limits (`limit/<key>/numeric` domain settings); null = the plan states none. */
  guiLimits: GuiLimits;
  /** The plan's phone numbers (DIDs), ring group and number format. */
  numbers: NumberInput;
}

/** The plan's phone numbers, validated before the first SQL statement. */
export interface NumberInput {
  plan: NumberPlan;
  /** The plan's DIDs (main first), or null when the event states none (the tenant's numbers are left as they are). */
  dids: PhoneNumber[] | null;
  /** Extension of the plan's ring group, or null. */
  ringGroup: string | null;
  callerIdNamePrefix: string | null;
  /** outbound_caller_id_name of the extensions provisioning creates (the client's company, else the main DID). */
  outboundCallerIdName: string | null;
}

/** The outbound caller ID columns of an extension provisioning creates: the main DID (extension_edit.php keeps only + and digits). */
export function outboundCallerIdColumns(numbers: NumberInput): { outbound_caller_id_name?: string; outbound_caller_id_number?: string } {
  const main = numbers.dids?.[0];
  if (!main) return {};
  return { outbound_caller_id_name: numbers.outboundCallerIdName ?? main.canonical, outbound_caller_id_number: main.canonical };
}

/** The plan key behind each `limit/<subcategory>/numeric` domain setting the bridge writes. */
export const GUI_LIMIT_PLAN_KEYS = {
  extensions: 'maxExtensions',
  gateways: 'maxGateways',
  destinations: 'maxDestinations',
  devices: 'maxDevices',
  ring_groups: 'maxRingGroups',
  ivr_menus: 'maxIvrMenus',
  call_center_queues: 'maxCallCenterQueues',
  users: 'maxUsers',
} as const;

/** Marks the `limit/*` rows this bridge writes, so only those are removed when a plan drops a limit. */
export const GUI_LIMIT_DESCRIPTION = 'ictVoIP plan limit';

/**
 * The `limit/<key>/numeric` settings FusionPBX 5.1.0 and 5.3.0 read (`$_SESSION['limit'][<key>]['numeric']`):
 * extensions (app/extensions), gateways (app/gateways), destinations (app/destinations), devices
 * (app/devices), ring_groups (app/ring_groups), ivr_menus (app/ivr_menus), call_center_queues
 * (app/call_centers) and users (core/users). The add pages refuse only when the value is not empty
 * (`!empty(...)`), so PHP's "0" means no check there, while the list pages hide their Add button when
 * the count is not below it: 0 therefore hides the button but does not stop a direct add. A plan that
 * states no limit writes no row (no limit at all).
 */
export type GuiLimits = Record<keyof typeof GUI_LIMIT_PLAN_KEYS, number | null>;

/** A service id given outside a command (a purge, a credit restriction's job), checked as ingest checks a command's service.id. */
export function serviceIdOf(event: { service: { id: number | string } }): string {
  const id = event?.service?.id;
  const text = typeof id === 'number' ? String(id) : id;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,17}$/.test(text)) {
    throw new FusionpbxValidationError('service.id', 'must be a positive integer');
  }
  return text;
}

function routesOf(options: ProvisionerOptions, key: string | null): { routeTemplateKey: string | null; routes: RouteTemplate[] } {
  const templates = options.routeTemplates ?? {};
  const name = key ?? (templates.default ? 'default' : null);
  if (name === null) return { routeTemplateKey: null, routes: [] };
  const routes = templates[name];
  if (!routes) throw new FusionpbxValidationError('plan.routeTemplate', `unknown route template "${name}"`);
  throwFirst(routeTemplateProblems(routes, `routeTemplates.${name}`));
  // The page trims the expression (dialplan_outbound_add.php line 220): " ^(\d{10})$ " would never match.
  return { routeTemplateKey: name, routes: routes.map((route) => ({ ...route, pattern: route.pattern.trim() })) };
}

/**
 * A template or brand name: the command only knows it as text of up to 255 characters (planSchema's
 * optionalText); it names a key of PROVISIONING_FILE, whose keys are short names.
 */
function optionalName(event: TenantCommand, key: 'gatewayTemplate' | 'routeTemplate' | 'brand'): string | null {
  const raw = event.plan[key];
  if (raw === undefined || raw === '') return null;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) throw new FusionpbxValidationError(`plan.${key}`, 'must be a short name (A-Z a-z 0-9 _ . -)');
  return raw;
}

export function tenantDomainName(event: Pick<TenantCommand, 'service'>, options: ProvisionerOptions, serviceId: string): string {
  const requested = event.service.domain;
  if (requested !== undefined && requested !== null && requested !== '') return validateDomainName(requested, 'service.domain');
  const prefix = options.domainPrefix ?? 'pbx';
  return validateDomainName(`${prefix}${serviceId}.${options.baseDomain}`, 'options.baseDomain');
}

function mergedTheme(brand: BrandConfig | undefined, brandKey: string | null): Required<ThemeSetting>[] {
  if (!brand) return [];
  const bySubcategory = new Map<string, Required<ThemeSetting>>();
  const add = (settings: ThemeSetting[], field: string) => {
    settings.forEach((setting, index) => {
      throwFirst(themeSettingProblems(setting, `${field}[${index}]`));
      const subcategory = setting.subcategory.toLowerCase();
      bySubcategory.set(subcategory, { subcategory, type: setting.type ?? 'text', value: setting.value });
    });
  };
  add(brand.default, 'brand.default');
  if (brandKey && brand.plans?.[brandKey]) add(brand.plans[brandKey], `brand.plans.${brandKey}`);
  return [...bySubcategory.values()].sort((a, b) => a.subcategory.localeCompare(b.subcategory));
}

function gatewayTemplateOf(options: ProvisionerOptions, key: string | null): GatewayTemplate | null {
  if (key === null) return null;
  const template = options.gatewayTemplates?.[key];
  if (!template) throw new FusionpbxValidationError('plan.gatewayTemplate', `unknown gateway template "${key}"`);
  throwFirst(gatewayTemplateProblems(template, `gatewayTemplates.${key}`));
  return template;
}

function optionalEmail(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || !ADMIN_EMAIL_PATTERN.test(value)) throw new FusionpbxValidationError('client.email', 'is not an e-mail address');
  return value;
}

/**
 * The plan's number format; a bad country code or format names the plan field (a stored plan, a REST
 * request). The country code is held to the webhook's own rule (whmcs event.ts isCountryCode), so a
 * plan ingest took is never refused here and this file keeps no pattern of its own.
 */
export function numberPlanOf(countryCode: unknown, format: unknown): NumberPlan {
  const plan = numberPlanFrom(countryCode, format);
  if (plan.countryCode !== null && !isCountryCode(countryCode)) throw new FusionpbxValidationError('plan.countryCode', COUNTRY_CODE_RULE);
  if (format !== undefined && format !== null && format !== '' && format !== 'national' && format !== 'e164') {
    throw new FusionpbxValidationError('plan.numberFormat', "must be 'national' or 'e164'");
  }
  return plan;
}

/** The number format as written: `+44`, `44` and 44 are one country code. */
function numberPlanFrom(countryCode: unknown, format: unknown): NumberPlan {
  const code = countryCode === undefined || countryCode === null || countryCode === '' ? null : String(countryCode).trim().replace(/^\+/, '');
  return { countryCode: code, format: format === 'e164' ? 'e164' : 'national' };
}

/**
 * The command's numbers (countryCode, numberFormat, dids, ringGroup, callerIdNamePrefix) and the
 * client's company for the caller ID name. Their forms are the command's (planSchema: countryCode,
 * numberFormat, ringGroup, callerIdNamePrefix; planDids: each DID a phone number): what is checked
 * here is what only the number format tells, whether each DID is a number of the plan's country.
 */
function parseNumberInput(plan: TenantCommand['plan'], companyName: string | undefined): NumberInput {
  const numberPlan = numberPlanFrom(plan.countryCode, plan.numberFormat);
  let dids: PhoneNumber[] | null = null;
  if (plan.dids !== undefined) {
    const seen = new Set<string>();
    dids = [];
    plan.dids.forEach((item, index) => {
      const phone = normaliseNumber(item, numberPlan, `plan.dids[${index}]`);
      if (seen.has(phone.canonical)) return;
      seen.add(phone.canonical);
      dids!.push(phone);
    });
  }
  const ringGroup = plan.ringGroup === undefined ? null : String(plan.ringGroup);
  const prefix = plan.callerIdNamePrefix ? plan.callerIdNamePrefix : null;
  const company = (companyName ?? '')
    .replace(/[^A-Za-z0-9 _.,&'()+-]/g, '')
    .trim()
    .slice(0, 64);
  return { plan: numberPlan, dids, ringGroup, callerIdNamePrefix: prefix, outboundCallerIdName: company === '' ? null : company };
}

/**
 * The input of create / change_package / change_password: the validated command (parseTenantCommand
 * at ingest: the one validation of the event, see whmcs event.ts) read with this server's
 * PROVISIONING_FILE options. What is checked here is what the options decide (the generated domain,
 * the default admin, the templates and brand a plan names) and what ingest leaves to FusionPBX's own
 * rules: the requested domain, the admin's username, e-mail and portal password, each DID against
 * the plan's country. `action` is the provisioner's: the portal password is required for the actions
 * ingest requires it for (whmcs event.ts SERVICE_PASSWORD_ACTIONS), here for a command built without
 * parseTenantCommand; a change_package uses one only when sent.
 */
export function parseTenantInput(event: TenantCommand, options: ProvisionerOptions, action: WebhookAction): TenantInput {
  const requirePassword = requiresServicePassword(action);
  const { plan } = event;
  // A whole number from 1 (event.ts: `service.id`); the text form is what rows and lock keys hold.
  const serviceId = String(event.service.id);
  const domainName = tenantDomainName(event, options, serviceId);
  const username = event.service.username ? event.service.username : (options.adminUsername ?? 'admin');
  const adminUsername = validateUsername(username, event.service.username ? 'service.username' : 'options.adminUsername');
  const password = event.secrets?.servicePassword;
  const adminPassword = requirePassword || (password !== undefined && password !== '') ? validatePortalPassword(password) : null;
  // The plan's limits are whole numbers within PLAN_LIMITS (event.ts: planSchema, then numericLimitProblems with the options folded in).
  const extensionNumbers = plan.extensionNumbers ?? null;
  const maxExtensions = plan.maxExtensions ?? extensionNumbers?.length ?? options.defaultMaxExtensions ?? 0;
  const gatewayTemplateKey = optionalName(event, 'gatewayTemplate');
  return {
    serviceId,
    domainName,
    adminUsername,
    adminPassword,
    adminEmail: optionalEmail(event.client.email),
    firstExtension: plan.firstExtension ?? options.defaultFirstExtension ?? 100,
    maxExtensions,
    initialExtensions: Math.min(plan.initialExtensions ?? extensionNumbers?.length ?? maxExtensions, maxExtensions),
    extensionNumbers,
    gatewayTemplateKey,
    gatewayTemplate: gatewayTemplateOf(options, gatewayTemplateKey),
    theme: mergedTheme(options.brand, optionalName(event, 'brand')),
    ...routesOf(options, optionalName(event, 'routeTemplate')),
    // Each entry an address or CIDR (event.ts: planSchema's trunkCidrs, customTrunkProblems for the custom field).
    trunkCidrs: normaliseTrunkCidrs(plan.trunkCidrs),
    guiLimits: {
      // The extension limit the bridge enforces: the plan's, or the configured default when the plan states none.
      extensions: plan.maxExtensions ?? (options.defaultMaxExtensions !== undefined ? maxExtensions : null),
      gateways: plan.maxGateways ?? null,
      destinations: plan.maxDestinations ?? null,
      devices: plan.maxDevices ?? null,
      ring_groups: plan.maxRingGroups ?? null,
      ivr_menus: plan.maxIvrMenus ?? null,
      call_center_queues: plan.maxCallCenterQueues ?? null,
      users: plan.maxUsers ?? null,
    },
    numbers: parseNumberInput(plan, event.client.companyName),
  };
}

/**
 * Validators for FusionPBX input (names that end up in rows, and later in event-socket commands or
 * cache keys). The alphabets shared with the FreeSWITCH side are `@ictvoip/freeswitch`'s; here they
 * raise FusionpbxValidationError, the error the worker and the REST API treat as the client's fault.
 */

/** `check` with its FreeswitchValidationError turned into a FusionpbxValidationError (same field and message). */
function asFusionpbx(check: (value: unknown, field?: string) => string): (value: unknown, field?: string) => string {
  return (value, field) => {
    try {
      return check(value, field);
    } catch (error) {
      if (error instanceof freeswitch.FreeswitchValidationError) throw new FusionpbxValidationError(error.field, error.reason);
      throw error;
    }
  };
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new FusionpbxValidationError(field, 'is required');
  return value;
}

/** A lower-cased fully qualified domain name (ASCII / punycode only, at least two labels). */
export const validateDomainName = asFusionpbx(freeswitch.validateDomainName);
export const validateExtension = asFusionpbx(freeswitch.validateExtension);
export const validateUuid = asFusionpbx(freeswitch.validateUuid);
export const validateProfile = asFusionpbx(freeswitch.validateProfile);
export const validateCacheKey = asFusionpbx(freeswitch.validateCacheKey);
export const validateSwitchname = asFusionpbx(freeswitch.validateSwitchname);
/** `<extension>@<domain>` as used by flush_inbound_reg and the directory cache key. */
export const validateUserAtDomain = asFusionpbx(freeswitch.validateUserAtDomain);

export function validateUsername(value: unknown, field = 'username'): string {
  const text = requireString(field, value);
  if (!ADMIN_USERNAME_PATTERN.test(text)) throw new FusionpbxValidationError(field, `${freeswitch.describeBadCharacters(text)} (${ADMIN_USERNAME_RULE})`);
  return text;
}

/** Free text stored in the database (names, descriptions): no control characters, bounded. */
export function validateText(value: unknown, field: string, maxLength = 255): string {
  const text = requireString(field, value);
  if (/[\x00-\x1f\x7f]/.test(text)) throw new FusionpbxValidationError(field, 'contains control characters or line breaks');
  if (text.length > maxLength) throw new FusionpbxValidationError(field, `is longer than ${maxLength} characters`);
  return text;
}

/**
 * The rules for branding, gateway and outbound route templates, in one place: the worker and API check the whole
 * PROVISIONING_FILE with them at start-up, and every event checks the setting or template it uses
 * with them again, so start-up refuses exactly what would make every create fail.
 */
export interface TemplateProblem {
  /** e.g. `brand.default[0].value`, `gatewayTemplates.carrier-a.username` */
  path: string;
  message: string;
}

/** Longest theme value (v_domain_settings.domain_setting_value). */
export const THEME_VALUE_MAX = 4096;
const SUBCATEGORY = /^[a-z0-9_]{1,64}$/;

function captured(check: () => unknown): TemplateProblem[] {
  try {
    check();
    return [];
  } catch (error) {
    if (error instanceof FusionpbxValidationError) return [{ path: error.field, message: error.message.slice(error.field.length + 2) }];
    throw error;
  }
}

/** Problems of one theme setting at `path` (e.g. `brand.default[0]`). */
export function themeSettingProblems(setting: ThemeSetting, path: string): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  if (typeof setting?.subcategory !== 'string' || !SUBCATEGORY.test(setting.subcategory.toLowerCase())) {
    problems.push({ path: `${path}.subcategory`, message: 'is not a FusionPBX setting name (a-z 0-9 _, up to 64)' });
  }
  problems.push(...captured(() => validateText(setting?.value, `${path}.value`, THEME_VALUE_MAX)));
  return problems;
}

/** dialplan.php xml() writes values into the XML unescaped: these would break the route's dialplan_xml. */
const XML_UNSAFE = /["<>&]/;

function xmlSafeText(value: unknown, field: string, required: boolean, maxLength = 255): TemplateProblem[] {
  if (value === undefined && !required) return [];
  const problems = captured(() => validateText(value, field, maxLength));
  if (problems.length === 0 && XML_UNSAFE.test(value as string)) problems.push({ path: field, message: 'must not contain " < > & (it is written into the dialplan XML)' });
  return problems;
}

function patternProblems(pattern: unknown, field: string): TemplateProblem[] {
  const problems = xmlSafeText(pattern, field, true);
  if (problems.length > 0) return problems;
  try {
    new RegExp(pattern as string);
  } catch {
    return [{ path: field, message: 'is not a regular expression' }];
  }
  return [];
}

/** Problems of one outbound route template (`routeTemplates.<key>`): the fields of the outbound-route page. */
export function routeTemplateProblems(routes: RouteTemplate[], path: string): TemplateProblem[] {
  if (!Array.isArray(routes)) return [{ path, message: 'must be a list of routes' }];
  const problems: TemplateProblem[] = [];
  const seen = new Set<string>();
  routes.forEach((route, index) => {
    const at = `${path}[${index}]`;
    problems.push(...patternProblems(route?.pattern, `${at}.pattern`));
    if (typeof route?.pattern === 'string' && seen.has(route.pattern.trim()))
      problems.push({ path: `${at}.pattern`, message: 'is already used by an earlier route of this template' });
    if (typeof route?.pattern === 'string') seen.add(route.pattern.trim());
    if (route?.prefix !== undefined && (typeof route.prefix !== 'string' || !/^[0-9A-Za-z*#+]{1,32}$/.test(route.prefix))) {
      problems.push({ path: `${at}.prefix`, message: 'must be dial digits (0-9 A-Z a-z * # +, up to 32)' });
    }
    if (route?.accountcode !== undefined && (typeof route.accountcode !== 'string' || !/^[A-Za-z0-9_.@-]{1,80}$/.test(route.accountcode))) {
      problems.push({ path: `${at}.accountcode`, message: 'must be A-Z a-z 0-9 _ . @ -, up to 80' });
    }
    problems.push(...xmlSafeText(route?.tollAllow, `${at}.tollAllow`, false), ...xmlSafeText(route?.description, `${at}.description`, false));
    if (route?.limit !== undefined && !(Number.isInteger(route.limit) && route.limit >= 1))
      problems.push({ path: `${at}.limit`, message: 'must be a whole number of calls, at least 1' });
    if (route?.order !== undefined && !(Number.isInteger(route.order) && route.order >= 0 && route.order <= 999))
      problems.push({ path: `${at}.order`, message: 'must be a whole number from 0 to 999' });
    problems.push(...alternateProblems(route, at));
  });
  return problems;
}

/** The page's option value is `<uuid>:<name>` (split at the first `:`): a name holds no `:`; the two alternates differ. */
function alternateProblems(route: RouteTemplate, at: string): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const field of ['gateway2', 'gateway3'] as const) {
    const value = route?.[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !/^[^:"<>&]{1,255}$/.test(value) || value.trim() !== value)
      problems.push({ path: `${at}.${field}`, message: 'must be a gateway uuid or name (no : " < > &, no surrounding spaces)' });
  }
  if (route?.gateway3 !== undefined && route.gateway2 === undefined) problems.push({ path: `${at}.gateway3`, message: 'needs gateway2 (the page fills Alternate 1 first)' });
  if (route?.gateway2 !== undefined && route.gateway2 === route.gateway3) problems.push({ path: `${at}.gateway3`, message: 'is the same gateway as gateway2' });
  return problems;
}

/** Problems of one gateway template at `path` (`gatewayTemplates.<key>`). */
export function gatewayTemplateProblems(template: GatewayTemplate, path: string): TemplateProblem[] {
  const problems = [...captured(() => validateProfile(template?.profile ?? 'external', `${path}.profile`)), ...captured(() => validateText(template?.proxy, `${path}.proxy`))];
  // The name is part of the outbound routes' dialplan names, which go into their XML.
  if (typeof template?.name === 'string' && XML_UNSAFE.test(template.name))
    problems.push({ path: `${path}.name`, message: 'must not contain " < > & (outbound routes put it in their dialplan XML)' });
  if (template?.register) {
    for (const field of ['username', 'password'] as const) {
      const value = template[field];
      if (typeof value !== 'string' || value.length === 0) problems.push({ path: `${path}.${field}`, message: 'is required when register is true' });
    }
  }
  return problems;
}

/** Every problem of a file's branding, gateway and route templates. */
export function templateProblems(file: {
  brand?: BrandConfig;
  gatewayTemplates?: Record<string, GatewayTemplate>;
  routeTemplates?: Record<string, RouteTemplate[]>;
}): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const brand = file.brand;
  if (brand) {
    brand.default.forEach((setting, index) => problems.push(...themeSettingProblems(setting, `brand.default[${index}]`)));
    for (const [plan, settings] of Object.entries(brand.plans ?? {})) {
      settings.forEach((setting, index) => problems.push(...themeSettingProblems(setting, `brand.plans.${plan}[${index}]`)));
    }
  }
  for (const [key, template] of Object.entries(file.gatewayTemplates ?? {})) problems.push(...gatewayTemplateProblems(template, `gatewayTemplates.${key}`));
  for (const [key, routes] of Object.entries(file.routeTemplates ?? {})) problems.push(...routeTemplateProblems(routes, `routeTemplates.${key}`));
  return problems;
}

/** For an event: the first problem, as the permanent error a bad template has always been. */
export function throwFirst(problems: TemplateProblem[]): void {
  const first = problems[0];
  if (first) throw new FusionpbxConfigError(`${first.path}: ${first.message}`);
}

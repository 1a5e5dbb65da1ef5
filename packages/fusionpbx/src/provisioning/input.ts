/**
 * An event's input for FusionPBX, checked before the first SQL statement: the validators for names
 * that reach rows and event-socket commands, the template rules, and the parsed TenantInput.
 */
import * as freeswitch from '@ictvoip/freeswitch';
import { FusionpbxValidationError, FusionpbxConfigError } from '../errors';
import { validatePortalPassword } from '../passwords';
import { type NumberPlan, type PhoneNumber, normaliseNumber } from '../destinations/numbers';
import { IctvoipFormatError, parseIctvoipExtensionList, PLAN_LIMITS, type TenantCommand, normaliseTrunkCidrs, trunkCidrProblems } from '@ictvoip/whmcs';
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

export function serviceIdOf(event: { service: { id: number | string } }): string {
  const id = event?.service?.id;
  const text = typeof id === 'number' ? String(id) : id;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,17}$/.test(text)) {
    throw new FusionpbxValidationError('service.id', 'must be a positive integer');
  }
  return text;
}

/** The command's plan already holds its configurable options (folded once, at ingest). */
function planValue(event: TenantCommand, key: string): unknown {
  return (event.plan as Record<string, unknown> | undefined)?.[key];
}

function integerField(event: TenantCommand, key: keyof typeof PLAN_LIMITS, fallback: number): number {
  const { min, max } = PLAN_LIMITS[key];
  const raw = planValue(event, key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^[0-9]{1,9}$/.test(text.trim())) throw new FusionpbxValidationError(`plan.${key}`, 'must be a whole number');
  const value = Number.parseInt(text.trim(), 10);
  if (value < min || value > max) throw new FusionpbxValidationError(`plan.${key}`, `must be between ${min} and ${max}`);
  return value;
}

function optionalInteger(event: TenantCommand, key: keyof typeof PLAN_LIMITS): number | null {
  const raw = planValue(event, key);
  return raw === undefined || raw === null || raw === '' ? null : integerField(event, key, 0);
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

function trunkCidrsOf(event: TenantCommand): string[] {
  const raw = planValue(event, 'trunkCidrs');
  const [problem] = trunkCidrProblems(raw);
  if (problem) throw new FusionpbxValidationError(problem.path, problem.message);
  return normaliseTrunkCidrs(raw);
}

function optionalName(event: TenantCommand, key: string): string | null {
  const raw = planValue(event, key);
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) throw new FusionpbxValidationError(`plan.${key}`, 'must be a short name (A-Z a-z 0-9 _ . -)');
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

/** plan.extensionNumbers (a list after the webhook schema; ictVoIP's "a | b" string read too), each checked as FusionPBX would. */
function extensionList(event: TenantCommand): string[] | null {
  const given: unknown = event.plan?.extensionNumbers;
  if (given === undefined || given === null) return null;
  let list: unknown = given;
  if (typeof given === 'string') {
    try {
      list = parseIctvoipExtensionList(given, 'plan.extensionNumbers');
    } catch (error) {
      if (error instanceof IctvoipFormatError) throw new FusionpbxValidationError('plan.extensionNumbers', error.message.slice('plan.extensionNumbers '.length));
      throw error;
    }
  }
  if (!Array.isArray(list) || list.length === 0) throw new FusionpbxValidationError('plan.extensionNumbers', 'must list at least one extension');
  return list.map((number, index) => validateExtension(String(number), `plan.extensionNumbers[${index}]`));
}

function optionalEmail(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || !/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(value)) throw new FusionpbxValidationError('client.email', 'is not an e-mail address');
  return value;
}

/** The plan's number format; a bad country code or format names the plan field. */
export function numberPlanOf(countryCode: unknown, format: unknown): NumberPlan {
  let code: string | null = null;
  if (countryCode !== undefined && countryCode !== null && countryCode !== '') {
    const text = String(countryCode).trim().replace(/^\+/, '');
    if (!/^[1-9][0-9]{0,3}$/.test(text)) throw new FusionpbxValidationError('plan.countryCode', 'must be 1 to 4 digits, not starting with 0');
    code = text;
  }
  if (format !== undefined && format !== null && format !== '' && format !== 'national' && format !== 'e164') {
    throw new FusionpbxValidationError('plan.numberFormat', "must be 'national' or 'e164'");
  }
  return { countryCode: code, format: format === 'e164' ? 'e164' : 'national' };
}

/** plan.callerIdNamePrefix (put before the caller's name on calls to the plan's numbers). */
const CALLER_ID_NAME_PREFIX = /^[A-Za-z0-9 _.:+#-]{1,32}$/;

/** The plan's numbers (countryCode, numberFormat, dids, ringGroup, callerIdNamePrefix) and the client's company for the caller ID name. */
export function parseNumberInput(plan: Record<string, unknown>, companyName: unknown): NumberInput {
  const numberPlan = numberPlanOf(plan.countryCode, plan.numberFormat);
  const raw = plan.dids;
  let dids: PhoneNumber[] | null = null;
  if (Array.isArray(raw)) {
    const seen = new Set<string>();
    dids = [];
    raw.forEach((item, index) => {
      const phone = normaliseNumber(item, numberPlan, `plan.dids[${index}]`);
      if (seen.has(phone.canonical)) return;
      seen.add(phone.canonical);
      dids!.push(phone);
    });
  } else if (raw !== undefined && raw !== null) {
    throw new FusionpbxValidationError('plan.dids', 'must be a list of phone numbers');
  }
  const ringGroup = plan.ringGroup === undefined || plan.ringGroup === null || plan.ringGroup === '' ? null : validateExtension(String(plan.ringGroup), 'plan.ringGroup');
  const prefix = typeof plan.callerIdNamePrefix === 'string' && plan.callerIdNamePrefix !== '' ? plan.callerIdNamePrefix : null;
  if (prefix !== null && !CALLER_ID_NAME_PREFIX.test(prefix))
    throw new FusionpbxValidationError('plan.callerIdNamePrefix', 'allowed: letters, digits, space _ . : + # -, up to 32');
  const company =
    typeof companyName === 'string'
      ? companyName
          .replace(/[^A-Za-z0-9 _.,&'()+-]/g, '')
          .trim()
          .slice(0, 64)
      : '';
  return { plan: numberPlan, dids, ringGroup, callerIdNamePrefix: prefix, outboundCallerIdName: company === '' ? null : company };
}

/**
 * Validates the event for create / change_package / change_password. `requirePassword` is true for
 * create and change_password (the only events that carry secrets.servicePassword).
 */
export function parseTenantInput(event: TenantCommand, options: ProvisionerOptions, requirePassword: boolean): TenantInput {
  const serviceId = serviceIdOf(event);
  const domainName = tenantDomainName(event, options, serviceId);
  const username = event.service.username ? event.service.username : (options.adminUsername ?? 'admin');
  const adminUsername = validateUsername(username, event.service.username ? 'service.username' : 'options.adminUsername');
  const password = event.secrets?.servicePassword;
  const adminPassword = requirePassword || (password !== undefined && password !== null && password !== '') ? validatePortalPassword(password) : null;
  const firstExtension = integerField(event, 'firstExtension', options.defaultFirstExtension ?? 100);
  const extensionNumbers = extensionList(event);
  const maxExtensions = integerField(event, 'maxExtensions', extensionNumbers?.length ?? options.defaultMaxExtensions ?? 0);
  if (!extensionNumbers) validateExtension(String(firstExtension + Math.max(maxExtensions - 1, 0)), 'plan.maxExtensions');
  const initialExtensions = Math.min(integerField(event, 'initialExtensions', extensionNumbers?.length ?? maxExtensions), maxExtensions);
  const gatewayTemplateKey = optionalName(event, 'gatewayTemplate');
  return {
    serviceId,
    domainName,
    adminUsername,
    adminPassword,
    adminEmail: optionalEmail(event.client?.email),
    firstExtension,
    maxExtensions,
    initialExtensions,
    extensionNumbers,
    gatewayTemplateKey,
    gatewayTemplate: gatewayTemplateOf(options, gatewayTemplateKey),
    theme: mergedTheme(options.brand, optionalName(event, 'brand')),
    ...routesOf(options, optionalName(event, 'routeTemplate')),
    trunkCidrs: trunkCidrsOf(event),
    guiLimits: {
      // The extension limit the bridge enforces: the plan's, or the configured default when the plan states none.
      extensions: optionalInteger(event, 'maxExtensions') ?? (options.defaultMaxExtensions !== undefined ? maxExtensions : null),
      gateways: optionalInteger(event, 'maxGateways'),
      destinations: optionalInteger(event, 'maxDestinations'),
      devices: optionalInteger(event, 'maxDevices'),
      ring_groups: optionalInteger(event, 'maxRingGroups'),
      ivr_menus: optionalInteger(event, 'maxIvrMenus'),
      call_center_queues: optionalInteger(event, 'maxCallCenterQueues'),
      users: optionalInteger(event, 'maxUsers'),
    },
    numbers: parseNumberInput(event.plan as Record<string, unknown>, event.client?.companyName),
  };
}

/**
 * Validators for FusionPBX input (names that end up in rows, and later in event-socket commands or
 * cache keys). The alphabets shared with the FreeSWITCH side are `@ictvoip/freeswitch`'s; here they
 * raise FusionpbxValidationError, the error the worker and the REST API treat as the client's fault.
 */

const USERNAME = /^[A-Za-z0-9_.@+-]{1,64}$/;

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
  if (!USERNAME.test(text)) throw new FusionpbxValidationError(field, `${freeswitch.describeBadCharacters(text)} (allowed: A-Z a-z 0-9 _ . @ + -, up to 64)`);
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

import { FusionpbxValidationError } from '../errors';
import { validatePortalPassword } from '../passwords';
import { validateDomainName, validateExtension, validateUsername } from '../validate';
import { gatewayTemplateProblems, routeTemplateProblems, themeSettingProblems, throwFirst } from './template-rules';
import { type NumberInput, parseNumberInput } from '../destinations/plan-numbers';
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
  /** The tenant PBX's addresses for the access control list, as FusionPBX stores them. */
  trunkCidrs: string[];
  /** FusionPBX's own GUI limits (`limit/<key>/numeric` domain settings); null = the plan states none. */
  guiLimits: GuiLimits;
  /** The plan's phone numbers (DIDs), ring group and number format. */
  numbers: NumberInput;
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

function routesOf(options: ProvisionerOptions, key: string | null): RouteTemplate[] {
  const templates = options.routeTemplates ?? {};
  const name = key ?? (templates.default ? 'default' : null);
  if (name === null) return [];
  const routes = templates[name];
  if (!routes) throw new FusionpbxValidationError('plan.routeTemplate', `unknown route template "${name}"`);
  throwFirst(routeTemplateProblems(routes, `routeTemplates.${name}`));
  return routes;
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
    routes: routesOf(options, optionalName(event, 'routeTemplate')),
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

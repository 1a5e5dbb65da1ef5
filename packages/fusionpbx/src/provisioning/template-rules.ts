/**
 * The rules for branding, gateway and outbound route templates, in one place: the worker and API check the whole
 * PROVISIONING_FILE with them at start-up, and every event checks the setting or template it uses
 * with them again, so start-up refuses exactly what would make every create fail.
 */
import { FusionpbxConfigError, FusionpbxValidationError } from '../errors';
import { validateProfile, validateText } from '../validate';
import type { BrandConfig, GatewayTemplate, RouteTemplate, ThemeSetting } from './types';

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
    if (typeof route?.pattern === 'string' && seen.has(route.pattern)) problems.push({ path: `${at}.pattern`, message: 'is already used by an earlier route of this template' });
    if (typeof route?.pattern === 'string') seen.add(route.pattern);
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
  });
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

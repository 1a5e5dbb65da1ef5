/**
 * The rules for branding and gateway templates, in one place: the worker and API check the whole
 * PROVISIONING_FILE with them at start-up, and every event checks the setting or template it uses
 * with them again, so start-up refuses exactly what would make every create fail.
 */
import { FusionpbxConfigError, FusionpbxValidationError } from '../errors';
import { validateProfile, validateText } from '../validate';
import type { BrandConfig, GatewayTemplate, ThemeSetting } from './types';

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

/** Problems of one gateway template at `path` (`gatewayTemplates.<key>`). */
export function gatewayTemplateProblems(template: GatewayTemplate, path: string): TemplateProblem[] {
  const problems = [...captured(() => validateProfile(template?.profile ?? 'external', `${path}.profile`)), ...captured(() => validateText(template?.proxy, `${path}.proxy`))];
  if (template?.register) {
    for (const field of ['username', 'password'] as const) {
      const value = template[field];
      if (typeof value !== 'string' || value.length === 0) problems.push({ path: `${path}.${field}`, message: 'is required when register is true' });
    }
  }
  return problems;
}

/** Every problem of a file's branding and gateway templates. */
export function templateProblems(file: { brand?: BrandConfig; gatewayTemplates?: Record<string, GatewayTemplate> }): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const brand = file.brand;
  if (brand) {
    brand.default.forEach((setting, index) => problems.push(...themeSettingProblems(setting, `brand.default[${index}]`)));
    for (const [plan, settings] of Object.entries(brand.plans ?? {})) {
      settings.forEach((setting, index) => problems.push(...themeSettingProblems(setting, `brand.plans.${plan}[${index}]`)));
    }
  }
  for (const [key, template] of Object.entries(file.gatewayTemplates ?? {})) problems.push(...gatewayTemplateProblems(template, `gatewayTemplates.${key}`));
  return problems;
}

/** For an event: the first problem, as the permanent error a bad template has always been. */
export function throwFirst(problems: TemplateProblem[]): void {
  const first = problems[0];
  if (first) throw new FusionpbxConfigError(`${first.path}: ${first.message}`);
}

/** The provisioner options of a bridge configuration (worker and API build the same ones). */
import { readFileSync } from 'node:fs';
import Joi from 'joi';
import type { BridgeConfig, SettingFault } from '@ictvoip/config';
import { PLAN_LIMITS } from '@ictvoip/whmcs';
import { templateProblems } from './input';
import type { BrandConfig, GatewayTemplate, ProvisionerOptions, RouteTemplate } from './types';

export class ProvisioningFileError extends Error implements SettingFault {
  readonly code = 'PROVISIONING_FILE_INVALID';
  readonly settingFault = true;
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ProvisioningFileError';
  }
}

export interface ProvisioningFile {
  brand?: BrandConfig;
  gatewayTemplates?: Record<string, GatewayTemplate>;
  routeTemplates?: Record<string, RouteTemplate[]>;
  trunkAccessControl?: string;
  defaultMaxExtensions?: number;
  defaultFirstExtension?: number;
  adminGroup?: string;
}

// Shapes and types only; what a value must be is template-rules.ts, which every event checks again.
const themeSetting = Joi.object({
  subcategory: Joi.string().required(),
  type: Joi.string().valid('text', 'array', 'boolean', 'numeric'),
  value: Joi.string().allow('').required(),
});

const gatewayTemplate = Joi.object({
  name: Joi.string().max(100),
  proxy: Joi.string().allow('').required(),
  register: Joi.boolean().required(),
  username: Joi.string().allow('').max(255),
  password: Joi.string().allow('').max(255),
  authUsername: Joi.string().max(255),
  realm: Joi.string().max(255),
  fromUser: Joi.string().max(255),
  fromDomain: Joi.string().max(255),
  registerTransport: Joi.string().valid('udp', 'tcp', 'tls'),
  expireSeconds: Joi.number().integer().min(60).max(86400),
  retrySeconds: Joi.number().integer().min(5).max(86400),
  context: Joi.string().max(100),
  profile: Joi.string().allow(''),
  channels: Joi.number().integer().min(0).max(10000),
  callerIdInFrom: Joi.boolean(),
  description: Joi.string().max(255),
});

// The fields of FusionPBX's outbound-route page (dialplan_outbound_add.php) an operator fills per route.
const routeTemplate = Joi.object({
  pattern: Joi.string().required(),
  prefix: Joi.string(),
  limit: Joi.number().integer(),
  accountcode: Joi.string(),
  tollAllow: Joi.string(),
  order: Joi.number().integer(),
  enabled: Joi.boolean(),
  description: Joi.string(),
  pinNumbers: Joi.boolean(),
  gateway2: Joi.string(),
  gateway3: Joi.string(),
});

const fileSchema = Joi.object<ProvisioningFile>({
  brand: Joi.object({ default: Joi.array().items(themeSetting).required(), plans: Joi.object().pattern(Joi.string(), Joi.array().items(themeSetting)) }),
  gatewayTemplates: Joi.object().pattern(Joi.string().pattern(/^[A-Za-z0-9_-]{1,64}$/), gatewayTemplate),
  routeTemplates: Joi.object().pattern(Joi.string().pattern(/^[A-Za-z0-9_.-]{1,64}$/), Joi.array().items(routeTemplate)),
  // An access control list name as access_control_edit.php stores it (acl.conf.lua puts it in an XML attribute).
  trunkAccessControl: Joi.string().pattern(/^[A-Za-z0-9_.-]{1,64}$/),
  defaultMaxExtensions: Joi.number().integer().min(0).max(10000),
  // The plan's own bounds (PLAN_LIMITS): ingest leaves an unset firstExtension to this option.
  defaultFirstExtension: Joi.number().integer().min(PLAN_LIMITS.firstExtension.min).max(PLAN_LIMITS.firstExtension.max),
  adminGroup: Joi.string().max(100),
});

/** What a tenant looks like when no provisioning file says otherwise: FusionPBX's own look, titled. */
export const DEFAULT_BRAND: BrandConfig = { default: [{ subcategory: 'title', value: 'Hosted PBX' }] };

/** `['brand', 'default', 0, 'value']` → `brand.default[0].value`, the form events name fields in. */
function pathText(path: readonly (string | number)[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? part : `.${part}`)).join('');
}

/**
 * The line of every value of a valid JSON text, by path (`pathText` form). JSON strings hold no
 * raw line break, so only the whitespace between tokens moves to the next line.
 */
export function jsonValueLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let at = 0;
  let line = 1;
  const space = () => {
    while (at < text.length && /\s/.test(text[at]!)) {
      if (text[at] === '\n') line += 1;
      at += 1;
    }
  };
  const string = (): string => {
    const start = at;
    at += 1;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at += 1;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (path: (string | number)[]): void => {
    space();
    lines.set(pathText(path), line);
    const open = text[at];
    if (open === '{' || open === '[') {
      at += 1;
      for (let index = 0; ; index += 1) {
        space();
        if (text[at] === '}' || text[at] === ']') break;
        if (open === '{') {
          const key = string();
          space();
          at += 1; // ':'
          value([...path, key]);
        } else {
          value([...path, index]);
        }
        space();
        if (text[at] === ',') at += 1;
      }
      at += 1;
    } else if (open === '"') {
      string();
    } else {
      while (at < text.length && !/[\s,\]}]/.test(text[at]!)) at += 1;
    }
  };
  value([]);
  return lines;
}

/** `path (line n)`: the line of the value, or of its nearest enclosing value when it is missing. */
function located(path: string, lines: Map<string, number>): string {
  for (let probe = path; probe !== '';) {
    const line = lines.get(probe);
    if (line !== undefined) return `${path} (line ${line})`;
    const parent = probe.replace(/(\[[0-9]+\]|\.[^.[]*)$/, '');
    if (parent === probe) break;
    probe = parent;
  }
  return path;
}

/**
 * Reads the optional provisioning file (branding, gateway templates); a bad one stops start-up with
 * every problem named by field path and line. The values are checked by the same rules every event
 * applies (template-rules.ts), so a file that starts is a file no create fails on.
 */
export function loadProvisioningFile(file: string): ProvisioningFile {
  if (!file) return {};
  let text: string;
  let parsed: unknown;
  try {
    text = readFileSync(file, 'utf8');
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ProvisioningFileError(file, [error instanceof Error ? error.message : 'unreadable']);
  }
  const lines = jsonValueLines(text);
  const { value, error } = fileSchema.validate(parsed, { abortEarly: false });
  if (error)
    throw new ProvisioningFileError(
      file,
      error.details.map((d) => `${located(pathText(d.path), lines)}: ${d.message.replace(/^"[^"]*" /, '').replace(/"/g, "'")}`),
    );
  const problems = templateProblems(value as ProvisioningFile);
  if (problems.length > 0)
    throw new ProvisioningFileError(
      file,
      problems.map((p) => `${located(p.path, lines)}: ${p.message}`),
    );
  return value as ProvisioningFile;
}

export function provisionerOptionsFrom(config: BridgeConfig): ProvisionerOptions {
  const file = loadProvisioningFile(config.fusionpbx.provisioningFile);
  return {
    baseDomain: config.fusionpbx.baseDomain,
    domainPrefix: config.fusionpbx.domainPrefix,
    templateDomain: config.fusionpbx.templateDomain,
    registrationProfile: config.fusionpbx.registrationProfile,
    portalUrl: config.fusionpbx.portalUrl,
    brand: file.brand ?? DEFAULT_BRAND,
    gatewayTemplates: file.gatewayTemplates ?? {},
    routeTemplates: file.routeTemplates ?? {},
    trunkAccessControl: file.trunkAccessControl,
    defaultMaxExtensions: file.defaultMaxExtensions,
    defaultFirstExtension: file.defaultFirstExtension,
    adminGroup: file.adminGroup,
  };
}

/** The provisioner options of a bridge configuration (worker and API build the same ones). */
import { readFileSync } from 'node:fs';
import Joi from 'joi';
import type { BridgeConfig } from '@ictvoip/config';
import type { BrandConfig, GatewayTemplate, ProvisionerOptions } from './types';

export class ProvisioningFileError extends Error {
  readonly code = 'PROVISIONING_FILE_INVALID';
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ProvisioningFileError';
  }
}

export interface ProvisioningFile {
  brand?: BrandConfig;
  gatewayTemplates?: Record<string, GatewayTemplate>;
  defaultMaxExtensions?: number;
  defaultFirstExtension?: number;
  adminGroup?: string;
}

const themeSetting = Joi.object({
  subcategory: Joi.string().pattern(/^[a-z0-9_]{1,64}$/).required(),
  type: Joi.string().valid('text', 'array', 'boolean', 'numeric'),
  value: Joi.string().allow('').max(2000).required(),
});

const gatewayTemplate = Joi.object({
  name: Joi.string().max(100),
  proxy: Joi.string().max(255).required(),
  register: Joi.boolean().required(),
  username: Joi.string().max(255),
  password: Joi.string().max(255),
  authUsername: Joi.string().max(255),
  realm: Joi.string().max(255),
  fromUser: Joi.string().max(255),
  fromDomain: Joi.string().max(255),
  registerTransport: Joi.string().valid('udp', 'tcp', 'tls'),
  expireSeconds: Joi.number().integer().min(60).max(86400),
  retrySeconds: Joi.number().integer().min(5).max(86400),
  context: Joi.string().max(100),
  profile: Joi.string().max(100),
  channels: Joi.number().integer().min(0).max(10000),
  callerIdInFrom: Joi.boolean(),
  description: Joi.string().max(255),
});

const fileSchema = Joi.object<ProvisioningFile>({
  brand: Joi.object({ default: Joi.array().items(themeSetting).required(), plans: Joi.object().pattern(Joi.string(), Joi.array().items(themeSetting)) }),
  gatewayTemplates: Joi.object().pattern(Joi.string().pattern(/^[A-Za-z0-9_-]{1,64}$/), gatewayTemplate),
  defaultMaxExtensions: Joi.number().integer().min(0).max(10000),
  defaultFirstExtension: Joi.number().integer().min(1),
  adminGroup: Joi.string().max(100),
});

/** What a tenant looks like when no provisioning file says otherwise: FusionPBX's own look, titled. */
export const DEFAULT_BRAND: BrandConfig = { default: [{ subcategory: 'title', value: 'Hosted PBX' }] };

/** Reads the optional provisioning file (branding, gateway templates); a bad one stops start-up. */
export function loadProvisioningFile(file: string): ProvisioningFile {
  if (!file) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ProvisioningFileError(file, [error instanceof Error ? error.message : 'unreadable']);
  }
  const { value, error } = fileSchema.validate(parsed, { abortEarly: false });
  if (error) throw new ProvisioningFileError(file, error.details.map((d) => `${d.path.join('.')}: ${d.message.replace(/"/g, "'")}`));
  return value as ProvisioningFile;
}

export function provisionerOptionsFrom(config: BridgeConfig): ProvisionerOptions {
  const file = loadProvisioningFile(config.fusionpbx.provisioningFile);
  const portalBase = config.fusionpbx.portalUrl;
  return {
    baseDomain: config.fusionpbx.baseDomain,
    domainPrefix: config.fusionpbx.domainPrefix,
    templateDomain: config.fusionpbx.templateDomain,
    registrationProfile: config.fusionpbx.registrationProfile,
    // FusionPBX picks the tenant by Host header, so the portal is the tenant's own domain unless a fixed URL is set.
    portalUrl: (domain) => (portalBase ? portalBase : `https://${domain}/`),
    brand: file.brand ?? DEFAULT_BRAND,
    gatewayTemplates: file.gatewayTemplates ?? {},
    defaultMaxExtensions: file.defaultMaxExtensions,
    defaultFirstExtension: file.defaultFirstExtension,
    adminGroup: file.adminGroup,
  };
}

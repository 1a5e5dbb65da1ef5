import type { FreeswitchStep } from '@ictvoip/freeswitch';

/** One theme setting (v_domain_settings category `theme`). */
export interface ThemeSetting {
  subcategory: string;
  /** FusionPBX type column; must match the default setting's (default `text`). */
  type?: 'text' | 'array' | 'boolean' | 'numeric';
  value: string;
}

/** Branding: `default` applies to every tenant; `plans[plan.brand]` overrides per subcategory. */
export interface BrandConfig {
  default: ThemeSetting[];
  plans?: Record<string, ThemeSetting[]>;
}

/** A plan's trunk (v_gateways). Secrets here are written to FusionPBX, never logged. */
export interface GatewayTemplate {
  /** Display name (`v_gateways.gateway`); defaults to the template key. */
  name?: string;
  proxy: string;
  register: boolean;
  username?: string;
  password?: string;
  authUsername?: string;
  realm?: string;
  fromUser?: string;
  fromDomain?: string;
  registerTransport?: 'udp' | 'tcp' | 'tls';
  expireSeconds?: number;
  retrySeconds?: number;
  context?: string;
  profile?: string;
  channels?: number;
  callerIdInFrom?: boolean;
  description?: string;
}

/**
 * One outbound route as an operator would submit FusionPBX's outbound-route page
 * (app/dialplan_outbound/dialplan_outbound_add.php) once, with the plan's gateway selected.
 */
export interface RouteTemplate {
  /** The page's "Dialplan Expression" (one line), e.g. `^(\d{10})$`; `$1` is what is dialled out. */
  pattern: string;
  /** "Prefix": digits put before `$1` in the bridge string (`provider_prefix` when longer than 2). */
  prefix?: string;
  /** "Limit": concurrent outbound calls of the domain through this route (`limit hash`). */
  limit?: number;
  /** "Account Code": sent as `sip_h_accountcode` (the page writes that detail disabled). */
  accountcode?: string;
  /** "Toll Allow": the route only matches extensions whose `toll_allow` matches this (a regex). */
  tollAllow?: string;
  /** "Order" (the page's select offers 100-990; default 100, its first option). */
  order?: number;
  /** "Enabled" (default true). */
  enabled?: boolean;
  /** "Description"; when empty, 5.3 names the call-direction dialplan after the pattern. */
  description?: string;
  /** "PIN Numbers" (default false): the caller is asked for a PIN (pin_number.lua). */
  pinNumbers?: boolean;
  /**
   * "Alternate 1" / "Alternate 2" (the page's `gateway_2`, `gateway_3`): an enabled FusionPBX gateway,
   * by uuid or by name (the tenant's own, else a global one), bridged to when the plan's gateway fails.
   */
  gateway2?: string;
  gateway3?: string;
}

export interface ProvisionerOptions {
  /** Generated tenant domains are `<domainPrefix><serviceId>.<baseDomain>` when service.domain is empty. */
  baseDomain: string;
  domainPrefix?: string;
  /** Existing FusionPBX domain whose dialplans every tenant gets a copy of. */
  templateDomain: string;
  /** Admin login when service.username is empty (default `admin`). */
  adminUsername?: string;
  /** Global v_groups name for the tenant admin (default `admin`). */
  adminGroup?: string;
  /** Fixed portal URL put in serviceProperties (FUSIONPBX_PORTAL_URL); empty or absent: `https://<domain>/`, FusionPBX brands by Host. */
  portalUrl?: string;
  brand?: BrandConfig;
  gatewayTemplates?: Record<string, GatewayTemplate>;
  /** Outbound routes by name (plan.routeTemplate, else `default`); written through the plan's gateway. */
  routeTemplates?: Record<string, RouteTemplate[]>;
  /** FusionPBX Access Control list the plan's trunkCidrs go into (default `providers`). */
  trunkAccessControl?: string;
  /** Profile the phones register on, for flush_inbound_reg (default `internal`). */
  registrationProfile?: string;
  /** Default firstExtension / maxExtensions when the plan does not say. */
  defaultFirstExtension?: number;
  defaultMaxExtensions?: number;
  /** Usernames unique across all domains (FusionPBX setting users/unique = global). Default false. */
  globalUsernames?: boolean;
  /** FusionPBX user_uuid written to insert_user/update_user (default NULL, like the CLI). */
  actorUserUuid?: string | null;
}

export interface ServiceProperties {
  pbxDomain: string;
  adminUsername: string;
  portalUrl: string;
}

/** Per-extension / per-gateway / per-user enabled state before suspend, keyed by natural names. */
export interface SuspendMemory {
  domainEnabled: boolean;
  extensions: Record<string, boolean>;
  gateways: Record<string, boolean>;
  users: Record<string, boolean>;
  /**
   * The same extensions and users by extension_uuid / user_uuid (absent in memories written before):
   * what unsuspend reads when present, so a row renumbered or renamed in FusionPBX while suspended
   * gets its own state back, and one made since (nothing remembered of it) is left as it is.
   */
  extensionUuids?: Record<string, boolean>;
  userUuids?: Record<string, boolean>;
  /**
   * Phones by device_uuid (absent in memories written before): app/provision (5.1/5.3) serves any
   * enabled device's config, SIP credentials included, whatever domain_enabled says.
   */
  devices?: Record<string, boolean>;
  /** Inbound destinations by destination_uuid (absent in memories written before numbers existed). */
  destinations?: Record<string, boolean>;
  /**
   * The tenant's own inbound routes (public context, numbers' included) and outbound routes
   * (v_dialplans uuid → dialplan_enabled before suspend); absent in memories written before.
   */
  dialplans?: Record<string, boolean>;
  /** The bridge's outbound routes (v_dialplans uuid → dialplan_enabled before suspend). */
  outboundRoutes?: Record<string, boolean>;
  /** The bridge's trunk ACL nodes, deleted at suspend (the table has no enabled column) and written back at unsuspend. */
  trunkNodes?: TrunkNodeMemory[];
}

/** One v_access_control_nodes row as suspend found it. */
export interface TrunkNodeMemory {
  uuid: string;
  listUuid: string;
  type: string;
  cidr: string;
  description: string | null;
}

export type TenantStatus = 'active' | 'suspended' | 'terminated';

export interface ProvisionReport {
  createdExtensions: string[];
  /** Enabled extensions above the plan limit, disabled newest-first by this action. */
  disabledExtensions: string[];
  /** Extensions this bridge had disabled for the limit and re-enabled because the limit grew. */
  reenabledExtensions: string[];
  /** Plan range numbers not created because the limit is already used by other enabled extensions. */
  skippedExtensions: string[];
  /** Plan range numbers not created because another extension of the domain has the number as its number_alias (set in FusionPBX). */
  aliasedExtensions: string[];
}

export interface ProvisionResult {
  action: 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'change_package' | 'change_password' | 'purge';
  serviceId: string;
  domainUuid: string;
  domainName: string;
  status: TenantStatus | 'purged';
  generation: number;
  /** True when the FusionPBX transaction wrote anything. */
  changed: boolean;
  /** FreeSWITCH-side work to apply after commit (applyFreeswitchSide); store it as "pending apply". */
  freeswitch: FreeswitchStep[];
  report: ProvisionReport;
  serviceProperties?: ServiceProperties;
  /** Present after suspend: what unsuspend will restore. */
  suspendMemory?: SuspendMemory;
}

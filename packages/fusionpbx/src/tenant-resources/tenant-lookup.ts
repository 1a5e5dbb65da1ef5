import type { Pool } from 'pg';
import { canonicalRow } from '../db';
import { META_CATEGORY } from '../provisioning/tenant-state';

/**
 * Read-only views of a tenant for the REST API: no transaction, no row locks, so reads never queue
 * behind the provisioning worker. Writes go through tenant-extensions.ts / tenant-gateways.ts.
 */

export interface TenantDomainView {
  domainUuid: string;
  domainName: string;
  domainEnabled: boolean;
  /** From the bridge's ictvoip/state row: active | suspended | terminated (null when missing). */
  status: string | null;
  generation: number | null;
  /** The plan's gateway, rewritten by change_package; the API does not edit it. */
  managedGatewayUuid: string | null;
}

export interface TenantCounts {
  extensions: number;
  enabledExtensions: number;
  gateways: number;
  enabledGateways: number;
}

/** The FusionPBX domain tagged with this WHMCS service id (ictvoip/service_id), or null. */
export async function findTenantDomain(pool: Pool, serviceId: number): Promise<TenantDomainView | null> {
  const { rows } = await pool.query(
    `select d.domain_uuid, d.domain_name, d.domain_enabled,
            (select s.domain_setting_value from v_domain_settings s
              where s.domain_uuid = d.domain_uuid and s.domain_setting_category = $1 and s.domain_setting_subcategory = 'state'
              order by s.domain_setting_uuid limit 1) as state
       from v_domains d
      where d.domain_uuid in (select t.domain_uuid from v_domain_settings t
                               where t.domain_setting_category = $1 and t.domain_setting_subcategory = 'service_id' and t.domain_setting_value = $2)
      order by d.insert_date nulls first limit 1`,
    [META_CATEGORY, String(serviceId)],
  );
  if (!rows[0]) return null;
  const row = canonicalRow(rows[0] as Record<string, unknown>);
  let state: { status?: string; generation?: number; gatewayUuid?: string | null } = {};
  try {
    state = row.state ? (JSON.parse(row.state) as typeof state) : {};
  } catch {
    state = {};
  }
  return {
    domainUuid: row.domain_uuid as string,
    domainName: row.domain_name as string,
    domainEnabled: row.domain_enabled === 'true',
    status: state.status ?? null,
    generation: typeof state.generation === 'number' ? state.generation : null,
    managedGatewayUuid: state.gatewayUuid ?? null,
  };
}

/** A tenant as the bridge stores it: its WHMCS service id and the domain name it recorded. */
export interface KnownTenant {
  serviceId: number;
  domainName: string;
}

/**
 * How many of these tenants are here as the bridge left them: a domain of that name tagged with that
 * service id (the tag purgeTenant looks tenants up by). A database where none is found is not the
 * one the bridge provisioned those tenants in.
 */
export async function countKnownTenantDomains(pool: Pool, tenants: readonly KnownTenant[]): Promise<number> {
  if (tenants.length === 0) return 0;
  const { rows } = await pool.query<{ n: number }>(
    `select count(distinct d.domain_uuid)::int as n
       from v_domains d
       join v_domain_settings t on t.domain_uuid = d.domain_uuid and t.domain_setting_category = $1 and t.domain_setting_subcategory = 'service_id'
       join unnest($2::text[], $3::text[]) as k(service_id, domain_name) on k.service_id = t.domain_setting_value and k.domain_name = d.domain_name`,
    [META_CATEGORY, tenants.map((tenant) => String(tenant.serviceId)), tenants.map((tenant) => tenant.domainName)],
  );
  return rows[0].n;
}

export async function tenantCounts(pool: Pool, domainUuid: string): Promise<TenantCounts> {
  const { rows } = await pool.query<{ extensions: number; enabled_extensions: number; gateways: number; enabled_gateways: number }>(
    `select (select count(*)::int from v_extensions where domain_uuid = $1) as extensions,
            (select count(*)::int from v_extensions where domain_uuid = $1 and enabled::text = 'true') as enabled_extensions,
            (select count(*)::int from v_gateways where domain_uuid = $1) as gateways,
            (select count(*)::int from v_gateways where domain_uuid = $1 and enabled::text = 'true') as enabled_gateways`,
    [domainUuid],
  );
  const row = rows[0];
  return { extensions: row.extensions, enabledExtensions: row.enabled_extensions, gateways: row.gateways, enabledGateways: row.enabled_gateways };
}

/** Names of the enabled SIP profiles (what FusionPBX's Registrations page queries). */
export async function enabledSipProfiles(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ sip_profile_name: string | null }>(
    "select sip_profile_name from v_sip_profiles where sip_profile_enabled::text = 'true' order by sip_profile_name",
  );
  return rows.map((row) => row.sip_profile_name).filter((name): name is string => !!name);
}

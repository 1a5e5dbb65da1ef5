import { findTenantDomain, type TenantDomainView } from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import { ServicesRepository } from '@ictvoip/store';
import type { ApiDeps, ScopedApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import { scopeForServer } from '../../fusion-scope';
import { type Principal, serversOf, tenantOf, unansweredServersOf } from '../../api-keys/principal';

export interface TenantContext {
  service: ServiceRecord;
  /** The deps scoped to the tenant's own FusionPBX server (`deps.fusion`): use these, not the caller's. */
  deps: ScopedApiDeps;
  /** The tagged FusionPBX domain; null before create has run or after purge. */
  domain: TenantDomainView | null;
}

const SERVICE_ID = /^[1-9][0-9]{0,17}$/;
const DOMAIN = /^[A-Za-z0-9.-]{1,253}$/;

const notFound = (tenant: string) => new HttpError(404, 'NOT_FOUND', `tenant ${tenant} not found`);

async function findService(deps: ApiDeps, tenant: string): Promise<ServiceRecord | null> {
  const services = new ServicesRepository(deps.pool);
  if (SERVICE_ID.test(tenant)) return services.get(Number(tenant));
  if (!DOMAIN.test(tenant)) return null;
  const { rows } = await deps.pool.query<{ service_id: string }>('SELECT service_id FROM services WHERE lower(tenant_domain) = lower($1)', [tenant]);
  return rows[0] ? services.get(Number(rows[0].service_id)) : null;
}

/**
 * `{tenant}` is the WHMCS service id or the tenant's domain. A tenant key asking for any other
 * tenant gets the same 404 as for a tenant that does not exist, so it learns nothing.
 */
export async function resolveTenant(deps: ApiDeps, principal: Principal, tenant: string): Promise<TenantContext> {
  return tenantContextOf(deps, await resolveService(deps, principal, tenant));
}

/** The context of a service already resolved (resolveService): its server's deps and its FusionPBX domain. */
export async function tenantContextOf(deps: ApiDeps, service: ServiceRecord): Promise<TenantContext> {
  const scoped = await scopeForServer(deps, service.fusionpbxServer);
  return { service, deps: scoped, domain: await findTenantDomain(scoped.fusion.pool, service.serviceId) };
}

/** The service only (the bridge's own data, no FusionPBX server touched), with the same 404 rules. */
export async function resolveService(deps: ApiDeps, principal: Principal, tenant: string): Promise<ServiceRecord> {
  const service = await findService(deps, tenant);
  if (!service) throw notFound(tenant);
  const allowed = tenantOf(principal);
  if (allowed !== null && allowed !== service.serviceId) throw notFound(tenant);
  const servers = serversOf(principal);
  if (servers !== null && !servers.includes(service.fusionpbxServer)) {
    // A superadmin whose password that server could not check (its database did not answer): not "no such tenant".
    const server = service.fusionpbxServer ?? 'default';
    if (unansweredServersOf(principal).includes(server))
      throw new HttpError(503, 'DEPENDENCY_UNAVAILABLE', `the FusionPBX database of server ${server} is unavailable; retry later`, undefined, 5);
    throw notFound(tenant);
  }
  return service;
}

/** The tenant's server deps and its domain, for sub-resources that need the domain. */
export function requireDomainScope(context: TenantContext): { deps: ScopedApiDeps; domain: TenantDomainView } {
  return { deps: context.deps, domain: requireDomain(context) };
}

/** Sub-resources need the FusionPBX domain. */
export function requireDomain(context: TenantContext): TenantDomainView {
  if (!context.domain) throw new HttpError(409, 'TENANT_NOT_PROVISIONED', `tenant ${context.service.serviceId} has no FusionPBX domain (not created yet, or purged)`);
  return context.domain;
}

export { planLimits } from '@ictvoip/store';

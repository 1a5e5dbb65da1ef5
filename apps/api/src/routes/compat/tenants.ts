import type { Request } from 'express';
import { IctvoipFormatError, parseIctvoipDomainField } from '@ictvoip/whmcs';
import { ServicesRepository, type ServiceRecord } from '@ictvoip/store';
import { type Principal, serversOf, tenantOf } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import type { ServerAnswers } from '../../server-answers';
import { HttpError } from '../../errors';
import { resolveTenant, type TenantContext } from '../v1/tenant-context';
import { formField } from './auth';
import { CompatError, invalidParameter, missingParameter } from './envelope';

/** The tenant domain a form names (its first field present), ictVoIP's trailing `| DID` dropped. */
export function domainField(req: Request, fields: readonly string[]): { field: string; domain: string } | null {
  for (const field of fields) {
    const value = formField(req, field);
    if (value === undefined || value.trim() === '') continue;
    try {
      return { field, domain: parseIctvoipDomainField(value, field).domain };
    } catch (error) {
      if (error instanceof IctvoipFormatError) throw invalidParameter(field, error.message.slice(field.length + 1));
      throw error;
    }
  }
  return null;
}

/**
 * Whether a FusionPBX server the caller may see has a domain of that name (asked only for the operator or
 * a superadmin, who see every domain of their servers anyway). A server that does not answer counts as not.
 */
async function isFusionDomain(deps: ApiDeps, principal: Principal, domain: string): Promise<boolean> {
  const servers = serversOf(principal);
  const { targets } = await deps.targets.scan();
  const mine = targets.filter((target) => servers === null || servers.includes(target.storedName));
  const found = await Promise.allSettled(
    mine.map(async (target) => (await target.pool.query('select 1 from v_domains where lower(domain_name) = $1 limit 1', [domain])).rows.length > 0),
  );
  return found.some((outcome) => outcome.status === 'fulfilled' && outcome.value);
}

/**
 * The tenant of that domain. A domain FusionPBX has but the bridge does not manage (an ictVoIP tenant not
 * yet adopted) is still 404, but said so to the operator or a superadmin, so a migrating script's "not
 * found" for a domain FusionPBX plainly shows points at `ictvoip adopt`. A tenant key learns nothing more.
 */
async function tenantOfDomain(deps: ApiDeps, principal: Principal, domain: string): Promise<TenantContext> {
  try {
    return await resolveTenant(deps, principal, domain);
  } catch (error) {
    if (!(error instanceof HttpError) || error.status !== 404 || tenantOf(principal) !== null) throw error;
    if (!(await isFusionDomain(deps, principal, domain))) throw error;
    throw new CompatError(404, 'NOT_FOUND', `Not Found: tenant ${domain} is a FusionPBX domain the bridge does not manage (not created by it, nor taken over with ictvoip adopt)`);
  }
}

/**
 * The tenant a form names, with /v1's isolation: a tenant key sees only its own (another is "not
 * found"), a FusionPBX superadmin only the tenants of its own servers. A tenant key may leave the
 * domain out; every other caller must name it.
 */
export async function namedTenant(deps: ApiDeps, principal: Principal, req: Request, fields: readonly string[]): Promise<TenantContext> {
  const named = domainField(req, fields);
  if (named) return tenantOfDomain(deps, principal, named.domain);
  const own = tenantOf(principal);
  if (own !== null) return resolveTenant(deps, principal, String(own));
  throw missingParameter(fields[0]!);
}

/**
 * The form's tenant when it names one; otherwise every provisioned tenant the caller may see, each
 * server's tenants read through `answers` (a server that cannot be used is left out and named there).
 */
export async function tenantsInScope(deps: ApiDeps, principal: Principal, req: Request, fields: readonly string[], answers: ServerAnswers): Promise<TenantContext[]> {
  const named = domainField(req, fields);
  if (named) return [await tenantOfDomain(deps, principal, named.domain)];
  const own = tenantOf(principal);
  if (own !== null) return [await resolveTenant(deps, principal, String(own))];
  const servers = serversOf(principal);
  // A purged tenant has nothing left on its server (which may since have been removed from the registry).
  const services = (await new ServicesRepository(deps.pool).listAll(1000, { purged: false })).filter(
    (service) => service.tenantDomain && (servers === null || servers.includes(service.fusionpbxServer)),
  );
  // Each server's tenants in turn, the servers side by side: a silent server costs one wait, not one per tenant.
  const byServer = new Map<string | null, ServiceRecord[]>();
  for (const service of services) byServer.set(service.fusionpbxServer, [...(byServer.get(service.fusionpbxServer) ?? []), service]);
  const found = new Map<number, TenantContext>();
  await Promise.all(
    [...byServer].map(async ([server, served]) => {
      for (const service of served) {
        const context = await answers.attempt(server, () => resolveTenant(deps, principal, String(service.serviceId)));
        if (context?.domain) found.set(service.serviceId, context);
      }
    }),
  );
  return services.flatMap((service) => found.get(service.serviceId) ?? []);
}

/** The servers a listing over every server left out, as a field of ictVoIP's envelope (none: no field, as ictVoIP answers). */
export function unavailableServersField(answers: ServerAnswers): Record<string, unknown> {
  const unavailable = answers.unavailable;
  return unavailable.length > 0 ? { unavailable_servers: unavailable } : {};
}

import { MonitoringWatchRepository } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';

/** A watched tenant: active, on the polled server, watch scope not `off`; `marked` set when only marked extensions are watched. */
export interface WatchedTenant {
  serviceId: number;
  domain: string;
  marked: ReadonlySet<string> | null;
}

/**
 * The tenants of `server` (stored name, null = default) monitoring watches: active ones (suspended and
 * terminated tenants are not watched) whose scope (REST/CLI override, else the plan's
 * `registrationWatch`, else `all`) is not `off`.
 */
export async function watchedTenants(deps: WorkerDeps, storedName: string | null): Promise<WatchedTenant[]> {
  const tenants = await new MonitoringWatchRepository(deps.pool).activeTenantsOfServer(storedName);
  return tenants.flatMap(({ serviceId, tenantDomain, scope, marked }) =>
    scope === 'off' ? [] : [{ serviceId, domain: tenantDomain.toLowerCase(), marked: scope === 'marked' ? new Set(marked) : null }],
  );
}

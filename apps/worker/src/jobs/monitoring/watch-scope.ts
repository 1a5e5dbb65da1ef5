import { effectiveWatchScope, MonitoringWatchRepository } from '@ictvoip/store';
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
  const services = (await deps.services.listAll()).filter((service) => service.desiredState === 'active' && service.tenantDomain && service.fusionpbxServer === storedName);
  const settings = await new MonitoringWatchRepository(deps.pool).many(services.map((service) => service.serviceId));
  return services.flatMap((service) => {
    const watch = settings.get(service.serviceId)!;
    const scope = effectiveWatchScope(watch.scopeOverride, service.plan);
    if (scope === 'off') return [];
    return [{ serviceId: service.serviceId, domain: service.tenantDomain!.toLowerCase(), marked: scope === 'marked' ? new Set(watch.marked) : null }];
  });
}

import { FusionServerDisabledError, FusionServerUnknownError, serverNameForEvent, type FusionTarget } from '@ictvoip/fusionpbx';
import type { TenantCommand } from '@ictvoip/whmcs';
import type { ApiDeps } from './deps';
import { HttpError } from './errors';

/** The deps with one server's FusionPBX database and event socket (a tenant's own server). */
function scopedTo(deps: ApiDeps, target: FusionTarget): ApiDeps {
  return { ...deps, fusionPool: target.pool, esl: target.esl };
}

/** A disabled or vanished server is a temporary 503 for the caller, named by its code. */
async function unavailableAs503<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof FusionServerDisabledError || error instanceof FusionServerUnknownError) {
      throw new HttpError(503, error.code, `the tenant's FusionPBX server (${error.serverName}) is unavailable`, undefined, 30);
    }
    throw error;
  }
}

function targetOf(deps: ApiDeps, server: string | null): Promise<FusionTarget> {
  return unavailableAs503(() => deps.targets.get(server));
}

/** The deps of a stored service's server (null = the default server). */
export async function scopeForServer(deps: ApiDeps, server: string | null): Promise<ApiDeps> {
  return scopedTo(deps, await targetOf(deps, server));
}

/**
 * A webhook read (status, dry run) for a service: its stored server when the bridge knows it, else
 * the server the worker would pick for its event (serverNameForEvent, the worker's rule).
 */
export async function targetForEvent(deps: ApiDeps, storedServer: string | null | undefined, event: Pick<TenantCommand, 'server'>): Promise<FusionTarget> {
  if (storedServer !== undefined) return targetOf(deps, storedServer);
  return unavailableAs503(async () => deps.targets.get(await serverNameForEvent(deps.fusionServers, event.server)));
}

export async function scopeForEvent(deps: ApiDeps, storedServer: string | null | undefined, event: Pick<TenantCommand, 'server'>): Promise<ApiDeps> {
  return scopedTo(deps, await targetForEvent(deps, storedServer, event));
}

import { DEFAULT_SERVER_NAME, serverForEvent, unusableServerOf, type EventServer, type FusionTarget, type StoredServer } from '@ictvoip/fusionpbx';
import type { ApiDeps, ScopedApiDeps } from './deps';
import { HttpError } from './errors';

/** A FusionPBX server that cannot be used (disabled, vanished, its secrets unreadable): a 503 naming it, its code and why. */
export class ServerUnavailableError extends HttpError {
  constructor(
    readonly serverName: string,
    code: string,
    readonly reason: string,
  ) {
    super(503, code, `the tenant's FusionPBX server (${serverName}) is unavailable: ${reason}`, undefined, 30);
    this.name = 'ServerUnavailableError';
  }
}

/** A disabled, vanished or unreadable server is a temporary 503 for the caller, named by its code. */
async function unavailableAs503<T>(server: string | null, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const unusable = unusableServerOf((error as { serverName?: string }).serverName ?? server ?? DEFAULT_SERVER_NAME, error);
    if (unusable) throw new ServerUnavailableError(unusable.name, unusable.code, unusable.reason);
    throw error;
  }
}

function targetOf(deps: ApiDeps, server: string | null): Promise<FusionTarget> {
  return unavailableAs503(server, () => deps.targets.get(server));
}

/** The deps of a stored service's server (null = the default server). */
export async function scopeForServer(deps: ApiDeps, server: string | null): Promise<ScopedApiDeps> {
  return { ...deps, fusion: await targetOf(deps, server) };
}

/**
 * A webhook read (status, dry run) for a service (null: one the bridge does not know yet): the server
 * the worker would act on for its event (serverForEvent, the worker's rule).
 */
export async function targetForEvent(deps: ApiDeps, service: StoredServer | null, event: EventServer): Promise<FusionTarget> {
  return targetOf(deps, await unavailableAs503(null, () => serverForEvent(deps.fusionServers, service, event)));
}

export async function scopeForEvent(deps: ApiDeps, service: StoredServer | null, event: EventServer): Promise<ScopedApiDeps> {
  return { ...deps, fusion: await targetForEvent(deps, service, event) };
}

import { FusionServerDisabledError, FusionServerUnknownError, type FusionTarget } from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from './deps';
import { PermanentJobError } from './errors';

/** The deps with the FusionPBX side (database, event socket, provisioner, cache) of one server. */
export function scopedTo(deps: WorkerDeps, target: FusionTarget): ScopedDeps {
  return { ...deps, fusionPool: target.pool, esl: target.esl, provisioner: target.provisioner, cacheOptions: target.cacheOptions, fusionServer: target.storedName };
}

/** A disabled or unknown server fails the job for good: retrying cannot make the server come back. */
export async function permanentWhenServerUnavailable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isServerUnavailable(error)) throw new PermanentJobError(error.code, error.message);
    throw error;
  }
}

/** For jobs about one known service (CDR sync, re-rating, purge): its stored server. */
export async function scopeForService(deps: WorkerDeps, service: Pick<ServiceRecord, 'fusionpbxServer'>): Promise<ScopedDeps> {
  return scopedTo(deps, await deps.targets.get(service.fusionpbxServer));
}

export function isServerUnavailable(error: unknown): error is FusionServerDisabledError | FusionServerUnknownError {
  return error instanceof FusionServerDisabledError || error instanceof FusionServerUnknownError;
}

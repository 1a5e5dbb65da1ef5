import { FusionServerDisabledError, FusionServerUnknownError } from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from './deps';
import { PermanentJobError } from './errors';

/**
 * For `.catch` on a server's resolution: a disabled or unknown server fails the job for good (its
 * retries would not outlast an operator's decision), though the cause can pass (the server enabled or
 * registered again); anything else is thrown as it is.
 */
export function permanentWhenServerUnavailable(error: unknown): never {
  if (isServerUnavailable(error)) throw new PermanentJobError(error.code, error.message, { canPass: true });
  throw error;
}

/** For jobs about one known service (CDR sync, re-rating, purge): scoped to its stored server. */
export async function scopeForService(deps: WorkerDeps, service: Pick<ServiceRecord, 'fusionpbxServer'>): Promise<ScopedDeps> {
  return { ...deps, fusion: await deps.targets.get(service.fusionpbxServer) };
}

export function isServerUnavailable(error: unknown): error is FusionServerDisabledError | FusionServerUnknownError {
  return error instanceof FusionServerDisabledError || error instanceof FusionServerUnknownError;
}

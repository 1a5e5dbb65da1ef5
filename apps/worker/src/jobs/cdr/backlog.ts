import { getCdrSyncCursor } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { scopeForService } from '../../fusion-scope';
import { countCdrsAfter } from './cdr-reader';

/** CDRs in FusionPBX after a tenant's cursor (not yet read), or null before its first sync. For metrics. */
export async function cdrBacklog(deps: WorkerDeps, serviceId: number): Promise<number | null> {
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  if (!cursor) return null;
  const service = await deps.services.get(serviceId);
  const fusionPool = service ? (await scopeForService(deps, service)).fusionPool : deps.fusionPool;
  return countCdrsAfter(fusionPool, cursor.domainUuid, { startStamp: cursor.lastStartStamp, xmlCdrUuid: cursor.lastXmlCdrUuid });
}

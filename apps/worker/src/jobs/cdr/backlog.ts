import { getCdrSyncCursor } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { countCdrsAfter } from './cdr-reader';

/** CDRs in FusionPBX after a tenant's cursor (not yet read), or null before its first sync. For metrics. */
export async function cdrBacklog(deps: Pick<WorkerDeps, 'pool' | 'fusionPool'>, serviceId: number): Promise<number | null> {
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  if (!cursor) return null;
  return countCdrsAfter(deps.fusionPool, cursor.domainUuid, { startStamp: cursor.lastStartStamp, xmlCdrUuid: cursor.lastXmlCdrUuid });
}

import { getCdrSyncCursor } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { scopeForService } from '../../fusion-scope';
import { countCdrsAfter } from '@ictvoip/operations';

/** CDRs in FusionPBX after a tenant's cursor (not yet read), or null before its first sync. For metrics. */
export async function cdrBacklog(deps: WorkerDeps, serviceId: number): Promise<number | null> {
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  if (!cursor) return null;
  const service = await deps.services.get(serviceId);
  const fusionPool = service ? (await scopeForService(deps, service)).fusionPool : deps.fusionPool;
  return countCdrsAfter(fusionPool, cursor.domainUuid, { startStamp: cursor.lastStartStamp, xmlCdrUuid: cursor.lastXmlCdrUuid });
}

export interface TenantCdrBacklog {
  serviceId: number;
  /** CDRs in v_xml_cdr after the tenant's sync cursor: not collected (so not rated or billed) yet. */
  backlog: number;
}

// The stamps travel as text: a JS Date would drop the microseconds the keyset compares on.
const CURSORS_SQL = 'SELECT service_id::text, domain_uuid::text, last_start_stamp::text AS stamp, last_xml_cdr_uuid::text AS cdr_uuid FROM cdr_sync_cursors ORDER BY service_id';

// One statement for every tenant; the lower bound on start_stamp lets an index on it (or on
// domain_uuid, start_stamp) limit the read to the CDRs after the oldest cursor.
const BACKLOG_SQL = `
SELECT c.service_id::text, count(x.xml_cdr_uuid)::text AS n
  FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::uuid[]) AS c(service_id, domain_uuid, stamp, cdr_uuid)
  LEFT JOIN v_xml_cdr x
    ON x.domain_uuid = c.domain_uuid AND x.start_stamp >= (SELECT min(stamp) FROM unnest($3::timestamptz[]) AS stamp)
   AND (x.start_stamp, x.xml_cdr_uuid) > (c.stamp, c.cdr_uuid)
 GROUP BY c.service_id`;

/** Every synced tenant's backlog in two queries (cursors from the bridge, one grouped count in FusionPBX). */
export async function cdrBacklogByTenant(deps: Pick<WorkerDeps, 'pool' | 'fusionPool'>): Promise<TenantCdrBacklog[]> {
  const { rows: cursors } = await deps.pool.query<{ service_id: string; domain_uuid: string; stamp: string; cdr_uuid: string }>(CURSORS_SQL);
  if (cursors.length === 0) return [];
  const { rows } = await deps.fusionPool.query<{ service_id: string; n: string }>(BACKLOG_SQL, [
    cursors.map((row) => row.service_id), cursors.map((row) => row.domain_uuid), cursors.map((row) => row.stamp), cursors.map((row) => row.cdr_uuid),
  ]);
  return rows.map((row) => ({ serviceId: Number(row.service_id), backlog: Number(row.n) }));
}

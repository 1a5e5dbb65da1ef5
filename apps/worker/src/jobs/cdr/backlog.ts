import { getCdrSyncCursor } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { countCdrsAfter } from '@ictvoip/operations';

/** CDRs in FusionPBX after a tenant's cursor (not yet read), or null before its first sync. For metrics. */
export async function cdrBacklog(deps: WorkerDeps, serviceId: number): Promise<number | null> {
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  if (!cursor) return null;
  const service = await deps.services.get(serviceId);
  if (!service) return null;
  // The tenant's own server's v_xml_cdr.
  const { pool } = await deps.targets.get(service.fusionpbxServer);
  return countCdrsAfter(pool, cursor.domainUuid, { startStamp: cursor.lastStartStamp, xmlCdrUuid: cursor.lastXmlCdrUuid });
}

export interface TenantCdrBacklog {
  serviceId: number;
  /**
   * CDRs in v_xml_cdr after the tenant's sync cursor: not collected (so not rated or billed) yet.
   * null: its FusionPBX server did not answer this time (the gauge keeps the last value).
   */
  backlog: number | null;
}

// The stamps travel as text: a JS Date would drop the microseconds the keyset compares on.
const CURSORS_SQL = `SELECT c.service_id::text, c.domain_uuid::text, c.last_start_stamp::text AS stamp, c.last_xml_cdr_uuid::text AS cdr_uuid, s.fusionpbx_server AS server
  FROM cdr_sync_cursors c LEFT JOIN services s USING (service_id) ORDER BY c.service_id`;

// One statement for every tenant; the lower bound on start_stamp lets an index on it (or on
// domain_uuid, start_stamp) limit the read to the CDRs after the oldest cursor.
const BACKLOG_SQL = `
SELECT c.service_id::text, count(x.xml_cdr_uuid)::text AS n
  FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::uuid[]) AS c(service_id, domain_uuid, stamp, cdr_uuid)
  LEFT JOIN v_xml_cdr x
    ON x.domain_uuid = c.domain_uuid AND x.start_stamp >= (SELECT min(stamp) FROM unnest($3::timestamptz[]) AS stamp)
   AND (x.start_stamp, x.xml_cdr_uuid) > (c.stamp, c.cdr_uuid)
 GROUP BY c.service_id`;

type CursorRow = { service_id: string; domain_uuid: string; stamp: string; cdr_uuid: string; server: string | null };

/**
 * Every synced tenant's backlog: the cursors from the bridge, then one grouped count per FusionPBX
 * server, all servers at once, each tenant counted in its own server's v_xml_cdr. A server that does
 * not answer (database down, disabled, unknown) gives its tenants `backlog: null`; the other servers'
 * counts are still read.
 */
export async function cdrBacklogByTenant(deps: Pick<WorkerDeps, 'pool' | 'targets'>): Promise<TenantCdrBacklog[]> {
  const { rows: cursors } = await deps.pool.query<CursorRow>(CURSORS_SQL);
  const byServer = new Map<string | null, CursorRow[]>();
  for (const row of cursors) {
    const group = byServer.get(row.server);
    if (group) group.push(row);
    else byServer.set(row.server, [row]);
  }
  const perServer = await Promise.all(
    [...byServer].map(async ([server, rows]): Promise<TenantCdrBacklog[]> => {
      try {
        const { pool } = await deps.targets.get(server);
        const { rows: found } = await pool.query<{ service_id: string; n: string }>(BACKLOG_SQL, [
          rows.map((row) => row.service_id),
          rows.map((row) => row.domain_uuid),
          rows.map((row) => row.stamp),
          rows.map((row) => row.cdr_uuid),
        ]);
        return found.map((row) => ({ serviceId: Number(row.service_id), backlog: Number(row.n) }));
      } catch {
        return rows.map((row) => ({ serviceId: Number(row.service_id), backlog: null }));
      }
    }),
  );
  return perServer.flat();
}

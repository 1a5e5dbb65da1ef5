import { existingChargeIds, getCdrSyncCursor } from '@ictvoip/store';
import { NIL_UUID, readCdrsAfter, tenantCdrDomain, type CdrPosition } from './cdr-reader';
import type { OperationsDeps } from './deps';

/** What `cdr backfill --dry-run` reports for one service. */
export interface CdrBackfillPreview {
  serviceId: number;
  status: 'synced' | 'no-tenant' | 'no-domain';
  from: string;
  /** CDRs the backfill would read from v_xml_cdr (all legs, within the job's page limit) */
  read: number;
  /** of those, the ones not charged yet: the backfill would insert a charge for each */
  new: number;
  alreadyCharged: number;
  /** true when the job would stop at CDR_SYNC_MAX_PAGES with rows left (a second run would continue) */
  more: boolean;
}

export type CdrBackfillDeps = Pick<OperationsDeps, 'services' | 'pool' | 'fusionPool' | 'config'>;

/**
 * The backfill's reads without its writes: the same service, domain (current first, else the cursor's), keyset pages
 * and page limit as syncTenantCdrs, counting which CDRs already have a charge. No lock, no rating.
 */
export async function previewCdrBackfill(deps: CdrBackfillDeps, serviceId: number, from: Date): Promise<CdrBackfillPreview> {
  const preview: CdrBackfillPreview = { serviceId, status: 'synced', from: from.toISOString(), read: 0, new: 0, alreadyCharged: 0, more: false };
  const service = await deps.services.get(serviceId);
  if (!service?.tenantDomain) return { ...preview, status: 'no-tenant' };
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  const domain = await tenantCdrDomain(deps.fusionPool, service.tenantDomain, cursor?.domainUuid ?? null);
  if (!domain) return { ...preview, status: 'no-domain' };
  const domainUuid = domain.domainUuid;
  const { pageSize, maxPagesPerRun } = deps.config.cdr;
  let position: CdrPosition = { startStamp: preview.from, xmlCdrUuid: NIL_UUID };
  for (let page = 1; ; page += 1) {
    const sources = await readCdrsAfter(deps.fusionPool, domainUuid, service.tenantDomain, position, pageSize);
    if (sources.length === 0) break;
    const charged = await existingChargeIds(
      deps.pool,
      sources.map((source) => source.cdr.xmlCdrUuid),
    );
    preview.read += sources.length;
    preview.alreadyCharged += charged.size;
    preview.new += sources.length - charged.size;
    const last = sources[sources.length - 1]!;
    position = { startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid };
    if (sources.length < pageSize) break;
    if (page >= maxPagesPerRun) {
      preview.more = true;
      break;
    }
  }
  return preview;
}

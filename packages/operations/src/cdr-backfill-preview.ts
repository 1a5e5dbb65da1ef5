import { existingChargeIds, getCdrSyncCursor, isPurgedService } from '@ictvoip/store';
import { NIL_UUID, readCdrKeysAfter, tenantCdrDomain, type CdrPosition } from './cdr-reader';
import type { OperationsDeps } from './deps';

/** What `cdr backfill --dry-run` reports for one service. */
export interface CdrBackfillPreview {
  serviceId: number;
  status: 'synced' | 'no-tenant' | 'no-domain';
  /** where the backfill starts reading: --from, or the adopted tenant's billing start when later */
  from: string;
  /** CDRs the backfill would read from v_xml_cdr (all legs, from `from` to the newest) */
  read: number;
  /** of those, the ones not charged yet: the backfill would insert a charge for each */
  new: number;
  alreadyCharged: number;
  /** runs of CDR_SYNC_MAX_PAGES pages the job would take, the billing lock released between them (0: no domain to read) */
  runs: number;
  /** true when that is more than one run (the job reads on, run after run, to the newest) */
  more: boolean;
}

export type CdrBackfillDeps = Pick<OperationsDeps, 'services' | 'pool' | 'fusionPool' | 'config'>;

/** Keys per read: only (start_stamp, uuid) come back, so a read may hold many more rows than a sync page. */
const KEYS_PER_READ = 5000;

/**
 * The backfill's reads without its writes: the same service, domain (current first, else the cursor's) and start as
 * the job (collectCdrs from `from`), counting which CDRs already have a charge, to the newest: the job reads on run
 * after run of CDR_SYNC_MAX_PAGES pages, so its count is the whole range's. Only the rows' keys are read, in pages of
 * KEYS_PER_READ. No lock, no rating.
 */
export async function previewCdrBackfill(deps: CdrBackfillDeps, serviceId: number, from: Date): Promise<CdrBackfillPreview> {
  const preview: CdrBackfillPreview = { serviceId, status: 'synced', from: from.toISOString(), read: 0, new: 0, alreadyCharged: 0, runs: 0, more: false };
  const service = await deps.services.get(serviceId);
  if (!service?.tenantDomain || isPurgedService(service)) return { ...preview, status: 'no-tenant' };
  const cursor = await getCdrSyncCursor(deps.pool, serviceId);
  const domain = await tenantCdrDomain(deps.fusionPool, service.tenantDomain, cursor?.domainUuid ?? null);
  if (!domain) return { ...preview, status: 'no-domain' };
  // The job's lower bound: an adopted tenant's calls before its switch-over were billed by the old system.
  if (service.cdrBillingFrom && service.cdrBillingFrom.getTime() > from.getTime()) preview.from = service.cdrBillingFrom.toISOString();
  let position: CdrPosition = { startStamp: preview.from, xmlCdrUuid: NIL_UUID };
  for (;;) {
    const keys = await readCdrKeysAfter(deps.fusionPool, domain.domainUuid, position, KEYS_PER_READ);
    if (keys.length > 0) {
      const charged = await existingChargeIds(
        deps.pool,
        keys.map((key) => key.xmlCdrUuid),
      );
      preview.read += keys.length;
      preview.alreadyCharged += charged.size;
      preview.new += keys.length - charged.size;
      position = keys[keys.length - 1]!;
    }
    if (keys.length < KEYS_PER_READ) break;
  }
  const { pageSize, maxPagesPerRun } = deps.config.cdr;
  // A run stops after a full last page with rows possibly left: one more run follows each full one (it may read nothing).
  preview.runs = Math.floor(preview.read / (pageSize * maxPagesPerRun)) + 1;
  preview.more = preview.runs > 1;
  return preview;
}

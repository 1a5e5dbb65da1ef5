import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { syncTenantCdrs } from '../src';
import { useBillingKit } from './cdr-billing-kit';

/**
 * #20: the CDR sync worker's RSS grew with the number of CDRs. With a small V8 old-space cap it stays
 * flat (bench), which is only safe if a sync keeps nothing per page: this test syncs many pages and
 * checks, after full collections, that the heap did not grow with them.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PAGES = 600;
/** Page size 5 (the kit's): 3,000 CDRs. A page's rows, charges and pg result are several KiB; keeping them all would be > 2 MiB. */
const ALLOWED_GROWTH_BYTES = 1024 * 1024;

const kit = useBillingKit({ CDR_SYNC_MAX_PAGES: String(PAGES * 2) });

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test(`a sync of ${PAGES} pages keeps nothing per page (heap after GC bounded)`, async () => {
  const tenant = await kit.addTenant();
  await kit.bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
     SELECT gen_random_uuid(), $1, $2, 'outbound', 'a', '12125550100', '12125550100', timestamptz '2025-02-01T00:00:00Z' + i * interval '1 second', 60, 'NORMAL_CLEARING'
     FROM generate_series(1, $3::int) AS i`,
    [tenant.domainUuid, tenant.domainName, PAGES * 5],
  );
  let early = 0;
  let late = 0;
  const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId, {
    hooks: {
      // Page 50: pools, prepared statements and the rate table are warm; the remaining 550 pages must add nothing.
      afterCommit: (page) => {
        if (page === 50) early = heapAfterGc();
        if (page === PAGES) late = heapAfterGc();
      },
    },
  });
  expect(outcome).toMatchObject({ status: 'synced', read: PAGES * 5, inserted: PAGES * 5, more: false });
  expect(early).toBeGreaterThan(0);
  expect(late).toBeGreaterThan(0);
  expect(late - early).toBeLessThan(ALLOWED_GROWTH_BYTES);
}, 120000);

/**
 * A call's CDR reaches v_xml_cdr when the call ends (FreeSWITCH writes it at hangup, FusionPBX's
 * xml_cdr import stores it), keyed by the time it started. A call longer than the look-back window
 * arrives after the cursor has moved past its start by more than the window.
 */
import { randomUUID } from 'node:crypto';
import { listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { expectedMicro, microToDecimal, startBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

/** An answered a-leg as FusionPBX's xml_cdr import writes it: start, answer and end stamps, billsec. */
async function insertEndedCall(kit: BillingKit, tenant: Tenant, start: string, billsec: number, destination: string): Promise<string> {
  const uuid = randomUUID();
  await kit.bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, answer_stamp, end_stamp,
       start_epoch, end_epoch, duration, billsec, hangup_cause, insert_date)
     VALUES ($1, $2, $3, 'outbound', 'a', $4, $4, $5::timestamptz, $5::timestamptz, $5::timestamptz + make_interval(secs => $6),
       extract(epoch FROM $5::timestamptz), extract(epoch FROM $5::timestamptz) + $6, $6, $6, 'NORMAL_CLEARING', now())`,
    [uuid, tenant.domainUuid, tenant.domainName, destination, start, billsec],
  );
  return uuid;
}

test('a call longer than CDR_LOOKBACK_SECONDS, stored at its end after the cursor passed its start, is billed once', async () => {
  const kit = await startBillingKit(); // CDR_LOOKBACK_SECONDS=3600
  try {
    const tenant = await kit.addTenant();
    // 11:58: a short call, synced at 12:00 (cursor at 11:58).
    await insertEndedCall(kit, tenant, '2025-02-10T11:58:00Z', 60, '12125550120');
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(1);
    // The call that started at 10:30 ends at 12:00 after 90 minutes: its CDR is stored now.
    const long = await insertEndedCall(kit, tenant, '2025-02-10T10:30:00Z', 5400, '12125550121');
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    // And a sync later, with more calls: nothing is charged twice.
    await insertEndedCall(kit, tenant, '2025-02-10T12:10:00Z', 30, '12125550122');
    const later = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(later.inserted).toBe(1);
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    const charge = charges.find((row) => row.xmlCdrUuid === long);
    // 90 minutes at 0.013700 (1212): 1.233000.
    expect([charge?.status, charge?.amount]).toEqual(['rated', microToDecimal(expectedMicro('12125550121', 5400))]);
    expect(charge?.amount).toBe('1.233000');
    expect(charges).toHaveLength(3);
  } finally {
    await kit.close();
  }
});

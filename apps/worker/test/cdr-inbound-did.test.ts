/**
 * Inbound calls are priced by the number called, the DID (README, "Inbound rates"). FusionPBX's
 * v_xml_cdr keeps that number in caller_destination (its global dialplan sets
 * caller_destination=${destination_number} when the call arrives); destination_number is the
 * newest callflow's, i.e. where the inbound route transferred the call: the extension, a ring
 * group, voicemail (`*99<ext>`, which xml_cdr reads as a voicemail call).
 */
import { randomUUID } from 'node:crypto';
import { listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { startBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

async function insertInbound(kit: BillingKit, tenant: Tenant, start: string, did: string, reached: string, billsec: number): Promise<string> {
  const uuid = randomUUID();
  await kit.bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_number, caller_destination, destination_number, start_stamp, billsec, hangup_cause)
     VALUES ($1, $2, $3, 'inbound', 'a', '13055550199', $4, $5, $6, $7, 'NORMAL_CLEARING')`,
    [uuid, tenant.domainUuid, tenant.domainName, did, reached, start, billsec],
  );
  return uuid;
}

test('a billed inbound call is priced by its DID (caller_destination), not by the extension or voicemail box it reached', async () => {
  const kit = await startBillingKit();
  try {
    const tenant = await kit.addTenant();
    await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"inboundBilling": "on"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
    const answered = await insertInbound(kit, tenant, '2025-02-10T10:00:00Z', '+12125550100', '101', 90);
    const voicemail = await insertInbound(kit, tenant, '2025-02-10T10:05:00Z', '2125550100', '*99101', 30);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const charges = new Map((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => [charge.xmlCdrUuid, charge]));
    const summary = (uuid: string) => [charges.get(uuid)?.status, charges.get(uuid)?.destination, charges.get(uuid)?.amount, charges.get(uuid)?.reason];
    // The DID is in New York (1212, 0.013700 a minute, 60/60): 90 s is 2 minutes, 30 s is 1.
    expect(summary(answered)).toEqual(['rated', '+12125550100', '0.027400', null]);
    expect(summary(voicemail)).toEqual(['rated', '+12125550100', '0.013700', null]);
  } finally {
    await kit.close();
  }
});

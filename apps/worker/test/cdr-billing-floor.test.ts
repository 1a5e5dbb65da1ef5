import { ServicesRepository } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { useBillingKit } from './cdr-billing-kit';

// An adopted tenant (ictvoip adopt --cdr-from): the old system billed every call that started before
// the switch-over, so the bridge never reads those, whatever its look-back window or a backfill asks.
const kit = useBillingKit();

const charged = async (serviceId: number) =>
  (await kit.deps.pool.query<{ start: Date }>('SELECT start_stamp AS start FROM cdr_charges WHERE service_id = $1 ORDER BY start_stamp', [serviceId])).rows.map((row) =>
    row.start.toISOString(),
  );

describe('the billing floor of an adopted tenant', () => {
  test('calls before --cdr-from are never charged: not by the first sync, its look-back, a later sync, nor a backfill', async () => {
    const tenant = await kit.addTenant();
    await new ServicesRepository(kit.deps.pool).markAdopted(tenant.serviceId, new Date('2025-01-10T10:00:00Z'));
    // Inside the look-back window of the floor (CDR_LOOKBACK_SECONDS=3600): read by a sync without the floor.
    await kit.insertCdr(tenant, { start: '2025-01-10T09:30:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-10T09:59:59Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-10T10:00:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-10T10:30:00Z', billsec: 60 });
    const first = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(first).toMatchObject({ status: 'synced', inserted: 2 });
    expect(await charged(tenant.serviceId)).toEqual(['2025-01-10T10:00:00.000Z', '2025-01-10T10:30:00.000Z']);
    // A late import of an old call, then a sync and a backfill from long before: still not the bridge's.
    await kit.insertCdr(tenant, { start: '2025-01-10T09:45:00Z', billsec: 60 });
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(0);
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId, { from: new Date('2025-01-01T00:00:00Z') })).inserted).toBe(0);
    expect(await charged(tenant.serviceId)).toEqual(['2025-01-10T10:00:00.000Z', '2025-01-10T10:30:00.000Z']);
  });

  test('without a floor the same calls are charged (the floor is what keeps them out)', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-01-10T09:30:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-10T10:30:00Z', billsec: 60 });
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(2);
  });
});

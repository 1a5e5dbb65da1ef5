import { listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { startBillingKit, type BillingKit } from './cdr-billing-kit';

let kit: BillingKit;

beforeAll(async () => {
  kit = await startBillingKit();
}, 30000);

afterAll(async () => {
  await kit.close();
});

const chargedIds = async (serviceId: number) => (await listCharges(kit.deps.pool, { serviceId })).map((charge) => charge.xmlCdrUuid).sort();
const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();
const HOUR = 3_600_000;

describe('CDR sync cursor edges', () => {
  test('a CDR stamped in the future (FreeSWITCH clock ahead) does not hide the calls that follow it', async () => {
    const tenant = await kit.addTenant();
    // A FreeSWITCH host whose clock ran two days ahead for a while: its CDR is stored with that start.
    const skewed = await kit.insertCdr(tenant, { start: isoIn(48 * HOUR), billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await chargedIds(tenant.serviceId)).toEqual([skewed]);
    // The clock is right again: the next calls start now, two days behind the cursor (look-back 1 h).
    const next = [await kit.insertCdr(tenant, { start: isoIn(-10 * 60_000), billsec: 60 }), await kit.insertCdr(tenant, { start: isoIn(-60_000), billsec: 30 })];
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome.inserted).toBe(2);
    expect(await chargedIds(tenant.serviceId)).toEqual([skewed, ...next].sort());
    // A repeat charges nothing more.
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(0);
  });
});

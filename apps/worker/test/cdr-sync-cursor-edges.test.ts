import { randomUUID } from 'node:crypto';
import { getCdrSyncCursor, listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { startBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

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

  test('a domain renamed in FusionPBX whose old name another domain takes: the tenant keeps its own calls, not the other domain’s', async () => {
    const tenant: Tenant = await kit.addTenant();
    const first = await kit.insertCdr(tenant, { start: '2025-02-01T10:00:00Z', billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    // domain_edit.php renames the tenant's domain; no event has told the bridge yet (drift `domain_renamed`),
    // and a new domain is made in FusionPBX under the old name (someone else's).
    await kit.bridge.fusion.query('UPDATE v_domains SET domain_name = $2 WHERE domain_uuid = $1', [tenant.domainUuid, `renamed-${tenant.domainName}`]);
    const stranger: Tenant = { ...tenant, domainUuid: randomUUID() };
    await kit.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [stranger.domainUuid, tenant.domainName]);
    const strangers = await kit.insertCdr(stranger, { start: '2025-02-01T10:05:00Z', billsec: 60 });
    // The tenant's own call after the rename: FreeSWITCH stamps the channel's domain_uuid, so its row has the tenant's domain.
    const own = await kit.insertCdr({ ...tenant, domainName: `renamed-${tenant.domainName}` }, { start: '2025-02-01T10:10:00Z', billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const ids = await chargedIds(tenant.serviceId);
    expect(ids).toEqual([first, own].sort());
    expect(ids).not.toContain(strangers);
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.domainUuid).toBe(tenant.domainUuid);
  });
});

import { randomUUID } from 'node:crypto';
import { getCdrSyncCursor, listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { indexInsertDate, useBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

const kit = useBillingKit();

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

/** A call FusionPBX imports now (insert_date = now(), as its database class writes) that started `hoursAgo` hours ago. */
async function importLate(on: BillingKit, tenant: Tenant, hoursAgo: number): Promise<string> {
  const uuid = await on.insertCdr(tenant, { start: isoIn(-hoursAgo * HOUR), billsec: 60 });
  await on.bridge.fusion.query('UPDATE v_xml_cdr SET insert_date = now() WHERE xml_cdr_uuid = $1', [uuid]);
  return uuid;
}

describe('CDRs FusionPBX imports after the look-back window (xml_cdr/failed/ moved back, an importer outage)', () => {
  const indexed = useBillingKit({}, { setUp: indexInsertDate });

  test('with an index on insert_date: charged at the next sync, once, over several pages, not before the service', async () => {
    const tenant = await indexed.addTenant();
    const current = await indexed.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
    await syncTenantCdrs(indexed.deps, tenant.serviceId);
    // Three to twenty-six hours old (look-back 1 h, page size 5): two pages of them.
    const late = await Promise.all([3, 4, 5, 6, 7, 8, 26].map((hours) => importLate(indexed, tenant, hours)));
    // The tenant's service was made on 2024-12-01: a call of 2024-11 is not its to bill.
    const before = await indexed.insertCdr(tenant, { start: '2024-11-20T10:00:00Z', billsec: 60 });
    await indexed.bridge.fusion.query('UPDATE v_xml_cdr SET insert_date = now() WHERE xml_cdr_uuid = $1', [before]);
    const outcome = await syncTenantCdrs(indexed.deps, tenant.serviceId);
    expect(outcome.inserted).toBe(late.length);
    expect(await chargedIdsOn(indexed, tenant.serviceId)).toEqual([current, ...late].sort());
    expect((await getCdrSyncCursor(indexed.deps.pool, tenant.serviceId))?.lastXmlCdrUuid).toBe(current);
    expect((await syncTenantCdrs(indexed.deps, tenant.serviceId)).inserted).toBe(0);
  });

  test("a crash between a late page's write and its commit: nothing of it stays, the next sync charges every late call once", async () => {
    const tenant = await indexed.addTenant();
    await indexed.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
    await syncTenantCdrs(indexed.deps, tenant.serviceId);
    const late = await Promise.all([3, 4, 5, 6, 7, 8].map((hours) => importLate(indexed, tenant, hours)));
    let crashes = 0;
    const crash = () => {
      crashes += 1;
      throw new Error('worker killed');
    };
    await expect(syncTenantCdrs(indexed.deps, tenant.serviceId, { hooks: { afterInsert: crash } })).rejects.toThrow('worker killed');
    expect(crashes).toBe(1);
    expect(await chargedIdsOn(indexed, tenant.serviceId)).toHaveLength(1);
    expect((await syncTenantCdrs(indexed.deps, tenant.serviceId)).inserted).toBe(late.length);
    const charged = await chargedIdsOn(indexed, tenant.serviceId);
    expect(charged).toEqual(expect.arrayContaining(late));
    expect(charged).toHaveLength(late.length + 1);
  });

  test('without the index: left for a backfill, as the look-back always did', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const late = await importLate(kit, tenant, 3);
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(0);
    expect(await chargedIds(tenant.serviceId)).not.toContain(late);
  });
});

async function chargedIdsOn(on: BillingKit, serviceId: number): Promise<string[]> {
  return (await listCharges(on.deps.pool, { serviceId })).map((charge) => charge.xmlCdrUuid).sort();
}

import {
  CREDIT_LEFT_ACTION,
  getCdrSyncCursor,
  insertAdjustment,
  periodOf,
  recordCreditsLeft,
  servicesToSyncCdrs,
  settleCreditLeft,
  withBillingLock,
  type SettleOutcome,
} from '@ictvoip/store';
import { pushBillingBatch, syncTenantCdrs } from '../src';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
import { startBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';

// A tenant created and terminated between two syncs: no sync has read it, so it has no cursor. Its
// calls may still be in FusionPBX's v_xml_cdr, uncollected. Purge's billing hold, the credit-left
// report, `billing settle` and the fan-out's settled test (one rule: syncedSinceChangeSql) must all
// wait for a real sync, and all go on after it.
let kit: BillingKit;

beforeAll(async () => {
  kit = await startBillingKit({ WHMCS_API_TIMEOUT_MS: '10000', TERMINATE_RETENTION_DAYS: '30' });
}, 30000);
afterAll(async () => {
  await kit.close();
});

const SLOTS = 12;

async function terminatedWithCredit(credit: string): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await insertAdjustment(kit.deps.pool, {
    adjustmentId: `m-${tenant.serviceId}`,
    serviceId: tenant.serviceId,
    kind: 'manual',
    amount: credit,
    currency: 'USD',
    sourcePeriod: null,
    description: 'goodwill',
  });
  return tenant;
}

const terminate = (serviceId: number) => kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() WHERE service_id = $1`, [serviceId]);

/** The fan-out slots (of an hour's twelve) whose selection includes the service, its final bill long due. */
async function fanOutSlots(serviceId: number): Promise<number[]> {
  const slots: number[] = [];
  const settledBefore = new Date(Date.now() + 60_000);
  for (let slot = 0; slot < SLOTS; slot += 1) {
    const ids = await servicesToSyncCdrs(kit.deps.pool, { afterServiceId: serviceId - 1, limit: 1, settledBefore, settledSlot: { slots: SLOTS, slot } });
    if (ids.includes(serviceId)) slots.push(slot);
  }
  return slots;
}

const EVERY_SLOT = Array.from({ length: SLOTS }, (_, slot) => slot);

const settle = (serviceId: number): Promise<SettleOutcome> =>
  withBillingLock(kit.deps.pool, serviceId, (db) => settleCreditLeft(db, serviceId, { note: 'refunded', actor: 'test' }));

/** The purge's billing reasons for the service (the kit's tenant is no provisioned one: the purge itself is purge-terminated's test). */
async function billingHolds(serviceId: number): Promise<string[]> {
  const outcome = await purgeTerminatedTenants(kit.deps, new Date(Date.now() + 31 * 86400_000));
  return outcome.waiting
    .filter((held) => held.serviceId === serviceId)
    .map((held) => held.reason)
    .filter((reason) => /credit|not billed|not synced/.test(reason));
}

const reportedCredits = async (serviceId: number) =>
  (
    await kit.deps.pool.query<{ credit: string }>(`SELECT detail->>'credit' AS credit FROM audit_log WHERE service_id = $1 AND action = $2 ORDER BY id`, [
      serviceId,
      CREDIT_LEFT_ACTION,
    ])
  ).rows.map((row) => row.credit);

/** How each of the four reads the tenant now: what the credit-left report records, what settle answers, the fan-out's slots, the purge's holds. */
async function views(serviceId: number) {
  const sweep = await recordCreditsLeft(kit.deps.pool, { changedBefore: new Date(Date.now() + 60_000) });
  return {
    reported: await recordCreditsLeft(kit.deps.pool, { serviceId }),
    reportedBySweep: sweep.filter((credit) => credit.serviceId === serviceId),
    settle: await settle(serviceId).then(
      (outcome) => ({ settled: outcome.settled }),
      (error: unknown) => ({ refused: (error as { code?: string }).code }),
    ),
    fanOutSlots: await fanOutSlots(serviceId),
    purgeHolds: await billingHolds(serviceId),
  };
}

/** Nothing of its credit is final: not reported, not settled, the fan-out syncs it every slot, the purge waits. All four are read before any is asserted. */
async function expectNotFinal(serviceId: number, purgeReason: string): Promise<void> {
  expect(await views(serviceId)).toEqual({ reported: [], reportedBySweep: [], settle: { refused: 'CREDIT_NOT_FINAL' }, fanOutSlots: EVERY_SLOT, purgeHolds: [purgeReason] });
}

describe('a terminated tenant no sync has read', () => {
  test('with a call in FusionPBX not collected: its credit is not final, not settled, synced every slot, the purge waits; after the sync and its bill all go on', async () => {
    const tenant = await terminatedWithCredit('-5.000000');
    const { serviceId } = tenant;
    const start = new Date(Date.now() - 60_000);
    // 10 min to Germany at 0.021: 0.21, which the credit must pay before any of it is refunded.
    await kit.insertCdr(tenant, { start: start.toISOString(), billsec: 600, destination: '0114930123456' });
    await terminate(serviceId);
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toBeNull();
    await expectNotFinal(serviceId, 'CDRs not synced since the termination');
    expect(await reportedCredits(serviceId)).toEqual([]);

    // The real sync charges the call: rated, not billed yet, so still not final.
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1, rated: 1 });
    await expectNotFinal(serviceId, '1 rated calls not billed yet');

    // Its bill takes the call from the credit: what is left is final, reported once, settled, synced in its own slot only.
    expect(await pushBillingBatch(kit.deps, serviceId, periodOf(start, 'UTC'))).toMatchObject({ outcome: 'zero' });
    expect(await reportedCredits(serviceId)).toEqual(['-4.790000']);
    expect(await settle(serviceId)).toMatchObject({ settled: true, settlement: { credit: '-4.790000' } });
    expect(await fanOutSlots(serviceId)).toEqual([serviceId % SLOTS]);
    expect(await billingHolds(serviceId)).toEqual([]);
  }, 60000);

  test('that never made a call: the same until one sync ran, then its credit is final, reported, settled, and it syncs in its own slot only', async () => {
    const { serviceId } = await terminatedWithCredit('-5.000000');
    await terminate(serviceId);
    await expectNotFinal(serviceId, 'CDRs not synced since the termination');

    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', pages: 0, inserted: 0 });
    // The run is recorded though it read nothing: the cursor stands where a run without one starts, no CDR read.
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toMatchObject({ lastXmlCdrUuid: '00000000-0000-0000-0000-000000000000', chargesTotal: 0 });
    expect(await recordCreditsLeft(kit.deps.pool, { serviceId })).toEqual([expect.objectContaining({ serviceId, credit: '-5.000000' })]);
    expect(await fanOutSlots(serviceId)).toEqual([serviceId % SLOTS]);
    expect(await settle(serviceId)).toMatchObject({ settled: true, settlement: { credit: '-5.000000' } });
    expect(await billingHolds(serviceId)).toEqual([]);
  }, 60000);

  test('whose domain is gone from FusionPBX: one sync (nothing it could read) is recorded, and a domain made later is read from the start', async () => {
    const tenant = await terminatedWithCredit('-1.000000');
    const { serviceId } = tenant;
    await kit.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
    await terminate(serviceId);
    await expectNotFinal(serviceId, 'CDRs not synced since the termination');

    expect((await syncTenantCdrs(kit.deps, serviceId)).status).toBe('no-domain');
    expect(await fanOutSlots(serviceId)).toEqual([serviceId % SLOTS]);
    expect(await billingHolds(serviceId)).toEqual([`credit -1.000000 USD left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\``]);

    // The domain back (restored) with a call: the sync reads it from the service's creation, charges it once.
    await kit.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [tenant.domainUuid, tenant.domainName]);
    const call = await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 60 });
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1 });
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toMatchObject({ domainUuid: tenant.domainUuid, lastXmlCdrUuid: call });
    expect((await syncTenantCdrs(kit.deps, serviceId)).inserted).toBe(0);
  }, 60000);
});

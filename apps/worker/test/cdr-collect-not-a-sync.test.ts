import { addJob, CDR_JOBS, type JobName, type JobPayload } from '@ictvoip/queue';
import { cdrSyncLag, listCharges, syncedSinceChangeSql } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { indexInsertDate, startBillingKit, useBillingKit, type BillingKit, type Tenant } from './cdr-billing-kit';
import { waitFor } from './harness';

// `cdr backfill` and the per-day count check (cdr.reconcile) collect CDRs through the sync's code, but
// they are not the incremental sync: purge waits for a sync after the termination, and the sync's
// window for late imports (with an index on insert_date) starts from its previous run.
const kit = useBillingKit();
const indexed = useBillingKit({}, { setUp: indexInsertDate });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

/** Runs a job as the worker does (cdr-sync queue) and waits for it to complete. */
async function runJob<N extends JobName>(on: BillingKit, name: N, data: JobPayload<N>, id: string): Promise<unknown> {
  const job = await addJob(on.deps.queues, name, data, { jobId: id });
  return waitFor(
    async () => {
      const state = await job.getState();
      if (state === 'failed') throw new Error(`${name} failed: ${(await on.deps.queues['cdr-sync'].getJob(job.id!))?.failedReason}`);
      return state === 'completed' ? ((await on.deps.queues['cdr-sync'].getJob(job.id!))?.returnvalue as unknown) : null;
    },
    20000,
    `the ${name} job`,
  );
}

const backfill = (on: BillingKit, tenant: Tenant, from: string, tag: string) =>
  runJob(on, CDR_JOBS.backfill, { serviceId: tenant.serviceId, from }, `backfill-${tenant.serviceId}-${tag}`) as Promise<{ inserted: number }>;
const reconcile = (on: BillingKit, tag: string) => runJob(on, CDR_JOBS.reconcile, {}, `reconcile-${tag}`) as Promise<{ collected: number }>;

/** Purge's own test of "synced since the termination" (syncedSinceChangeSql), for one service. */
async function syncedForPurge(serviceId: number): Promise<boolean> {
  const { rows } = await kit.deps.pool.query<{ synced: boolean }>(`SELECT ${syncedSinceChangeSql('s')} AS synced FROM services s WHERE s.service_id = $1`, [serviceId]);
  return rows[0]!.synced;
}

/** A tenant synced up to a call a minute ago, then terminated (its row written after that sync). */
async function terminatedAfterSync(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  await kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() WHERE service_id = $1`, [tenant.serviceId]);
  expect(await syncedForPurge(tenant.serviceId)).toBe(false);
  return tenant;
}

describe('a backfill or a reconcile run after a termination is not the sync purge waits for', () => {
  test('cdr backfill, writing calls or finding none: purge still waits; the real sync then counts', async () => {
    const tenant = await terminatedAfterSync();
    await kit.insertCdr(tenant, { start: isoIn(-3 * HOUR), billsec: 60 });
    expect((await backfill(kit, tenant, isoIn(-6 * HOUR), 'writes')).inserted).toBe(1);
    expect(await syncedForPurge(tenant.serviceId)).toBe(false);
    expect((await backfill(kit, tenant, isoIn(-2 * HOUR), 'nothing')).inserted).toBe(0);
    expect(await syncedForPurge(tenant.serviceId)).toBe(false);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await syncedForPurge(tenant.serviceId)).toBe(true);
  });

  test('cdr backfill of a terminated tenant never synced: the cursor it makes has not run, purge waits for the sync', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: isoIn(-3 * HOUR), billsec: 60 });
    await kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() WHERE service_id = $1`, [tenant.serviceId]);
    expect((await backfill(kit, tenant, isoIn(-6 * HOUR), 'first')).inserted).toBe(1);
    expect(await syncedForPurge(tenant.serviceId)).toBe(false);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await syncedForPurge(tenant.serviceId)).toBe(true);
  });

  test('cdr.reconcile collecting a day: purge still waits; the real sync then counts', async () => {
    const tenant = await terminatedAfterSync();
    await kit.insertCdr(tenant, { start: isoIn(-30 * HOUR), billsec: 60 });
    expect((await reconcile(kit, `purge-${tenant.serviceId}`)).collected).toBeGreaterThanOrEqual(1);
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length).toBe(2);
    expect(await syncedForPurge(tenant.serviceId)).toBe(false);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await syncedForPurge(tenant.serviceId)).toBe(true);
  });
});

describe('a cursor a backfill created has never synced, and operator views say so', () => {
  test('cdrSyncLag and the admin pages show it as never run (null), not seconds since 1970; the first real sync gives the figure', async () => {
    // A bridge of its own: the admin pages' CDR sync is per server, and this tenant must be its server's only one.
    const own = await startBillingKit();
    try {
      await own.bridge.startApi();
      const tenant = await own.addTenant();
      await own.insertCdr(tenant, { start: isoIn(-3 * HOUR), billsec: 60 });
      expect((await backfill(own, tenant, isoIn(-6 * HOUR), 'never')).inserted).toBe(1);
      const cdrSync = async () => {
        const reply = await fetch(`${own.bridge.url}/admin/pages/servers`, { headers: { authorization: `Bearer ${own.bridge.config.adminToken}` } });
        expect(reply.status).toBe(200);
        return ((await reply.json()) as { cdrSync: { server: string; lastRunAt: string | null }[] }).cdrSync;
      };

      expect((await cdrSyncLag(own.deps.pool, tenant.serviceId))[0]).toMatchObject({ serviceId: tenant.serviceId, sinceLastRunSeconds: null });
      expect(await cdrSync()).toEqual([expect.objectContaining({ server: 'default', tenants: 1, lastRunAt: null })]);

      const before = Date.now();
      await syncTenantCdrs(own.deps, tenant.serviceId);
      const [lag] = await cdrSyncLag(own.deps.pool, tenant.serviceId);
      expect(lag!.sinceLastRunSeconds).not.toBeNull();
      expect(lag!.sinceLastRunSeconds!).toBeLessThan(60);
      const [server] = await cdrSync();
      expect(Date.parse(server!.lastRunAt!)).toBeGreaterThanOrEqual(before - 5000);
    } finally {
      await own.close();
    }
  });
});

/**
 * A tenant with an index on insert_date whose previous sync ran three hours ago (its syncs paused: a
 * settled terminated tenant outside its slot, a server away), and a call of ten days ago FusionPBX
 * imported two hours ago (after that sync): behind the look-back window (1 h), older than the
 * reconcile's days, before the backfill's `from`. Only the sync's late-import window can find it.
 */
async function lateImportSincePreviousSync(): Promise<{ tenant: Tenant; late: string }> {
  const tenant = await indexed.addTenant();
  await indexed.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
  await syncTenantCdrs(indexed.deps, tenant.serviceId);
  await indexed.deps.pool.query(`UPDATE cdr_sync_cursors SET last_run_at = now() - interval '3 hours' WHERE service_id = $1`, [tenant.serviceId]);
  const late = await indexed.insertCdr(tenant, { start: isoIn(-10 * DAY), billsec: 90 });
  await indexed.bridge.fusion.query(`UPDATE v_xml_cdr SET insert_date = now() - interval '2 hours' WHERE xml_cdr_uuid = $1`, [late]);
  return { tenant, late };
}

const chargedOn = async (serviceId: number) => (await listCharges(indexed.deps.pool, { serviceId })).map((charge) => charge.xmlCdrUuid);

describe('with an index on insert_date, a backfill or a reconcile run does not move the late-import window of the next sync', () => {
  test('cdr backfill from a later date: the next sync still charges the call imported since its previous run', async () => {
    const { tenant, late } = await lateImportSincePreviousSync();
    await backfill(indexed, tenant, isoIn(-5 * HOUR), 'window');
    expect((await syncTenantCdrs(indexed.deps, tenant.serviceId)).inserted).toBe(1);
    expect(await chargedOn(tenant.serviceId)).toContain(late);
  });

  test('cdr.reconcile collecting another day: the next sync still charges the call imported since its previous run', async () => {
    const { tenant, late } = await lateImportSincePreviousSync();
    // Imported now, yesterday's call: in the reconcile's days, behind the window (the reconcile collects it).
    const yesterday = await indexed.insertCdr(tenant, { start: isoIn(-30 * HOUR), billsec: 60 });
    await indexed.bridge.fusion.query('UPDATE v_xml_cdr SET insert_date = now() WHERE xml_cdr_uuid = $1', [yesterday]);
    expect((await reconcile(indexed, `window-${tenant.serviceId}`)).collected).toBeGreaterThanOrEqual(1);
    expect(await chargedOn(tenant.serviceId)).toContain(yesterday);
    expect((await syncTenantCdrs(indexed.deps, tenant.serviceId)).inserted).toBe(1);
    expect(await chargedOn(tenant.serviceId)).toContain(late);
  });
});

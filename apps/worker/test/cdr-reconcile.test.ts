import { addJob, CDR_JOBS } from '@ictvoip/queue';
import { listCharges } from '@ictvoip/store';
import { reconcileCdrs, syncTenantCdrs, type CdrReconcileOutcome } from '../src';
import { useBillingKit, chargedMicro, expectedMicro, type Tenant } from './cdr-billing-kit';
import { startBridge, waitFor } from './harness';

// The FusionPBX test database has no index on insert_date (as 5.1 and 5.3 create none): the sync
// cannot find a CDR imported after its look-back window (1 h here); the per-day count check does.
const kit = useBillingKit();

const HOUR = 3_600_000;
const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

async function chargedIds(serviceId: number): Promise<string[]> {
  return (await listCharges(kit.deps.pool, { serviceId })).map((charge) => charge.xmlCdrUuid).sort();
}

async function sourceIds(tenant: Tenant): Promise<string[]> {
  const { rows } = await kit.bridge.fusion.query<{ id: string }>('SELECT xml_cdr_uuid::text AS id FROM v_xml_cdr WHERE domain_uuid = $1 ORDER BY 1', [tenant.domainUuid]);
  return rows.map((row) => row.id);
}

async function lateCollectedCounter(): Promise<number> {
  const metric = await kit.bridge.worker!.metrics.registry.getSingleMetric('ictvoip_cdr_late_collected_total')!.get();
  return metric.values.filter((value) => value.labels.server === 'default').reduce((sum, value) => sum + value.value, 0);
}

/** Runs the check as the scheduler does: a cdr.reconcile job on the cdr-sync queue, through the worker. */
async function runReconcileJob(name: string): Promise<CdrReconcileOutcome> {
  const job = await addJob(kit.deps.queues, CDR_JOBS.reconcile, {}, { jobId: `cdr-reconcile-test-${name}` });
  return waitFor(
    async () => {
      const state = await job.getState();
      if (state === 'failed') throw new Error(`cdr.reconcile failed: ${(await kit.deps.queues['cdr-sync'].getJob(job.id!))?.failedReason}`);
      if (state !== 'completed') return null;
      return (await kit.deps.queues['cdr-sync'].getJob(job.id!))?.returnvalue as CdrReconcileOutcome;
    },
    20000,
    'the cdr.reconcile job',
  );
}

/** A tenant synced up to a call a minute ago: its cursor is now, the sync's window starts an hour back. */
async function syncedTenant(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  return tenant;
}

describe('the per-day CDR count check (cdr.reconcile), without an index on insert_date', () => {
  test('a CDR imported after the sync ran, started before its look-back window: the sync misses it, the check collects and rates it once', async () => {
    const tenant = await syncedTenant();
    const counterBefore = await lateCollectedCounter();
    // Imported now (a file moved back from xml_cdr/failed/), for a call three hours ago.
    const late = await kit.insertCdr(tenant, { start: isoIn(-3 * HOUR), billsec: 125, destination: '12125550100' });
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(0);
    expect(await chargedIds(tenant.serviceId)).not.toContain(late);

    const outcome = await runReconcileJob('happy');
    expect(outcome.collected).toBe(1);
    expect(outcome.days).toEqual([expect.objectContaining({ serviceId: tenant.serviceId, fusionpbx: 1, bridge: 0, collected: 1 })]);
    expect(await chargedIds(tenant.serviceId)).toEqual(await sourceIds(tenant));
    const charge = (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).find((row) => row.xmlCdrUuid === late);
    expect(charge?.status).toBe('rated');
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expectedMicro('12125550100', 60) + expectedMicro('12125550100', 125));
    expect((await lateCollectedCounter()) - counterBefore).toBe(1);
    const warned = kit.bridge.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.serviceId === tenant.serviceId && line.collected === 1);
    expect(warned).toEqual([expect.objectContaining({ level: 40, day: outcome.days[0]!.day, server: 'default', msg: expect.stringContaining('CDR reconcile collected') })]);
    const { rows: audit } = await kit.deps.pool.query<{ detail: Record<string, unknown> }>(`SELECT detail FROM audit_log WHERE service_id = $1 AND action = 'cdr.late_collected'`, [
      tenant.serviceId,
    ]);
    expect(audit).toEqual([{ detail: expect.objectContaining({ day: outcome.days[0]!.day, collected: 1 }) }]);
  });

  test('replayed and run twice: nothing more is collected, the counter stays', async () => {
    const tenant = await syncedTenant();
    await kit.insertCdr(tenant, { start: isoIn(-5 * HOUR), billsec: 60 });
    expect((await runReconcileJob('repeat-1')).collected).toBe(1);
    const counter = await lateCollectedCounter();
    const charged = await chargedIds(tenant.serviceId);
    const [again, concurrent] = await Promise.all([runReconcileJob('repeat-2'), reconcileCdrs(kit.deps)]);
    expect(again.collected + concurrent.collected).toBe(0);
    expect(again.days).toEqual([]);
    expect(await lateCollectedCounter()).toBe(counter);
    expect(await chargedIds(tenant.serviceId)).toEqual(charged);
  });

  test('a tenant whose counts agree costs two counts and collects nothing; calls inside the window are left to the sync', async () => {
    const tenant = await syncedTenant();
    // Not yet synced, inside the look-back window: the sync's, not a difference.
    await kit.insertCdr(tenant, { start: isoIn(-30 * 60_000), billsec: 60 });
    const outcome = await reconcileCdrs(kit.deps);
    expect(outcome.days.filter((day) => day.serviceId === tenant.serviceId)).toEqual([]);
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(1);
  });

  test('killed between a day’s write and its commit, after an earlier day was collected: the retry collects the rest, none twice', async () => {
    const tenant = await syncedTenant();
    const counterBefore = await lateCollectedCounter();
    // Two late calls on each of three days before today (one page per day: page size 5).
    const late: string[] = [];
    for (const hours of [30, 31, 54, 55, 78, 79]) late.push(await kit.insertCdr(tenant, { start: isoIn(-hours * HOUR), billsec: 60 + hours }));
    let writes = 0;
    const afterInsert = () => {
      writes += 1;
      if (writes === 2) throw new Error('worker killed');
    };
    await expect(reconcileCdrs(kit.deps, { hooks: { afterInsert }, metrics: kit.bridge.worker!.metrics })).rejects.toThrow('worker killed');
    const afterCrash = await chargedIds(tenant.serviceId);
    // The first day committed; the second day's write was rolled back with its transaction.
    expect(afterCrash.filter((id) => late.includes(id)).length).toBeGreaterThan(0);
    expect(afterCrash.filter((id) => late.includes(id)).length).toBeLessThan(late.length);

    const retry = await runReconcileJob('after-crash');
    expect(retry.collected + afterCrash.filter((id) => late.includes(id)).length).toBe(late.length);
    // Each day's collection read that day only: it collected exactly the day's difference.
    const retried = retry.days.filter((day) => day.serviceId === tenant.serviceId);
    expect(retried.length).toBeGreaterThan(0);
    for (const day of retried) expect(day.collected).toBe(day.fusionpbx - day.bridge);
    expect(await chargedIds(tenant.serviceId)).toEqual(await sourceIds(tenant));
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length).toBe(late.length + 1);
    expect((await lateCollectedCounter()) - counterBefore).toBe(late.length);
    expect((await reconcileCdrs(kit.deps)).collected).toBe(0);
  });
});

describe('a FusionPBX server that does not answer', () => {
  test("its tenants are skipped (counted, logged), the other servers' tenants are still checked", async () => {
    const away = await syncedTenant();
    const here = await syncedTenant();
    await kit.insertCdr(away, { start: isoIn(-3 * HOUR), billsec: 60 });
    const late = await kit.insertCdr(here, { start: isoIn(-3 * HOUR), billsec: 60 });
    await kit.deps.pool.query(`UPDATE services SET fusionpbx_server = 'gone' WHERE service_id = $1`, [away.serviceId]);
    try {
      const outcome = await reconcileCdrs(kit.deps);
      expect(outcome.skipped).toBe(1);
      expect(await chargedIds(here.serviceId)).toContain(late);
      expect(outcome.days.map((day) => day.serviceId)).not.toContain(away.serviceId);
    } finally {
      await kit.deps.pool.query('UPDATE services SET fusionpbx_server = NULL WHERE service_id = $1', [away.serviceId]);
    }
    expect((await reconcileCdrs(kit.deps)).days).toEqual([expect.objectContaining({ serviceId: away.serviceId, collected: 1 })]);
  });
});

describe('its schedule', () => {
  test.each([
    ['7', 'scheduled every CDR_RECONCILE_EVERY_SECONDS', [{ key: 'cdr-reconcile', name: 'cdr.reconcile', every: 7200_000 }]],
    ['0', 'not scheduled', []],
  ])(
    'CDR_RECONCILE_DAYS=%s: %s',
    async (days, _what, expected) => {
      const bridge = await startBridge({ CDR_RECONCILE_DAYS: days, CDR_RECONCILE_EVERY_SECONDS: '7200', LOG_LEVEL: 'warn' });
      try {
        const worker = await bridge.startWorker();
        const schedulers = await worker.deps.queues['cdr-sync'].getJobSchedulers();
        expect(schedulers.filter((scheduler) => scheduler.key === 'cdr-reconcile').map(({ key, name, every }) => ({ key, name, every }))).toEqual(expected);
      } finally {
        await bridge.close();
      }
    },
    30000,
  );
});

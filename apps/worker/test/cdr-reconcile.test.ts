import { createHash, randomUUID } from 'node:crypto';
import type { JobType } from 'bullmq';
import { addJob, CDR_JOBS } from '@ictvoip/queue';
import { Pool } from 'pg';
import { cdrDigestsByDay } from '@ictvoip/operations';
import { chargeDigestsByDay, listCharges, withBillingLock } from '@ictvoip/store';
import { reconcileCdrs, syncTenantCdrs, type CdrReconcileOutcome } from '../src';
import { collectCdrs } from '../src/jobs/cdr/sync-tenant';
import { useBillingKit, chargedMicro, expectedMicro, type BillingKit, type Tenant } from './cdr-billing-kit';
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

/** The last advisory lock tries of the bridge's connections now idle (pid and when): a waiter between two tries shows here. */
async function billingLockTries(on: BillingKit): Promise<string[]> {
  const { rows } = await on.deps.pool.query<{ attempt: string }>(
    `SELECT pid::text || ' ' || query_start::text AS attempt FROM pg_stat_activity
     WHERE datname = current_database() AND state = 'idle' AND query LIKE 'SELECT pg_try_advisory_lock($1, $2)%'`,
  );
  return rows.map((row) => row.attempt);
}

/** Midnight UTC `days` days before today, plus `ms`: a day of the checked range behind the window. */
const dayAgo = (days: number, ms: number) => new Date(Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR - days * 24 * HOUR + ms).toISOString();

/** A new tenant whose calls at `starts` and a minute ago are all charged (its first sync reads from its creation). */
async function tenantCharged(on: BillingKit, starts: readonly string[]): Promise<{ tenant: Tenant; ids: string[] }> {
  const tenant = await on.addTenant();
  const ids: string[] = [];
  for (const start of starts) ids.push(await on.insertCdr(tenant, { start, billsec: 60 }));
  await on.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
  for (let run = 0; (await syncTenantCdrs(on.deps, tenant.serviceId)).more; run += 1) if (run > 50) throw new Error('the first sync did not end');
  return { tenant, ids };
}

describe('a missing CDR the counts do not show', () => {
  test('a charge whose CDR FusionPBX deleted makes the day’s counts agree: the missing CDR of that day is still collected', async () => {
    const { tenant, ids } = await tenantCharged(kit, [dayAgo(2, HOUR), dayAgo(2, 2 * HOUR)]);
    await kit.bridge.fusion.query('DELETE FROM v_xml_cdr WHERE xml_cdr_uuid = $1', [ids[0]]);
    const late = await kit.insertCdr(tenant, { start: dayAgo(2, 3 * HOUR), billsec: 90 });
    const outcome = await reconcileCdrs(kit.deps);
    // Two rows on each side that day: equal counts.
    expect(outcome.days.filter((day) => day.serviceId === tenant.serviceId)).toEqual([
      { serviceId: tenant.serviceId, day: dayAgo(2, 0).slice(0, 10), fusionpbx: 2, bridge: 2, collected: 1 },
    ]);
    expect(await chargedIds(tenant.serviceId)).toContain(late);
    // The charge of the deleted CDR stays (it was billed); nothing else is missing: the day is read again, nothing written.
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length).toBe(4);
    const again = await reconcileCdrs(kit.deps);
    expect(again.days.filter((day) => day.serviceId === tenant.serviceId)).toEqual([expect.objectContaining({ fusionpbx: 2, bridge: 3, collected: 0 })]);
    // Out of the later checks of this file (they expect only their own days): no cursor, not a synced tenant.
    await kit.deps.pool.query('DELETE FROM cdr_sync_cursors WHERE service_id = $1', [tenant.serviceId]);
  });

  test('a day whose counts and uuids agree is not read', async () => {
    const { tenant } = await tenantCharged(kit, [dayAgo(3, HOUR), dayAgo(3, 2 * HOUR)]);
    expect((await reconcileCdrs(kit.deps)).days.filter((day) => day.serviceId === tenant.serviceId)).toEqual([]);
  });
});

/** The digest's hash of one uuid, computed apart from SQL: md5 of its canonical text, first 64 bits as a signed integer. */
const uuidHash = (uuid: string) => BigInt.asIntN(64, BigInt(`0x${createHash('md5').update(uuid.toLowerCase()).digest('hex').slice(0, 16)}`));

describe('the per-day digest (count, uuid hash sum) is the same on both sides for the same CDRs', () => {
  test('uuids written in capitals or braces, stamps at a UTC midnight given in other offsets, sessions in other time zones, a sum past 64 bits', async () => {
    const tenant = await kit.addTenant();
    const midnight = dayAgo(3, 0);
    const day = midnight.slice(0, 10);
    const dayBefore = dayAgo(4, 0).slice(0, 10);
    // Four uuids whose hash is above 0.875 × 2^63: their sum passes what a bigint holds.
    const big: string[] = [];
    while (big.length < 4) {
      const uuid = randomUUID();
      if (uuidHash(uuid) >= 7n << 60n) big.push(uuid);
    }
    const lastOfDayBefore = randomUUID();
    // FusionPBX is given each uuid in another written form, each stamp in another offset; the sync charges them.
    await kit.insertCdr(tenant, { uuid: lastOfDayBefore.toUpperCase(), start: `${dayBefore}T18:59:59.999999-05:00`, billsec: 60 });
    await kit.insertCdr(tenant, { uuid: `{${big[0]!.toUpperCase()}}`, start: `${day}T05:30:00+05:30`, billsec: 60 });
    for (const uuid of big.slice(1)) await kit.insertCdr(tenant, { uuid: uuid.replaceAll('-', ''), start: `${day}T12:00:00Z`, billsec: 60 });
    await kit.insertCdr(tenant, { start: isoIn(-60_000), billsec: 60 });
    for (let run = 0; (await syncTenantCdrs(kit.deps, tenant.serviceId)).more; run += 1) if (run > 50) throw new Error('the sync did not end');
    const fusionNewYork = new Pool({ connectionString: kit.bridge.fusionDb.url, options: '-c TimeZone=America/New_York', max: 1 });
    const bridgeKolkata = new Pool({ connectionString: kit.bridge.bridgeDb.url, options: '-c TimeZone=Asia/Kolkata', max: 1 });
    try {
      const from = new Date(Date.parse(midnight) - 2 * 24 * HOUR);
      const to = new Date(Date.parse(midnight) + 24 * HOUR);
      const source = await cdrDigestsByDay(fusionNewYork, tenant.domainUuid, from, to);
      expect(await chargeDigestsByDay(bridgeKolkata, tenant.serviceId, from, to)).toEqual(source);
      const sum = big.reduce((total, uuid) => total + uuidHash(uuid), 0n);
      expect(sum > 1n << 63n).toBe(true);
      expect(source).toEqual(
        new Map([
          [dayBefore, { count: 1, uuidSum: uuidHash(lastOfDayBefore).toString() }],
          [day, { count: 4, uuidSum: sum.toString() }],
        ]),
      );
    } finally {
      await Promise.all([fusionNewYork.end(), bridgeKolkata.end()]);
    }
  });
});

describe('a day of more CDRs than one run reads (CDR_SYNC_PAGE_SIZE × CDR_SYNC_MAX_PAGES)', () => {
  const small = useBillingKit({ CDR_SYNC_PAGE_SIZE: '2', CDR_SYNC_MAX_PAGES: '2' });

  test('CDRs missing after more charged ones than a run reads: the collection reaches them, in one check', async () => {
    // Nine charged calls early in the day (a run reads 4 rows), then seven missing ones later that day (two runs' worth).
    const { tenant } = await tenantCharged(
      small,
      Array.from({ length: 9 }, (_, i) => dayAgo(2, HOUR + i * 60_000)),
    );
    const late: string[] = [];
    for (let i = 0; i < 7; i += 1) late.push(await small.insertCdr(tenant, { start: dayAgo(2, 5 * HOUR + i * 60_000), billsec: 60 }));
    const outcome = await reconcileCdrs(small.deps);
    expect(outcome.days).toEqual([{ serviceId: tenant.serviceId, day: dayAgo(2, 0).slice(0, 10), fusionpbx: 16, bridge: 9, collected: 7 }]);
    const charged = (await listCharges(small.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid);
    expect(charged).toEqual(expect.arrayContaining(late));
    expect(charged.length).toBe(17);
    expect((await reconcileCdrs(small.deps)).days).toEqual([]);
  });

  test('a day whose collection stops after a run (its server gone meanwhile): listed with its partial count and why, warned, the rest collected by the next check', async () => {
    const { tenant } = await tenantCharged(small, [dayAgo(3, HOUR)]);
    // Seven missing: the first run collects four (two pages of two), the second finds the server gone.
    for (let i = 0; i < 7; i += 1) await small.insertCdr(tenant, { start: dayAgo(3, 5 * HOUR + i * 60_000), billsec: 60 });
    const gone = () => small.deps.pool.query(`UPDATE services SET fusionpbx_server = 'gone' WHERE service_id = $1`, [tenant.serviceId]);
    const logsBefore = small.bridge.logLines.length;
    let outcome: CdrReconcileOutcome;
    try {
      outcome = await reconcileCdrs(small.deps, { hooks: { afterCommit: (page) => (page === 2 ? gone().then(() => undefined) : undefined) } });
    } finally {
      await small.deps.pool.query('UPDATE services SET fusionpbx_server = NULL WHERE service_id = $1', [tenant.serviceId]);
    }
    const day = dayAgo(3, 0).slice(0, 10);
    expect(outcome.days).toEqual([
      {
        serviceId: tenant.serviceId,
        day,
        fusionpbx: 8,
        bridge: 1,
        collected: 4,
        stoppedEarly: expect.stringContaining('stopped early after 1 run(s): its FusionPBX server became unavailable (server-unavailable); the counts are partial'),
      },
    ]);
    expect(outcome.stopped).toBe(1);
    const lines = small.bridge.logLines.slice(logsBefore).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          level: 40,
          serviceId: tenant.serviceId,
          day,
          collected: 4,
          status: 'server-unavailable',
          msg: expect.stringContaining("CDR reconcile: the day's collection stopped early"),
        }),
        expect.objectContaining({ stopped: 1, msg: expect.stringContaining('1 tenant(s) stopped early') }),
      ]),
    );
    expect((await reconcileCdrs(small.deps)).days).toEqual([{ serviceId: tenant.serviceId, day, fusionpbx: 8, bridge: 5, collected: 3 }]);
  });

  test('cdr backfill of a range whose charged CDRs fill more than one run: the job reads on to the missing ones', async () => {
    const { tenant } = await tenantCharged(
      small,
      Array.from({ length: 9 }, (_, i) => dayAgo(4, HOUR + i * 60_000)),
    );
    const late: string[] = [];
    for (let i = 0; i < 3; i += 1) late.push(await small.insertCdr(tenant, { start: dayAgo(4, 5 * HOUR + i * 60_000), billsec: 60 }));
    const job = await addJob(small.deps.queues, CDR_JOBS.backfill, { serviceId: tenant.serviceId, from: dayAgo(4, 0) }, { jobId: `backfill-long-${tenant.serviceId}` });
    const result = await waitFor(
      async () => {
        const state = await job.getState();
        if (state === 'failed') throw new Error('cdr.backfill failed');
        return state === 'completed' ? ((await small.deps.queues['cdr-sync'].getJob(job.id!))?.returnvalue as { inserted: number; more: boolean }) : null;
      },
      20000,
      'the cdr.backfill job',
    );
    expect(result).toMatchObject({ inserted: 3, more: false });
    expect((await listCharges(small.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid)).toEqual(expect.arrayContaining(late));
  });

  test('a job of the tenant waiting for the billing lock gets it between two runs of a collection, not only after the last', async () => {
    // Five calls: the first run writes two pages of two, the second one page of one.
    const tenant = await small.addTenant();
    for (let i = 0; i < 5; i += 1) await small.insertCdr(tenant, { start: dayAgo(5, HOUR + i * 60_000), billsec: 60 });
    const order: string[] = [];
    let other: Promise<void> | null = null;
    // A sync, push or re-rating of the tenant (they poll for the lock) starts waiting as the first run reads its last
    // page, and has tried once: its next try is 25–75 ms later, when that run has released the lock.
    const afterRead = async (page: number) => {
      if (page !== 2 || other) return;
      const before = await billingLockTries(small);
      other = withBillingLock(small.deps.pool, tenant.serviceId, () => Promise.resolve(void order.push('other')), 10_000);
      const deadline = Date.now() + 5000;
      while (!(await billingLockTries(small)).some((attempt) => !before.includes(attempt))) if (Date.now() > deadline) throw new Error('the other job never tried the lock');
    };
    const afterCommit = () => void order.push('page');
    const outcome = await collectCdrs(small.deps, tenant.serviceId, { from: new Date(dayAgo(5, 0)), hooks: { afterRead, afterCommit } });
    await other;
    expect(outcome).toMatchObject({ inserted: 5, pages: 3, more: false });
    expect(order).toEqual(['page', 'page', 'other', 'page']);
  });
});

describe('a collection always ends (each run continues strictly after the key the last stopped at)', () => {
  const small = useBillingKit({ CDR_SYNC_PAGE_SIZE: '2', CDR_SYNC_MAX_PAGES: '2' });
  const chargedOn = async (tenant: Tenant) => (await listCharges(small.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid).sort();
  const sourceOn = async (tenant: Tenant) =>
    (await small.bridge.fusion.query<{ id: string }>('SELECT xml_cdr_uuid::text AS id FROM v_xml_cdr WHERE domain_uuid = $1', [tenant.domainUuid])).rows
      .map((row) => row.id)
      .sort();

  test('a backfill over CDRs that all share one start_stamp, most charged, some deleted while it reads: it ends, every CDR left charged once', async () => {
    const stamp = dayAgo(6, HOUR);
    const { tenant } = await tenantCharged(small, [stamp, stamp, stamp, stamp, stamp]);
    const late: string[] = [];
    for (let i = 0; i < 6; i += 1) late.push(await small.insertCdr(tenant, { start: stamp, billsec: 60 }));
    let deleted: string[] = [];
    const afterRead = async () => {
      if (deleted.length > 0) return;
      // Once the first page is read (before the next read), FusionPBX deletes three late CDRs: the last in key order (one
      // stamp: by uuid), so none the first page holds.
      deleted = [...late].sort().slice(-3);
      await small.bridge.fusion.query('DELETE FROM v_xml_cdr WHERE xml_cdr_uuid = ANY($1::uuid[])', [deleted]);
    };
    const outcome = await collectCdrs(small.deps, tenant.serviceId, { from: new Date(dayAgo(6, 0)), hooks: { afterRead } });
    expect(outcome.more).toBe(false);
    expect(outcome.inserted).toBe(late.length - deleted.length);
    // 5 + 6 at one stamp and the recent call, less the deleted: at most 12 rows, 2 a page.
    expect(outcome.pages).toBeLessThanOrEqual(6);
    expect(await chargedOn(tenant)).toEqual(await sourceOn(tenant));
  });

  test('a backfill whose tenant’s domain is purged and made again while it reads: it ends, reading the new domain after where it was', async () => {
    const { tenant } = await tenantCharged(small, [dayAgo(6, HOUR)]);
    for (let i = 0; i < 4; i += 1) await small.insertCdr(tenant, { start: dayAgo(6, 2 * HOUR + i * 60_000), billsec: 60 });
    const again: Tenant = { ...tenant, domainUuid: randomUUID() };
    const later: string[] = [];
    const afterCommit = async (page: number) => {
      if (page !== 1 || later.length > 0) return;
      await small.bridge.fusion.query('DELETE FROM v_xml_cdr WHERE domain_uuid = $1', [tenant.domainUuid]);
      await small.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
      await small.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [again.domainUuid, again.domainName]);
      for (let i = 0; i < 3; i += 1) later.push(await small.insertCdr(again, { start: dayAgo(6, 3 * HOUR + i * 60_000), billsec: 60 }));
    };
    const outcome = await collectCdrs(small.deps, tenant.serviceId, { from: new Date(dayAgo(6, 0)), hooks: { afterCommit } });
    expect(outcome.more).toBe(false);
    expect(await chargedOn(tenant)).toEqual(expect.arrayContaining(later));
  });
});

describe('a backfill that lasts several BullMQ lock durations', () => {
  const brief = useBillingKit({ WORKER_LOCK_DURATION_MS: '1000' });

  test('keeps its job: the worker renews the lock while it runs, no stalled check takes it over, its CDRs are charged once', async () => {
    const tenant = await brief.addTenant();
    for (let i = 0; i < 3; i += 1) await brief.insertCdr(tenant, { start: dayAgo(4, HOUR + i * 60_000), billsec: 60 });
    const worker = brief.bridge.worker!.workers.find((candidate) => candidate.name === 'cdr-sync')!;
    const jobId = `backfill-held-${tenant.serviceId}`;
    let renewals = 0;
    const stalled: string[] = [];
    const onRenewed = ({ jobIds }: { jobIds: string[] }) => void (renewals += jobIds.filter((id) => id === jobId).length);
    const onStalled = (id: string) => void stalled.push(id);
    worker.on('locksRenewed', onRenewed);
    worker.on('stalled', onStalled);
    // FusionPBX's v_xml_cdr locked: the job's first read waits (a long range) until the test lets it go.
    const blocker = await brief.bridge.fusion.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE v_xml_cdr IN ACCESS EXCLUSIVE MODE');
      const job = await addJob(brief.deps.queues, CDR_JOBS.backfill, { serviceId: tenant.serviceId, from: dayAgo(4, 0) }, { jobId });
      // Active for over 3 lock durations of 1 s (a stalled check runs each lock duration).
      const since = await waitFor(async () => (await brief.deps.queues['cdr-sync'].getJob(jobId))?.processedOn, 20000, 'the backfill taken by the worker');
      await waitFor(async () => Date.now() - since > 3500, 20000, 'three lock durations of the backfill');
      await blocker.query('COMMIT');
      const result = await waitFor(
        async () => ((await job.getState()) === 'completed' ? ((await brief.deps.queues['cdr-sync'].getJob(jobId))?.returnvalue as { inserted: number }) : null),
        20000,
        'the backfill job',
      );
      expect(result.inserted).toBe(3);
      expect(renewals).toBeGreaterThanOrEqual(3);
      expect(stalled).not.toContain(jobId);
      expect((await brief.deps.queues['cdr-sync'].getJob(jobId))?.attemptsMade).toBe(1);
      expect((await listCharges(brief.deps.pool, { serviceId: tenant.serviceId })).length).toBe(3);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      worker.off('locksRenewed', onRenewed);
      worker.off('stalled', onStalled);
    }
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

  test('created, it runs at once; a restart keeps its next run (BullMQ 6: an existing `every` scheduler keeps its slot)', async () => {
    const bridge = await startBridge({ CDR_RECONCILE_DAYS: '7', CDR_RECONCILE_EVERY_SECONDS: '7200', LOG_LEVEL: 'warn' });
    try {
      const started = Date.now();
      const worker = await bridge.startWorker();
      // The queue of the worker running (closing a worker closes its queues).
      const queue = () => bridge.worker!.deps.queues['cdr-sync'];
      const reconcileJobs = async (states: JobType[]) => (await queue().getJobs(states)).filter((job) => job.name === CDR_JOBS.reconcile);
      await waitFor(async () => (await reconcileJobs(['completed'])).length === 1, 15000, 'the first cdr.reconcile run');
      const next = async () => (await queue().getJobSchedulers()).find((scheduler) => scheduler.key === 'cdr-reconcile')?.next;
      const planned = await next();
      expect(planned).toBeGreaterThanOrEqual(started + 7200_000);
      await worker.close();
      await bridge.startWorker();
      // The restart's upsert replaced the delayed run by one at the same time: nothing runs now.
      expect(await next()).toBe(planned);
      expect(await reconcileJobs(['waiting', 'active', 'prioritized'])).toEqual([]);
      expect((await reconcileJobs(['delayed'])).map((job) => job.timestamp + (job.delay ?? 0) >= started + 7200_000)).toEqual([true]);
      expect(await reconcileJobs(['completed'])).toHaveLength(1);
    } finally {
      await bridge.close();
    }
  }, 30000);
});

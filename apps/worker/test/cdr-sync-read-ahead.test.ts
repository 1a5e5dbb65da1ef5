import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { getCdrSyncCursor, listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import type { CdrSyncHooks } from '../src/jobs/cdr';
import { scopeForService } from '../src/fusion-scope';
import { useBillingKit, chargedMicro, expectedMicro } from './cdr-billing-kit';

const kit = useBillingKit();

/** Polls `check` every 20 ms until it returns true (false after 20 s). */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/**
 * The sync reads page N+1 while page N is written (read-ahead). A page write that fails must
 * leave the read-ahead unused: no CDR of it charged, the cursor at the last committed page, and
 * the read itself finished (its connection back in the pool) before the failed run returns.
 */
describe('the read-ahead when a page write fails', () => {
  test('page 2 write fails in PostgreSQL while page 3 is being read: page 3 is dropped, the cursor stays at page 1, the retry charges every CDR once', async () => {
    const tenant = await kit.addTenant();
    // Page size 5 (the kit): pages of uuids 0–4, 5–9, 10–14.
    const uuids = Array.from({ length: 15 }, () => randomUUID());
    const calls = uuids.map((uuid, i) => ({ uuid, start: `2025-03-08T12:00:${String(i * 2).padStart(2, '0')}Z`, billsec: 30 + i, destination: '12125550100' }));
    for (const call of calls) await kit.insertCdr(tenant, call);

    // A real failure of page 2's write: its first charge row raises, once (the sequence is not rolled back with it).
    const tag = `read_ahead_${tenant.serviceId}`;
    await kit.deps.pool.query(`CREATE SEQUENCE ${tag}_seq`);
    await kit.deps.pool.query(
      `CREATE FUNCTION ${tag}_fail() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.xml_cdr_uuid = '${uuids[5]}' AND nextval('${tag}_seq') = 1 THEN RAISE EXCEPTION 'simulated page write failure'; END IF;
         RETURN NEW;
       END $$`,
    );
    await kit.deps.pool.query(`CREATE TRIGGER ${tag} BEFORE INSERT ON cdr_charges FOR EACH ROW EXECUTE FUNCTION ${tag}_fail()`);

    // Page 3's read is held on a table lock taken when page 2 was read, so it is under way when the write fails.
    const fusionPool = (await scopeForService(kit.deps, { fusionpbxServer: null })).fusion.pool;
    const locker: PoolClient = await kit.bridge.fusion.connect();
    const hooks: CdrSyncHooks = {
      afterRead: async (page) => {
        if (page !== 2) return;
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE v_xml_cdr IN ACCESS EXCLUSIVE MODE');
      },
    };
    let readsInFlightAtReturn: number | null = null;
    const run = syncTenantCdrs(kit.deps, tenant.serviceId, { hooks }).then(
      () => null,
      (error: unknown) => error,
    );
    void run.then(() => {
      readsInFlightAtReturn = fusionPool.totalCount - fusionPool.idleCount;
    });
    const failed = async () => (await kit.deps.pool.query<{ is_called: boolean }>(`SELECT is_called FROM ${tag}_seq`)).rows[0]?.is_called === true;
    const readAheadBlocked = async () =>
      (await locker.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pg_backend_pid() = ANY(pg_blocking_pids(pid))`))
        .rows[0]!.n > 0;
    let blockedWhenFailed = false;
    try {
      expect(await until(failed)).toBe(true);
      // Without a read-ahead the run returns now, with nothing blocked.
      await until(async () => readsInFlightAtReturn !== null || (await readAheadBlocked()));
      blockedWhenFailed = await readAheadBlocked();
      // A run that returned now would leave its read behind: give it ten more polls to show it.
      let polls = 0;
      await until(async () => readsInFlightAtReturn !== null || (polls += 1) >= 10);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
    const error = await run;
    await kit.deps.pool.query(`DROP TRIGGER ${tag} ON cdr_charges`);

    expect(blockedWhenFailed).toBe(true);
    expect((error as Error | null)?.message).toMatch(/simulated page write failure/);
    expect(readsInFlightAtReturn).toBe(0);
    // Page 1 only: nothing of page 2 (rolled back) nor of the read-ahead page 3.
    const left = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(left.map((charge) => charge.xmlCdrUuid).sort()).toEqual(uuids.slice(0, 5).sort());
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastXmlCdrUuid).toBe(uuids[4]);

    const retry = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(retry.inserted).toBe(10);
    const charged = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(charged.map((charge) => charge.xmlCdrUuid).sort()).toEqual([...uuids].sort());
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastXmlCdrUuid).toBe(uuids[14]);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(calls.reduce((sum, call) => sum + expectedMicro(call.destination, call.billsec), 0n));
    expect((await syncTenantCdrs(kit.deps, tenant.serviceId)).inserted).toBe(0);
  });

  test('a run stopped by CDR_SYNC_MAX_PAGES reads no page beyond its last one, and the next run continues from its cursor', async () => {
    const tenant = await kit.addTenant();
    const uuids = Array.from({ length: 12 }, () => randomUUID());
    for (const [i, uuid] of uuids.entries()) await kit.insertCdr(tenant, { uuid, start: `2025-03-08T13:00:${String(i * 2).padStart(2, '0')}Z`, billsec: 60 });
    const fusionPool = (await scopeForService(kit.deps, { fusionpbxServer: null })).fusion.pool;
    const limited = { ...kit.deps, config: { ...kit.deps.config, cdr: { ...kit.deps.config.cdr, maxPagesPerRun: 2 } } };
    // The spy calls through: the keyset reads are read off its calls.
    const spy = jest.spyOn(fusionPool, 'query');
    try {
      const first = await syncTenantCdrs(limited, tenant.serviceId);
      expect(first.pages).toBe(2);
      expect(first.more).toBe(true);
      // Two page reads: no read-ahead of a third page the run would not write.
      const keysetReads = spy.mock.calls.filter(
        ([text, values]) => typeof text === 'string' && text.includes('LIMIT') && (values as unknown[] | undefined)?.[0] === tenant.domainUuid,
      );
      expect(keysetReads).toHaveLength(2);
    } finally {
      spy.mockRestore();
    }
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastXmlCdrUuid).toBe(uuids[9]);
    const second = await syncTenantCdrs(limited, tenant.serviceId);
    expect(second.more).toBe(false);
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid).sort()).toEqual([...uuids].sort());
  });
});

import { getCdrSyncCursor, listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import type { CdrSyncHooks } from '../src/jobs/cdr';
import { useBillingKit, chargedMicro, rateMicroFor, type Tenant } from './cdr-billing-kit';

const kit = useBillingKit();

/** The tenant's CDRs in FusionPBX (what must be charged, each once). */
async function sourceUuids(tenant: Tenant): Promise<string[]> {
  const { rows } = await kit.bridge.fusion.query<{ id: string }>('SELECT xml_cdr_uuid::text AS id FROM v_xml_cdr WHERE domain_uuid = $1 ORDER BY 1', [tenant.domainUuid]);
  return rows.map((row) => row.id);
}

async function chargedUuids(tenant: Tenant): Promise<string[]> {
  return (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid).sort();
}

/**
 * Expected rated sum from the input: 60/60 increments, no connection fee, the plan's included
 * seconds consumed in call order (calls given in call order).
 */
function expectedWithAllowance(calls: readonly { billsec: number; destination: string }[], includedSeconds: number): bigint {
  let remaining = includedSeconds;
  let sum = 0n;
  for (const call of calls) {
    const billable = Math.ceil(call.billsec / 60) * 60;
    const included = Math.min(remaining, billable);
    remaining -= included;
    sum += BigInt((billable - included) / 60) * rateMicroFor(call.destination.replace(/^\+/, ''));
  }
  return sum;
}

const stamp = (second: number) => `2025-03-05T10:00:${String(second).padStart(2, '0')}.000000Z`;

describe('CDRs inserted during a sync', () => {
  test('rows inserted between pages, before the position, at it and after it: none lost, none doubled', async () => {
    const tenant = await kit.addTenant();
    for (let i = 0; i < 12; i += 2) await kit.insertCdr(tenant, { start: stamp(i), billsec: 60 });
    const insertedDuring: string[] = [];
    const hooks: CdrSyncHooks = {
      afterRead: async (page) => {
        if (page !== 1) return;
        // Page 1 read stamps 0..8; the cursor will be at 8. One row inside the page's range, one
        // sharing the page's last timestamp, one between the pages and one after everything.
        for (const second of [3, 8, 9, 40]) insertedDuring.push(await kit.insertCdr(tenant, { start: stamp(second), billsec: 60 + second }));
      },
    };
    const first = await syncTenantCdrs(kit.deps, tenant.serviceId, { hooks });
    expect(insertedDuring).toHaveLength(4);
    // The rows ahead of the keyset are read by the same run; those behind it by the next run's look-back.
    expect(first.inserted).toBeGreaterThanOrEqual(6);
    const second = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(first.inserted + second.inserted).toBe(10);
    expect(await chargedUuids(tenant)).toEqual(await sourceUuids(tenant));
    const third = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(third.inserted).toBe(0);
    const calls = [
      ...[0, 2, 4, 6, 8, 10].map((second) => ({ billsec: 60, destination: '12125550100', second })),
      ...[3, 8, 9, 40].map((second) => ({ billsec: 60 + second, destination: '12125550100', second })),
    ];
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expectedWithAllowance(calls, 0));
  });

  test('an inserter running concurrently with two syncs of the same tenant: every CDR charged exactly once', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 4 });
    const calls: { start: string; billsec: number; destination: string }[] = [];
    const insert = async (second: number, billsec: number) => {
      const call = {
        start: `2025-03-06T09:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.250000Z`,
        billsec,
        destination: '12125550100',
      };
      calls.push(call);
      await kit.insertCdr(tenant, call);
    };
    for (let i = 0; i < 15; i += 1) await insert(i * 10, 30 + i);
    const slowPages: CdrSyncHooks = { afterRead: () => new Promise((resolve) => setTimeout(resolve, 15)) };
    let inserting = true;
    const inserter = (async () => {
      // Out of order on purpose: some behind the running sync's position, some ahead of it.
      const seconds = [5, 155, 55, 300, 15, 145, 400, 95, 25, 500, 135, 65];
      for (const second of seconds) {
        await insert(second, 61 + second);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      inserting = false;
    })();
    const syncs = (async () => {
      let runs = 0;
      while (inserting || runs < 2) {
        await Promise.all([syncTenantCdrs(kit.deps, tenant.serviceId, { hooks: slowPages }), syncTenantCdrs(kit.deps, tenant.serviceId)]);
        runs += 1;
      }
    })();
    await Promise.all([inserter, syncs]);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(calls).toHaveLength(27);
    expect(await chargedUuids(tenant)).toEqual(await sourceUuids(tenant));
    const inCallOrder = [...calls].sort((a, b) => a.start.localeCompare(b.start));
    // Included minutes are consumed by whichever calls were rated first, so the sum is checked
    // against the allowance bounds and the allowance is used exactly once.
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(charges.reduce((sum, charge) => sum + charge.includedSeconds, 0)).toBe(240);
    const gross = expectedWithAllowance(inCallOrder, 0);
    const allowanceValue = 4n * rateMicroFor('12125550100');
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(gross - allowanceValue);
  });
});

describe('a crash at every step of a sync, then a retry', () => {
  const steps: (keyof CdrSyncHooks)[] = ['afterRead', 'afterInsert', 'afterCommit'];
  const cases = steps.flatMap((step) => [1, 2, 3].map((page) => [step, page] as const));

  test.each(cases)('crash at %s on page %i: the retry ends with every CDR charged once, sums exact', async (step, crashPage) => {
    const tenant = await kit.addTenant({ includedMinutes: 3 });
    const calls = Array.from({ length: 12 }, (_, i) => ({
      start: `2025-03-07T11:00:${String(i * 3).padStart(2, '0')}Z`,
      billsec: 25 + 20 * i,
      destination: i % 4 === 0 ? '+4930123456' : '12125550100',
    }));
    for (const call of calls) await kit.insertCdr(tenant, call);
    const crash = new Error(`simulated crash at ${step}`);
    const hooks: CdrSyncHooks = {
      [step]: (page: number) => {
        if (page === crashPage) throw crash;
      },
    };
    await expect(syncTenantCdrs(kit.deps, tenant.serviceId, { hooks })).rejects.toBe(crash);

    // What the crash left: whole committed pages only, and a cursor at the last charged CDR.
    const committedPages = step === 'afterCommit' ? crashPage : crashPage - 1;
    const left = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(left).toHaveLength(Math.min(committedPages * 5, calls.length));
    const cursor = await getCdrSyncCursor(kit.deps.pool, tenant.serviceId);
    expect(cursor?.lastXmlCdrUuid ?? null).toBe(left[left.length - 1]?.xmlCdrUuid ?? null);

    await syncTenantCdrs(kit.deps, tenant.serviceId);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await chargedUuids(tenant)).toEqual(await sourceUuids(tenant));
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expectedWithAllowance(calls, 180));
    const included = (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).reduce((sum, charge) => sum + charge.includedSeconds, 0);
    expect(included).toBe(180);
  });
});

describe('a connection lost in the middle of a page write (issue #20: charges and cursor are one statement)', () => {
  test('the write is cut while it waits on the cursor row: nothing of the page stays, the retry charges every CDR once, sums exact', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 3 });
    const calls = Array.from({ length: 12 }, (_, i) => ({ start: stamp(i * 3), billsec: 25 + 20 * i, destination: i % 4 === 0 ? '+4930123456' : '12125550100' }));
    for (const call of calls) await kit.insertCdr(tenant, call);
    const blocker = await kit.deps.pool.connect();
    let cut: Promise<number> | null = null;
    const hooks: CdrSyncHooks = {
      afterCommit: async (page) => {
        if (page !== 1) return;
        // Hold the cursor row: page 2's statement inserts its charges (the cursor's INSERT … SELECT
        // reads their count, so they come first) and then waits here on the row, uncommitted.
        await blocker.query('BEGIN');
        await blocker.query('SELECT 1 FROM cdr_sync_cursors WHERE service_id = $1 FOR UPDATE', [tenant.serviceId]);
        cut = cutWhenBlockedBy(blocker);
      },
    };
    try {
      await expect(syncTenantCdrs(kit.deps, tenant.serviceId, { hooks })).rejects.toThrow(/terminat/i);
      expect(cut).not.toBeNull();
      expect(await cut).toBeGreaterThan(0);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
    }
    const left = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(left).toHaveLength(5);
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastXmlCdrUuid).toBe(left[4]?.xmlCdrUuid);

    await syncTenantCdrs(kit.deps, tenant.serviceId);
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(await chargedUuids(tenant)).toEqual(await sourceUuids(tenant));
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expectedWithAllowance(calls, 180));
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).reduce((sum, charge) => sum + charge.includedSeconds, 0)).toBe(180);
  });
});

/** Waits until a page write is blocked by `blocker`'s transaction, then terminates that backend (a lost connection); its pid. */
async function cutWhenBlockedBy(blocker: { query: (text: string) => Promise<{ rows: { pid: number }[] }> }): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await blocker.query(
      `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH taken AS%' AND pg_backend_pid() = ANY(pg_blocking_pids(pid))`,
    );
    const pid = rows[0]?.pid;
    if (pid !== undefined) {
      await kit.deps.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      return pid;
    }
    if (Date.now() > deadline) throw new Error('no page write blocked on the cursor row within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

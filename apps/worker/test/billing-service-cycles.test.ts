/**
 * BILLING_PERIODS=service through the worker: real PostgreSQL and Redis, the FusionPBX schema and the
 * WHMCS stand-in. A service's calls fall in the periods of its WHMCS cycle and due date, in the
 * billing time zone; the close makes one batch per service period and pushes it exactly once.
 */
import { randomUUID } from 'node:crypto';
import { listAdjustments, listBatches, listCharges, pushTokenFor, batchIdFor, importRateDeck, serviceCycleSegments } from '@ictvoip/store';
import { rerateServicePeriod } from '@ictvoip/operations';
import { parseTenantCommand } from '@ictvoip/whmcs';
import { closeBillingPeriods, pushBillingBatch, syncTenantCdrs } from '../src';
import { recordEventCycle } from '../src/event-processor';
import { runFinalBill } from '../src/jobs/billing';
import { waitFor } from './harness';
import { useBillingKit, addCycleTenant, decimalToMicro, microToDecimal, roundCents, type BillingKit, type Tenant } from './cdr-billing-kit';

const ZONE = 'America/New_York';
let nextService = 7100;

const kit = useBillingKit({ BILLING_PERIODS: 'service', BILLING_TIMEZONE: ZONE }, { standin: { seed: 16 }, setUp: importDidsDeck });

/** A second deck, 'dids': toll-free DIDs in 6-second increments. */
async function importDidsDeck(): Promise<void> {
  const dids = await importRateDeck(
    kit.deps.pool,
    'dids',
    ['prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment', '1800,toll-free DID,0.020000,0,6,6'].join('\n'),
    {
      currency: 'USD',
      numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
    },
  );
  if (!dids.ok) throw new Error('dids deck did not import');
}

/** A tenant whose WHMCS service has the given cycle and next due date, and the given plan. */
function tenant(cycle: string, nextduedate: string, plan: Record<string, unknown> = {}): Promise<Tenant> {
  return addCycleTenant(kit, nextService++, cycle, nextduedate, plan);
}

/** Local wall-clock time in New York → the UTC instant FusionPBX stores. */
function newYork(local: string): string {
  const guess = new Date(`${local}Z`);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: ZONE,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(guess);
  const p = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const shown = Date.UTC(p('year'), p('month') - 1, p('day'), p('hour'), p('minute'));
  return new Date(guess.getTime() + (guess.getTime() - shown)).toISOString();
}

async function periodsByUuid(serviceId: number): Promise<Map<string, string>> {
  return new Map((await listCharges(kit.deps.pool, { serviceId })).map((charge) => [charge.xmlCdrUuid, charge.period]));
}

const itemsFor = (t: Tenant) => kit.whmcs.state.billableItems.filter((item) => item.clientid === t.clientId);

async function pushedBatches(t: Tenant, count: number): Promise<void> {
  await waitFor(async () => (await listBatches(kit.deps.pool, { serviceId: t.serviceId, states: ['pushed'] })).length === count, 15000, `${count} pushed batch(es)`);
}

describe('service billing cycles', () => {
  test('quarterly: periods follow the due date in the billing time zone (23:30 local on the last day stays in its period); one batch per period, exactly once, sums exact', async () => {
    const t = await tenant('Quarterly', '2025-04-15');
    const calls = {
      beforeJan15: await kit.insertCdr(t, { start: newYork('2025-01-14T12:00'), billsec: 61 }),
      jan15: await kit.insertCdr(t, { start: newYork('2025-01-15T00:10'), billsec: 125 }),
      lastDayLate: await kit.insertCdr(t, { start: newYork('2025-04-14T23:30'), billsec: 59 }),
      apr15: await kit.insertCdr(t, { start: newYork('2025-04-15T09:00'), billsec: 30 }),
    };
    const sync = await syncTenantCdrs(kit.deps, t.serviceId);
    expect(sync.rated).toBe(4);
    const periods = await periodsByUuid(t.serviceId);
    expect(periods.get(calls.beforeJan15)).toBe('2024-10-15');
    expect(periods.get(calls.jan15)).toBe('2025-01-15');
    // 23:30 on April 14 in New York is 03:30 UTC on April 15: still the January period
    expect(periods.get(calls.lastDayLate)).toBe('2025-01-15');
    expect(periods.get(calls.apr15)).toBe('2025-04-15');
    // the cycle was asked of WHMCS once and recorded; a second sync does not ask again (cached for a day)
    expect(await serviceCycleSegments(kit.deps.pool, t.serviceId)).toEqual([expect.objectContaining({ from: null, cycle: 'quarterly', anchor: '2025-04-15', source: 'whmcs' })]);
    const asked = () => kit.whmcs.state.requests.filter((r) => r.action === 'GetClientsProducts' && Number(r.params.serviceid) === t.serviceId).length;
    expect(asked()).toBe(1);
    await syncTenantCdrs(kit.deps, t.serviceId);
    expect(asked()).toBe(1);

    // Mid-January: the October period closed
    const first = await closeBillingPeriods(kit.deps, new Date(newYork('2025-01-15T12:00')));
    expect(first.mode).toBe('service');
    await pushedBatches(t, 1);
    // Mid-April: the January period closed (its 23:30 call included)
    await closeBillingPeriods(kit.deps, new Date(newYork('2025-04-15T12:00')));
    await pushedBatches(t, 2);
    const batches = await listBatches(kit.deps.pool, { serviceId: t.serviceId });
    expect(batches.map((b) => [b.batchId, b.callCount])).toEqual([
      [batchIdFor(t.serviceId, '2024-10-15'), 1],
      [batchIdFor(t.serviceId, '2025-01-15'), 2],
    ]);
    const charges = await listCharges(kit.deps.pool, { serviceId: t.serviceId });
    const adjustments = await listAdjustments(kit.deps.pool, { serviceId: t.serviceId });
    for (const batch of batches) {
      // a batch = its calls + what earlier batches carried (the sub-cent rounding remainder)
      const exact =
        charges.filter((c) => c.batchId === batch.batchId).reduce((sum, c) => sum + decimalToMicro(c.amount as string), 0n) +
        adjustments.filter((a) => a.batchId === batch.batchId).reduce((sum, a) => sum + decimalToMicro(a.amount), 0n);
      expect(batch.total).toBe(microToDecimal(exact));
      expect(
        itemsFor(t)
          .filter((item) => item.description.includes(pushTokenFor(batch.batchId)))
          .map((item) => item.amount),
      ).toEqual([microToDecimal(roundCents(exact), 2)]);
    }
    // billed lines + the remainder still carried = every rated call, to the micro-unit
    const billed = itemsFor(t).reduce((sum, item) => sum + decimalToMicro(item.amount), 0n);
    const carried = (await listAdjustments(kit.deps.pool, { serviceId: t.serviceId, pendingOnly: true })).reduce((sum, a) => sum + decimalToMicro(a.amount), 0n);
    const billedCalls = charges.filter((c) => c.batchId !== null).reduce((sum, c) => sum + decimalToMicro(c.amount as string), 0n);
    expect(billed + carried).toBe(billedCalls);
    // replaying the close and the push (same slot, a later slot, the push job itself) adds nothing
    await closeBillingPeriods(kit.deps, new Date(newYork('2025-04-15T12:00')));
    await closeBillingPeriods(kit.deps, new Date(newYork('2025-04-16T12:00')));
    expect((await pushBillingBatch(kit.deps, t.serviceId, '2025-01-15')).outcome).toBe('pushed');
    await waitFor(async () => (await kit.deps.queues.billing.getJobCounts('waiting', 'active', 'delayed')).waiting === 0, 15000, 'queue drained');
    expect(itemsFor(t)).toHaveLength(2);
    // the April call is in the open April period: not billed yet
    expect(charges.find((c) => c.xmlCdrUuid === calls.apr15)?.batchId).toBeNull();
  });

  test('a crash between the WHMCS call and its record: the period is found by its token, never billed twice', async () => {
    const t = await tenant('Annually', '2026-03-01');
    await kit.insertCdr(t, { start: newYork('2025-02-27T10:00'), billsec: 600 });
    await kit.insertCdr(t, { start: newYork('2025-02-28T23:30'), billsec: 61 });
    await syncTenantCdrs(kit.deps, t.serviceId);
    // annual periods start on March 1: both calls are in the 2024-03 period
    expect([...(await periodsByUuid(t.serviceId)).values()]).toEqual(['2024-03', '2024-03']);
    await expect(
      pushBillingBatch(kit.deps, t.serviceId, '2024-03', {
        afterPush: () => {
          throw new Error('killed after WHMCS answered');
        },
      }),
    ).rejects.toThrow('killed');
    // WHMCS's cron put the item on an invoice; the next run finds it by the period's token
    kit.whmcs.invoiceBillableItems(t.clientId);
    expect((await pushBillingBatch(kit.deps, t.serviceId, '2024-03')).outcome).toBe('reconciled');
    expect((await pushBillingBatch(kit.deps, t.serviceId, '2024-03')).outcome).toMatch(/verified|pushed/);
    expect(itemsFor(t)).toHaveLength(1);
    expect(itemsFor(t)[0]!.description).toContain(pushTokenFor(batchIdFor(t.serviceId, '2024-03')));
  });

  test('month-end due date (31st): periods end on the 28th/29th, 30th and 31st', async () => {
    const t = await tenant('Monthly', '2025-01-31');
    const feb27 = await kit.insertCdr(t, { start: newYork('2025-02-27T23:30'), billsec: 10 });
    const feb28 = await kit.insertCdr(t, { start: newYork('2025-02-28T00:00'), billsec: 10 });
    const mar30 = await kit.insertCdr(t, { start: newYork('2025-03-30T23:59'), billsec: 10 });
    const mar31 = await kit.insertCdr(t, { start: newYork('2025-03-31T08:00'), billsec: 10 });
    const may1 = await kit.insertCdr(t, { start: newYork('2025-05-01T08:00'), billsec: 10 });
    await syncTenantCdrs(kit.deps, t.serviceId);
    const periods = await periodsByUuid(t.serviceId);
    expect([feb27, feb28, mar30, mar31, may1].map((uuid) => periods.get(uuid))).toEqual(['2025-01-31', '2025-02-28', '2025-02-28', '2025-03-31', '2025-04-30']);
  });

  test('a cycle change (event) ends the running period at the change and starts the new cycle; re-rating still works on a service period', async () => {
    const plainDeck = (rate: string) =>
      importRateDeck(kit.deps.pool, 'rerate-deck', ['prefix,destination,rate_per_minute', `1,USA,${rate}`].join('\n'), {
        currency: 'USD',
        numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
      });
    expect((await plainDeck('0.010000')).ok).toBe(true);
    const t = await tenant('Monthly', '2025-05-10', { rateDeck: 'rerate-deck' });
    const may15 = await kit.insertCdr(t, { start: newYork('2025-05-15T10:00'), billsec: 61 });
    await syncTenantCdrs(kit.deps, t.serviceId);
    // change_package on May 20 moves the service to a quarterly cycle due August 1
    const command = parseTenantCommand({
      schemaVersion: 1,
      eventId: randomUUID(),
      action: 'change_package',
      occurredAt: newYork('2025-05-20T09:00'),
      service: { id: t.serviceId, pid: 4, billingCycle: 'Quarterly', nextDueDate: '2025-08-01' },
      client: { id: t.clientId },
      plan: { maxExtensions: 3, firstExtension: 100 },
    });
    await recordEventCycle(kit.deps, command, t.serviceId);
    await recordEventCycle(kit.deps, command, t.serviceId); // the same event twice: one change
    expect((await serviceCycleSegments(kit.deps.pool, t.serviceId)).map((s) => [s.from, s.cycle])).toEqual([
      [null, 'monthly'],
      ['2025-05-20', 'quarterly'],
    ]);
    const may19 = await kit.insertCdr(t, { start: newYork('2025-05-19T23:30'), billsec: 61 });
    const may20 = await kit.insertCdr(t, { start: newYork('2025-05-20T10:00'), billsec: 61 });
    const aug2 = await kit.insertCdr(t, { start: newYork('2025-08-02T10:00'), billsec: 61 });
    await syncTenantCdrs(kit.deps, t.serviceId);
    const periods = await periodsByUuid(t.serviceId);
    expect([may15, may19, may20, aug2].map((uuid) => periods.get(uuid))).toEqual(['2025-05-10', '2025-05-10', '2025-05-20', '2025-08']);
    // June 1: the May 10 – May 20 period is closed; the new quarterly one is not
    const close = await closeBillingPeriods(kit.deps, new Date(newYork('2025-06-01T12:00')));
    expect(close.jobIds.filter((id) => id.startsWith(`billing-push-${t.serviceId}-`))).toEqual([expect.stringContaining(`-${t.serviceId}-2025-05-10-`)]);
    await pushedBatches(t, 1);
    // re-rating the open quarterly period with a dearer deck changes its charges, nothing in WHMCS
    const before = (await listCharges(kit.deps.pool, { serviceId: t.serviceId, period: '2025-05-20' }))[0]!.amount;
    expect((await plainDeck('0.020000')).ok).toBe(true);
    const rerate = await rerateServicePeriod(kit.deps, t.serviceId, '2025-05-20');
    expect(rerate).toMatchObject({ updated: 1, immutable: 0, adjustment: null });
    const after = (await listCharges(kit.deps.pool, { serviceId: t.serviceId, period: '2025-05-20' }))[0]!.amount;
    expect(decimalToMicro(after as string)).toBe(2n * decimalToMicro(before as string));
    expect(itemsFor(t)).toHaveLength(1);
  });
});

describe('WHMCS failing while the cycle is looked up', () => {
  test('no cycle recorded: the sync stops (cursor stays, nothing rated in a guessed period); recorded: a failed daily refresh keeps it', async () => {
    const t = await tenant('Quarterly', '2025-04-15');
    await kit.insertCdr(t, { start: newYork('2025-01-14T12:00'), billsec: 61 });
    kit.whmcs.setFaults([{ mode: 'http_500', percent: 100, actions: ['GetClientsProducts'] }]);
    try {
      await expect(syncTenantCdrs(kit.deps, t.serviceId)).rejects.toMatchObject({ code: 'BILLING_CYCLE_UNKNOWN' });
      expect(await listCharges(kit.deps.pool, { serviceId: t.serviceId })).toEqual([]);
    } finally {
      kit.whmcs.setFaults([]);
    }
    await syncTenantCdrs(kit.deps, t.serviceId);
    expect((await listCharges(kit.deps.pool, { serviceId: t.serviceId })).map((c) => c.period)).toEqual(['2024-10-15']);
    // a day later WHMCS fails again: the recorded cycle is used, the refresh retried at the next sync
    await kit.deps.pool.query(`UPDATE service_billing_cycles SET checked_at = now() - interval '25 hours' WHERE service_id = $1`, [t.serviceId]);
    await kit.insertCdr(t, { start: newYork('2025-01-15T12:00'), billsec: 61 });
    kit.whmcs.setFaults([{ mode: 'http_500', percent: 100, actions: ['GetClientsProducts'] }]);
    try {
      expect((await syncTenantCdrs(kit.deps, t.serviceId)).rated).toBe(1);
    } finally {
      kit.whmcs.setFaults([]);
    }
    expect((await listCharges(kit.deps.pool, { serviceId: t.serviceId })).map((c) => c.period)).toEqual(['2024-10-15', '2025-01-15']);
  });
});

describe('final bill with service periods', () => {
  test("a terminated quarterly service's final batch is the cycle period of the termination, with every call before it, once", async () => {
    const t = await tenant('Quarterly', '2025-04-15');
    await kit.insertCdr(t, { start: newYork('2025-01-10T10:00'), billsec: 61 });
    await kit.insertCdr(t, { start: newYork('2025-02-20T10:00'), billsec: 120 });
    await kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated' WHERE service_id = $1`, [t.serviceId]);
    const terminatedAt = new Date(newYork('2025-02-21T08:00'));
    // the period named at enqueue time predates the recorded cycle (calendar '2025-02'); the job recomputes it after the final sync
    const result = await runFinalBill(kit.deps, t.serviceId, '2025-02', { terminatedAt });
    expect(result.period).toBe('2025-01-15');
    expect(result.push).toMatchObject({ batchId: batchIdFor(t.serviceId, '2025-01-15'), state: 'pushed' });
    expect((await listBatches(kit.deps.pool, { serviceId: t.serviceId }))[0]).toMatchObject({ callCount: 2 });
    // the job replayed, then the regular close: nothing more in WHMCS
    expect((await runFinalBill(kit.deps, t.serviceId, '2025-02', { terminatedAt })).push?.batchId).toBe(batchIdFor(t.serviceId, '2025-01-15'));
    await closeBillingPeriods(kit.deps, new Date(newYork('2025-04-16T12:00')));
    await waitFor(async () => (await kit.deps.queues.billing.getJobCounts('waiting', 'active')).waiting === 0, 15000, 'queue drained');
    expect(itemsFor(t)).toHaveLength(1);
  });
});

describe('billing filters and inbound rates through the CDR sync', () => {
  test('each call stored rated or not billable with the rule that matched, never unrated; inbound at the plan rate; sum exact', async () => {
    const flat = await tenant('Monthly', '2025-02-01', {
      inboundBilling: 'on',
      inboundRate: '0.013333',
      inboundIncrement: '30/6',
      billingExcludes: '[emergency],[tollfree],*xx,4443',
    });
    const didDeck = await tenant('Monthly', '2025-02-01', { inboundBilling: 'yes', inboundRateDeck: 'dids' });
    const cases: { t: Tenant; cdr: Parameters<BillingKit['insertCdr']>[1]; status: string; reason: string | null; amount: string | null }[] = [
      { t: flat, cdr: { start: '2025-01-10T10:00:00Z', billsec: 61, destination: '911' }, status: 'not_billable', reason: 'EXCLUDED:[emergency]911', amount: null },
      { t: flat, cdr: { start: '2025-01-10T10:01:00Z', billsec: 61, destination: '18005550100' }, status: 'not_billable', reason: 'EXCLUDED:[tollfree]1800xxxxxxx', amount: null },
      { t: flat, cdr: { start: '2025-01-10T10:02:00Z', billsec: 5, destination: '*97', direction: 'outbound' }, status: 'not_billable', reason: 'EXCLUDED:*xx', amount: null },
      { t: flat, cdr: { start: '2025-01-10T10:03:00Z', billsec: 5, destination: '4443' }, status: 'not_billable', reason: 'EXCLUDED:4443', amount: null },
      { t: flat, cdr: { start: '2025-01-10T10:04:00Z', billsec: 61, destination: '12125550100' }, status: 'rated', reason: null, amount: '0.027400' },
      // inbound 31 s at 30/6 = 36 s × 0.013333/min = 0.0079998 → 0.008000 (half-up, once per call)
      { t: flat, cdr: { start: '2025-01-10T10:05:00Z', billsec: 31, destination: '12125550199', direction: 'inbound' }, status: 'rated', reason: null, amount: '0.008000' },
      {
        t: flat,
        cdr: { start: '2025-01-10T10:06:00Z', billsec: 0, destination: '12125550199', direction: 'inbound' },
        status: 'not_billable',
        reason: 'NOT_ANSWERED',
        amount: null,
      },
      {
        t: flat,
        cdr: { start: '2025-01-10T10:07:00Z', billsec: 20, destination: '201', direction: 'local' },
        status: 'not_billable',
        reason: 'DIRECTION_NOT_BILLED',
        amount: null,
      },
      // the DID deck prices an inbound call to the tenant's toll-free number (the [tollfree] default is for numbers dialled out)
      { t: didDeck, cdr: { start: '2025-01-10T10:00:00Z', billsec: 7, destination: '18005550123', direction: 'inbound' }, status: 'rated', reason: null, amount: '0.004000' },
      {
        t: didDeck,
        cdr: { start: '2025-01-10T10:01:00Z', billsec: 7, destination: '12125550123', direction: 'inbound' },
        status: 'unrated',
        reason: 'NO_MATCHING_RATE',
        amount: null,
      },
      { t: didDeck, cdr: { start: '2025-01-10T10:02:00Z', billsec: 60, destination: '112' }, status: 'not_billable', reason: 'EXCLUDED:[emergency]112', amount: null },
    ];
    const uuids: string[] = [];
    for (const c of cases) uuids.push(await kit.insertCdr(c.t, c.cdr));
    for (const t of [flat, didDeck]) await syncTenantCdrs(kit.deps, t.serviceId);
    for (const t of [flat, didDeck]) await syncTenantCdrs(kit.deps, t.serviceId); // replayed: nothing new
    const stored = new Map(
      [...(await listCharges(kit.deps.pool, { serviceId: flat.serviceId })), ...(await listCharges(kit.deps.pool, { serviceId: didDeck.serviceId }))].map((c) => [c.xmlCdrUuid, c]),
    );
    expect(stored.size).toBe(cases.length);
    cases.forEach((c, index) => {
      const charge = stored.get(uuids[index]!)!;
      expect({ case: index, status: charge.status, reason: charge.reason, amount: charge.amount }).toEqual({ case: index, status: c.status, reason: c.reason, amount: c.amount });
    });
    // the inbound DID charge names the deck it was priced with
    expect(stored.get(uuids[8]!)).toMatchObject({ currency: 'USD', destination: '+18005550123' });
    const expectedFlat = cases.filter((c) => c.t === flat && c.amount).reduce((sum, c) => sum + decimalToMicro(c.amount as string), 0n);
    const { rows } = await kit.deps.pool.query<{ total: string }>(`SELECT sum(amount)::numeric(18,6)::text AS total FROM cdr_charges WHERE service_id = $1`, [flat.serviceId]);
    expect(rows[0]!.total).toBe(microToDecimal(expectedFlat));
  });
});

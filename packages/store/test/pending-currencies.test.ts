// A terminated service's pending adjustments in two currencies: a bill takes only its own currency's, so every check of
// what is left (credit left, below one cent, settle) is made per currency — a +5.00 EUR and a -5.00 USD do not cancel.
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import {
  BATCH_CURRENCIES_MIXED_ACTION,
  BELOW_CENT_SETTLED_ACTION,
  BillingCurrencyMixedError,
  createBatch,
  listCurrenciesMixedHeld,
  recordCurrenciesMixed,
  servicesToBill,
  CREDIT_SETTLED_ACTION,
  CreditSettleError,
  createPool,
  insertAdjustment,
  listAdjustments,
  migrateBridgeDatabase,
  recordCreditsLeft,
  ServicesRepository,
  servicesWithBelowCentLeft,
  settleBelowCent,
  settleCreditLeft,
  withBillingLock,
} from '@ictvoip/store';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('pending_currencies');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** A terminated service whose calls are all read (a sync ran after its termination) and billed (none). */
async function terminatedAndSynced(serviceId: number): Promise<void> {
  const services = new ServicesRepository(pool);
  await services.setDesired({ serviceId, clientId: serviceId, desiredState: 'active', plan: {}, eventId: randomUUID() });
  await services.setDesired({ serviceId, clientId: serviceId, desiredState: 'terminated', plan: {}, eventId: randomUUID() });
  await pool.query(`UPDATE services SET updated_at = now() - interval '1 hour', terminated_at = now() - interval '1 hour' WHERE service_id = $1`, [serviceId]);
  await pool.query(
    `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
     VALUES ($1, $2, $3, now() - interval '2 hours', $2, now())`,
    [serviceId, randomUUID(), `t${serviceId}.example`],
  );
}

async function adjust(serviceId: number, adjustmentId: string, amount: string, currency: string | null): Promise<void> {
  await insertAdjustment(pool, { adjustmentId: `${adjustmentId}-${serviceId}`, serviceId, kind: 'manual', amount, currency, sourcePeriod: null, description: 'test' });
}

/** The service's pending adjustments summed per currency, exactly (micro-units). */
async function pendingByCurrency(serviceId: number): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ currency: string | null; amount: string }>(
    `SELECT trim(currency) AS currency, sum(amount)::numeric(18,6)::text AS amount FROM billing_adjustments
     WHERE service_id = $1 AND batch_id IS NULL GROUP BY trim(currency) ORDER BY 1`,
    [serviceId],
  );
  return Object.fromEntries(rows.map((row) => [row.currency ?? 'none', row.amount]));
}

describe('a credit in one currency and a debt of the same amount in another', () => {
  it('is a credit left in its currency (the sum across currencies, zero, hid it)', async () => {
    const serviceId = 7101;
    await terminatedAndSynced(serviceId);
    await adjust(serviceId, 'eur', '-5.000000', 'EUR');
    await adjust(serviceId, 'usd', '5.000000', 'USD');

    const credits = await recordCreditsLeft(pool, { serviceId });
    expect(credits.map((c) => ({ credit: c.credit, currency: c.currency }))).toEqual([{ credit: '-5.000000', currency: 'EUR' }]);
    // Once per amount and currency: a second run records nothing.
    expect(await recordCreditsLeft(pool, { serviceId })).toEqual([]);
  });

  it('is settled in its currency only: the other currency is left as it was, to the micro-unit', async () => {
    const serviceId = 7102;
    await terminatedAndSynced(serviceId);
    await adjust(serviceId, 'eur', '-5.000000', 'EUR');
    await adjust(serviceId, 'usd', '5.000000', 'USD');

    const outcome = await withBillingLock(pool, serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'refunded', actor: 'test' }));
    expect(outcome.settled).toBe(true);
    expect(outcome.settlement).toMatchObject({ credit: '-5.000000', currency: 'EUR' });
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '0.000000', USD: '5.000000' });
  });
});

describe('credits in two currencies', () => {
  it('are each reported with their own amount', async () => {
    const serviceId = 7103;
    await terminatedAndSynced(serviceId);
    await adjust(serviceId, 'eur', '-2.000000', 'EUR');
    await adjust(serviceId, 'usd', '-3.000000', 'USD');

    const credits = await recordCreditsLeft(pool, { serviceId });
    expect(credits.map((c) => ({ credit: c.credit, currency: c.currency })).sort((a, b) => a.currency!.localeCompare(b.currency!))).toEqual([
      { credit: '-2.000000', currency: 'EUR' },
      { credit: '-3.000000', currency: 'USD' },
    ]);
  });

  it('are settled one currency at a time: without --currency settle refuses, naming each; with it, that one only', async () => {
    const serviceId = 7104;
    await terminatedAndSynced(serviceId);
    await adjust(serviceId, 'eur', '-2.000000', 'EUR');
    await adjust(serviceId, 'usd', '-3.000000', 'USD');

    const refused = await withBillingLock(pool, serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'refunded', actor: 'test' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CreditSettleError);
    expect(refused).toMatchObject({ code: 'CREDIT_CURRENCIES_MIXED' });
    expect((refused as Error).message).toContain('-2.000000 EUR, -3.000000 USD');
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '-2.000000', USD: '-3.000000' });

    const usd = await withBillingLock(pool, serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'refunded USD', actor: 'test', currency: 'USD' }));
    expect(usd.settlement).toMatchObject({ credit: '-3.000000', currency: 'USD', adjustmentId: `settle-${serviceId}-1` });
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '-2.000000', USD: '0.000000' });
    // The EUR credit is still one: settled by a second run, naming it (or now alone, without a currency).
    const eur = await withBillingLock(pool, serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'refunded EUR', actor: 'test' }));
    expect(eur.settlement).toMatchObject({ credit: '-2.000000', currency: 'EUR', adjustmentId: `settle-${serviceId}-2` });
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '0.000000', USD: '0.000000' });
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE service_id = $1 AND action = $2`, [serviceId, CREDIT_SETTLED_ACTION]);
    expect(rows[0]!.n).toBe(2);
    // Run again: nothing left, the last settlement answered.
    const again = await withBillingLock(pool, serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'again', actor: 'test' }));
    expect(again.settled).toBe(false);
  });
});

describe('sub-cent amounts in two currencies', () => {
  it('are each settled as below one cent, though their sum is a cent', async () => {
    const serviceId = 7105;
    await terminatedAndSynced(serviceId);
    // Each under half a cent; together 0.008 rounds to 0.01, which hid both from the sweep.
    await adjust(serviceId, 'eur', '0.004000', 'EUR');
    await adjust(serviceId, 'usd', '0.004000', 'USD');

    expect(await servicesWithBelowCentLeft(pool, new Date())).toContain(serviceId);
    const settled = await withBillingLock(pool, serviceId, (client) => settleBelowCent(client, serviceId));
    expect(settled.map((s) => ({ amount: s.amount, currency: s.currency, adjustmentId: s.adjustmentId }))).toEqual([
      { amount: '0.004000', currency: 'EUR', adjustmentId: `below-cent-${serviceId}-1` },
      { amount: '0.004000', currency: 'USD', adjustmentId: `below-cent-${serviceId}-2` },
    ]);
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '0.000000', USD: '0.000000' });
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE service_id = $1 AND action = $2`, [serviceId, BELOW_CENT_SETTLED_ACTION]);
    expect(rows[0]!.n).toBe(2);
    expect(await servicesWithBelowCentLeft(pool, new Date())).not.toContain(serviceId);
  });

  it('a sub-cent amount in one currency is swept while a credit in another stays for settle', async () => {
    const serviceId = 7106;
    await terminatedAndSynced(serviceId);
    await adjust(serviceId, 'eur', '-3.250000', 'EUR');
    await adjust(serviceId, 'usd', '0.003000', 'USD');

    const settled = await withBillingLock(pool, serviceId, (client) => settleBelowCent(client, serviceId));
    expect(settled.map((s) => ({ amount: s.amount, currency: s.currency }))).toEqual([{ amount: '0.003000', currency: 'USD' }]);
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '-3.250000', USD: '0.000000' });
    expect((await recordCreditsLeft(pool, { serviceId })).map((c) => `${c.credit} ${c.currency}`)).toEqual(['-3.250000 EUR']);
    expect((await listAdjustments(pool, { serviceId, pendingOnly: true })).length).toBe(3);
  });
});

// A leftover in a currency the client no longer pays in (a legitimate currency change, a released prepaid invoice's lone
// `released-<key>` remainder) held every later bill as "several currencies" for good: no re-rate changes an adjustment.
// A bill is made in its calls' currency (else the one its adjustments alone are worth a cent in); the leftover stays pending.
describe('a leftover pending in another currency than the bill', () => {
  const PERIOD = '2026-10';

  async function liveService(serviceId: number, billingMode: 'postpaid' | 'prepaid' = 'postpaid'): Promise<void> {
    await new ServicesRepository(pool).setDesired({ serviceId, clientId: serviceId, desiredState: 'active', plan: { billingMode }, eventId: randomUUID() });
  }

  async function addCall(serviceId: number, amount: string, currency: string): Promise<void> {
    await pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
       VALUES ($1, $2, $3, now(), 'outbound', 60, 60, $4::numeric, $5, 'rated', $6)`,
      [randomUUID(), serviceId, `t${serviceId}.example`, amount, currency, PERIOD],
    );
  }

  const bill = (serviceId: number, callsOnPrepaidInvoices = false) =>
    withBillingLock(pool, serviceId, (client) => createBatch(client, { serviceId, clientId: serviceId, period: PERIOD, callsOnPrepaidInvoices }));

  it("does not hold a bill of calls for the old currency's last remainder under a cent: it stays pending, exact", async () => {
    const serviceId = 7201;
    await liveService(serviceId);
    await addCall(serviceId, '1.234500', 'EUR');
    await adjust(serviceId, 'eur', '-0.200000', 'EUR');
    await adjust(serviceId, 'usd', '0.004000', 'USD');

    const made = await bill(serviceId);
    expect(made?.batch).toMatchObject({ currency: 'EUR', callCount: 1, total: '1.034500', adjustmentTotal: '-0.200000' });
    expect(await pendingByCurrency(serviceId)).toEqual({ USD: '0.004000' });
  });

  it("does not hold a prepaid service's bill of adjustments for a lone released remainder under a cent in the old currency", async () => {
    const serviceId = 7202;
    await liveService(serviceId, 'prepaid');
    await adjust(serviceId, 'released', '-0.004000', 'USD');
    await adjust(serviceId, 'r1', '0.004000', 'EUR');
    await adjust(serviceId, 'r2', '0.003000', 'EUR');
    // Reported as mixed by an earlier close (what a version summing every non-zero currency did): no longer held.
    await recordCurrenciesMixed(pool, BATCH_CURRENCIES_MIXED_ACTION, serviceId, PERIOD, ['EUR', 'USD']);
    expect((await servicesToBill(pool, PERIOD, { prepaidInvoices: true })).map((s) => s.serviceId)).toContain(serviceId);
    expect(await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).toEqual([]);

    const made = await bill(serviceId, true);
    expect(made?.batch).toMatchObject({ currency: 'EUR', callCount: 0, total: '0.007000', lineAmount: '0.01' });
    expect(await pendingByCurrency(serviceId)).toEqual({ USD: '-0.004000' });
  });

  it('still holds a bill whose calls are in two currencies, and one whose adjustments are worth a cent in two', async () => {
    const calls = 7203;
    await liveService(calls);
    await addCall(calls, '1.000000', 'EUR');
    await addCall(calls, '1.000000', 'USD');
    await expect(bill(calls)).rejects.toBeInstanceOf(BillingCurrencyMixedError);

    const adjustments = 7204;
    await liveService(adjustments);
    await adjust(adjustments, 'eur', '2.000000', 'EUR');
    await adjust(adjustments, 'usd', '3.000000', 'USD');
    await expect(bill(adjustments)).rejects.toMatchObject({ code: 'BILLING_CURRENCY_MIXED', currencies: ['EUR', 'USD'] });
    expect(await pendingByCurrency(adjustments)).toEqual({ EUR: '2.000000', USD: '3.000000' });
  });
});

// The close's listing of adjustments alone (invoiceableSumSql) and createBatch's "is there a bill" (makesBatch) weigh each
// currency, as the bill takes it: summed across currencies, a +5.00 EUR beside a -5.00 USD was never listed (never billed
// nor reported), and two currencies' remainders under a cent each, together a cent, made a bill held as several currencies.
describe("a live service's adjustments in two currencies, as the close lists them", () => {
  const PERIOD = '2026-09';
  const live = (serviceId: number) => new ServicesRepository(pool).setDesired({ serviceId, clientId: serviceId, desiredState: 'active', plan: {}, eventId: randomUUID() });
  const listed = async () => (await servicesToBill(pool, PERIOD)).map((s) => s.serviceId);
  const bill = (serviceId: number) => withBillingLock(pool, serviceId, (client) => createBatch(client, { serviceId, clientId: serviceId, period: PERIOD }));

  it('a debt in one and a credit of the same amount in another: listed, and its bill refused as several currencies (reported, not silent)', async () => {
    const serviceId = 7301;
    await live(serviceId);
    await adjust(serviceId, 'eur', '5.000000', 'EUR');
    await adjust(serviceId, 'usd', '-5.000000', 'USD');
    expect(await listed()).toContain(serviceId);
    await expect(bill(serviceId)).rejects.toMatchObject({ code: 'BILLING_CURRENCY_MIXED', currencies: ['EUR', 'USD'] });
  });

  it('remainders under a cent in two currencies: not listed, no bill (each waits for a bill in its currency)', async () => {
    const serviceId = 7302;
    await live(serviceId);
    await adjust(serviceId, 'eur', '0.004000', 'EUR');
    await adjust(serviceId, 'usd', '0.004000', 'USD');
    expect(await listed()).not.toContain(serviceId);
    expect(await bill(serviceId)).toBeNull();
    expect(await pendingByCurrency(serviceId)).toEqual({ EUR: '0.004000', USD: '0.004000' });
  });
});

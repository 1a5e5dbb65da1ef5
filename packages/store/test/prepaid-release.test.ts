// A prepaid invoice held because its client pays in another currency than its calls (CURRENCY_MISMATCH), released by an
// operator (releasePrepaidInvoice): its calls go back to unbilled, held from every prepaid invoice and close listing
// until re-rated; nothing is lost or billed twice, to the micro-unit.
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import {
  createBatch,
  createPool,
  createPrepaidInvoice,
  listAdjustments,
  listCurrenciesMixedHeld,
  PREPAID_CURRENCIES_MIXED_ACTION,
  recordCurrenciesMixed,
  reportPrepaidCurrenciesMixed,
  listPrepaidInvoices,
  migrateBridgeDatabase,
  PREPAID_INVOICE_RELEASED_ACTION,
  PrepaidReleaseError,
  releasePrepaidInvoice,
  servicesToBill,
  unbilledCallsBelowCent,
  servicesToBillPerService,
  servicesToInvoicePrepaid,
  ServicesRepository,
  updatePrepaidInvoice,
  withBillingLock,
  type PrepaidInvoice,
} from '@ictvoip/store';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('prepaid_release');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const PERIOD = '2026-11';
const MISMATCH = 'CURRENCY_MISMATCH: client 7 pays in EUR, the calls are rated in USD';

async function prepaidService(serviceId: number): Promise<void> {
  await new ServicesRepository(pool).setDesired({ serviceId, clientId: serviceId, desiredState: 'active', plan: { billingMode: 'prepaid' }, eventId: randomUUID() });
}

async function addCall(serviceId: number, amount: string, currency = 'USD'): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES ($1, $2, $3, now(), 'outbound', 60, 60, $4::numeric, $5, 'rated', $6)`,
    [id, serviceId, `t${serviceId}.example`, amount, currency, PERIOD],
  );
  return id;
}

/** The day's invoice of the service's unbilled calls, held as the worker holds it when the client pays in another currency. */
async function heldInvoice(serviceId: number, day: string): Promise<PrepaidInvoice> {
  const made = await withBillingLock(pool, serviceId, (client) => createPrepaidInvoice(client, { serviceId, clientId: serviceId, day }));
  expect(made).not.toBeNull();
  return (await updatePrepaidInvoice(pool, made!.invoiceKey, ['creating'], { state: 'creating', lastError: MISMATCH, attempt: true }))!;
}

const release = (invoice: PrepaidInvoice, dryRun = false) =>
  withBillingLock(pool, invoice.serviceId, (client) => releasePrepaidInvoice(client, invoice.invoiceKey, { actor: 'test', dryRun }));

const onInvoice = async (key: string) => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM cdr_charges WHERE prepaid_invoice = $1', [key])).rows[0]!.n);
const pendingAdjustments = async (serviceId: number) => (await listAdjustments(pool, { serviceId, pendingOnly: true })).map((a) => [a.adjustmentId, a.amount]);
const audits = async (serviceId: number) =>
  (
    await pool.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2', [serviceId, PREPAID_INVOICE_RELEASED_ACTION])
  ).rows.map((row) => row.detail);

async function listed(serviceId: number): Promise<{ prepaidRun: boolean; close: boolean }> {
  const options = { prepaidInvoices: true };
  const calendar = (await servicesToBill(pool, PERIOD, options)).some((row) => row.serviceId === serviceId);
  const perService = (await servicesToBillPerService(pool, new Map([[serviceId, PERIOD]]), options)).some((row) => row.serviceId === serviceId);
  expect(perService).toBe(calendar);
  return { prepaidRun: (await servicesToInvoicePrepaid(pool)).includes(serviceId), close: calendar };
}

test('a dry run changes nothing; the release frees the calls, takes the carried remainder back, marks the invoice abandoned, once', async () => {
  const serviceId = 9101;
  await prepaidService(serviceId);
  await addCall(serviceId, '1.004000');
  await addCall(serviceId, '0.500000');
  const invoice = await heldInvoice(serviceId, '2026-11-20');
  expect(invoice).toMatchObject({ lineAmount: '1.50', total: '1.504000', callCount: 2 });
  expect(await pendingAdjustments(serviceId)).toEqual([[`rounding-${invoice.invoiceKey}`, '0.004000']]);

  const dry = await release(invoice, true);
  expect(dry).toMatchObject({
    released: true,
    calls: 2,
    total: '1.504000',
    periods: [PERIOD],
    remainderAdjustment: { adjustmentId: `released-${invoice.invoiceKey}`, amount: '-0.004000' },
  });
  expect(await onInvoice(invoice.invoiceKey)).toBe(2);
  expect((await listPrepaidInvoices(pool, { serviceId }))[0]).toMatchObject({ state: 'creating' });
  expect(await pendingAdjustments(serviceId)).toHaveLength(1);
  expect(await audits(serviceId)).toEqual([]);

  const done = await release(invoice);
  expect(done).toMatchObject({ released: true, calls: 2, total: '1.504000', invoice: { state: 'abandoned' } });
  expect(await onInvoice(invoice.invoiceKey)).toBe(0);
  // Net nothing carried: the next invoice of these calls carries its own remainder.
  expect(await pendingAdjustments(serviceId)).toEqual(
    expect.arrayContaining([
      [`rounding-${invoice.invoiceKey}`, '0.004000'],
      [`released-${invoice.invoiceKey}`, '-0.004000'],
    ]),
  );
  expect(await audits(serviceId)).toEqual([
    expect.objectContaining({
      invoiceKey: invoice.invoiceKey,
      calls: 2,
      total: '1.504000',
      currency: 'USD',
      reason: MISMATCH,
      remainderAdjustment: `released-${invoice.invoiceKey}`,
    }),
  ]);

  // Run again: nothing changes.
  expect(await release(invoice)).toMatchObject({ released: false, calls: 0 });
  expect(await audits(serviceId)).toHaveLength(1);
  expect(await pendingAdjustments(serviceId)).toHaveLength(2);
});

test('released calls are held (no invoice, no listing) until re-rated, then invoiced as usual', async () => {
  const serviceId = 9102;
  await prepaidService(serviceId);
  const call = await addCall(serviceId, '2.000000');
  await release(await heldInvoice(serviceId, '2026-11-20'));
  expect(await listed(serviceId)).toEqual({ prepaidRun: false, close: false });
  const next = () => withBillingLock(pool, serviceId, (client) => createPrepaidInvoice(client, { serviceId, clientId: serviceId, day: '2026-11-21' }));
  expect(await next()).toBeNull();

  // Re-rated in the client's currency (as updateChargeRating writes it): invoiced as usual.
  await pool.query(`UPDATE cdr_charges SET amount = 1.800000, currency = 'EUR', rated_at = clock_timestamp() WHERE xml_cdr_uuid = $1`, [call]);
  expect(await listed(serviceId)).toEqual({ prepaidRun: true, close: true });
  expect(await next()).toMatchObject({ state: 'creating', currency: 'EUR', total: '1.800000', callCount: 1 });
});

test('refuses an invoice that is not held for its currency, and one whose calls do not add up to it', async () => {
  const serviceId = 9103;
  await prepaidService(serviceId);
  await addCall(serviceId, '1.000000');
  const made = await withBillingLock(pool, serviceId, (client) => createPrepaidInvoice(client, { serviceId, clientId: serviceId, day: '2026-11-20' }));
  await expect(release(made!)).rejects.toMatchObject({ code: 'NOT_HELD_FOR_CURRENCY' });
  await expect(withBillingLock(pool, serviceId, (client) => releasePrepaidInvoice(client, 'pp-9103-2020-01-01', { actor: 'test' }))).rejects.toBeInstanceOf(PrepaidReleaseError);

  const held = (await updatePrepaidInvoice(pool, made!.invoiceKey, ['creating'], { state: 'creating', lastError: MISMATCH }))!;
  await pool.query(`UPDATE prepaid_invoices SET total = 1.100000 WHERE invoice_key = $1`, [held.invoiceKey]);
  await expect(release(held)).rejects.toMatchObject({ code: 'RELEASE_MISMATCH' });
  expect(await onInvoice(held.invoiceKey)).toBe(1);
  expect((await listPrepaidInvoices(pool, { serviceId }))[0]).toMatchObject({ state: 'creating' });
});

test('released calls waiting to be re-rated are said as such, not as calls in several currencies (the close report and the held list)', async () => {
  const serviceId = 9104;
  await prepaidService(serviceId);
  const usd = await addCall(serviceId, '2.000000');
  const invoice = await heldInvoice(serviceId, '2026-11-20');
  await release(invoice);
  // A later call in the client's currency, under a cent: the period's closing invoice is not made, and the close asks for the mix.
  await addCall(serviceId, '0.004000', 'EUR');

  // Before: ['EUR', 'USD'] recorded as "several currencies", though no invoice would ever take the USD call with the EUR one.
  expect(await reportPrepaidCurrenciesMixed(pool, serviceId, PERIOD)).toBeNull();

  // A mix reported for the period (before the release, say) is no mix now: the list says the released call waits to be re-rated.
  await recordCurrenciesMixed(pool, PREPAID_CURRENCIES_MIXED_ACTION, serviceId, PERIOD, ['EUR', 'USD']);
  const releasedHold = {
    serviceId,
    period: PERIOD,
    kind: 'released',
    currencies: ['USD'],
    reportedAt: expect.any(Date),
    released: { calls: 1, total: '2.000000', invoiceKeys: [invoice.invoiceKey] },
  };
  expect(await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).toEqual([releasedHold]);
  // Prepaid invoices off (CREDIT_PREPAID_INVOICE_EVERY_SECONDS=0), or the service no longer prepaid: its bill takes the
  // call as any other, nothing waits. (Before: listed as `released`, "not invoiced".)
  expect((await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: false })).filter((held) => held.kind === 'released')).toEqual([]);
  await pool.query(`UPDATE services SET plan = plan || '{"billingMode": "postpaid"}'::jsonb WHERE service_id = $1`, [serviceId]);
  expect((await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).filter((held) => held.kind === 'released')).toEqual([]);
  await pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [serviceId]);

  // A call rated in USD after the release is not held by it: with the EUR call, a real mix, listed as such beside the released call.
  await addCall(serviceId, '0.003000', 'USD');
  expect(await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).toEqual(
    expect.arrayContaining([releasedHold, expect.objectContaining({ kind: 'prepaid', currencies: ['EUR', 'USD'] })]),
  );
  await pool.query(`DELETE FROM cdr_charges WHERE service_id = $1 AND currency = 'USD' AND xml_cdr_uuid <> $2`, [serviceId, usd]);

  // Re-rated in the client's currency: nothing held any more.
  await pool.query(`UPDATE cdr_charges SET amount = 1.800000, currency = 'EUR', rated_at = clock_timestamp() WHERE xml_cdr_uuid = $1`, [usd]);
  expect(await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).toEqual([]);
});

test("a bill takes only its own currency's adjustments: the released remainder pair (old currency, net zero) stays pending, taken by no bill of another currency", async () => {
  const serviceId = 9105;
  await prepaidService(serviceId);
  await addCall(serviceId, '1.004000');
  const invoice = await heldInvoice(serviceId, '2026-11-20');
  await release(invoice);
  const pair = [
    [`rounding-${invoice.invoiceKey}`, '0.004000', 'USD'],
    [`released-${invoice.invoiceKey}`, '-0.004000', 'USD'],
  ];
  // An adjustment in the client's currency: the period's bill is made of it, in EUR.
  await pool.query(`INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, description) VALUES ($1, $2, 'manual', 0.500000, 'EUR', 'set-up fee')`, [
    `fee-${serviceId}`,
    serviceId,
  ]);
  const made = await withBillingLock(pool, serviceId, (client) => createBatch(client, { serviceId, clientId: serviceId, period: PERIOD, callsOnPrepaidInvoices: true }));
  expect(made?.batch).toMatchObject({ currency: 'EUR', total: '0.500000', adjustmentTotal: '0.500000', callCount: 0 });
  const rows = async (pending: boolean) =>
    (await listAdjustments(pool, { serviceId })).filter((a) => (a.batchId === null) === pending).map((a) => [a.adjustmentId, a.amount, a.currency]);
  // Before: the EUR bill took the USD pair too (nothing billed for it, but USD rows on a EUR bill).
  expect(await rows(false)).toEqual([[`fee-${serviceId}`, '0.500000', 'EUR']]);
  expect(await rows(true)).toEqual(pair);
  // Nothing to bill, hold or list for them: they come to zero. (The next period's close; this one's lists its open bill.)
  const next = '2026-12';
  const options = { prepaidInvoices: true };
  expect((await servicesToBill(pool, next, options)).filter((row) => row.serviceId === serviceId && row.period === next)).toEqual([]);
  expect((await servicesToBillPerService(pool, new Map([[serviceId, next]]), options)).filter((row) => row.period === next)).toEqual([]);
  expect(await servicesToInvoicePrepaid(pool)).not.toContain(serviceId);
  expect(await listCurrenciesMixedHeld(pool, { serviceId, prepaidInvoices: true })).toEqual([expect.objectContaining({ kind: 'released' })]);
});

test("a terminated service's final calls under a cent go on a bill that leaves the calls a release holds held, in the old currency", async () => {
  const serviceId = 9150;
  await prepaidService(serviceId);
  const held = [await addCall(serviceId, '1.000000'), await addCall(serviceId, '0.500000')];
  expect(await release(await heldInvoice(serviceId, '2026-11-21'))).toMatchObject({ released: true, calls: 2 });
  // The client pays in EUR now: its last call, rated after the release, comes to less than a cent.
  const last = await addCall(serviceId, '0.003000', 'EUR');
  // What no prepaid invoice can take: the EUR call alone (before: summed with the held USD calls, 1.503, so "not below").
  expect(await unbilledCallsBelowCent(pool, serviceId, PERIOD)).toBe(true);
  // The bill the worker then makes (calls as a postpaid service's) takes only that call (before: the held USD calls too,
  // refused as several currencies).
  const made = await withBillingLock(pool, serviceId, (client) => createBatch(client, { serviceId, clientId: serviceId, period: PERIOD, callsOnPrepaidInvoices: false }));
  expect(made?.batch).toMatchObject({ callCount: 1, currency: 'EUR', total: '0.003000' });
  const { rows } = await pool.query<{ id: string; batch_id: string | null }>('SELECT xml_cdr_uuid AS id, batch_id FROM cdr_charges WHERE service_id = $1 ORDER BY amount', [
    serviceId,
  ]);
  expect(rows).toEqual([
    { id: last, batch_id: made!.batch.batchId },
    { id: held[1], batch_id: null },
    { id: held[0], batch_id: null },
  ]);
});

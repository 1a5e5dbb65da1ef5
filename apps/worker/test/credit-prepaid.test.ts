/**
 * Prepaid usage invoiced (CreateInvoice, token in the notes) and paid from credit (ApplyCredit)
 * exactly once per day and service, against the WHMCS stand-in: crashes after each WHMCS write,
 * not enough credit, exact sums (line + carried remainder = rated), and the period close not
 * billing the same calls again.
 */
import { listAdjustments, listPrepaidInvoices } from '@ictvoip/store';
import { invoicePrepaidUsage, pushBillingBatch, runCreditCheck, syncTenantCdrs } from '../src';
import { logRecords } from './harness';
import { useBillingKit, decimalToMicro, expectedMicro, microToDecimal, roundCents, type Tenant } from './cdr-billing-kit';

const kit = useBillingKit({ CREDIT_CACHE_SECONDS: '0' });
/**
 * The calls are stamped just before now (the sync's look-back is measured from now), so the period,
 * the day and the next day come from the clock too: a fixed PERIOD broke on the day after its
 * own. Ten minutes back, and clear of a month's first minutes, so every call falls in one period.
 */
const CALL_BASE = callBase(Date.now());
const PERIOD = new Date(CALL_BASE).toISOString().slice(0, 7);
const DAY_KEY = new Date(CALL_BASE).toISOString().slice(0, 10);
const DAY = new Date(`${DAY_KEY}T12:00:00Z`);
/** After the day a close made now records (the close's own day is today, UTC). */
const NEXT_DAY_KEY = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

function callBase(now: number): number {
  const base = now - 600_000;
  const sameMonth = (a: number, b: number) => new Date(a).toISOString().slice(0, 7) === new Date(b).toISOString().slice(0, 7);
  return sameMonth(base, base + 60_000) ? base : base - 120_000;
}

async function prepaidTenant(credit: string, calls: { destination: string; e164: string; billsec: number }[]): Promise<{ tenant: Tenant; rated: bigint }> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode":"prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = credit;
  let rated = 0n;
  for (const [index, call] of calls.entries()) {
    rated += expectedMicro(call.e164, call.billsec);
    await kit.insertCdr(tenant, { start: new Date(CALL_BASE + index * 1000).toISOString(), billsec: call.billsec, destination: call.destination });
  }
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  return { tenant, rated };
}

const requests = (action: string, clientId: number) =>
  kit.whmcs.state.requests.filter((request) => request.action === action && (request.params.userid ?? '') === String(clientId));
const invoicesOf = (clientId: number) => kit.whmcs.state.invoices.filter((invoice) => invoice.userid === clientId);

const CALLS = [
  { destination: '12125550100', e164: '12125550100', billsec: 61 }, // 2 min at 0.0137
  { destination: '011493012345', e164: '493012345', billsec: 30 }, // 1 min at 0.021
  { destination: '15551234567', e164: '15551234567', billsec: 200 }, // 4 min at 0.01
];

test('invoiced and paid from credit once a day; the line plus the carried remainder equal the rated sum; the period close does not bill the calls again', async () => {
  const { tenant, rated } = await prepaidTenant('10.00', CALLS);
  const before = await runCreditCheck(kit.deps, tenant.clientId);
  expect(before.services[0]?.figures).toMatchObject({ usage: microToDecimal(rated), available: microToDecimal(10_000_000n - rated) });

  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid', invoiceKey: `pp-${tenant.serviceId}-${DAY_KEY}` });
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'nothing' });
  const [invoice] = await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId });
  const line = roundCents(rated);
  expect(invoice).toMatchObject({ state: 'paid', total: microToDecimal(rated), lineAmount: microToDecimal(line, 2), callCount: 3, creditApplied: microToDecimal(line, 2) });
  const remainder = await listAdjustments(kit.deps.pool, { serviceId: tenant.serviceId, kind: 'rounding' });
  expect(decimalToMicro(invoice!.lineAmount) + remainder.reduce((sum, adjustment) => sum + decimalToMicro(adjustment.amount), 0n)).toBe(rated);

  expect(invoicesOf(tenant.clientId)).toHaveLength(1);
  expect(invoicesOf(tenant.clientId)[0]).toMatchObject({ status: 'Paid', notes: invoice!.token });
  expect(kit.whmcs.state.clients.get(tenant.clientId)!.credit).toBe(microToDecimal(10_000_000n - line, 2));
  // Paid from credit: the usage is no longer subtracted on top of the lower balance.
  const after = await runCreditCheck(kit.deps, tenant.clientId);
  expect(after.services[0]?.figures).toMatchObject({ usage: '0.000000', available: microToDecimal(10_000_000n - line) });
  // The month's close finds nothing of these calls left to bill.
  const close = await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
  expect(close.outcome).toBe('nothing');
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);
});

test('a crash after CreateInvoice, then after ApplyCredit: one invoice, credit applied once', async () => {
  const { tenant, rated } = await prepaidTenant('5.00', CALLS);
  const crash = new Error('simulated crash');
  await expect(
    invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY, {
      afterCreateInvoice: () => {
        throw crash;
      },
    }),
  ).rejects.toBe(crash);
  await expect(
    invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY, {
      afterApplyCredit: () => {
        throw crash;
      },
    }),
  ).rejects.toBe(crash);
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid' });
  expect(requests('CreateInvoice', tenant.clientId)).toHaveLength(1);
  expect(invoicesOf(tenant.clientId)).toHaveLength(1);
  const invoiceId = String(invoicesOf(tenant.clientId)[0]!.id);
  expect(kit.whmcs.state.requests.filter((request) => request.action === 'ApplyCredit' && request.params.invoiceid === invoiceId)).toHaveLength(1);
  expect(kit.whmcs.state.clients.get(tenant.clientId)!.credit).toBe(microToDecimal(5_000_000n - roundCents(rated), 2));
});

test('not enough credit: the invoice waits unpaid (usage still counts) and is paid after a top-up', async () => {
  const { tenant, rated } = await prepaidTenant('0.00', CALLS);
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'created' });
  expect((await runCreditCheck(kit.deps, tenant.clientId)).services[0]?.figures.usage).toBe(microToDecimal(rated));
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '3.00';
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid' });
  expect(requests('CreateInvoice', tenant.clientId)).toHaveLength(1);
  expect(kit.whmcs.state.clients.get(tenant.clientId)!.credit).toBe(microToDecimal(3_000_000n - roundCents(rated), 2));
});

test('a client who pays in another currency than the deck: no invoice, no credit taken, the reason kept; credit control does not mix the two', async () => {
  const { tenant } = await prepaidTenant('10.00', CALLS);
  kit.whmcs.state.clients.get(tenant.clientId)!.currency_code = 'EUR';
  // Before: USD calls went on an invoice in the client's EUR and were paid from its EUR credit.
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'creating' });
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'creating' });
  expect(requests('CreateInvoice', tenant.clientId)).toEqual([]);
  expect(kit.whmcs.state.clients.get(tenant.clientId)!.credit).toBe('10.00');
  const [invoice] = await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId });
  expect(invoice).toMatchObject({ state: 'creating', currency: 'USD', lastError: `CURRENCY_MISMATCH: client ${tenant.clientId} pays in EUR, the calls are rated in USD` });
  // The next days' runs find the same: reported once (audit + one ALERT log), not at every run (before: an error log each run, no audit).
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, new Date(DAY.getTime() + 86_400_000))).toMatchObject({ outcome: 'creating' });
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, new Date(DAY.getTime() + 2 * 86_400_000))).toMatchObject({ outcome: 'creating' });
  const { rows: reported } = await kit.deps.pool.query<{ detail: unknown }>('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2', [
    tenant.serviceId,
    'billing.prepaid_currency_mismatch',
  ]);
  expect(reported.map((row) => row.detail)).toEqual([{ invoiceKey: invoice!.invoiceKey, clientId: tenant.clientId, pays: 'EUR', rated: 'USD' }]);
  const alerts = logRecords(kit.bridge, (record) => record.code === 'CURRENCY_MISMATCH' && record.serviceId === tenant.serviceId);
  expect(alerts).toEqual([expect.objectContaining({ level: 50, invoiceKey: invoice!.invoiceKey, pays: 'EUR', rated: 'USD' })]);

  // A balance in EUR less usage in USD is no figure: counted as unreadable (CREDIT_UNREADABLE=open: nothing changes).
  const check = await runCreditCheck(kit.deps, tenant.clientId);
  expect(check.services[0]).toMatchObject({ unreadable: true, before: 'ok', after: 'ok', figures: { available: null } });
  const { rows } = await kit.deps.pool.query<{ last_error: string }>('SELECT last_error FROM credit_states WHERE service_id = $1', [tenant.serviceId]);
  expect(rows[0]?.last_error).toBe(`CURRENCY_MISMATCH: client ${tenant.clientId} pays in EUR, its calls are rated in USD`);

  // The operator moves the client to USD: the same invoice is made and paid, once.
  kit.whmcs.state.clients.get(tenant.clientId)!.currency_code = 'USD';
  expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid', invoiceKey: invoice!.invoiceKey });
  expect(requests('CreateInvoice', tenant.clientId)).toHaveLength(1);
});

describe('period close of a prepaid service (calls after the last daily invoice)', () => {
  // 60 s at 0.01: whole cents, so no rounding remainder rides on a batch.
  const LATE = [
    { destination: '15551234567', e164: '15551234567', billsec: 60 },
    { destination: '15551234568', e164: '15551234568', billsec: 45 },
  ];
  const closeKey = (serviceId: number) => `pp-${serviceId}-close-${PERIOD}`;

  async function addCalls(tenant: Tenant, calls: typeof LATE): Promise<void> {
    for (const [index, call] of calls.entries()) {
      await kit.insertCdr(tenant, { start: new Date(CALL_BASE + 20_000 + index * 1000).toISOString(), billsec: call.billsec, destination: call.destination });
    }
    await syncTenantCdrs(kit.deps, tenant.serviceId);
  }

  test('the close puts the calls after the day’s invoice on one closing invoice paid from credit, never in the batch; a repeat adds nothing', async () => {
    const { tenant } = await prepaidTenant('10.00', []);
    await addCalls(tenant, CALLS.slice(2));
    expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid' });
    await addCalls(tenant, LATE);
    // The day already has its invoice: the late calls wait for the close.
    expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'nothing' });

    expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    const closing = (await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId })).find((invoice) => invoice.invoiceKey === closeKey(tenant.serviceId));
    expect(closing).toMatchObject({ state: 'paid', callCount: 2, total: '0.020000', lineAmount: '0.02', creditApplied: '0.02' });
    expect(closing!.description).toContain(`Prepaid calls ${PERIOD} (period close): 2 calls, 2 min`);
    expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);

    // Repeated closes (the hourly job, a replay): no second invoice, no batch.
    expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    expect(requests('CreateInvoice', tenant.clientId)).toHaveLength(2);
    expect(invoicesOf(tenant.clientId).map((invoice) => invoice.status)).toEqual(['Paid', 'Paid']);
    const { rows } = await kit.deps.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM cdr_charges WHERE service_id = $1 AND prepaid_invoice IS NULL`, [tenant.serviceId]);
    expect(rows[0]?.n).toBe(0);
  });

  test('a call of the closed period rated after its closing invoice waits for the next daily invoice, never a batch', async () => {
    const { tenant } = await prepaidTenant('10.00', []);
    await addCalls(tenant, LATE.slice(0, 1));
    expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    await addCalls(tenant, LATE.slice(1));
    expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);
    expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, new Date(`${NEXT_DAY_KEY}T12:00:00Z`))).toMatchObject({
      outcome: 'paid',
      invoiceKey: `pp-${tenant.serviceId}-${NEXT_DAY_KEY}`,
    });
    expect((await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId })).map((invoice) => [invoice.invoiceKey, invoice.callCount])).toEqual([
      [closeKey(tenant.serviceId), 1],
      [`pp-${tenant.serviceId}-${NEXT_DAY_KEY}`, 1],
    ]);
  });

  test('a crash after the closing CreateInvoice: the next close finds it by its token, one invoice, paid once', async () => {
    const { tenant } = await prepaidTenant('10.00', []);
    await addCalls(tenant, LATE);
    const crash = new Error('simulated crash');
    await expect(
      pushBillingBatch(kit.deps, tenant.serviceId, PERIOD, {
        prepaid: {
          afterCreateInvoice: () => {
            throw crash;
          },
        },
      }),
    ).rejects.toBe(crash);
    expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    expect(requests('CreateInvoice', tenant.clientId)).toHaveLength(1);
    expect(invoicesOf(tenant.clientId)).toHaveLength(1);
    expect(invoicesOf(tenant.clientId)[0]).toMatchObject({ status: 'Paid' });
    expect(kit.whmcs.state.clients.get(tenant.clientId)!.credit).toBe('9.98');
  });

  test('WHMCS down at the close: the closing invoice is made later by the prepaid cadence, and a postpaid service is billed by its batch as before', async () => {
    const { tenant } = await prepaidTenant('10.00', []);
    await addCalls(tenant, LATE);
    kit.whmcs.setFaults([{ mode: 'result_error', percent: 100, actions: ['CreateInvoice'] }]);
    try {
      expect(await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).toMatchObject({ outcome: 'nothing' });
    } finally {
      kit.whmcs.setFaults([]);
    }
    expect(invoicesOf(tenant.clientId)).toHaveLength(0);
    expect(await invoicePrepaidUsage(kit.deps, tenant.serviceId, DAY)).toMatchObject({ outcome: 'paid', invoiceKey: closeKey(tenant.serviceId) });
    expect(invoicesOf(tenant.clientId)).toHaveLength(1);

    const postpaid = await kit.addTenant();
    await addCalls(postpaid, LATE);
    expect(await pushBillingBatch(kit.deps, postpaid.serviceId, PERIOD)).toMatchObject({ outcome: 'pushed' });
    expect(await listPrepaidInvoices(kit.deps.pool, { serviceId: postpaid.serviceId })).toEqual([]);
  });
});

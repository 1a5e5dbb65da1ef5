import { batchIdFor } from '@ictvoip/store';
import type { StandinClient } from '@ictvoip/testkit';
import type { CliRun } from './run-cli';
import { expectedMicro, invoicePrepaid, microToDecimal, pushBill, type Tenant } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';

const PERIOD = '2025-01';
// No WHMCS faults here: a generous timeout so a loaded CI machine cannot turn a push into 'unknown'.
const { kit, cli } = useBillingCli({ WHMCS_API_TIMEOUT_MS: '10000' });

/** Exit 0; otherwise fails with the CLI's own message. */
function expectSuccess(run: CliRun): void {
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
}

type JobReport = { id: string; name: string; outcome: string; state?: string; result?: Record<string, unknown> };
const jobsOf = (run: CliRun) => run.json.jobs as JobReport[];
const count = async (sql: string, params: unknown[]) => Number((await kit.deps.pool.query<{ n: string }>(sql, params)).rows[0]?.n);

/**
 * A prepaid tenant whose one USD call (`amount`, on the 10th of `month`) went on that month's 15th daily invoice, which stays
 * `creating`: its WHMCS client pays in EUR (held for CURRENCY_MISMATCH).
 */
async function prepaidInvoiceHeldForCurrency(month: string, amount: string, credit?: string): Promise<{ tenant: Tenant; key: string; client: StandinClient }> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  await kit.deps.pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES (gen_random_uuid(), $1, $2, $3, 'outbound', 60, 60, $4, 'USD', 'rated', $5)`,
    [tenant.serviceId, tenant.domainName, `${month}-10T10:00:00Z`, amount, month],
  );
  const client = kit.whmcs.state.clients.get(tenant.clientId)!;
  client.currency_code = 'EUR';
  if (credit !== undefined) client.credit = credit;
  expect(await invoicePrepaid(kit, tenant.serviceId, new Date(`${month}-15T12:00:00Z`))).toMatchObject({ outcome: 'creating' });
  return { tenant, key: `pp-${tenant.serviceId}-${month}-15`, client };
}

it('cdr backfill → billing close --dry-run (writes nothing) → billing close --wait pushes → rerate --wait leaves pushed charges alone', async () => {
  const tenant = await kit.addTenant();
  // Dialled as in the deck's numbering plan (011 = international); rated on the E.164 digits.
  const calls = [
    { start: '2025-01-10T10:00:00Z', billsec: 61, destination: '12125550100', e164: '12125550100' },
    { start: '2025-01-11T10:00:00Z', billsec: 30, destination: '0114930123456', e164: '4930123456' },
  ];
  for (const call of calls) await kit.insertCdr(tenant, call);
  const expectedTotal = microToDecimal(calls.reduce((sum, call) => sum + expectedMicro(call.e164, call.billsec), 0n));

  const backfill = await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01', '--wait', '30', '--json');
  expectSuccess(backfill);
  expect(jobsOf(backfill)).toEqual([
    expect.objectContaining({ name: 'cdr.backfill', outcome: 'enqueued', state: 'completed', result: expect.objectContaining({ inserted: calls.length, rated: calls.length }) }),
  ]);

  const preview = await cli('billing', 'close', '--period', PERIOD, '--dry-run', '--json');
  expectSuccess(preview);
  expect(preview.json.services).toEqual([
    {
      serviceId: tenant.serviceId,
      batchId: batchIdFor(tenant.serviceId, PERIOD),
      period: PERIOD,
      state: null,
      charges: calls.length,
      adjustments: 0,
      total: expectedTotal,
      currency: 'USD',
    },
  ]);
  expect(await count('SELECT count(*)::text AS n FROM billing_batches', [])).toBe(0);
  expect(await kit.deps.queues.billing.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });

  const close = await cli('billing', 'close', '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(close);
  expect(jobsOf(close)).toEqual([
    expect.objectContaining({
      name: 'billing.push-batch',
      outcome: 'enqueued',
      state: 'completed',
      result: expect.objectContaining({ outcome: 'pushed', batchId: batchIdFor(tenant.serviceId, PERIOD) }),
    }),
  ]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toHaveLength(1);

  // Nothing left to push for the period: push enqueues nothing.
  const push = await cli('billing', 'push', '--period', PERIOD, '--json');
  expectSuccess(push);
  expect(jobsOf(push)).toEqual([]);

  const rerate = await cli('rerate', '--service', String(tenant.serviceId), '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(rerate);
  expect(jobsOf(rerate)).toEqual([
    expect.objectContaining({ name: 'billing.rerate-period', state: 'completed', result: expect.objectContaining({ immutable: calls.length, updated: 0, adjustment: null }) }),
  ]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toHaveLength(1);
}, 120_000);

it('refuses a bad period, service or date with a clear message and a non-zero exit, enqueueing nothing', async () => {
  const before = await kit.deps.queues.billing.getJobCounts('waiting', 'completed');
  const runs = await Promise.all([
    cli('billing', 'close', '--period', '2025-13', '--json'),
    cli('rerate', '--service', '0', '--period', PERIOD),
    cli('cdr', 'backfill', '--service', '5', '--from', 'last tuesday'),
  ]);
  expect(runs.map((run) => run.code)).toEqual([1, 1, 1]);
  expect(runs[0]?.stderr).toMatch(/period must be YYYY-MM/);
  expect(runs[1]?.stderr).toMatch(/--service must be a positive integer/);
  expect(runs[2]?.stderr).toMatch(/--from must be an ISO-8601 date/);
  expect(await kit.deps.queues.billing.getJobCounts('waiting', 'completed')).toEqual(before);
}, 60_000);

it('billing close --dry-run lists a prepaid service’s calls for its prepaid closing invoice, not its batch (those already on a daily invoice not at all); the close agrees', async () => {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode":"prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '100.00';
  const calls = [
    { start: '2025-01-10T10:00:00Z', billsec: 61, destination: '12125550100', e164: '12125550100' },
    { start: '2025-01-12T10:00:00Z', billsec: 120, destination: '12125550100', e164: '12125550100' },
    { start: '2025-01-13T10:00:00Z', billsec: 30, destination: '0114930123456', e164: '4930123456' },
  ];
  const uuids: string[] = [];
  for (const call of calls) uuids.push(await kit.insertCdr(tenant, call));
  expectSuccess(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01', '--wait', '30', '--json'));
  // The first call is already on the 10th's daily prepaid invoice (paid from credit).
  const daily = `pp-${tenant.serviceId}-2025-01-10`;
  const first = microToDecimal(expectedMicro(calls[0]!.e164, calls[0]!.billsec));
  await kit.deps.pool.query(
    `INSERT INTO prepaid_invoices (invoice_key, service_id, client_id, day, state, total, line_amount, call_count, billed_seconds, currency, description, token, whmcs_invoice_id, credit_applied)
     VALUES ($1, $2, $3, '2025-01-10', 'paid', $4, 0.02, 1, 120, 'USD', 'Prepaid calls 2025-01-10', $5, 1, 0.02)`,
    [daily, tenant.serviceId, tenant.clientId, first, `[ictvoip:${daily}]`],
  );
  await kit.deps.pool.query('UPDATE cdr_charges SET prepaid_invoice = $1 WHERE xml_cdr_uuid = $2', [daily, uuids[0]]);
  const rest = microToDecimal(calls.slice(1).reduce((sum, call) => sum + expectedMicro(call.e164, call.billsec), 0n));

  const preview = await cli('billing', 'close', '--period', PERIOD, '--dry-run', '--json');
  expectSuccess(preview);
  expect((preview.json.services as { serviceId: number }[]).filter((service) => service.serviceId === tenant.serviceId)).toEqual([
    {
      serviceId: tenant.serviceId,
      batchId: batchIdFor(tenant.serviceId, PERIOD),
      period: PERIOD,
      state: null,
      charges: 0,
      adjustments: 0,
      total: '0.000000',
      currency: 'USD',
      prepaid: { charges: 2, total: rest },
    },
  ]);
  const text = await cli('billing', 'close', '--period', PERIOD, '--dry-run');
  expect(text.stdout).toContain(
    `service ${tenant.serviceId}\t${batchIdFor(tenant.serviceId, PERIOD)}\tnew\t0 charge(s)\t0.000000 USD\t+ prepaid closing invoice: 2 call(s) ${rest} USD`,
  );

  expectSuccess(await cli('billing', 'close', '--period', PERIOD, '--wait', '30', '--json'));
  const closing = await kit.deps.pool.query<{ call_count: number; total: string }>('SELECT call_count, total::text FROM prepaid_invoices WHERE invoice_key = $1', [
    `pp-${tenant.serviceId}-close-${PERIOD}`,
  ]);
  expect(closing.rows).toEqual([{ call_count: 2, total: rest }]);
  expect(await count('SELECT count(*)::text AS n FROM cdr_charges WHERE service_id = $1 AND batch_id IS NOT NULL', [tenant.serviceId])).toBe(0);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);
});

it('a push WHMCS refuses for good (the client pays in another currency) makes billing close --wait exit 1, naming the batch and the reason', async () => {
  const period = '2025-03';
  const tenant = await kit.addTenant();
  kit.whmcs.state.clients.get(tenant.clientId)!.currency_code = 'EUR';
  await kit.insertCdr(tenant, { start: '2025-03-10T10:00:00Z', billsec: 61, destination: '12125550100' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-03-01', '--wait', '30', '--json'));

  const close = await cli('billing', 'close', '--period', period, '--wait', '30', '--json');
  const batchId = batchIdFor(tenant.serviceId, period);
  // The close also verifies the other services' batches (nothing to bill there): this service's push is the refused one.
  expect(jobsOf(close).filter((job) => job.result?.outcome !== 'nothing' && job.result?.outcome !== 'pushed')).toEqual([
    expect.objectContaining({ state: 'completed', result: expect.objectContaining({ outcome: 'failed-final', batchId }) }),
  ]);
  expect(close.code).toBe(1);
  expect(close.stderr).toContain(`service ${tenant.serviceId} batch ${batchId} not billed (failed-final): client ${tenant.clientId} pays in EUR, charges are in USD`);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);
}, 60_000);

it('billing close says, per service, how many calls up to the period have no rate and are left out (dry run and real close)', async () => {
  const period = '2025-04';
  const tenant = await kit.addTenant();
  await kit.insertCdr(tenant, { start: '2025-04-10T10:00:00Z', billsec: 61, destination: '12125550100' });
  // France: the deck has no rate for it.
  await kit.insertCdr(tenant, { start: '2025-04-11T10:00:00Z', billsec: 30, destination: '0113312345678' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-04-01', '--wait', '30', '--json'));
  const notice = `ictvoip: service ${tenant.serviceId}: 1 call(s) up to ${period} have no rate and are not billed`;

  const preview = await cli('billing', 'close', '--period', period, '--dry-run');
  expect(preview.code).toBe(0);
  expect(preview.stderr).toContain(notice);
  const close = await cli('billing', 'close', '--period', period, '--wait', '30');
  expect(close.stderr).toContain(notice);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toHaveLength(1);
}, 60_000);

it('billing close names, on stderr and in --dry-run --json, a bill held for calls in several currencies until they are in one', async () => {
  const period = '2025-05';
  const tenant = await kit.addTenant();
  for (const [amount, currency] of [
    ['0.500000', 'USD'],
    ['0.400000', 'EUR'],
  ])
    await kit.deps.pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
       VALUES (gen_random_uuid(), $1, $2, '2025-05-10T10:00:00Z', 'outbound', 60, 60, $3::numeric, $4, 'rated', $5)`,
      [tenant.serviceId, tenant.domainName, amount, currency, period],
    );
  // The push reports it (once) and bills nothing; the close then leaves the service out.
  expect(await pushBill(kit, tenant.serviceId, period)).toMatchObject({ outcome: 'currencies-mixed' });

  const preview = await cli('billing', 'close', '--period', period, '--dry-run', '--json');
  expect(preview.code).toBe(0);
  expect((preview.json.services as { serviceId: number }[]).map((service) => service.serviceId)).not.toContain(tenant.serviceId);
  expect(preview.json.held).toEqual([{ serviceId: tenant.serviceId, period, kind: 'batch', currencies: ['EUR', 'USD'], reportedAt: expect.any(String) }]);
  expect(preview.stderr).toContain(`service ${tenant.serviceId}: calls and adjustments up to ${period} are in several currencies (EUR, USD) and not billed`);

  await kit.deps.pool.query(`UPDATE cdr_charges SET currency = 'USD' WHERE service_id = $1`, [tenant.serviceId]);
  const fixed = await cli('billing', 'close', '--period', period, '--dry-run', '--json');
  expectSuccess(fixed);
  expect(fixed.json.held).toEqual([]);
  expect((fixed.json.services as { serviceId: number; total: string }[]).filter((service) => service.serviceId === tenant.serviceId)).toEqual([
    expect.objectContaining({ serviceId: tenant.serviceId, charges: 2, total: '0.900000', currency: 'USD' }),
  ]);
}, 60_000);

it("billing close names a prepaid invoice held because its client pays in another currency, until the client's currency is changed", async () => {
  const { tenant, client } = await prepaidInvoiceHeldForCurrency('2025-06', '1.000000', '10.00');

  const preview = await cli('billing', 'close', '--period', '2025-06', '--dry-run', '--json');
  expect(preview.code).toBe(0);
  const reason = `CURRENCY_MISMATCH: client ${tenant.clientId} pays in EUR, the calls are rated in USD`;
  expect(preview.json.prepaidInvoicesHeld).toEqual([{ serviceId: tenant.serviceId, invoiceKey: `pp-${tenant.serviceId}-2025-06-15`, amount: '1.00', currency: 'USD', reason }]);
  expect(preview.stderr).toContain(`service ${tenant.serviceId}: prepaid invoice pp-${tenant.serviceId}-2025-06-15 not made (1.00 USD): ${reason}`);

  client.currency_code = 'USD';
  expect(await invoicePrepaid(kit, tenant.serviceId, new Date('2025-06-15T12:00:00Z'))).toMatchObject({ outcome: 'paid' });
  const fixed = await cli('billing', 'close', '--period', '2025-06', '--dry-run', '--json');
  expect(fixed.json.prepaidInvoicesHeld).toEqual([]);
}, 60_000);

it("billing prepaid-release: a dry run by default, then --yes frees the held invoice's calls, which wait until re-rated in the client's currency", async () => {
  const { tenant, key } = await prepaidInvoiceHeldForCurrency('2025-07', '1.004000', '10.00');
  const state = async () => (await kit.deps.pool.query<{ state: string }>('SELECT state FROM prepaid_invoices WHERE invoice_key = $1', [key])).rows[0]?.state;
  const onInvoice = () => count('SELECT count(*) AS n FROM cdr_charges WHERE prepaid_invoice = $1', [key]);
  const audited = () => count(`SELECT count(*) AS n FROM audit_log WHERE service_id = $1 AND action = 'billing.prepaid_invoice_released'`, [tenant.serviceId]);

  // billing close names the way out.
  const close = await cli('billing', 'close', '--period', '2025-07', '--dry-run');
  expect(close.stderr).toContain(`\`ictvoip billing prepaid-release ${key}\``);

  const dry = await cli('billing', 'prepaid-release', key);
  expectSuccess(dry);
  expect(dry.stdout).toContain(`dry run (nothing changed; --yes to release): would release prepaid invoice ${key} of service ${tenant.serviceId}`);
  expect(dry.stdout).toContain('1 call(s) of 1.004000 USD back to unbilled, held until re-rated');
  expect(dry.stdout).toContain(`ictvoip rerate --service ${tenant.serviceId} --period 2025-07`);
  expect({ state: await state(), onInvoice: await onInvoice(), audited: await audited() }).toEqual({ state: 'creating', onInvoice: 1, audited: 0 });

  const done = await cli('billing', 'prepaid-release', String(tenant.serviceId), '--yes', '--json');
  expectSuccess(done);
  expect(done.json).toMatchObject({
    dryRun: false,
    releases: [
      { released: true, calls: 1, total: '1.004000', periods: ['2025-07'], invoice: { invoiceKey: key, state: 'abandoned' }, remainderAdjustment: { amount: '-0.004000' } },
    ],
  });
  expect({ state: await state(), onInvoice: await onInvoice(), audited: await audited() }).toEqual({ state: 'abandoned', onInvoice: 0, audited: 1 });
  // Held: the next prepaid runs make no invoice of them, and billing close no longer names the invoice.
  expect(await invoicePrepaid(kit, tenant.serviceId, new Date('2025-07-16T12:00:00Z'))).toMatchObject({ outcome: 'nothing' });
  expect((await cli('billing', 'close', '--period', '2025-07', '--dry-run', '--json')).json.prepaidInvoicesHeld).toEqual([]);

  // Run again: nothing changes (exit 0). The service has no held invoice left.
  const again = await cli('billing', 'prepaid-release', key, '--yes', '--json');
  expectSuccess(again);
  expect(again.json).toMatchObject({ releases: [{ released: false }] });
  const none = await cli('billing', 'prepaid-release', String(tenant.serviceId), '--yes', '--json');
  expect({ code: none.code, error: none.json.error }).toEqual({ code: 1, error: expect.objectContaining({ code: 'INVOICE_UNKNOWN' }) });
  expect(await audited()).toBe(1);

  // Re-rated in the client's currency (as updateChargeRating writes it): the next run invoices it in EUR and pays it, once.
  await kit.deps.pool.query(`UPDATE cdr_charges SET amount = 0.920000, currency = 'EUR', rated_at = clock_timestamp() WHERE service_id = $1`, [tenant.serviceId]);
  expect(await invoicePrepaid(kit, tenant.serviceId, new Date('2025-07-17T12:00:00Z'))).toMatchObject({ outcome: 'paid', invoiceKey: `pp-${tenant.serviceId}-2025-07-17` });
  const invoices = kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId);
  expect(invoices.map((invoice) => invoice.items.map((item) => item.amount))).toEqual([['0.92']]);
}, 60_000);

it('billing prepaid-release refuses an invoice WHMCS has (a lost answer made it) and one not held for its currency', async () => {
  const { tenant, key, client } = await prepaidInvoiceHeldForCurrency('2025-08', '1.000000');
  // The invoice is in WHMCS after all (e.g. made after the client's currency was changed, its answer lost).
  kit.whmcs.state.invoices.push({
    id: 990_001,
    userid: tenant.clientId,
    status: 'Unpaid',
    date: '2025-08-15',
    duedate: '2025-08-15',
    notes: `[ictvoip:${key}]`,
    paymentmethod: 'banktransfer',
    credit: '0.00',
    items: [{ id: 990_001, type: '', relid: 0, description: 'Prepaid calls', amount: '1.00', taxed: 0 }],
  });
  const refused = await cli('billing', 'prepaid-release', key, '--yes', '--json');
  expect({ code: refused.code, error: refused.json.error }).toEqual({ code: 1, error: expect.objectContaining({ code: 'INVOICE_IN_WHMCS' }) });
  expect(await count('SELECT count(*) AS n FROM cdr_charges WHERE prepaid_invoice = $1', [key])).toBe(1);

  // Recorded and paid by the next prepaid run: not a held invoice any more.
  client.credit = '10.00';
  await invoicePrepaid(kit, tenant.serviceId, new Date('2025-08-16T12:00:00Z'));
  const notHeld = await cli('billing', 'prepaid-release', key, '--yes', '--json');
  expect({ code: notHeld.code, error: notHeld.json.error }).toEqual({ code: 1, error: expect.objectContaining({ code: 'NOT_HELD_FOR_CURRENCY' }) });
}, 60_000);

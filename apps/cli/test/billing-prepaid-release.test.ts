// `ictvoip billing prepaid-release` end to end, on the real path: calls synced from FusionPBX and rated by a USD deck
// go on a daily prepaid invoice held because the client pays in EUR; the operator releases it, gives the service a EUR
// deck and runs the real `ictvoip rerate` (the worker's rerate job); the next daily run, and the period's close, invoice
// every call exactly once, in EUR, with the rounding remainders carried to the micro-unit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rerateServicePeriod } from '@ictvoip/operations';
import { listAdjustments, listPrepaidInvoices } from '@ictvoip/store';
import type { CliRun } from './run-cli';
import { decimalToMicro, invoicePrepaid, microToDecimal, type Tenant } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';

const PERIOD = '2025-09';
const { kit, cli } = useBillingCli({ WHMCS_API_TIMEOUT_MS: '10000', CREDIT_CACHE_SECONDS: '0' });
let dir: string;

function expectSuccess(run: CliRun): void {
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
}

type JobReport = { name: string; state?: string; result?: Record<string, unknown>; data?: { serviceId?: number } };
const jobsOf = (run: CliRun) => run.json.jobs as JobReport[];
/** The jobs of one service (a close also lists the other tests' services). */
const jobsOfService = (run: CliRun, serviceId: number) => jobsOf(run).filter((job) => job.data?.serviceId === serviceId);

// The client's currency: the same destinations, other prices.
const EUR_DECK = [
  'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment',
  '1,USA,0.011000,0,60,60',
  '1212,USA New York,0.012500,0,60,60',
  '49,Germany,0.019000,0,60,60',
].join('\n');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prepaid-release-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

/** A prepaid tenant on the USD deck whose WHMCS client pays in EUR and has 10.00 of credit. */
async function prepaidTenantPayingEur(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  const client = kit.whmcs.state.clients.get(tenant.clientId)!;
  client.currency_code = 'EUR';
  client.credit = '10.00';
  return tenant;
}

const charges = async (serviceId: number) =>
  (
    await kit.deps.pool.query<{ amount: string; currency: string; prepaid_invoice: string | null; batch_id: string | null }>(
      `SELECT amount::text, trim(currency) AS currency, prepaid_invoice, batch_id FROM cdr_charges WHERE service_id = $1 ORDER BY start_stamp`,
      [serviceId],
    )
  ).rows;

/** Pending adjustments' sum per currency (exact, micro-units). */
async function pendingByCurrency(serviceId: number): Promise<Record<string, string>> {
  const sums: Record<string, bigint> = {};
  for (const a of await listAdjustments(kit.deps.pool, { serviceId, pendingOnly: true })) sums[a.currency ?? ''] = (sums[a.currency ?? ''] ?? 0n) + decimalToMicro(a.amount);
  return Object.fromEntries(Object.entries(sums).map(([currency, micro]) => [currency, microToDecimal(micro)]));
}

/** prepaidTenantPayingEur with one call (`billsec`) on `period`'s 10th, synced by `cdr backfill`, on the daily invoice of the 15th: held (creating). */
async function callOnHeldInvoice(period: string, billsec: number): Promise<Tenant> {
  const tenant = await prepaidTenantPayingEur();
  await kit.insertCdr(tenant, { start: `${period}-10T10:00:00Z`, billsec, destination: '12125550100' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', `${period}-01`, '--wait', '30', '--json'));
  expect(await invoicePrepaid(kit, tenant.serviceId, new Date(`${period}-15T12:00:00Z`))).toMatchObject({ outcome: 'creating' });
  return tenant;
}

it('release → EUR deck → real rerate (worker job) → daily invoice and period close: every call invoiced once, in EUR, remainders exact', async () => {
  const tenant = await prepaidTenantPayingEur();
  const { serviceId } = tenant;
  // USD deck: 2 min × 0.0137 + 1 min × 0.021 = 0.048400 USD.
  await kit.insertCdr(tenant, { start: `${PERIOD}-10T10:00:00Z`, billsec: 61, destination: '12125550100' });
  await kit.insertCdr(tenant, { start: `${PERIOD}-11T10:00:00Z`, billsec: 30, destination: '0114930123456' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${PERIOD}-01`, '--wait', '30', '--json'));
  expect((await charges(serviceId)).map((c) => [c.amount, c.currency])).toEqual([
    ['0.027400', 'USD'],
    ['0.021000', 'USD'],
  ]);

  // The daily run makes the invoice (0.05 USD, remainder −0.0016 carried) but WHMCS cannot take it: held.
  expect(await invoicePrepaid(kit, serviceId, new Date(`${PERIOD}-15T12:00:00Z`))).toMatchObject({ outcome: 'creating' });
  const held = `pp-${serviceId}-${PERIOD}-15`;
  expect(await pendingByCurrency(serviceId)).toEqual({ USD: '-0.001600' });

  const release = await cli('billing', 'prepaid-release', held, '--yes', '--json');
  expectSuccess(release);
  expect(release.json).toMatchObject({
    releases: [{ released: true, calls: 2, total: '0.048400', periods: [PERIOD], remainderAdjustment: { adjustmentId: `released-${held}`, amount: '0.001600' } }],
  });

  // The service gets a deck in the client's currency, and the real re-rate (the worker's job) rates its calls with it.
  const file = join(dir, 'eur.csv');
  writeFileSync(file, EUR_DECK);
  expectSuccess(await cli('rates', 'import', file, '--name', 'eur', '--currency', 'EUR', '--country-code', '1', '--json'));
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"rateDeck": "eur"}'::jsonb WHERE service_id = $1`, [serviceId]);
  const rerate = await cli('rerate', '--service', String(serviceId), '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(rerate);
  expect(jobsOf(rerate)).toEqual([expect.objectContaining({ name: 'billing.rerate-period', state: 'completed', result: expect.objectContaining({ updated: 2, immutable: 0 }) })]);
  // Re-rated in EUR: nothing left in the released invoice's currency, no warning.
  expect((jobsOf(rerate)[0]?.result as { releasedCurrency?: unknown } | undefined)?.releasedCurrency).toBeUndefined();
  expect((await charges(serviceId)).map((c) => [c.amount, c.currency, c.prepaid_invoice])).toEqual([
    ['0.025000', 'EUR', null],
    ['0.019000', 'EUR', null],
  ]);

  // The next daily run invoices them once, in EUR (0.044000: line 0.04, remainder 0.004 carried), paid from credit.
  const daily = `pp-${serviceId}-${PERIOD}-16`;
  expect(await invoicePrepaid(kit, serviceId, new Date(`${PERIOD}-16T12:00:00Z`))).toMatchObject({ outcome: 'paid', invoiceKey: daily });
  expect(await invoicePrepaid(kit, serviceId, new Date(`${PERIOD}-17T12:00:00Z`))).toMatchObject({ outcome: 'nothing' });

  // A later call of the period, rated by the EUR deck (0.0125): the close puts it on the closing invoice (0.01), and bills
  // the carried remainders (0.004 + 0.0025 EUR = 0.0065: 0.01 billed, −0.0035 carried). The released invoice's remainder
  // and its taking back (USD, net nothing) hold no bill.
  await kit.insertCdr(tenant, { start: `${PERIOD}-20T10:00:00Z`, billsec: 60, destination: '12125550100' });
  // (from the 20th: a backfill of the same start is one job a minute)
  const late = await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${PERIOD}-20`, '--wait', '30', '--json');
  expect(jobsOf(late)).toEqual([expect.objectContaining({ state: 'completed', result: expect.objectContaining({ inserted: 1, rated: 1 }) })]);
  const close = await cli('billing', 'close', '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(close);
  expect(jobsOfService(close, serviceId)).toEqual([
    expect.objectContaining({ name: 'billing.push-batch', state: 'completed', result: expect.objectContaining({ outcome: 'pushed' }) }),
  ]);

  const invoices = kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId);
  expect(invoices.map((invoice) => [invoice.status, invoice.items.map((item) => item.amount)])).toEqual([
    ['Paid', ['0.04']],
    ['Paid', ['0.01']],
  ]);
  const items = kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
  expect(items.map((item) => item.amount)).toEqual(['0.01']);
  expect((await listPrepaidInvoices(kit.deps.pool, { serviceId })).map((i) => [i.invoiceKey, i.state, i.currency, i.total, i.lineAmount])).toEqual([
    [held, 'abandoned', 'USD', '0.048400', '0.05'],
    [daily, 'paid', 'EUR', '0.044000', '0.04'],
    [`pp-${serviceId}-close-${PERIOD}`, 'paid', 'EUR', '0.012500', '0.01'],
  ]);
  // Each call on exactly one invoice, none on a bill; billed (0.04 + 0.01 + 0.01) + carried (−0.0035) = rated (0.0565), in EUR.
  const rated = await charges(serviceId);
  expect(rated.map((c) => [c.currency, c.prepaid_invoice, c.batch_id])).toEqual([
    ['EUR', daily, null],
    ['EUR', daily, null],
    ['EUR', `pp-${serviceId}-close-${PERIOD}`, null],
  ]);
  expect(microToDecimal(rated.reduce((sum, c) => sum + decimalToMicro(c.amount), 0n))).toBe('0.056500');
  // The released invoice's remainder and its taking back (USD, net nothing) are on no EUR bill: pending, for a bill in USD.
  expect(await pendingByCurrency(serviceId)).toEqual({ USD: '0.000000', EUR: '-0.003500' });
}, 120_000);

it('a call rated in the old currency after the release (re-rated with the old deck) is held again and said again, once; released again and re-rated in EUR, billed once', async () => {
  const period = '2025-10';
  const tenant = await callOnHeldInvoice(period, 61);
  const { serviceId } = tenant;
  const first = `pp-${serviceId}-${period}-15`;
  expectSuccess(await cli('billing', 'prepaid-release', first, '--yes'));
  const mismatches = async () =>
    (
      await kit.deps.pool.query<{ key: string }>(
        `SELECT detail->>'invoiceKey' AS key FROM audit_log WHERE service_id = $1 AND action = 'billing.prepaid_currency_mismatch' ORDER BY id`,
        [serviceId],
      )
    ).rows.map((row) => row.key);
  expect(await mismatches()).toEqual([first]);

  // The operator re-rates without moving the service to a EUR deck: the call is rated in USD again, after the release.
  const rerate = await cli('rerate', '--service', String(serviceId), '--period', period, '--wait', '30', '--json');
  // Its result says the call is still in the released invoice's currency (the next run holds it again).
  expect(jobsOf(rerate)).toEqual([
    expect.objectContaining({ state: 'completed', result: expect.objectContaining({ updated: 1, releasedCurrency: { calls: 1, currencies: ['USD'], invoiceKeys: [first] } }) }),
  ]);
  expect((await charges(serviceId)).map((c) => [c.amount, c.currency, c.prepaid_invoice])).toEqual([['0.027400', 'USD', null]]);

  // Not held: the next daily run puts it on a new invoice, which WHMCS cannot take either: held, and said again (once).
  const second = `pp-${serviceId}-${period}-16`;
  expect(await invoicePrepaid(kit, serviceId, new Date(`${period}-16T12:00:00Z`))).toMatchObject({ outcome: 'creating', invoiceKey: second });
  expect(await mismatches()).toEqual([first, second]);
  const preview = await cli('billing', 'close', '--period', period, '--dry-run', '--json');
  expect(preview.json.prepaidInvoicesHeld).toEqual([expect.objectContaining({ serviceId, invoiceKey: second, amount: '0.03', currency: 'USD' })]);
  expect(preview.stderr).toContain(`prepaid invoice ${second} not made (0.03 USD): CURRENCY_MISMATCH`);
  expect(preview.stderr).toContain(`\`ictvoip billing prepaid-release ${second}\` and re-rate its calls in the client's currency`);
  // No loop: the later runs keep that one invoice (no third, no new report), and no bill takes the call meanwhile.
  expect(await invoicePrepaid(kit, serviceId, new Date(`${period}-17T12:00:00Z`))).toMatchObject({ outcome: 'creating', invoiceKey: second });
  expect(await mismatches()).toEqual([first, second]);
  expect((await listPrepaidInvoices(kit.deps.pool, { serviceId })).map((i) => [i.invoiceKey, i.state])).toEqual([
    [first, 'abandoned'],
    [second, 'creating'],
  ]);

  // Released again, re-rated with a EUR deck (the worker's rerate job): invoiced once, in EUR.
  expectSuccess(await cli('billing', 'prepaid-release', second, '--yes'));
  const file = join(dir, 'eur-2.csv');
  writeFileSync(file, EUR_DECK);
  expectSuccess(await cli('rates', 'import', file, '--name', 'eur-2', '--currency', 'EUR', '--country-code', '1', '--json'));
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"rateDeck": "eur-2"}'::jsonb WHERE service_id = $1`, [serviceId]);
  const inEur = await rerateServicePeriod(kit.deps, serviceId, period);
  expect(inEur).toMatchObject({ updated: 1 });
  expect(inEur.releasedCurrency).toBeUndefined();
  expect(await invoicePrepaid(kit, serviceId, new Date(`${period}-18T12:00:00Z`))).toMatchObject({ outcome: 'paid', invoiceKey: `pp-${serviceId}-${period}-18` });
  expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId).map((invoice) => invoice.items.map((item) => item.amount))).toEqual([['0.03']]);
  expect((await charges(serviceId)).map((c) => [c.amount, c.currency, c.prepaid_invoice])).toEqual([['0.025000', 'EUR', `pp-${serviceId}-${period}-18`]]);
  // Both released remainders taken back (USD, net nothing); the EUR invoice's (0.025 → 0.03) carried.
  expect(await pendingByCurrency(serviceId)).toEqual({ USD: '0.000000', EUR: '-0.005000' });
}, 120_000);

it('billing close --dry-run shows the prepaid closing invoice the close would make: not the calls a release holds when the service is listed for its adjustments', async () => {
  const period = '2025-11';
  const tenant = await callOnHeldInvoice(period, 60);
  const { serviceId } = tenant;
  expectSuccess(await cli('billing', 'prepaid-release', String(serviceId), '--yes'));
  // Listed for another reason: an adjustment in the client's currency (0.50 EUR) its bill takes.
  await kit.deps.pool.query(
    `INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, description) VALUES ($1, $2, 'manual', 0.500000, 'EUR', 'set-up fee')`,
    [`fee-${serviceId}`, serviceId],
  );

  const preview = await cli('billing', 'close', '--period', period, '--dry-run', '--json');
  expectSuccess(preview);
  const mine = (preview.json.services as { serviceId: number }[]).filter((service) => service.serviceId === serviceId);
  // Before: prepaid: { charges: 1, total: '0.013700' } — the held USD call, which no closing invoice takes.
  // Its bill takes the EUR adjustment only (adjustments: 1; before: 3, the USD remainder pair counted too).
  expect(mine).toEqual([expect.objectContaining({ serviceId, charges: 0, adjustments: 1, total: '0.500000', currency: 'EUR' })]);
  expect(mine[0]).not.toHaveProperty('prepaid');
  // The close says what the release holds (listCurrenciesMixedHeld's `released`), at every close until it is re-rated.
  expect(preview.stderr).toContain(
    `ictvoip: service ${serviceId}: 1 call(s) of 0.013700 USD of released prepaid invoice(s) pp-${serviceId}-${period}-15 (up to ${period}) wait to be re-rated in the client's currency and are not invoiced, released `,
  );
  expect(preview.stderr).not.toMatch(new RegExp(`service ${serviceId}: .*several currencies`));
  const text = await cli('billing', 'close', '--period', period, '--dry-run');
  expect(text.stdout).toContain(`service ${serviceId}\t`);
  expect(text.stdout).not.toContain('+ prepaid closing invoice');

  // The close agrees: the bill of the adjustment only, no closing invoice; the held call stays unbilled.
  const close = await cli('billing', 'close', '--period', period, '--wait', '30', '--json');
  expect(jobsOfService(close, serviceId)).toEqual([expect.objectContaining({ state: 'completed', result: expect.objectContaining({ outcome: 'pushed' }) })]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId).map((item) => item.amount)).toEqual(['0.50']);
  expect((await listPrepaidInvoices(kit.deps.pool, { serviceId })).map((i) => i.state)).toEqual(['abandoned']);
  expect((await charges(serviceId)).map((c) => [c.currency, c.prepaid_invoice, c.batch_id])).toEqual([['USD', null, null]]);
  // The bill took the EUR fee alone; the USD remainder pair (net nothing) stays pending.
  const adjustments = await listAdjustments(kit.deps.pool, { serviceId });
  expect(adjustments.map((a) => [a.currency, a.batchId === null ? 'pending' : 'billed'])).toEqual([
    ['USD', 'pending'],
    ['USD', 'pending'],
    ['EUR', 'billed'],
  ]);
}, 120_000);

it("rerate's releasedCurrency names only calls a release held: not a later call in the released invoice's currency once the client pays in it", async () => {
  const period = '2025-12';
  const later = '2026-01';
  const tenant = await prepaidTenantPayingEur();
  const { serviceId } = tenant;
  await kit.insertCdr(tenant, { start: `${period}-10T10:00:00Z`, billsec: 61, destination: '12125550100' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${period}-01`, '--wait', '30', '--json'));
  expect(await invoicePrepaid(kit, serviceId, new Date(`${period}-15T12:00:00Z`))).toMatchObject({ outcome: 'creating' });
  const released = `pp-${serviceId}-${period}-15`;
  expectSuccess(await cli('billing', 'prepaid-release', released, '--yes'));

  // The operator settles it the other way: the client pays in USD now (WHMCS), the service keeps its USD deck. A call of
  // the next period is rated in USD after the release: no release holds it, and no invoice will refuse it.
  kit.whmcs.state.clients.get(tenant.clientId)!.currency_code = 'USD';
  await kit.insertCdr(tenant, { start: `${later}-05T10:00:00Z`, billsec: 30, destination: '0114930123456' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${later}-01`, '--wait', '30', '--json'));
  // Before: releasedCurrency {calls: 1, currencies: ['USD'], invoiceKeys: [released]} — any released invoice's currency.
  const next = await rerateServicePeriod(kit.deps, serviceId, later);
  expect(next).toMatchObject({ updated: 1 });
  expect(next.releasedCurrency).toBeUndefined();

  // The released invoice's own call, re-rated in USD, is taken out of its hold in that currency: said, with that invoice.
  const own = await rerateServicePeriod(kit.deps, serviceId, period);
  expect(own.releasedCurrency).toEqual({ calls: 1, currencies: ['USD'], invoiceKeys: [released] });
  // Re-rated again: no release holds it any more (rated after it), nothing more to say.
  expect((await rerateServicePeriod(kit.deps, serviceId, period)).releasedCurrency).toBeUndefined();
}, 120_000);

it('rerate leaves a call on a paid prepaid invoice as invoiced and does not count it as rewritten', async () => {
  const period = '2026-02';
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '10.00';
  await kit.insertCdr(tenant, { start: `${period}-10T10:00:00Z`, billsec: 61, destination: '12125550100' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${period}-01`, '--wait', '30', '--json'));
  expect(await invoicePrepaid(kit, serviceId, new Date(`${period}-15T12:00:00Z`))).toMatchObject({ outcome: 'paid' });
  await kit.insertCdr(tenant, { start: `${period}-20T10:00:00Z`, billsec: 30, destination: '0114930123456' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(serviceId), '--from', `${period}-20`, '--wait', '30', '--json'));

  // A deck in another currency: the invoiced call would change, the unbilled one does.
  const file = join(dir, 'eur-3.csv');
  writeFileSync(file, EUR_DECK);
  expectSuccess(await cli('rates', 'import', file, '--name', 'eur-3', '--currency', 'EUR', '--country-code', '1', '--json'));
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"rateDeck": "eur-3"}'::jsonb WHERE service_id = $1`, [serviceId]);
  // Before: updated 2 and two changes, though the invoiced call is not rewritten (README: left as invoiced).
  const dry = await rerateServicePeriod(kit.deps, serviceId, period, { dryRun: true });
  expect(dry).toMatchObject({ updated: 1, immutable: 0, adjustment: null });
  expect(dry.changes).toEqual([expect.objectContaining({ from: { amount: '0.021000', status: 'rated' }, to: { amount: '0.019000', status: 'rated' } })]);
  expect(await rerateServicePeriod(kit.deps, serviceId, period)).toMatchObject({ updated: 1, immutable: 0, adjustment: null });
  expect((await charges(serviceId)).map((c) => [c.amount, c.currency, c.prepaid_invoice === null])).toEqual([
    ['0.027400', 'USD', false],
    ['0.019000', 'EUR', true],
  ]);
}, 120_000);

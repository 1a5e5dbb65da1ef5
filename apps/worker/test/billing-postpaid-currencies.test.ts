import { randomUUID } from 'node:crypto';
import { batchIdFor, insertAdjustment, latestClosedPeriod, listBatches } from '@ictvoip/store';
import { useBillingKit, closeAndFinishPushes, servicePushes, type Tenant } from './cdr-billing-kit';
import { logRecords } from './harness';

// A postpaid service whose unbilled calls (or pending adjustments) are in several currencies (its deck's currency
// changed, its plan moved to another deck): no bill can hold them (createBatch refuses, BILLING_CURRENCY_MIXED). The
// hourly close listed it at every run, each push job throwing and logging, for ever. Now the push reports it once per
// service and period (audit billing.batch_currencies_mixed, one ALERT log), the close lists it no more for that period,
// and once the calls are in one currency the next close bills every one of them, once.
const kit = useBillingKit({ WHMCS_API_TIMEOUT_MS: '10000' });

const HOUR = 3_600_000;

async function ratedCall(tenant: Tenant, amount: string, currency: string, period: string): Promise<void> {
  await kit.deps.pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES ($1, $2, $3, $4, 'outbound', 60, 60, $5::numeric, $6, 'rated', $7)`,
    [randomUUID(), tenant.serviceId, tenant.domainName, `${period}-10T10:00:00Z`, amount, currency, period],
  );
}

async function reports(serviceId: number): Promise<unknown[]> {
  const { rows } = await kit.deps.pool.query<{ detail: unknown }>(`SELECT detail FROM audit_log WHERE service_id = $1 AND action = 'billing.batch_currencies_mixed'`, [serviceId]);
  return rows.map((row) => row.detail);
}

const alerts = (serviceId: number) => logRecords(kit.bridge, (record) => record.code === 'BILLING_CURRENCY_MIXED' && record.serviceId === serviceId);
const pushesAt = async (at: number, serviceId: number) => servicePushes(kit, await closeAndFinishPushes(kit, new Date(at)), serviceId);
const itemsFor = (tenant: Tenant) => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);

test('calls in several currencies: reported once per period, not listed at every close; in one currency, the next close bills them all, once', async () => {
  const now = Date.now();
  const period = latestClosedPeriod(new Date(now), 'UTC', kit.deps.config.billing.closeDelaySeconds);
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  await ratedCall(tenant, '0.500000', 'USD', period);
  await ratedCall(tenant, '0.400000', 'EUR', period);

  const first = await pushesAt(now, serviceId);
  expect(first).toHaveLength(1);
  expect(first[0]?.result).toMatchObject({ outcome: 'currencies-mixed', batchId: null });
  expect(await reports(serviceId)).toEqual([{ period, currencies: ['EUR', 'USD'] }]);
  expect(alerts(serviceId)).toEqual([expect.objectContaining({ level: 50, serviceId, period, currencies: ['EUR', 'USD'] })]);
  // The next hourly closes: nothing changed, so no push job, no second report, no second log (before: a failed job each hour).
  expect(await pushesAt(now + HOUR, serviceId)).toHaveLength(0);
  expect(await pushesAt(now + 2 * HOUR, serviceId)).toHaveLength(0);
  expect(await reports(serviceId)).toHaveLength(1);
  expect(alerts(serviceId)).toHaveLength(1);
  expect(await listBatches(kit.deps.pool, { serviceId })).toEqual([]);
  expect(itemsFor(tenant)).toEqual([]);

  // Re-rated in one currency: the next close bills every call, once.
  await kit.deps.pool.query(`UPDATE cdr_charges SET currency = 'USD' WHERE service_id = $1`, [serviceId]);
  const fixed = await pushesAt(now + 3 * HOUR, serviceId);
  expect(fixed.map((push) => push.result?.outcome)).toEqual(['pushed']);
  expect(itemsFor(tenant).map((item) => item.amount)).toEqual(['0.90']);
  const batchId = batchIdFor(serviceId, period);
  const { rows } = await kit.deps.pool.query<{ batch_id: string | null }>('SELECT batch_id FROM cdr_charges WHERE service_id = $1', [serviceId]);
  expect(rows.map((row) => row.batch_id)).toEqual([batchId, batchId]);
  // A later close (it may look for the pushed item on an invoice) bills nothing again.
  expect((await pushesAt(now + 4 * HOUR, serviceId)).map((push) => push.result?.batchId)).not.toContain(null);
  expect(itemsFor(tenant)).toHaveLength(1);
});

test('calls in one currency and a pending adjustment in another: held as well (the adjustments listing too), billed once they agree', async () => {
  const now = Date.now();
  const period = latestClosedPeriod(new Date(now), 'UTC', kit.deps.config.billing.closeDelaySeconds);
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  await ratedCall(tenant, '1.000000', 'USD', period);
  await insertAdjustment(kit.deps.pool, {
    adjustmentId: `manual-${serviceId}`,
    serviceId,
    kind: 'manual',
    amount: '0.250000',
    currency: 'EUR',
    sourcePeriod: period,
    description: 'x',
  });

  expect((await pushesAt(now, serviceId)).map((push) => push.result?.outcome)).toEqual(['currencies-mixed']);
  expect(await reports(serviceId)).toEqual([{ period, currencies: ['EUR', 'USD'] }]);
  expect(await pushesAt(now + HOUR, serviceId)).toHaveLength(0);
  expect(alerts(serviceId)).toHaveLength(1);

  await kit.deps.pool.query(`UPDATE billing_adjustments SET currency = 'USD' WHERE service_id = $1`, [serviceId]);
  expect((await pushesAt(now + 2 * HOUR, serviceId)).map((push) => push.result?.outcome)).toEqual(['pushed']);
  expect(itemsFor(tenant).map((item) => item.amount)).toEqual(['1.25']);
});

test("calls in the client's currency and the old currency's last remainder under a cent: billed, not held; the remainder stays pending, exact", async () => {
  const now = Date.now();
  const period = latestClosedPeriod(new Date(now), 'UTC', kit.deps.config.billing.closeDelaySeconds);
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  await ratedCall(tenant, '1.000000', 'USD', period);
  // Left by bills in EUR before the client's currency changed: no bill in USD takes it, and no re-rate changes it.
  await insertAdjustment(kit.deps.pool, {
    adjustmentId: `rounding-old-${serviceId}`,
    serviceId,
    kind: 'manual',
    amount: '0.004000',
    currency: 'EUR',
    sourcePeriod: period,
    description: 'x',
  });

  // Before: 'currencies-mixed', reported, and every later bill of the service held the same way.
  expect((await pushesAt(now, serviceId)).map((push) => push.result?.outcome)).toEqual(['pushed']);
  expect(itemsFor(tenant).map((item) => item.amount)).toEqual(['1.00']);
  expect(await reports(serviceId)).toEqual([]);
  expect(alerts(serviceId)).toHaveLength(0);
  const { rows } = await kit.deps.pool.query<{ currency: string; amount: string }>(
    `SELECT trim(currency) AS currency, amount::text FROM billing_adjustments WHERE service_id = $1 AND batch_id IS NULL`,
    [serviceId],
  );
  expect(rows).toEqual([{ currency: 'EUR', amount: '0.004000' }]);
});

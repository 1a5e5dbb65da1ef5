import { randomUUID } from 'node:crypto';
import { batchIdFor, getBatch, listAdjustments, listPrepaidInvoices, servicesToBill } from '@ictvoip/store';
import { pushBillingBatch } from '../src';
import { runFinalBill } from '../src/jobs/billing';
import { useBillingKit, closeAndFinishPushes, decimalToMicro, servicePushes, type Tenant } from './cdr-billing-kit';

// A terminated service whose last calls (or the remainder its last bill carried) come to less than a cent: no invoice
// line can be made of them and no next call will bring them to one. They stayed unbilled (a prepaid service's calls)
// or pending (a postpaid bill's carried amount) for good, holding the purge and the CDR sync's settled test, with
// nothing saying so. Now the terminated service's bill takes them and what is left is settled as below one cent.
const kit = useBillingKit({ WHMCS_API_TIMEOUT_MS: '10000', CREDIT_CACHE_SECONDS: '0' });

const PERIOD = '2025-01';

/** A tenant terminated on 25 January 2025 (its final bill long due), prepaid or postpaid, with no CDR in FusionPBX. */
async function terminatedTenant(prepaid: boolean): Promise<Tenant> {
  const tenant = await kit.addTenant({ desiredState: 'terminated' });
  const plan = prepaid ? '{"billingMode": "prepaid"}' : '{}';
  await kit.deps.pool.query(`UPDATE services SET terminated_at = '2025-01-25T12:00:00Z', plan = plan || $2::jsonb WHERE service_id = $1`, [tenant.serviceId, plan]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '10.00';
  return tenant;
}

/** A rated call of `amount` (sub-cent amounts are what a per-second deck gives a short call). */
async function ratedCall(tenant: Tenant, amount: string, period = PERIOD): Promise<void> {
  await kit.deps.pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES ($1, $2, $3, $4, 'outbound', 1, 1, $5::numeric, 'USD', 'rated', $6)`,
    [randomUUID(), tenant.serviceId, tenant.domainName, `${period}-20T10:00:00Z`, amount, period],
  );
}

async function unbilledCalls(serviceId: number): Promise<number> {
  const { rows } = await kit.deps.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM cdr_charges WHERE service_id = $1 AND status = 'rated' AND batch_id IS NULL AND prepaid_invoice IS NULL`,
    [serviceId],
  );
  return rows[0]!.n;
}

async function pendingMicro(serviceId: number): Promise<bigint> {
  return (await listAdjustments(kit.deps.pool, { serviceId, pendingOnly: true })).reduce((sum, adjustment) => sum + decimalToMicro(adjustment.amount), 0n);
}

async function settlements(serviceId: number): Promise<Record<string, unknown>[]> {
  const { rows } = await kit.deps.pool.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2 ORDER BY id', [
    serviceId,
    'billing.below_cent_settled',
  ]);
  return rows.map((row) => row.detail);
}

/** The worker's ictvoip_billing_below_cent_settled_total{currency="USD"} as a scrape reads it. */
async function settledCount(): Promise<number> {
  const counter = await kit.deps.metrics!.billingBelowCentSettled.get();
  return counter.values.find((value) => value.labels.currency === 'USD')?.value ?? 0;
}

test("a terminated prepaid service's calls under a cent: its final bill takes them (a zero bill) and settles them as below one cent, once", async () => {
  const tenant = await terminatedTenant(true);
  await ratedCall(tenant, '0.002000');
  await ratedCall(tenant, '0.001000');
  const counted = await settledCount();
  const first = await runFinalBill(kit.deps, tenant.serviceId, PERIOD);
  expect(first.status).toBe('billed');
  // Before: no closing invoice (under a cent), no batch (a prepaid service's calls never go in one): unbilled for good.
  expect(await unbilledCalls(tenant.serviceId)).toBe(0);
  expect(await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId })).toEqual([]);
  const batchId = batchIdFor(tenant.serviceId, PERIOD);
  expect(await getBatch(kit.deps.pool, batchId)).toMatchObject({ state: 'zero', callCount: 2, total: '0.003000', lineAmount: '0.00' });
  // Nothing pending any longer: the zero bill's carried 0.003 and its settlement (-0.003).
  expect(await pendingMicro(tenant.serviceId)).toBe(0n);
  expect(await settlements(tenant.serviceId)).toEqual([expect.objectContaining({ amount: '0.003000', currency: 'USD', batchId, period: PERIOD })]);
  // Nothing went to WHMCS, and a second run (a replayed final bill) settles nothing again.
  expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId)).toEqual([]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toEqual([]);
  await runFinalBill(kit.deps, tenant.serviceId, PERIOD);
  expect(await settlements(tenant.serviceId)).toHaveLength(1);
  // Counted once, as settled (before: no metric at all).
  expect(await settledCount()).toBe(counted + 1);
});

test("a terminated postpaid service's last bill carried under a cent: settled as below one cent; a call rated after it is billed in full", async () => {
  const tenant = await terminatedTenant(false);
  await ratedCall(tenant, '1.004000');
  const first = await runFinalBill(kit.deps, tenant.serviceId, PERIOD);
  expect(first.push).toMatchObject({ outcome: 'pushed' });
  // Billed 1.00; its remainder 0.004 was carried to a next bill that never comes (before: pending for good, nothing said).
  expect(await pendingMicro(tenant.serviceId)).toBe(0n);
  const batchId = batchIdFor(tenant.serviceId, PERIOD);
  expect(await settlements(tenant.serviceId)).toEqual([expect.objectContaining({ amount: '0.004000', batchId })]);

  // A CDR imported late: billed in full on the next period's bill (the settlement does not eat into it).
  await ratedCall(tenant, '0.500000');
  const late = await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
  expect(late.later).toMatchObject({ outcome: 'pushed', batchId: batchIdFor(tenant.serviceId, '2025-02') });
  expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, '2025-02'))).toMatchObject({ lineAmount: '0.50', total: '0.500000' });
  expect(await settlements(tenant.serviceId)).toHaveLength(1);
});

test("a terminated prepaid service's late call under a cent (after its closing invoice) is listed by the close once, billed on a zero bill and settled", async () => {
  const tenant = await terminatedTenant(true);
  await ratedCall(tenant, '0.250000');
  await runFinalBill(kit.deps, tenant.serviceId, PERIOD);
  expect(await listPrepaidInvoices(kit.deps.pool, { serviceId: tenant.serviceId })).toEqual([expect.objectContaining({ state: 'paid', lineAmount: '0.25' })]);
  await ratedCall(tenant, '0.001000');
  const counted = await settledCount();
  // Before: never listed (under a cent, a prepaid service's), never billed.
  const listed = async () =>
    (await servicesToBill(kit.deps.pool, PERIOD, { prepaidInvoices: true, finalBillDueBefore: new Date() })).filter((row) => row.serviceId === tenant.serviceId);
  expect(await listed()).toEqual([{ serviceId: tenant.serviceId, period: PERIOD }]);
  const close = await closeAndFinishPushes(kit, new Date());
  expect(await servicePushes(kit, close, tenant.serviceId)).toHaveLength(1);
  expect(await unbilledCalls(tenant.serviceId)).toBe(0);
  expect(await pendingMicro(tenant.serviceId)).toBe(0n);
  expect(await settlements(tenant.serviceId)).toEqual([expect.objectContaining({ amount: '0.001000' })]);
  expect(await settledCount()).toBe(counted + 1);
  expect(await listed()).toEqual([]);
});

test('a below-cent settlement whose commit fails is not counted; the one that commits later is counted once', async () => {
  const tenant = await terminatedTenant(false);
  await ratedCall(tenant, '1.004000');
  // A deferred constraint trigger raises at COMMIT: the settlement's statement ran, its transaction did not commit.
  await kit.deps.pool.query(
    `CREATE FUNCTION below_cent_commit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused (test)'; END $$;
     CREATE CONSTRAINT TRIGGER below_cent_commit_fails AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED
       FOR EACH ROW WHEN (NEW.action = 'billing.below_cent_settled' AND NEW.service_id = ${tenant.serviceId}) EXECUTE FUNCTION below_cent_commit_fails()`,
  );
  const counted = await settledCount();
  try {
    await expect(runFinalBill(kit.deps, tenant.serviceId, PERIOD)).rejects.toThrow('commit refused (test)');
  } finally {
    await kit.deps.pool.query('DROP TRIGGER below_cent_commit_fails ON audit_log; DROP FUNCTION below_cent_commit_fails()');
  }
  expect(await settlements(tenant.serviceId)).toEqual([]);
  expect(await pendingMicro(tenant.serviceId)).toBe(4000n);
  expect(await settledCount()).toBe(counted);

  // The next close's sweep settles it, and counts it once.
  await closeAndFinishPushes(kit, new Date());
  expect(await settlements(tenant.serviceId)).toEqual([expect.objectContaining({ amount: '0.004000' })]);
  expect(await pendingMicro(tenant.serviceId)).toBe(0n);
  expect(await settledCount()).toBe(counted + 1);
});

import { batchIdFor, getBatch, listCharges, listPrepaidInvoices, prepaidCloseKey } from '@ictvoip/store';
import { invoicePrepaidUsage, syncTenantCdrs } from '../src';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import type { PushResult } from '../src/jobs/billing/push-batch';
import { cycleStart, closeDelayEnv, useBillingKit, addCycleTenant, closeAndFinishPushes, servicePushes, type Tenant } from './cdr-billing-kit';

// BILLING_PERIODS=service and a prepaid service: a call already on a prepaid invoice is billed. The hourly
// closes listed the service for it anyway (the check missed prepaid_invoice), one push job each that billed
// nothing; once made postpaid, a batch must still take only the calls no invoice has.
const DELAY_SECONDS = 3600;
const kit = useBillingKit({ ...closeDelayEnv(DELAY_SECONDS), BILLING_PERIODS: 'service', CREDIT_CACHE_SECONDS: '0' });

const afterClose = (ended: Date, seconds: number) => new Date(ended.getTime() + (DELAY_SECONDS + seconds) * 1000);

/** The close's push jobs for `tenant`, each with what it did, once all of them have finished. */
async function closeAt(at: Date, tenant: Tenant): Promise<{ close: CloseOutcome; pushes: { jobId: string; result: PushResult | undefined }[] }> {
  const close = await closeAndFinishPushes(kit, at);
  return { close, pushes: await servicePushes(kit, close, tenant.serviceId) };
}

test('service periods: a prepaid service whose calls are on a prepaid invoice gets no push job; made postpaid, its batch takes only the new call', async () => {
  const current = cycleStart(0);
  const next = cycleStart(1);
  const tenant = await addCycleTenant(kit, 7310, 'Monthly', next.label, { billingMode: 'prepaid' });
  const { serviceId, clientId } = tenant;
  kit.whmcs.state.clients.get(clientId)!.credit = '10.00';
  const invoices = () => kit.whmcs.state.invoices.filter((invoice) => invoice.userid === clientId);
  const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === clientId);
  // 60 s at 0.01: a whole cent, so no rounding remainder is left to bill.
  const prepaidCall = await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60, destination: '15551234567' });
  await syncTenantCdrs(kit.deps, serviceId);
  expect(await invoicePrepaidUsage(kit.deps, serviceId)).toMatchObject({ outcome: 'paid' });
  const [prepaid] = await listPrepaidInvoices(kit.deps.pool, { serviceId });
  expect(prepaid).toMatchObject({ state: 'paid', callCount: 1, lineAmount: '0.01' });

  // Before: one job per close, each `nothing` (the call was already on the prepaid invoice).
  for (const seconds of [10, 3600, 86_400]) {
    expect((await closeAt(afterClose(next.at, seconds), tenant)).pushes).toEqual([]);
  }
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, current.label))).toBeNull();
  expect(invoices()).toHaveLength(1);
  expect(items()).toEqual([]);

  // Made postpaid: a new call goes on the period's batch, the prepaid invoice's call does not.
  await kit.deps.pool.query(`UPDATE services SET plan = plan - 'billingMode' WHERE service_id = $1`, [serviceId]);
  const postpaidCall = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 60, destination: '15551234568' });
  await syncTenantCdrs(kit.deps, serviceId);
  const { pushes } = await closeAt(afterClose(next.at, 2 * 86_400), tenant);
  expect(pushes.map((push) => push.result?.outcome)).toEqual(['pushed']);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, current.label))).toMatchObject({ state: 'pushed', callCount: 1, lineAmount: '0.01' });
  expect(items().map((item) => item.amount)).toEqual(['0.01']);
  const charges = await listCharges(kit.deps.pool, { serviceId, status: 'rated' });
  expect(charges.find((charge) => charge.xmlCdrUuid === prepaidCall)).toMatchObject({ batchId: null, prepaidInvoice: prepaid!.invoiceKey });
  expect(charges.find((charge) => charge.xmlCdrUuid === postpaidCall)).toMatchObject({ batchId: batchIdFor(serviceId, current.label), prepaidInvoice: null });
  expect(invoices()).toHaveLength(1);
}, 60000);

test("service periods: a prepaid service's call rated after its cycle period's closing invoice gets no push job; the next daily invoice bills it once", async () => {
  const current = cycleStart(0);
  const next = cycleStart(1);
  const tenant = await addCycleTenant(kit, 7311, 'Monthly', next.label, { billingMode: 'prepaid' });
  const { serviceId, clientId } = tenant;
  kit.whmcs.state.clients.get(clientId)!.credit = '10.00';
  const invoices = () => kit.whmcs.state.invoices.filter((invoice) => invoice.userid === clientId);
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60, destination: '15551234567' });
  await syncTenantCdrs(kit.deps, serviceId);

  // The cycle period's close: its push puts the call on the period's closing invoice.
  expect((await closeAt(afterClose(next.at, 10), tenant)).pushes).toHaveLength(1);
  expect(await listPrepaidInvoices(kit.deps.pool, { serviceId })).toEqual([
    expect.objectContaining({ invoiceKey: prepaidCloseKey(serviceId, current.label), state: 'paid', callCount: 1 }),
  ]);

  // A call of the period rated after it: before, a job at each hourly close, each { outcome: 'nothing' }.
  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 60, destination: '15551234568' });
  await syncTenantCdrs(kit.deps, serviceId);
  for (const seconds of [3600, 7200]) {
    expect((await closeAt(afterClose(next.at, seconds), tenant)).pushes).toEqual([]);
  }
  expect(await invoicePrepaidUsage(kit.deps, serviceId)).toMatchObject({ outcome: 'paid' });
  const charges = await listCharges(kit.deps.pool, { serviceId, status: 'rated' });
  expect(charges.find((charge) => charge.xmlCdrUuid === late)?.prepaidInvoice).toMatch(/^pp-7311-\d{4}-\d{2}-\d{2}$/);
  expect(invoices()).toHaveLength(2);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, current.label))).toBeNull();
}, 60000);

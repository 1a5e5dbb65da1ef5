import { randomUUID } from 'node:crypto';
import { batchIdFor, getBatch, listAdjustments, listCharges, listPrepaidInvoices, periodOf, prepaidCloseKey } from '@ictvoip/store';
import { invoicePrepaidUsage, syncTenantCdrs } from '../src';
import type { PushResult } from '../src/jobs/billing/push-batch';
import { afterPeriodClose, closeDelayEnv, useBillingKit, closeAndFinishPushes, servicePushes, type Tenant } from './cdr-billing-kit';

// Calendar billing periods (the default) and a prepaid service: its calls go on daily prepaid invoices, and the
// month's close puts the month's rest on one closing invoice. A call of the month rated after that closing invoice
// waits for the next daily one. The hourly closes listed the service for it anyway (a prepaid service has no
// period batch, so "the period's bill is not made" held), one push job each that billed nothing.
const DELAY_SECONDS = 3600;
const kit = useBillingKit({ ...closeDelayEnv(DELAY_SECONDS), CREDIT_CACHE_SECONDS: '0' });

const afterClose = (period: string, seconds: number) => afterPeriodClose(period, seconds, DELAY_SECONDS);

/** The close's push jobs for `tenant`, each with what it did, once all of them have finished. */
async function closeAt(at: Date, tenant: Tenant): Promise<{ jobId: string; result: PushResult | undefined }[]> {
  return servicePushes(kit, await closeAndFinishPushes(kit, at), tenant.serviceId);
}

async function prepaidTenant(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '10.00';
  return tenant;
}

test("calendar periods: a prepaid service's call rated after its month's closing invoice gets no push job; the next daily invoice bills it once", async () => {
  const period = periodOf(new Date(), 'UTC');
  const tenant = await prepaidTenant();
  const { serviceId, clientId } = tenant;
  const invoices = () => kit.whmcs.state.invoices.filter((invoice) => invoice.userid === clientId);
  // 60 s at 0.01: a whole cent each, so no rounding remainder is left to bill.
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60, destination: '15551234567' });
  await syncTenantCdrs(kit.deps, serviceId);

  // The month's close: its push puts the call on the closing invoice (paid from credit).
  const first = await closeAt(afterClose(period, 10), tenant);
  expect(first).toHaveLength(1);
  const [closing] = await listPrepaidInvoices(kit.deps.pool, { serviceId });
  expect(closing).toMatchObject({ invoiceKey: prepaidCloseKey(serviceId, period), state: 'paid', callCount: 1, lineAmount: '0.01' });
  expect(invoices()).toHaveLength(1);

  // A call of the month FusionPBX imported late, rated after the closing invoice.
  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 60, destination: '15551234568' });
  await syncTenantCdrs(kit.deps, serviceId);
  const onNoInvoice = async () =>
    (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).filter((charge) => charge.prepaidInvoice === null).map((charge) => charge.xmlCdrUuid);
  expect(await onNoInvoice()).toEqual([late]);

  // Before: a job at each hourly close, each { outcome: 'nothing' } (the closing invoice is made, no batch takes a prepaid call).
  for (const hours of [1, 2, 23]) {
    expect(await closeAt(afterClose(period, hours * 3600), tenant)).toEqual([]);
  }
  expect(await onNoInvoice()).toEqual([late]);
  expect(invoices()).toHaveLength(1);

  // The daily prepaid invoice takes it, once; the closes still have nothing for the service.
  expect(await invoicePrepaidUsage(kit.deps, serviceId)).toMatchObject({ outcome: 'paid' });
  expect(await onNoInvoice()).toEqual([]);
  expect(await closeAt(afterClose(period, 24 * 3600), tenant)).toEqual([]);
  expect(invoices()).toHaveLength(2);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toBeNull();
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === clientId)).toEqual([]);
}, 60000);

test("calendar periods: a prepaid service's calls under a cent get no push job at the hourly closes; carried, they are billed once with its next call", async () => {
  const period = periodOf(new Date(), 'UTC');
  const tenant = await prepaidTenant();
  const { serviceId, clientId } = tenant;
  const invoices = () => kit.whmcs.state.invoices.filter((invoice) => invoice.userid === clientId);
  // A rated call worth 0.4 of a cent (as a cheap destination's short call is), of the month being closed.
  await kit.deps.pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES ($1, $2, $3, now(), 'outbound', 6, 6, 0.004000, 'USD', 'rated', $4)`,
    [randomUUID(), serviceId, tenant.domainName, period],
  );
  // Before: a push job at every hourly close, each making nothing (no invoice can be made of less than a cent).
  for (const hours of [0, 1, 2]) {
    expect(await closeAt(afterClose(period, hours * 3600 + 10), tenant)).toEqual([]);
  }
  expect(invoices()).toEqual([]);
  expect(await listPrepaidInvoices(kit.deps.pool, { serviceId })).toEqual([]);

  // Its next call (a cent, 60 s at 0.01) brings the carried calls to a billable amount: the next close bills both, once.
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60, destination: '15551234567' });
  await syncTenantCdrs(kit.deps, serviceId);
  expect(await closeAt(afterClose(period, 3 * 3600 + 10), tenant)).toHaveLength(1);
  const [closing] = await listPrepaidInvoices(kit.deps.pool, { serviceId });
  expect(closing).toMatchObject({ invoiceKey: prepaidCloseKey(serviceId, period), state: 'paid', callCount: 2, total: '0.014000', lineAmount: '0.01' });
  // Billed + carried = rated: the 0.4 of a cent rides on as a rounding adjustment.
  expect(await listAdjustments(kit.deps.pool, { serviceId })).toEqual([expect.objectContaining({ kind: 'rounding', amount: '0.004000' })]);
  expect(await closeAt(afterClose(period, 4 * 3600 + 10), tenant)).toEqual([]);
  expect(invoices()).toHaveLength(1);
}, 60000);

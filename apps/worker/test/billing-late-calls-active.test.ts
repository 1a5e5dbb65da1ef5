import { batchIdFor, getBatch, insertAdjustment, listCharges, nextPeriod, periodOf } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import { afterPeriodClose, closeDelayEnv, useBillingKit, type Tenant, closeAndFinishPushes } from './cdr-billing-kit';

// An active service's call rated after its period's bill was made (a CDR FusionPBX imported late) goes on the next
// period's bill, at that period's close (README "Usage billing"). Until then the hourly close has nothing to bill for it:
// it used to enqueue a push job of the made period at every hourly close, each finding the bill made and billing nothing.
const DELAY_SECONDS = 3600;
const kit = useBillingKit(closeDelayEnv(DELAY_SECONDS));

const afterClose = (period: string, seconds: number) => afterPeriodClose(period, seconds, DELAY_SECONDS);

const closeAt = (at: Date): Promise<CloseOutcome> => closeAndFinishPushes(kit, at);

/** The push jobs a close enqueued for this service. */
const jobsFor = (close: CloseOutcome, tenant: Tenant) => close.jobIds.filter((id) => id.startsWith(`billing-push-${tenant.serviceId}-`));

/** A tenant whose period `period` was closed and billed (one call), its item invoiced and the bill verified. */
async function billedTenant(period: string): Promise<{ tenant: Tenant; items: () => unknown[] }> {
  const tenant = await kit.addTenant();
  const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60 });
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  expect(jobsFor(await closeAt(afterClose(period, 10)), tenant)).toHaveLength(1);
  expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, period))).toMatchObject({ state: 'pushed', callCount: 1 });
  // WHMCS's cron invoices the item; the next hourly close verifies it (a job that does something).
  kit.whmcs.invoiceBillableItems(tenant.clientId);
  await closeAt(afterClose(period, 3600));
  expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, period))).toMatchObject({ state: 'verified' });
  expect(items()).toHaveLength(1);
  return { tenant, items };
}

test("an active service's call rated after its period's bill: no push job until the next period's close, which bills it once", async () => {
  const period = periodOf(new Date(), 'UTC');
  const { tenant, items } = await billedTenant(period);
  const { serviceId } = tenant;
  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 120 });
  await syncTenantCdrs(kit.deps, serviceId);
  const unbilled = async () => (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).filter((charge) => charge.batchId === null).map((charge) => charge.xmlCdrUuid);
  expect(await unbilled()).toEqual([late]);

  // The hourly closes of the month after: the period's bill is made, the call waits for the next one; no job.
  for (const hours of [2, 3, 24]) {
    expect(jobsFor(await closeAt(afterClose(period, hours * 3600)), tenant)).toEqual([]);
  }
  expect(await unbilled()).toEqual([late]);
  expect(items()).toHaveLength(1);

  // The next period's close bills it on that period's bill, once.
  expect(jobsFor(await closeAt(afterClose(nextPeriod(period), 10)), tenant)).toHaveLength(1);
  expect(await unbilled()).toEqual([]);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, nextPeriod(period)))).toMatchObject({ state: 'pushed', callCount: 1 });
  expect(items()).toHaveLength(2);
  kit.whmcs.invoiceBillableItems(tenant.clientId);
  await closeAt(afterClose(nextPeriod(period), 3600));
  await closeAt(afterClose(nextPeriod(nextPeriod(period)), 10));
  expect(items()).toHaveLength(2);
  const late2 = (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).find((charge) => charge.xmlCdrUuid === late);
  expect(late2?.batchId).toBe(batchIdFor(serviceId, nextPeriod(period)));
}, 60000);

test("an adjustment recorded after an active service's bill: no push job until the next period's close, which bills it once", async () => {
  const period = periodOf(new Date(), 'UTC');
  const { tenant, items } = await billedTenant(period);
  const { serviceId } = tenant;
  await insertAdjustment(kit.deps.pool, {
    adjustmentId: `manual-${serviceId}-1`,
    serviceId,
    kind: 'manual',
    amount: '1.250000',
    currency: 'USD',
    sourcePeriod: period,
    description: 'a manual charge',
  });
  for (const hours of [2, 3]) {
    expect(jobsFor(await closeAt(afterClose(period, hours * 3600)), tenant)).toEqual([]);
  }
  expect(items()).toHaveLength(1);
  expect(jobsFor(await closeAt(afterClose(nextPeriod(period), 10)), tenant)).toHaveLength(1);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, nextPeriod(period)))).toMatchObject({ state: 'pushed', callCount: 0, lineAmount: '1.25' });
  expect(items()).toHaveLength(2);
}, 60000);

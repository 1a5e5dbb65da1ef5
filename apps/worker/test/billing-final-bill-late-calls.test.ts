import { batchIdFor, getBatch, listCharges, nextPeriod, periodOf } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { runFinalBill } from '../src/jobs/billing';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import { afterPeriodClose, closeDelayEnv, useBillingKit, closeAndFinishPushes } from './cdr-billing-kit';

// A call rated after a terminated service's final bill (a CDR FusionPBX imported late, read by the hourly sync or
// `cdr backfill`) is billed once, at the next close that lists it: the termination period's close (or, rated after that,
// the next hourly close), on the bill of the first period after the termination's without one. Before, it waited for the
// close of the period after the termination's: one to two months. README "Usage billing" states these dates.
const DELAY_SECONDS = 3600;
const kit = useBillingKit(closeDelayEnv(DELAY_SECONDS));

const afterClose = (period: string, seconds: number) => afterPeriodClose(period, seconds, DELAY_SECONDS);

const closeAt = (at: Date): Promise<CloseOutcome> => closeAndFinishPushes(kit, at);

test("a call rated after the final bill is billed once at the termination period's close; one rated after that at the next close", async () => {
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
  const period = periodOf(new Date(), 'UTC');
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60 });
  // Terminated BILLING_CLOSE_DELAY_SECONDS ago: its final bill is due.
  await kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() - interval '2 hours' WHERE service_id = $1`, [serviceId]);
  await runFinalBill(kit.deps, serviceId, period);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toMatchObject({ state: 'pushed', callCount: 1 });
  expect(items()).toHaveLength(1);

  // Imported by FusionPBX after the final bill, stamped before the termination: rated by the next sync.
  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 120 });
  await syncTenantCdrs(kit.deps, serviceId);
  const unbilled = async () => (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).filter((charge) => charge.batchId === null).map((charge) => charge.xmlCdrUuid);
  expect(await unbilled()).toEqual([late]);

  // The termination period's close: its bill (the final one) is made; the call goes on the next period's, at once.
  await closeAt(afterClose(period, 10));
  expect(await unbilled()).toEqual([]);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, nextPeriod(period)))).toMatchObject({ state: 'pushed', callCount: 1 });
  expect(items()).toHaveLength(2);
  await closeAt(afterClose(period, 3_600));
  expect(items()).toHaveLength(2);

  // Another one rated after that close: the next hourly close bills it, on the first period after without a bill.
  const later = await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 30 });
  await syncTenantCdrs(kit.deps, serviceId);
  expect(await unbilled()).toEqual([later]);
  await closeAt(afterClose(period, 7_200));
  expect(await unbilled()).toEqual([]);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, nextPeriod(nextPeriod(period))))).toMatchObject({ state: 'pushed', callCount: 1 });
  expect(items()).toHaveLength(3);
  // Billed once: the later closes find nothing more.
  await closeAt(afterClose(nextPeriod(period), 10));
  await closeAt(afterClose(nextPeriod(nextPeriod(period)), 10));
  expect(items()).toHaveLength(3);
  expect((await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).map((charge) => charge.batchId).sort()).toEqual(
    [batchIdFor(serviceId, period), batchIdFor(serviceId, nextPeriod(period)), batchIdFor(serviceId, nextPeriod(nextPeriod(period)))].sort(),
  );
}, 60000);

test('terminated, its final bill not due yet: a late call of a period whose bill is made gets no push job (it would bill nothing); once due, one job bills it', async () => {
  const tenant = await kit.addTenant();
  const { serviceId } = tenant;
  const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
  const jobsFor = (close: CloseOutcome) => close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-`));
  const period = periodOf(new Date(), 'UTC');
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60 });
  await syncTenantCdrs(kit.deps, serviceId);
  expect(jobsFor(await closeAt(afterClose(period, 10)))).toHaveLength(1);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toMatchObject({ state: 'pushed', callCount: 1 });
  // WHMCS's cron invoices the item; the next hourly close verifies it (a job that does something).
  kit.whmcs.invoiceBillableItems(tenant.clientId);
  await closeAt(afterClose(period, 3600));
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toMatchObject({ state: 'verified' });

  // Terminated now: its final bill is due BILLING_CLOSE_DELAY_SECONDS later (finalBillDue). A call of the period rated meanwhile.
  await kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() WHERE service_id = $1`, [serviceId]);
  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 120 });
  await syncTenantCdrs(kit.deps, serviceId);
  for (const hours of [2, 3]) expect(jobsFor(await closeAt(afterClose(period, hours * 3600)))).toEqual([]);
  expect(items()).toHaveLength(1);

  // Due: the next close lists it once, and its push bills the call on the next period's bill.
  await kit.deps.pool.query(`UPDATE services SET updated_at = now() - interval '2 hours' WHERE service_id = $1`, [serviceId]);
  expect(jobsFor(await closeAt(afterClose(period, 4 * 3600)))).toHaveLength(1);
  const charge = (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).find((found) => found.xmlCdrUuid === late);
  expect(charge?.batchId).toBe(batchIdFor(serviceId, nextPeriod(period)));
  expect(items()).toHaveLength(2);
}, 60000);

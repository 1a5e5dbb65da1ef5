import { batchIdFor, getBatch, listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import { cycleStart, closeDelayEnv, useBillingKit, addCycleTenant, type Tenant, closeAndFinishPushes } from './cdr-billing-kit';

// billing-late-calls-active with BILLING_PERIODS=service: a monthly service due on the 15th. An active service's call
// rated after its cycle period's bill makes no push job at the hourly closes; the next cycle period's close bills it once.
const DELAY_SECONDS = 3600;
const kit = useBillingKit({ ...closeDelayEnv(DELAY_SECONDS), BILLING_PERIODS: 'service' });

const afterClose = (ended: Date, seconds: number) => new Date(ended.getTime() + (DELAY_SECONDS + seconds) * 1000);

const closeAt = (at: Date): Promise<CloseOutcome> => closeAndFinishPushes(kit, at);

const jobsFor = (close: CloseOutcome, tenant: Tenant) => close.jobIds.filter((id) => id.startsWith(`billing-push-${tenant.serviceId}-`));

test("service periods: an active service's late call makes no push job until the next cycle period's close, which bills it once", async () => {
  const current = cycleStart(0);
  const next = cycleStart(1);
  const tenant = await addCycleTenant(kit, 7300, 'Monthly', next.label);
  const { serviceId } = tenant;
  const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 180_000).toISOString(), billsec: 60 });
  await syncTenantCdrs(kit.deps, serviceId);
  expect(jobsFor(await closeAt(afterClose(next.at, 10)), tenant)).toHaveLength(1);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, current.label))).toMatchObject({ state: 'pushed', callCount: 1 });
  kit.whmcs.invoiceBillableItems(tenant.clientId);
  await closeAt(afterClose(next.at, 3600));
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, current.label))).toMatchObject({ state: 'verified' });

  const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 120 });
  await syncTenantCdrs(kit.deps, serviceId);
  for (const hours of [2, 3, 24]) {
    expect(jobsFor(await closeAt(afterClose(next.at, hours * 3600)), tenant)).toEqual([]);
  }
  expect(items()).toHaveLength(1);

  expect(jobsFor(await closeAt(afterClose(cycleStart(2).at, 10)), tenant)).toHaveLength(1);
  expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, next.label))).toMatchObject({ state: 'pushed', callCount: 1 });
  expect((await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).find((charge) => charge.xmlCdrUuid === late)?.batchId).toBe(batchIdFor(serviceId, next.label));
  expect(items()).toHaveLength(2);
}, 60000);

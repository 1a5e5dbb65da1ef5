import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { signBody } from '@ictvoip/whmcs';
import { rerateServicePeriod } from '@ictvoip/operations';
import {
  batchIdFor,
  BELOW_CENT_SETTLED_ACTION,
  CREDIT_LEFT_ACTION,
  CREDIT_SETTLED_ACTION,
  getBatch,
  importRateDeck,
  insertAdjustment,
  listAdjustments,
  listBatches,
  nextPeriod,
  pendingAdjustmentsPeriod,
  periodOf,
  previousPeriod,
  settleCreditLeft,
  withBillingLock,
} from '@ictvoip/store';
import { closeBillingPeriods, pushBillingBatch, syncTenantCdrs } from '../src';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import { finalBillJobId, runFinalBill } from '../src/jobs/billing';
import { webhookEvent as event, DECK_CSV, decimalToMicro, microToDecimal, roundCents, closeAndFinishPushes, useWebhookBillingKit } from './cdr-billing-kit';

// A pending adjustment (re-rating of invoiced calls, a manual credit, a carried remainder) of a
// terminated service: on its final bill exactly once, or, recorded after it, on a later bill.
const DELAY_SECONDS = 3;
const { kit, send, createdThroughWebhook } = useWebhookBillingKit(DELAY_SECONDS);

afterEach(() => {
  delete kit.bridge.api!.deps.now;
});

const monthStart = (period: string) => new Date(`${period}-01T00:00:00Z`);
const billing = () => ({ ...kit.deps.config.billing });

interface UsageView {
  period: string;
  amount: string;
  adjustments: string;
  total: string;
}

/** The usage views of the running period: the `status` action's and the client area's (POST /whmcs/client/overview: its usage and its calls' totals). */
async function usageViews(serviceId: number, clientId: number): Promise<UsageView[]> {
  const status = (await send(event(serviceId, clientId, 'status'))).body as { templateVariables: { usage: UsageView } };
  const raw = JSON.stringify({ serviceId });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const response = await fetch(`${kit.bridge.url}/whmcs/client/overview`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ictvoip-timestamp': timestamp, 'x-ictvoip-signature': signBody(TEST_WEBHOOK_SECRET, timestamp, raw) },
    body: raw,
  });
  expect(response.status).toBe(200);
  const overview = (await response.json()) as { period: string; usage: UsageView; totals: Omit<UsageView, 'period'> };
  const pick = (view: UsageView) => ({ period: view.period, amount: view.amount, adjustments: view.adjustments, total: view.total });
  return [pick(status.templateVariables.usage), pick(overview.usage), pick({ ...overview.totals, period: overview.period })];
}

/** The scheduled close as it runs at `at`, and every push it enqueued run to its end. */
const closeAt = (at: Date): Promise<CloseOutcome> => closeAndFinishPushes(kit, at);

/**
 * The one instant a test derives its period, its call's start, the termination and the usage views'
 * running period from: read from the clock once (a second ahead, so the call starts after the service
 * was created) and frozen for the API's views, so a run across a month's end never reads two periods.
 */
function frozenInstant(): Date {
  const at = new Date(Date.now() + 1000);
  kit.bridge.api!.deps.now = () => at;
  return at;
}

const pendingMicro = async (serviceId: number) =>
  (await listAdjustments(kit.deps.pool, { serviceId, pendingOnly: true })).reduce((sum, adjustment) => sum + decimalToMicro(adjustment.amount), 0n);

/** The amounts a below-cent settlement (billing.below_cent_settled) took off the service, in order. */
const settledBelowCent = async (serviceId: number): Promise<string[]> =>
  (
    await kit.deps.pool.query<{ amount: string }>("SELECT detail->>'amount' AS amount FROM audit_log WHERE service_id = $1 AND action = $2 ORDER BY id", [
      serviceId,
      BELOW_CENT_SETTLED_ACTION,
    ])
  ).rows.map((row) => row.amount);
const settledBelowCentMicro = async (serviceId: number): Promise<bigint> => (await settledBelowCent(serviceId)).reduce((sum, amount) => sum + decimalToMicro(amount), 0n);

describe("a terminated service's pending adjustments", () => {
  test('those pending at termination go on the final bill once; a re-rating recorded after it goes on the next bill, once, and the usage rule names that bill', async () => {
    const serviceId = 4311;
    const { client, tenant } = await createdThroughWebhook(serviceId);
    const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id);
    const at = frozenInstant();
    const period = periodOf(at, 'UTC');
    // Last month's bill is made (pushed) already, as for any service that was billed before.
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-1`,
      serviceId,
      kind: 'manual',
      amount: '1.000000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'setup',
    });
    expect(await pushBillingBatch(kit.deps, serviceId, previousPeriod(period))).toMatchObject({ outcome: 'pushed' });

    // Pending at termination: a manual credit; and one call (3 min at 0.0137).
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-2`,
      serviceId,
      kind: 'manual',
      amount: '-0.030000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'goodwill',
    });
    await kit.insertCdr(tenant, { start: at.toISOString(), billsec: 125 });
    await syncTenantCdrs(kit.deps, serviceId);
    const terminate = event(serviceId, client.id, 'terminate');
    expect((await send(terminate)).body.result).toBe('success');
    // The final bill is held back (its delayed job taken out, run below) to look at the views while it is pending.
    await (await kit.deps.queues.billing.getJob(finalBillJobId(serviceId, terminate.eventId as string)))!.remove();
    const callMicro = 41_100n;
    // The final bill will take the pending credit: the views show it on the termination period's bill.
    const whilePending = { period, amount: '0.041100', adjustments: '-0.030000', total: '0.011100' };
    expect(await usageViews(serviceId, client.id)).toEqual([whilePending, whilePending, whilePending]);
    await runFinalBill(kit.deps, serviceId, period, { terminatedAt: at });
    const finalId = batchIdFor(serviceId, period);
    const final = (await getBatch(kit.deps.pool, finalId))!;
    expect(final).toMatchObject({ callCount: 1, adjustmentTotal: '-0.030000', total: '0.011100', lineAmount: '0.01' });
    expect(items()).toHaveLength(2);
    // Only the final bill's own sub-cent remainder is left: no bill can take it.
    expect(await pendingMicro(serviceId)).toBe(1_100n);

    // A late re-rate (the deck's New York price corrected upwards) after the final bill: 3 min at 0.5137.
    const imported = await importRateDeck(kit.deps.pool, 'std', DECK_CSV.replace('1212,USA New York,0.013700', '1212,USA New York,0.513700'), {
      currency: 'USD',
      numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
    });
    expect(imported.ok).toBe(true);
    expect(await rerateServicePeriod(kit.deps, serviceId, period)).toMatchObject({ immutable: 1, adjustment: '1.500000' });

    // The final bill is made: its period's close takes nothing more, the next period's bill takes the re-rating.
    // The running period's views show the final bill as made, without the re-rating its bill does not take.
    expect(await usageViews(serviceId, client.id)).toEqual([whilePending, whilePending, whilePending]);
    const rule = billing();
    expect(await pendingAdjustmentsPeriod(kit.deps.pool, serviceId, at, rule)).toBe(nextPeriod(period));
    // In the first hours of the next period too (its close delay not over: the final bill's period is then the "next" one to close).
    expect(await pendingAdjustmentsPeriod(kit.deps.pool, serviceId, new Date(monthStart(nextPeriod(period)).getTime() + 1000), rule)).toBe(nextPeriod(period));

    // The regular closes: the final bill's period (already billed) and then the next one.
    await closeAt(new Date(monthStart(nextPeriod(period)).getTime() + 10_000));
    expect(items()).toHaveLength(2);
    expect(await pendingMicro(serviceId)).toBe(1_500_000n + 1_100n);
    await closeAt(new Date(monthStart(nextPeriod(nextPeriod(period))).getTime() + 10_000));
    const further = await getBatch(kit.deps.pool, batchIdFor(serviceId, nextPeriod(period)));
    expect(further).toMatchObject({ state: 'pushed', callCount: 0, adjustmentTotal: '1.501100', lineAmount: '1.50' });
    expect(items()).toHaveLength(3);
    expect(items()[2]).toMatchObject({ amount: '1.50' });
    // Billed once: invoiced lines + what is still carried + what was settled as below one cent = the calls + every
    // adjustment (1.00 − 0.03 + 1.50), to the micro-unit. (The close's below-cent sweep runs beside the pushes it
    // enqueued: when the push has carried its 0.0011 by then, this close settles it already, else the next one does.)
    const invoiced = items().reduce((sum, item) => sum + decimalToMicro(String(item.amount)), 0n);
    const total = microToDecimal(1_000_000n - 30_000n + callMicro + 1_500_000n);
    expect(microToDecimal(invoiced + (await pendingMicro(serviceId)) + (await settledBelowCentMicro(serviceId)))).toBe(total);
    expect(roundCents(await pendingMicro(serviceId))).toBe(0n);
    expect((await listBatches(kit.deps.pool, { serviceId })).map((batch) => batch.period)).toEqual([previousPeriod(period), period, nextPeriod(period)]);
    // The sub-cent remainder left is no bill's: the closes after do not take it up (no push job for it at every close, forever).
    const later = nextPeriod(nextPeriod(period));
    const close = await closeBillingPeriods(kit.deps, new Date(monthStart(nextPeriod(later)).getTime() + 3_600_000));
    expect(close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-${later}-`))).toEqual([]);
    // (the pushed batch is still looked for on a WHMCS invoice: that job stays)
    expect(close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-${nextPeriod(period)}-`))).toHaveLength(1);
    // By now it is settled, once, and nothing is left pending: the invoiced lines + the settlement are the whole amount.
    expect(await settledBelowCent(serviceId)).toEqual(['0.001100']);
    expect(await pendingMicro(serviceId)).toBe(0n);
    expect(microToDecimal(invoiced + 1_100n)).toBe(total);
  }, 60000);

  test('a credit left after the final bill (its own, or a late one) is carried and reported once per amount for an operator to settle, never billed', async () => {
    const serviceId = 4312;
    const { client, tenant } = await createdThroughWebhook(serviceId);
    const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id);
    const creditsLeft = async () =>
      (
        await kit.deps.pool.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2 ORDER BY id', [
          serviceId,
          CREDIT_LEFT_ACTION,
        ])
      ).rows.map((row) => row.detail);
    const at = frozenInstant();
    const period = periodOf(at, 'UTC');
    // 10 min to Germany at 0.021 = 0.21, and a goodwill credit of 0.50 pending: the final bill comes to −0.29.
    await kit.insertCdr(tenant, { start: at.toISOString(), billsec: 600, destination: '0114930123456' });
    await syncTenantCdrs(kit.deps, serviceId);
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-1`,
      serviceId,
      kind: 'manual',
      amount: '-0.500000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'goodwill',
    });
    const terminate = event(serviceId, client.id, 'terminate');
    expect((await send(terminate)).body.result).toBe('success');
    await (await kit.deps.queues.billing.getJob(finalBillJobId(serviceId, terminate.eventId as string)))!.remove();
    // While the final bill is still to come, the regular close of the ended month (no bill yet) takes the credit alone: a zero
    // bill, carried. Not reported: the final bill's calls take it.
    expect(await pushBillingBatch(kit.deps, serviceId, previousPeriod(period))).toMatchObject({ outcome: 'zero' });
    expect(await creditsLeft()).toEqual([]);
    await runFinalBill(kit.deps, serviceId, period, { terminatedAt: at });
    const finalId = batchIdFor(serviceId, period);
    expect(await getBatch(kit.deps.pool, finalId)).toMatchObject({ state: 'zero', callCount: 1, total: '-0.290000' });
    expect(items()).toHaveLength(0);
    expect(await pendingMicro(serviceId)).toBe(-290_000n);
    expect(await creditsLeft()).toEqual([{ batchId: finalId, clientId: client.id, period, credit: '-0.290000', currency: 'USD' }]);

    // A credit recorded after it: no close makes a bill of it (a zero bill, or a push job, every month, forever); the first close
    // reports it with the new amount, once.
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-2`,
      serviceId,
      kind: 'manual',
      amount: '-2.000000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'late credit',
    });
    let closing = period;
    for (let i = 0; i < 3; i += 1) {
      closing = nextPeriod(closing);
      const close = await closeAt(new Date(monthStart(nextPeriod(closing)).getTime() + 10_000));
      expect(close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-`))).toEqual([]);
    }
    expect(items()).toHaveLength(0);
    expect(await pendingMicro(serviceId)).toBe(-2_290_000n);
    expect(await creditsLeft()).toEqual([
      { batchId: finalId, clientId: client.id, period, credit: '-0.290000', currency: 'USD' },
      { batchId: finalId, clientId: client.id, period, credit: '-2.290000', currency: 'USD' },
    ]);
    expect((await listBatches(kit.deps.pool, { serviceId })).map((batch) => batch.state)).toEqual(['zero', 'zero']);

    // The operator refunds it in WHMCS and records that: once, however often the command runs.
    const settle = () => withBillingLock(kit.deps.pool, serviceId, (db) => settleCreditLeft(db, serviceId, { note: 'refunded 2.29', actor: 'test' }));
    const first = await settle();
    expect(first).toMatchObject({ settled: true, settlement: { credit: '-2.290000', currency: 'USD', note: 'refunded 2.29' } });
    expect(await settle()).toEqual({ settled: false, settlement: first.settlement });
    expect(await pendingMicro(serviceId)).toBe(0n);
    const settled = await kit.deps.pool.query('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2', [serviceId, CREDIT_SETTLED_ACTION]);
    expect(settled.rows.map((row) => row.detail)).toEqual([{ credit: '-2.290000', currency: 'USD', note: 'refunded 2.29', adjustmentId: first.settlement.adjustmentId }]);
    closing = nextPeriod(closing);
    await closeAt(new Date(monthStart(nextPeriod(closing)).getTime() + 10_000));
    expect(await creditsLeft()).toHaveLength(2);
    // A charge after the settlement is billed in full: the credit went back to the client in WHMCS.
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-3`,
      serviceId,
      kind: 'manual',
      amount: '1.000000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'late fee',
    });
    closing = nextPeriod(closing);
    await closeAt(new Date(monthStart(nextPeriod(closing)).getTime() + 10_000));
    expect(items().map((item) => item.amount)).toEqual(['1.00']);
    expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, closing))).toMatchObject({ state: 'pushed', adjustmentTotal: '1.000000', lineAmount: '1.00' });
  }, 60000);

  test('a terminated service that never made a call: its credit is reported and settled like any other', async () => {
    const serviceId = 4314;
    const { client } = await createdThroughWebhook(serviceId);
    const at = frozenInstant();
    const period = periodOf(at, 'UTC');
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-1`,
      serviceId,
      kind: 'manual',
      amount: '-5.000000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'goodwill',
    });
    const terminate = event(serviceId, client.id, 'terminate');
    expect((await send(terminate)).body.result).toBe('success');
    await (await kit.deps.queues.billing.getJob(finalBillJobId(serviceId, terminate.eventId as string)))!.remove();
    await runFinalBill(kit.deps, serviceId, period, { terminatedAt: at });
    // No call, so no CDR cursor: nothing is left to read, the credit is final.
    expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toMatchObject({ state: 'zero', callCount: 0, total: '-5.000000' });
    const reported = await kit.deps.pool.query('SELECT detail FROM audit_log WHERE service_id = $1 AND action = $2', [serviceId, CREDIT_LEFT_ACTION]);
    expect(reported.rows.map((row) => row.detail)).toEqual([{ batchId: batchIdFor(serviceId, period), clientId: client.id, period, credit: '-5.000000', currency: 'USD' }]);
    expect(await withBillingLock(kit.deps.pool, serviceId, (db) => settleCreditLeft(db, serviceId, { note: 'moved to credit balance', actor: 'test' }))).toMatchObject({
      settled: true,
      settlement: { credit: '-5.000000' },
    });
  }, 60000);

  test("recorded after the final bill while the last ended period has no bill yet: the next close bills it as that period's, once", async () => {
    const serviceId = 4313;
    const { client, tenant } = await createdThroughWebhook(serviceId);
    const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id);
    const at = frozenInstant();
    const period = periodOf(at, 'UTC');
    await kit.insertCdr(tenant, { start: at.toISOString(), billsec: 60, destination: '0114930123456' });
    await syncTenantCdrs(kit.deps, serviceId);
    const terminate = event(serviceId, client.id, 'terminate');
    expect((await send(terminate)).body.result).toBe('success');
    await (await kit.deps.queues.billing.getJob(finalBillJobId(serviceId, terminate.eventId as string)))!.remove();
    await runFinalBill(kit.deps, serviceId, period, { terminatedAt: at });
    expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toMatchObject({ state: 'pushed', callCount: 1 });
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `m-${serviceId}-late`,
      serviceId,
      kind: 'manual',
      amount: '1.000000',
      currency: 'USD',
      sourcePeriod: null,
      description: 'late fee',
    });
    const ended = previousPeriod(period);
    expect(await pendingAdjustmentsPeriod(kit.deps.pool, serviceId, at, billing())).toBe(ended);
    // The ended period's close is due once its delay is over (a run in the month's first seconds closes as it would then).
    const dueAt = new Date(Math.max(at.getTime(), monthStart(period).getTime() + (DELAY_SECONDS + 1) * 1000));
    await closeAt(dueAt);
    // The late fee, and the final bill's remainder (1 min to Germany at 0.021 invoiced as 0.02) with it.
    expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, ended))).toMatchObject({ state: 'pushed', callCount: 0, adjustmentTotal: '1.001000', lineAmount: '1.00' });
    expect(items().map((item) => item.amount)).toEqual(['0.02', '1.00']);
    await closeAt(dueAt);
    expect(items()).toHaveLength(2);
  }, 60000);
});

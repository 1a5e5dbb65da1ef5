import { batchIdFor, getBatch, listAdjustments, listCharges, listPrepaidInvoices, periodOf, prepaidCloseKey, pushTokenFor } from '@ictvoip/store';
import { closeBillingPeriods, invoicePrepaidUsage, pushBillingBatch, reconcileInbox, syncTenantCdrs } from '../src';
import { enqueueFinalBill, finalBillJobId, runFinalBill, type FinalBillResult } from '../src/jobs/billing';
import { waitFor } from './harness';
import { webhookEvent as event, chargedMicro, decimalToMicro, expectedMicro, microToDecimal, roundCents, useWebhookBillingKit } from './cdr-billing-kit';

// The final bill waits BILLING_CLOSE_DELAY_SECONDS (>= the look-back window) for CDRs imported late.
const DELAY_SECONDS = 3;
const { kit, send, createdThroughWebhook } = useWebhookBillingKit(DELAY_SECONDS);

const at = (base: number, seconds: number) => new Date(base + seconds * 1000).toISOString();

describe('termination triggers a final bill', () => {
  test('terminate webhook → delayed final sync (late CDR included) → one billable item; replay, regular close and a second run bill nothing again', async () => {
    const serviceId = 4301;
    const { client, tenant } = await createdThroughWebhook(serviceId);

    const base = Date.now();
    const calls = [
      { start: at(base, 2), billsec: 61 },
      { start: at(base, 3), billsec: 125 },
    ];
    await kit.insertCdr(tenant, calls[0]!);
    await syncTenantCdrs(kit.deps, serviceId); // the cursor is now at the first call
    await kit.insertCdr(tenant, calls[1]!);

    const terminate = event(serviceId, client.id, 'terminate');
    const terminatedAt = new Date();
    expect((await send(terminate)).body.result).toBe('success');
    // Imported after the termination, stamped before the cursor (inside the look-back window).
    const late = { start: at(base, 1), billsec: 30 };
    await kit.insertCdr(tenant, late);
    const jobId = finalBillJobId(serviceId, terminate.eventId as string);
    const job = await kit.deps.queues.billing.getJob(jobId);
    expect(job?.opts.delay).toBe(DELAY_SECONDS * 1000);
    // Scheduled before the event read as finished (a crash in between would have lost the final bill).
    const { rows: finishedAt } = await kit.deps.pool.query<{ at_ms: string }>(
      `SELECT floor(extract(epoch FROM finished_at) * 1000)::bigint::text AS at_ms FROM webhook_inbox WHERE event_id = $1`,
      [terminate.eventId],
    );
    expect(job!.timestamp).toBeLessThanOrEqual(Number(finishedAt[0]!.at_ms));
    expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id)).toHaveLength(0);

    const period = periodOf(terminatedAt, kit.deps.config.billing.timeZone);
    const batchId = batchIdFor(serviceId, period);
    await waitFor(async () => (await getBatch(kit.deps.pool, batchId))?.state === 'pushed', 20000, 'final bill pushed');
    const items = () => kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id);
    expect(items()).toHaveLength(1);
    const rated = [...calls, late].reduce((sum, call) => sum + expectedMicro('12125550100', call.billsec), 0n);
    expect(await chargedMicro(kit.deps, serviceId)).toBe(rated);
    expect(items()[0]).toMatchObject({ amount: microToDecimal(roundCents(rated), 2), description: expect.stringContaining(pushTokenFor(batchId)) });
    const finished = await waitFor(async () => ((await kit.deps.queues.billing.getJob(jobId))?.returnvalue as FinalBillResult | undefined) ?? null, 5000, 'final bill job result');
    expect(finished).toMatchObject({ status: 'billed', push: { outcome: 'pushed', batchId } });

    // The same event again: same job id, nothing new. A second run: the batch is already pushed.
    expect((await send(terminate)).body.result).toBe('success');
    await enqueueFinalBill(kit.deps, serviceId, terminate.eventId as string, terminatedAt);
    expect((await runFinalBill(kit.deps, serviceId, period)).push).toMatchObject({ batchId, state: 'pushed' });

    // The regular close of that period (and of the next) finds the charges billed: no second item.
    const nextMonthClose = new Date(Date.UTC(terminatedAt.getUTCFullYear(), terminatedAt.getUTCMonth() + 1, 1, 6));
    const close = await closeBillingPeriods(kit.deps, nextMonthClose);
    expect((await pushBillingBatch(kit.deps, serviceId, period)).batchId).toBe(batchId);
    // Its calls are billed, only a sub-cent remainder is pending (no bill's) and its pushed batch was just looked for on an
    // invoice by the push above: the close enqueues nothing for it. Instead of a fixed wait: the push jobs it enqueued have run.
    expect(close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-`))).toEqual([]);
    await waitFor(
      async () => {
        const states = await Promise.all(close.jobIds.map(async (id) => (await kit.deps.queues.billing.getJob(id))?.getState()));
        return states.every((state) => state === 'completed' || state === 'failed');
      },
      10000,
      'the pushes the close enqueued',
    );
    await waitFor(
      async () => {
        const counts = await kit.deps.queues.billing.getJobCounts('active', 'waiting', 'delayed');
        return counts.active + counts.waiting + counts.delayed === 0;
      },
      10000,
      'billing queue idle',
    );
    expect(items()).toHaveLength(1);
    const { rows: unbilled } = await kit.deps.pool.query(`SELECT 1 FROM cdr_charges WHERE service_id = $1 AND status = 'rated' AND batch_id IS NULL`, [serviceId]);
    expect(unbilled).toHaveLength(0);
    // Billed + carried = rated. A terminated service's carried remainder under a cent has no next bill: it is settled as
    // below one cent (an adjustment of the opposite amount), so nothing is left pending.
    const pending = await listAdjustments(kit.deps.pool, { serviceId, pendingOnly: true });
    const carried = pending.filter((a) => !a.adjustmentId.startsWith('below-cent-')).reduce((sum, adjustment) => sum + decimalToMicro(adjustment.amount), 0n);
    expect(decimalToMicro(items()[0]!.amount) + carried).toBe(rated);
    expect(pending.reduce((sum, adjustment) => sum + decimalToMicro(adjustment.amount), 0n)).toBe(0n);
  }, 40000);

  test('a final bill Redis lost (its delayed job gone) is added again by the reconciler once due, and billed once', async () => {
    const serviceId = 4302;
    const { client, tenant } = await createdThroughWebhook(serviceId);
    // After the create (the CDR cursor starts there), as in the test above.
    const call = { start: at(Date.now(), 1), billsec: 90 };
    await kit.insertCdr(tenant, call);
    await syncTenantCdrs(kit.deps, serviceId);
    expect(await chargedMicro(kit.deps, serviceId)).toBe(expectedMicro('12125550100', call.billsec));

    const terminate = event(serviceId, client.id, 'terminate');
    const terminatedAt = new Date();
    expect((await send(terminate)).body.result).toBe('success');
    const jobId = finalBillJobId(serviceId, terminate.eventId as string);
    // Redis loses the delayed job (a flush, a failover without persistence).
    await (await kit.deps.queues.billing.getJob(jobId))!.remove();
    expect(await kit.deps.queues.billing.getJob(jobId)).toBeUndefined();

    // Once the bill is due (BILLING_CLOSE_DELAY_SECONDS after the termination), the reconciler adds it again.
    await waitFor(async () => ((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued === 1 ? true : null), 20000, 'the lost final bill added again');
    const period = periodOf(terminatedAt, kit.deps.config.billing.timeZone);
    const batchId = batchIdFor(serviceId, period);
    await waitFor(async () => (await getBatch(kit.deps.pool, batchId))?.state === 'pushed', 20000, 'the final bill pushed');
    const items = kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id);
    expect(items).toHaveLength(1);
    expect(decimalToMicro(items[0]!.amount)).toBe(roundCents(expectedMicro('12125550100', call.billsec)));
    // Billed: never added again.
    expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(0);
  }, 40000);

  test("a lost final bill is due from the service's termination (terminated_at), not from when its terminate event finished (a replay, an event applied late)", async () => {
    const serviceId = 4305;
    const { client } = await createdThroughWebhook(serviceId);
    const terminate = event(serviceId, client.id, 'terminate');
    expect((await send(terminate)).body.result).toBe('success');
    const jobId = finalBillJobId(serviceId, terminate.eventId as string);
    await (await kit.deps.queues.billing.getJob(jobId))!.remove();
    // The service became terminated on 20 January 2025; its terminate event's row finished only now (replayed, or
    // applied late): the inbox's time is not the termination's. A call of January is still unbilled.
    const terminatedAt = new Date('2025-01-20T10:00:00Z');
    await kit.deps.pool.query('UPDATE services SET terminated_at = $2 WHERE service_id = $1', [serviceId, terminatedAt]);
    await kit.deps.pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
       VALUES (gen_random_uuid(), $1, $2, '2025-01-19T10:00:00Z', 'outbound', 60, 60, 0.5, 'USD', 'rated', '2025-01')`,
      [serviceId, `t${serviceId}.pbx.example.net`],
    );
    // Due at once (terminated long ago), for the termination's period, stamped with the termination time.
    // Before: read from the inbox row, it was not due yet, then due for the current period at now's time.
    expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(1);
    const job = await kit.deps.queues.billing.getJob(jobId);
    expect(job?.data).toEqual({ serviceId, period: '2025-01' });
    expect(job?.timestamp).toBe(terminatedAt.getTime());
  }, 40000);

  test('a service that is not (or no longer) terminated is left to the regular close', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-01-20T10:00:00Z', billsec: 60 });
    const result = await runFinalBill(kit.deps, tenant.serviceId, '2025-01');
    expect(result).toMatchObject({ status: 'not-terminated', push: null, syncs: [] });
    expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, '2025-01'))).toBeNull();
    expect(await runFinalBill(kit.deps, 999_999, '2025-01')).toMatchObject({ status: 'unknown-service' });
  });
});

describe("a prepaid service's final bill", () => {
  test('its call rated after the final bill made its closing invoice: the reconciler adds no final bill again (it would bill nothing); the next daily invoice bills it once', async () => {
    const serviceId = 4304;
    const client = kit.whmcs.addClient();
    client.credit = '10.00';
    const prepaid = (action: string) => {
      const body = event(serviceId, client.id, action);
      body.plan = { ...(body.plan as Record<string, unknown>), billingMode: 'prepaid' };
      return body;
    };
    expect((await send(prepaid('create'))).body.result).toBe('success');
    const domainName = `t${serviceId}.pbx.example.net`;
    const { rows } = await kit.bridge.fusion.query<{ domain_uuid: string }>('SELECT domain_uuid::text FROM v_domains WHERE domain_name = $1', [domainName]);
    const tenant = { serviceId, clientId: client.id, domainName, domainUuid: rows[0]!.domain_uuid };
    await kit.insertCdr(tenant, { start: at(Date.now(), 1), billsec: 60, destination: '15551234567' });

    const terminate = prepaid('terminate');
    const terminatedAt = new Date();
    expect((await send(terminate)).body.result).toBe('success');
    const jobId = finalBillJobId(serviceId, terminate.eventId as string);
    const period = periodOf(terminatedAt, kit.deps.config.billing.timeZone);
    const finished = await waitFor(async () => ((await kit.deps.queues.billing.getJob(jobId))?.returnvalue as FinalBillResult | undefined) ?? null, 20000, 'final bill job result');
    // A prepaid service's final bill is its closing invoice (no batch).
    expect(finished).toMatchObject({ status: 'billed', push: { outcome: 'nothing', batchId: null } });
    const closing = prepaidCloseKey(serviceId, period);
    expect(await listPrepaidInvoices(kit.deps.pool, { serviceId })).toEqual([expect.objectContaining({ invoiceKey: closing, state: 'paid', callCount: 1 })]);
    // Redis trims the finished job (JOB_HISTORY_*); a call FusionPBX imported late is rated after the closing invoice.
    await (await kit.deps.queues.billing.getJob(jobId))!.remove();
    const late = await kit.insertCdr(tenant, { start: at(Date.now(), 0), billsec: 60, destination: '15551234568' });
    await syncTenantCdrs(kit.deps, serviceId);
    const onNoInvoice = async () =>
      (await listCharges(kit.deps.pool, { serviceId, status: 'rated' })).filter((charge) => charge.prepaidInvoice === null).map((charge) => charge.xmlCdrUuid);
    expect(await onNoInvoice()).toEqual([late]);

    // Before: added again at each reconciler run, each final bill billing nothing (its closing invoice is made, no batch takes the call).
    expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(0);
    expect(await kit.deps.queues.billing.getJob(jobId)).toBeUndefined();
    expect(await getBatch(kit.deps.pool, batchIdFor(serviceId, period))).toBeNull();

    expect(await invoicePrepaidUsage(kit.deps, serviceId)).toMatchObject({ outcome: 'paid' });
    expect(await onNoInvoice()).toEqual([]);
    expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === client.id)).toHaveLength(2);
    expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === client.id)).toEqual([]);
    expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(0);
  }, 40000);
});

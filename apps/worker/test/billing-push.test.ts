import { importRateDeck, listAdjustments, listBatches, pushTokenFor, batchIdFor } from '@ictvoip/store';
import type { WorkerDeps } from '../src';
import { rerateServicePeriod } from '@ictvoip/operations';
import { closeBillingPeriods, pushBillingBatch, syncTenantCdrs } from '../src';
import { waitFor } from './harness';
import { useBillingKit, chargedMicro, DECK_CSV, decimalToMicro, expectedMicro, microToDecimal, roundCents, type BillingKit, type Tenant } from './cdr-billing-kit';

const PERIOD = '2025-01';
const CLOSE_AT = new Date('2025-02-01T02:00:00Z'); // January ended 2 h ago, close delay 1 h

const kit = useBillingKit({}, { standin: { seed: 6 } });

async function tenantWithCalls(calls: { billsec: number; destination?: string; start?: string }[], options?: Parameters<BillingKit['addTenant']>[0]): Promise<Tenant> {
  const tenant = await kit.addTenant(options);
  for (const [index, call] of calls.entries()) {
    await kit.insertCdr(tenant, { start: call.start ?? `2025-01-20T10:${String(index).padStart(2, '0')}:00Z`, billsec: call.billsec, destination: call.destination });
  }
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  return tenant;
}

const itemsFor = (tenant: Tenant) => kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId);
const addRequestsFor = (token: string) => kit.whmcs.state.requests.filter((request) => request.action === 'AddBillableItem' && request.params.description?.includes(token));

describe('billing push', () => {
  test('happy path through the queue: one billable item per tenant and period, exact amount, token, WHMCS id recorded; repeat adds nothing', async () => {
    const a = await tenantWithCalls([{ billsec: 61 }, { billsec: 59, destination: '+4930111' }, { billsec: 601 }]);
    const b = await tenantWithCalls([{ billsec: 1 }]);
    const terminated = await tenantWithCalls([{ billsec: 30 }], { desiredState: 'terminated' });
    // The terminated tenant's domain is purged from FusionPBX; a CDR imported late still gets billed.
    await kit.insertCdr(terminated, { start: '2025-01-31T23:30:00Z', billsec: 120 });
    await kit.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [terminated.domainUuid]);
    await syncTenantCdrs(kit.deps, terminated.serviceId);

    const close = await closeBillingPeriods(kit.deps, CLOSE_AT);
    expect(close.period).toBe(PERIOD);
    const tenants = [a, b, terminated];
    await waitFor(
      async () => (await listBatches(kit.deps.pool, { states: ['pushed'] })).filter((batch) => tenants.some((t) => t.serviceId === batch.serviceId)).length === 3,
      15000,
      'three pushed batches',
    );
    for (const tenant of tenants) {
      const items = itemsFor(tenant);
      expect(items).toHaveLength(1);
      const exact = await chargedMicro(kit.deps, tenant.serviceId);
      expect(items[0]!.amount).toBe(microToDecimal(roundCents(exact), 2));
      const batchId = batchIdFor(tenant.serviceId, PERIOD);
      expect(items[0]!.description).toContain(pushTokenFor(batchId));
      const [batch] = await listBatches(kit.deps.pool, { serviceId: tenant.serviceId });
      expect(batch).toMatchObject({ batchId, state: 'pushed', whmcsBillableId: items[0]!.id, total: microToDecimal(exact) });
      // The audit entry commits with the state change (one statement): exactly one, with the WHMCS id.
      const audits = await kit.deps.pool.query<{ detail: Record<string, unknown> }>(`SELECT detail FROM audit_log WHERE action = 'billing.pushed' AND service_id = $1`, [
        tenant.serviceId,
      ]);
      expect(audits.rows.map((row) => row.detail)).toEqual([expect.objectContaining({ batchId, billableId: items[0]!.id })]);
    }
    expect(await chargedMicro(kit.deps, terminated.serviceId)).toBe(expectedMicro('12125550100', 30) + expectedMicro('12125550100', 120));

    await closeBillingPeriods(kit.deps, new Date(CLOSE_AT.getTime() + 3 * 3600_000));
    for (const tenant of tenants) expect((await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD)).outcome).toBe('pushed');
    for (const tenant of tenants) expect(itemsFor(tenant)).toHaveLength(1);
    const repeated = await kit.deps.pool.query(`SELECT 1 FROM audit_log WHERE action = 'billing.pushed' AND service_id = ANY($1::bigint[])`, [tenants.map((t) => t.serviceId)]);
    expect(repeated.rows).toHaveLength(3);
  });

  test('WHMCS failing ~30% (500, result error, timeout after effect): after retries 0 unbilled, 0 double-billed, sums exact', async () => {
    const tenants: Tenant[] = [];
    for (let t = 0; t < 8; t += 1) tenants.push(await tenantWithCalls(Array.from({ length: 3 + t }, (_, i) => ({ billsec: 7 + 37 * i + t }))));
    kit.whmcs.setFaults([
      { mode: 'http_500', percent: 10 },
      { mode: 'result_error', percent: 10 },
      { mode: 'timeout_after_effect', percent: 10 },
    ]);
    const pending = new Set(tenants.map((tenant) => tenant.serviceId));
    for (let round = 0; round < 40 && pending.size > 0; round += 1) {
      await Promise.all(
        tenants
          .filter((tenant) => pending.has(tenant.serviceId))
          .map(async (tenant) => {
            const result = await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD).catch(() => null);
            if (result?.state === 'pushed' || result?.state === 'verified') pending.delete(tenant.serviceId);
          }),
      );
      // WHMCS's cron (nextcron) invoices the items it has: what makes a lost reply findable by token.
      for (const tenant of tenants) kit.whmcs.invoiceBillableItems(tenant.clientId);
    }
    kit.whmcs.setFaults([]);
    const faults = kit.whmcs.state.requests.filter((request) => request.fault !== null);
    expect(new Set(faults.map((request) => request.fault))).toEqual(new Set(['http_500', 'result_error', 'timeout_after_effect']));
    expect(pending.size).toBe(0);
    for (const tenant of tenants) {
      const token = pushTokenFor(batchIdFor(tenant.serviceId, PERIOD));
      const items = itemsFor(tenant).filter((item) => item.description.includes(token));
      expect(items).toHaveLength(1);
      const charged = await chargedMicro(kit.deps, tenant.serviceId);
      const carried = (await listAdjustments(kit.deps.pool, { serviceId: tenant.serviceId, pendingOnly: true })).reduce((sum, adj) => sum + decimalToMicro(adj.amount), 0n);
      // Billed + carried remainder = rated, to the micro-unit.
      expect(decimalToMicro(items[0]!.amount) + carried).toBe(charged);
      const { rows } = await kit.deps.pool.query(`SELECT 1 FROM cdr_charges WHERE service_id = $1 AND status = 'rated' AND batch_id IS NULL`, [tenant.serviceId]);
      expect(rows).toHaveLength(0);
    }
  }, 60000);

  test('crash between push and record: reconciled by token, never pushed twice', async () => {
    const tenant = await tenantWithCalls([{ billsec: 200 }]);
    const token = pushTokenFor(batchIdFor(tenant.serviceId, PERIOD));
    const crash = new Error('simulated crash after WHMCS answered');
    await expect(
      pushBillingBatch(kit.deps, tenant.serviceId, PERIOD, {
        afterPush: () => {
          throw crash;
        },
      }),
    ).rejects.toBe(crash);
    expect((await listBatches(kit.deps.pool, { serviceId: tenant.serviceId }))[0]?.state).toBe('pushing');
    // Not yet on an invoice and the resend delay not over: wait, do not push.
    const patient: WorkerDeps = { ...kit.deps, config: { ...kit.deps.config, billing: { ...kit.deps.config.billing, resendAfterSeconds: 3600 } } };
    expect((await pushBillingBatch(patient, tenant.serviceId, PERIOD)).outcome).toBe('awaiting-reconciliation');
    expect(addRequestsFor(token)).toHaveLength(1);
    kit.whmcs.invoiceBillableItems(tenant.clientId);
    const result = await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
    // Found on an invoice by its token: recorded and verified in one step.
    expect(result).toMatchObject({ outcome: 'reconciled', state: 'verified' });
    expect(addRequestsFor(token)).toHaveLength(1);
    const [batch] = await listBatches(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(batch?.whmcsInvoiceId).toBe(kit.whmcs.state.invoices.find((invoice) => invoice.userid === tenant.clientId)?.id);
  });

  test('all calls inside included minutes: zero batch recorded, nothing pushed', async () => {
    const tenant = await tenantWithCalls([{ billsec: 50 }, { billsec: 60 }], { includedMinutes: 10 });
    const result = await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
    expect(result).toMatchObject({ outcome: 'zero', state: 'zero' });
    expect(itemsFor(tenant)).toHaveLength(0);
    expect((await listBatches(kit.deps.pool, { serviceId: tenant.serviceId }))[0]).toMatchObject({ callCount: 2, total: '0.000000' });
  });
});

describe('re-rating', () => {
  const csvAt = (rate: string) => DECK_CSV.replace('1212,USA New York,0.013700', `1212,USA New York,${rate}`);
  const importAt = (name: string, rate: string) =>
    importRateDeck(kit.deps.pool, name, csvAt(rate), { currency: 'USD', numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } });

  test('before the push: charges are rewritten and the push bills the new prices', async () => {
    await importAt('deck-before', '0.013700');
    const tenant = await tenantWithCalls([{ billsec: 61 }, { billsec: 300 }], { rateDeck: 'deck-before' });
    await importAt('deck-before', '0.020000');
    const outcome = await rerateServicePeriod(kit.deps, tenant.serviceId, PERIOD);
    expect(outcome).toMatchObject({ updated: 2, immutable: 0, adjustment: null });
    const expected = expectedMicro('12125550100', 61, 20_000n) + expectedMicro('12125550100', 300, 20_000n);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expected);
    await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
    expect(itemsFor(tenant).map((item) => item.amount)).toEqual([microToDecimal(roundCents(expected), 2)]);
  });

  test('after the push: the period stays as billed, the difference is an adjustment in the next period', async () => {
    await importAt('deck-after', '0.013700');
    const tenant = await tenantWithCalls([{ billsec: 61 }, { billsec: 300 }], { rateDeck: 'deck-after' });
    const before = await chargedMicro(kit.deps, tenant.serviceId);
    await pushBillingBatch(kit.deps, tenant.serviceId, PERIOD);
    await importAt('deck-after', '0.020000');
    const outcome = await rerateServicePeriod(kit.deps, tenant.serviceId, PERIOD);
    const rerated = expectedMicro('12125550100', 61, 20_000n) + expectedMicro('12125550100', 300, 20_000n);
    expect(outcome).toMatchObject({ updated: 0, immutable: 2, adjustment: microToDecimal(rerated - before) });
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(before);
    expect((await rerateServicePeriod(kit.deps, tenant.serviceId, PERIOD)).adjustment).toBeNull();

    await kit.insertCdr(tenant, { start: '2025-02-10T10:00:00Z', billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId, { from: new Date('2025-02-01T00:00:00Z') });
    await pushBillingBatch(kit.deps, tenant.serviceId, '2025-02');
    const items = itemsFor(tenant);
    expect(items).toHaveLength(2);
    const carriedFromJanuary = decimalToMicro(items[0]!.amount) - before; // the January rounding remainder, carried
    const february = expectedMicro('12125550100', 60, 20_000n) + (rerated - before) - carriedFromJanuary;
    expect(items[1]!.amount).toBe(microToDecimal(roundCents(february), 2));
    expect(items[1]!.description).toContain('adjustments');
  });
});

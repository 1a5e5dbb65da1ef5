import { randomUUID } from 'node:crypto';
import { latestClosedPeriod, listPrepaidInvoices, prepaidCloseKey, releasePrepaidInvoice, servicesToInvoicePrepaid, withBillingLock } from '@ictvoip/store';
import { invoicePrepaidUsage } from '../src';
import { useBillingKit, closeAndFinishPushes, servicePushes, type Tenant } from './cdr-billing-kit';

// A prepaid service whose unbilled calls are rated in several currencies (its deck's currency changed, or its plan
// moved to another deck): no invoice can hold them. The hourly close listed it at every run, each push job making
// nothing and saying nothing, and the daily prepaid run likewise, for ever. Now the close reports it once per period
// (audit billing.prepaid_currencies_mixed, an ALERT log) and lists it no more for that period; re-rated in one
// currency, it is billed as usual.
const kit = useBillingKit({ WHMCS_API_TIMEOUT_MS: '10000', CREDIT_CACHE_SECONDS: '0' });

async function prepaidTenant(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode": "prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '10.00';
  return tenant;
}

async function ratedCall(tenant: Tenant, amount: string, currency: string, period: string): Promise<void> {
  await kit.deps.pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     VALUES ($1, $2, $3, $4, 'outbound', 60, 60, $5::numeric, $6, 'rated', $7)`,
    [randomUUID(), tenant.serviceId, tenant.domainName, `${period}-10T10:00:00Z`, amount, currency, period],
  );
}

test('calls in several currencies: reported once per period by the close, not listed at every close nor by the daily run; re-rated in one, billed', async () => {
  const now = Date.now();
  const period = latestClosedPeriod(new Date(now), 'UTC', kit.deps.config.billing.closeDelaySeconds);
  const tenant = await prepaidTenant();
  const { serviceId } = tenant;
  await ratedCall(tenant, '0.500000', 'USD', period);
  await ratedCall(tenant, '0.400000', 'EUR', period);
  const reports = async () =>
    (await kit.deps.pool.query<{ detail: unknown }>(`SELECT detail FROM audit_log WHERE service_id = $1 AND action = 'billing.prepaid_currencies_mixed'`, [serviceId])).rows.map(
      (row) => row.detail,
    );
  const hour = 3_600_000;
  const pushesAt = async (at: number) => servicePushes(kit, await closeAndFinishPushes(kit, new Date(at)), serviceId);

  expect(await pushesAt(now)).toHaveLength(1);
  expect(await reports()).toEqual([{ period, currencies: ['EUR', 'USD'] }]);
  // The next hourly closes: nothing changed, so no push job and no second report (before: one job each, every hour).
  expect(await pushesAt(now + hour)).toHaveLength(0);
  expect(await pushesAt(now + 2 * hour)).toHaveLength(0);
  expect(await reports()).toHaveLength(1);
  // The daily prepaid run cannot invoice them either (before: listed at every run).
  expect(await servicesToInvoicePrepaid(kit.deps.pool)).not.toContain(serviceId);
  expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId)).toEqual([]);

  // Re-rated with one deck: listed again, and its closing invoice made.
  await kit.deps.pool.query(`UPDATE cdr_charges SET currency = 'USD' WHERE service_id = $1`, [serviceId]);
  expect(await pushesAt(now + 3 * hour)).toHaveLength(1);
  expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId)).toHaveLength(1);
});

test('a released closing invoice (its client pays in another currency): the close makes no new one and lists no push for the held calls; re-rated, the daily run bills them once', async () => {
  const now = Date.now();
  const period = latestClosedPeriod(new Date(now), 'UTC', kit.deps.config.billing.closeDelaySeconds);
  const tenant = await prepaidTenant();
  const { serviceId } = tenant;
  kit.whmcs.state.clients.get(tenant.clientId)!.currency_code = 'EUR';
  await ratedCall(tenant, '1.000000', 'USD', period);
  const hour = 3_600_000;
  const pushesAt = async (at: number) => servicePushes(kit, await closeAndFinishPushes(kit, new Date(at)), serviceId);
  const invoices = async () => listPrepaidInvoices(kit.deps.pool, { serviceId });

  expect(await pushesAt(now)).toHaveLength(1);
  const key = prepaidCloseKey(serviceId, period);
  expect(await invoices()).toEqual([expect.objectContaining({ invoiceKey: key, state: 'creating', lastError: expect.stringMatching(/^CURRENCY_MISMATCH:/) })]);
  const released = await withBillingLock(kit.deps.pool, serviceId, (client) => releasePrepaidInvoice(client, key, { actor: 'test' }));
  expect(released).toMatchObject({ released: true, calls: 1, total: '1.000000' });

  // Held: no push job at the next closes, no daily invoice, no new closing invoice.
  expect(await pushesAt(now + hour)).toHaveLength(0);
  expect(await servicesToInvoicePrepaid(kit.deps.pool)).not.toContain(serviceId);
  expect(await invoicePrepaidUsage(kit.deps, serviceId, new Date(now + 2 * hour))).toMatchObject({ outcome: 'nothing' });
  expect(await invoices()).toEqual([expect.objectContaining({ invoiceKey: key, state: 'abandoned' })]);

  // Re-rated in the client's currency: the next daily run invoices and pays it, once; the close still makes no closing invoice.
  await kit.deps.pool.query(`UPDATE cdr_charges SET amount = 0.930000, currency = 'EUR', rated_at = clock_timestamp() WHERE service_id = $1`, [serviceId]);
  expect(await servicesToInvoicePrepaid(kit.deps.pool)).toContain(serviceId);
  expect(await invoicePrepaidUsage(kit.deps, serviceId, new Date(now + 3 * hour))).toMatchObject({ outcome: 'paid' });
  expect(await pushesAt(now + 4 * hour)).toHaveLength(0);
  expect(kit.whmcs.state.invoices.filter((invoice) => invoice.userid === tenant.clientId).map((invoice) => invoice.items.map((item) => item.amount))).toEqual([['0.93']]);
  expect((await invoices()).map((invoice) => invoice.state).sort()).toEqual(['abandoned', 'paid']);
});

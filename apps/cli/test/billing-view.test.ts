/**
 * `ictvoip credit show --service N` and `ictvoip billing cycle --service N` (read only), and the
 * worker's billing gauges (credit state per service, services per billing mode and cycle), against
 * real PostgreSQL and Redis, the FusionPBX schema and the WHMCS stand-in.
 */
import { runCreditCheck, syncTenantCdrs } from '../../worker/src';
import { addCycleTenant, type Tenant } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';

const { kit, cli } = useBillingCli({ BILLING_PERIODS: 'service', CREDIT_CACHE_SECONDS: '0', WHMCS_API_TIMEOUT_MS: '10000' });

const quarterlyTenant = (plan: Record<string, string>): Promise<Tenant> => addCycleTenant(kit, 8801, 'Quarterly', '2025-04-15', plan);

test('credit show and billing cycle print the mode, limit, threshold, state, exact available credit and the service’s own cycle period; the gauges follow', async () => {
  const tenant = await quarterlyTenant({ billingMode: 'postpaid', creditLimit: '20', lowBalanceThreshold: '5.5' });
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '1.25';
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 61, destination: '15551234567' });
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  await runCreditCheck(kit.deps, tenant.clientId);

  const show = await cli('credit', 'show', '--service', String(tenant.serviceId), '--json');
  expect({ code: show.code, stderr: show.stderr }).toEqual({ code: 0, stderr: '' });
  expect(show.json.service).toMatchObject({
    serviceId: tenant.serviceId,
    billingMode: 'postpaid',
    creditControlled: true,
    creditLimit: '20.000000',
    lowBalanceThreshold: '5.500000',
    creditRestriction: 'suspend',
    // 1.25 + 20 − 2 min at 0.01
    credit: { state: 'ok', credit: '1.250000', usage: '0.020000', available: '21.230000', threshold: '5.500000' },
    periods: { mode: 'service', segments: [expect.objectContaining({ cycle: 'quarterly', anchor: '2025-04-15', whmcsCycle: 'Quarterly' })] },
  });
  const current = (show.json.service as { periods: { current: { label: string; start: string } } }).periods.current;
  // A quarterly service due on the 15th: its periods start on the 15th of Jan, Apr, Jul, Oct.
  expect(current.start).toMatch(/^\d{4}-(01|04|07|10)-15$/);
  expect(current.label).toBe(current.start);
  const human = await cli('credit', 'show', '--service', String(tenant.serviceId));
  expect(human.stdout).toContain('available        21.230000');
  expect(human.stdout).toContain(`billing period   ${current.label} (${current.start} to `);

  const cycle = await cli('billing', 'cycle', '--service', String(tenant.serviceId));
  expect(cycle.code).toBe(0);
  expect(cycle.stdout).toContain('periods          service');
  expect(cycle.stdout).toContain('cycle            quarterly (WHMCS "Quarterly", due-date anchor 2025-04-15) from the start, source whmcs');
  expect(cycle.stdout).toContain(`current period   ${current.label}`);

  const unknown = await cli('billing', 'cycle', '--service', '999999', '--json');
  expect(unknown.code).toBe(1);
  expect(unknown.json).toEqual({ error: { code: 'UNKNOWN_SERVICE', message: 'service 999999 is not known to the bridge' } });
  const bad = await cli('credit', 'show');
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--service');

  const scrape = await kit.bridge.worker!.metrics.registry.metrics();
  expect(scrape).toContain(`ictvoip_credit_state{service_id="${tenant.serviceId}",state="ok"} 1`);
  expect(scrape).toContain(`ictvoip_credit_state{service_id="${tenant.serviceId}",state="zero"} 0`);
  expect(scrape).toContain(`ictvoip_credit_restricted{service_id="${tenant.serviceId}"} 0`);
  expect(scrape).toMatch(/ictvoip_billing_services\{billing_mode="postpaid",cycle="quarterly"\} [1-9]/);
  expect(scrape).toContain('ictvoip_billing_periods_mode{mode="service"} 1');
}, 180_000);

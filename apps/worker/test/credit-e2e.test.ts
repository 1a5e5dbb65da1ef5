/**
 * Credit control through the queues: a CDR sync job of a prepaid tenant queues its client's credit
 * check, which mails the low balance once; the admin route shows the state and queues a check.
 */
import { addJob, CDR_JOBS } from '@ictvoip/queue';
import { waitFor } from './harness';
import { startBillingKit, type BillingKit } from './cdr-billing-kit';

let kit: BillingKit;
const auth = () => ({ authorization: `Bearer ${kit.bridge.config.adminToken}` });

beforeAll(async () => {
  kit = await startBillingKit({ CREDIT_CACHE_SECONDS: '0', WHMCS_API_TIMEOUT_MS: '5000' }, { emailTemplates: [{ name: 'VoIP Low Balance Alert', type: 'product' }] });
  await kit.bridge.startApi();
}, 30000);
afterAll(async () => {
  await kit.close();
});

test('a CDR sync of a prepaid tenant triggers its credit check (one low-balance mail); /admin/credit reports it', async () => {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode":"prepaid","lowBalanceThreshold":"1.00"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '1.10';
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 600 });

  await addJob(kit.deps.queues, CDR_JOBS.syncTenant, { serviceId: tenant.serviceId }, { jobId: `cdr-sync-${tenant.serviceId}-credit-e2e` });
  await waitFor(async () => kit.whmcs.state.emails.find((mail) => mail.id === tenant.serviceId), 20000, 'the low-balance mail');
  // A second sync with nothing new queues nothing more; the state stays low, the mail is not repeated.
  await addJob(kit.deps.queues, CDR_JOBS.syncTenant, { serviceId: tenant.serviceId }, { jobId: `cdr-sync-${tenant.serviceId}-credit-e2e-2` });

  const metrics = kit.bridge.worker!.metrics.registry;
  await waitFor(async () => (await metrics.getSingleMetricAsString('ictvoip_credit_actions_total')).includes('action="mailed:low"} 1'), 10000, 'the mail counted');
  expect(await metrics.getSingleMetricAsString('ictvoip_credit_transitions_total')).toContain('ictvoip_credit_transitions_total{from="ok",to="low"} 1');
  expect(await metrics.getSingleMetricAsString('ictvoip_credit_checks_total')).toMatch(/ictvoip_credit_checks_total\{outcome="read"\} [1-9]/);

  const unauthorised = await fetch(`${kit.bridge.url}/admin/credit`);
  expect(unauthorised.status).toBe(401);
  const view = await fetch(`${kit.bridge.url}/admin/credit?service=${tenant.serviceId}`, { headers: auth() });
  expect(view.status).toBe(200);
  expect(await view.json()).toMatchObject({
    services: [{ serviceId: tenant.serviceId, state: 'low', credit: '1.100000', usage: '0.137000', available: '0.963000', threshold: '1.000000' }],
    mails: [{ serviceId: tenant.serviceId, kind: 'low', crossing: 1, state: 'sent', customVars: { balance: '0.96', threshold: '1.00' } }],
  });

  const bad = await fetch(`${kit.bridge.url}/admin/credit/check?client=abc`, { method: 'POST', headers: auth() });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ path: 'client' }] } });
  const queued = await fetch(`${kit.bridge.url}/admin/credit/check?client=${tenant.clientId}`, { method: 'POST', headers: auth() });
  expect(queued.status).toBe(202);
  const { jobId } = (await queued.json()) as { jobId: string };
  await waitFor(async () => (await kit.deps.queues.billing.getJob(jobId))?.finishedOn, 20000, 'the manual check');
  expect(kit.whmcs.state.emails.filter((mail) => mail.id === tenant.serviceId)).toHaveLength(1);
});

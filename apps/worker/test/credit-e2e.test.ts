/**
 * Credit control through the queues: a CDR sync job of a prepaid tenant queues its client's credit
 * check, which mails the low balance once; the admin route shows the state and queues a check. A
 * prepaid tenant provisioned through the webhook with `creditRestriction: outbound` is restricted at
 * zero with its emergency route still routed, and is back on after a top-up, each exactly once.
 */
import { randomUUID } from 'node:crypto';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { addJob, CDR_JOBS } from '@ictvoip/queue';
import { getCreditState } from '@ictvoip/store';
import { runCreditCheck } from '../src';
import { waitFor } from './harness';
import type { BillingKit } from './cdr-billing-kit';
import { addOutboundTenant, startOutboundKit } from './credit-outbound-kit';

let kit: BillingKit;
const auth = () => ({ authorization: `Bearer ${kit.bridge.config.adminToken}` });

beforeAll(async () => {
  kit = await startOutboundKit({ emailTemplates: [{ name: 'VoIP Low Balance Alert', type: 'product' }] });
}, 30000);
afterAll(async () => {
  await kit?.close();
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
  await unauthorised.body?.cancel();
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

const outboundTenant = (serviceId: number) => addOutboundTenant(kit, serviceId);

test('a prepaid tenant with creditRestriction outbound is restricted at zero with emergency calls still routed, and back on after a top-up — each once', async () => {
  const serviceId = 9701;
  const { client, tenant, trunk, spare, gateways, routes, routedThrough, audits } = await outboundTenant(serviceId);
  const { domainName } = tenant;
  expect(await routedThrough('911')).toHaveLength(1);
  expect(await routedThrough('12125550100')).toHaveLength(1);
  const before = await routes();

  // Calls eat the credit: 10 minutes to New York at 0.0137 against 0.10 left → zero → restricted.
  client.credit = '0.10';
  kit.bridge.esl.clearRecorded();
  await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 600 });
  await addJob(kit.deps.queues, CDR_JOBS.syncTenant, { serviceId }, { jobId: `cdr-sync-${serviceId}-outbound-1` });
  await waitFor(async () => (await audits()).includes('credit.outbound-restricted'), 20000, 'the outbound restriction');

  const emergency = await routedThrough('911');
  expect(emergency).toHaveLength(1);
  expect(emergency[0]!.bridge).toBe(`sofia/gateway/${trunk}/$1`);
  expect(await routedThrough('933')).toHaveLength(1);
  expect(await routedThrough('12125550100')).toEqual([]);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
  // Only the spare gateway is stopped; the emergency route's gateway is never touched.
  expect(kit.bridge.esl.received.some((command) => command.includes(`killgw ${spare}`))).toBe(true);
  expect(kit.bridge.esl.received.some((command) => command.includes(`killgw ${trunk}`))).toBe(false);
  expect(kit.bridge.esl.apiCommands).toContain(`memcache delete dialplan:${domainName}`);
  expect(await getCreditState(kit.deps.pool, serviceId)).toMatchObject({ state: 'zero', suspendedBy: 'bridge', restrictedGateways: [spare], pendingAction: null });
  expect(kit.whmcs.state.requests.filter((request) => request.action === 'ModuleSuspend')).toEqual([]);

  // Repeat: another check at zero writes nothing more.
  const restricted = await routes();
  const again = await fetch(`${kit.bridge.url}/admin/credit/check?client=${client.id}`, { method: 'POST', headers: auth() });
  const { jobId } = (await again.json()) as { jobId: string };
  await waitFor(async () => (await kit.deps.queues.billing.getJob(jobId))?.finishedOn, 20000, 'the repeated check');
  expect(await routes()).toEqual(restricted);
  expect((await audits()).filter((action) => action === 'credit.outbound-restricted')).toHaveLength(1);

  // Top-up: exactly the previous routes and gateways.
  client.credit = '20.00';
  kit.bridge.esl.clearRecorded();
  const topUp = await fetch(`${kit.bridge.url}/admin/credit/check?client=${client.id}`, { method: 'POST', headers: auth() });
  await topUp.body?.cancel();
  expect(topUp.status).toBe(202);
  await waitFor(async () => (await audits()).includes('credit.outbound-lifted'), 20000, 'the lift');
  expect(await routes()).toEqual(before);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true' });
  expect(kit.bridge.esl.received.some((command) => command.includes(`startgw ${spare}`))).toBe(true);
  expect(kit.bridge.esl.received.some((command) => command.includes(`startgw ${trunk}`))).toBe(false);
  expect(await audits()).toEqual(['credit.zero', 'credit.outbound-restricted', 'credit.ok', 'credit.outbound-lifted']);
});

test('a crash between the routes and the gateways (the gateway update fails) leaves the emergency route up; the next check finishes once; the lift restores exactly', async () => {
  const serviceId = 9702;
  const { client, trunk, spare, gateways, routes, routedThrough, audits } = await outboundTenant(serviceId);
  const before = await routes();
  client.credit = '-0.01';
  await kit.bridge.fusion.query(`create or replace function h32_refuse_gw() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`);
  await kit.bridge.fusion.query('create trigger h32_refuse_gw before update on v_gateways for each row execute function h32_refuse_gw()');
  try {
    const first = await runCreditCheck(kit.deps, client.id);
    expect(first.services[0]).toMatchObject({ after: 'zero', actions: ['mail:zero', 'restrict'] });
  } finally {
    await kit.bridge.fusion.query('drop trigger h32_refuse_gw on v_gateways');
  }
  // The routes were restricted (their own transaction), the gateway recorded but not stopped: paid calls already have no route.
  expect(await getCreditState(kit.deps.pool, serviceId)).toMatchObject({ pendingAction: 'restrict', restrictedGateways: [spare] });
  expect((await getCreditState(kit.deps.pool, serviceId))?.lastError).toContain('disk full');
  expect(await routedThrough('911')).toHaveLength(1);
  expect(await routedThrough('12125550100')).toEqual([]);
  const restricted = await routes();

  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['outbound-restricted']);
  expect(await routes()).toEqual(restricted);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
  expect(kit.bridge.esl.received.some((command) => command.includes(`killgw ${trunk}`))).toBe(false);
  expect(await runCreditCheck(kit.deps, client.id)).toMatchObject({ services: [{ after: 'zero', actions: [] }] });
  expect(await audits()).toEqual(['credit.zero', 'credit.outbound-restricted']);

  client.credit = '20.00';
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await routes()).toEqual(before);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true' });
});

test('applied again at every check: a route and a gateway the tenant adds while restricted are disabled / stopped at the next check and back at the lift; a check with nothing new writes nothing', async () => {
  const serviceId = 9703;
  const { client, tenant, trunk, spare, gateways, routes, routedThrough } = await outboundTenant(serviceId);
  const fusion = async (sql: string, params: unknown[] = []) => (await kit.bridge.fusion.query(sql, params)).rows as Record<string, string>[];
  client.credit = '-0.01';
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['mail:zero', 'restrict', 'outbound-restricted']);
  const restricted = await routes();

  // While restricted the tenant adds a gateway and a paid route through the kept trunk (as FusionPBX's pages write them).
  const late = randomUUID();
  await kit.bridge.fusion.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, 'late', 'false', 'external', 'true')`, [
    late,
    tenant.domainUuid,
  ]);
  const ownRoute = randomUUID();
  await kit.bridge.fusion.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_order, dialplan_enabled)
     values ($1, $2, '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3', $3, 'mine.paid', 'false', 200, 'true')`,
    [tenant.domainUuid, ownRoute, tenant.domainName],
  );
  for (const [order, tag, type, data] of [
    [10, 'condition', 'destination_number', '^(\\d{12})$'],
    [20, 'action', 'bridge', `sofia/gateway/${trunk}/$1`],
  ] as const) {
    await kit.bridge.fusion.query(
      `insert into v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group, dialplan_detail_enabled)
       values ($1, $2, $3, $4, $5, $6, $7, 0, 'true')`,
      [randomUUID(), tenant.domainUuid, ownRoute, tag, type, data, order],
    );
  }
  expect(await routedThrough('441234567890')).toHaveLength(1);

  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['outbound-reapplied']);
  expect(await routedThrough('441234567890')).toEqual([]);
  expect(await routedThrough('911')).toHaveLength(1);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false', [late]: 'false' });
  expect(kit.bridge.esl.received.filter((command) => /killgw|startgw/.test(command))).toEqual([`api sofia profile external killgw ${late}`]);
  expect(kit.bridge.esl.apiCommands).toContain(`memcache delete dialplan:${tenant.domainName}`);
  expect((await getCreditState(kit.deps.pool, serviceId))?.restrictedGateways).toEqual([spare, late].sort());

  // Nothing new: no FusionPBX row rewritten, nothing sent to FreeSWITCH.
  const xmins = async () =>
    fusion(
      `select 'g' || gateway_uuid::text as id, xmin::text from v_gateways where domain_uuid = $1
       union all select 'd' || dialplan_uuid::text, xmin::text from v_dialplans where domain_uuid = $1
       union all select 's' || domain_setting_uuid::text, xmin::text from v_domain_settings where domain_uuid = $1 order by 1`,
      [tenant.domainUuid],
    );
  const snapshot = await xmins();
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual([]);
  expect(await xmins()).toEqual(snapshot);
  expect(kit.bridge.esl.received).toEqual([]);

  client.credit = '20.00';
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true', [late]: 'true' });
  expect(await routedThrough('441234567890')).toHaveLength(1);
  expect(await routedThrough('911')).toHaveLength(1);
  const started = kit.bridge.esl.received.filter((command) => /killgw|startgw/.test(command));
  expect(started.sort()).toEqual([`api sofia profile external startgw ${late}`, `api sofia profile external startgw ${spare}`].sort());
  expect(restricted.filter((row) => row.enabled === 'true')).toHaveLength(2); // the emergency pair, throughout
});

test("an operator's suspend webhook marks the service not the bridge's to lift before the event reads as finished; the unsuspend clears it the same way", async () => {
  const serviceId = 9705;
  const { client } = await outboundTenant(serviceId);
  // Credit control had restricted the service itself: the operator's suspend must take it over.
  await kit.deps.pool.query(
    `INSERT INTO credit_states (service_id, client_id, suspended_by) VALUES ($1, $2, 'bridge') ON CONFLICT (service_id) DO UPDATE SET suspended_by = 'bridge'`,
    [serviceId, client.id],
  );
  /** Who credit control thinks suspended the service, and whether that was written before the event finished. */
  const noted = async (eventId: string) => {
    const { rows } = await kit.deps.pool.query<{ suspended_by: string | null; before: boolean }>(
      `SELECT c.suspended_by, c.updated_at <= i.finished_at AS before FROM credit_states c, webhook_inbox i WHERE c.service_id = $1 AND i.event_id = $2`,
      [serviceId, eventId],
    );
    return rows[0];
  };
  const send = async (action: string, extra: Record<string, unknown> = {}) => {
    const event = buildEvent({ serviceId, action, client: { id: client.id, email: 'c@example.com' }, ...extra });
    delete event.secrets;
    expect((await postWebhook(kit.bridge.url, JSON.stringify(event), { query: '?wait=20' })).body).toMatchObject({ result: 'success' });
    return event.eventId as string;
  };

  const suspend = await send('suspend', { reason: 'Overdue on Payment' });
  expect(await noted(suspend)).toEqual({ suspended_by: 'other', before: true });
  const unsuspend = await send('unsuspend');
  expect(await noted(unsuspend)).toEqual({ suspended_by: null, before: true });
});

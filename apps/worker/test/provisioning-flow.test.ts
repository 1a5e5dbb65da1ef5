import { randomUUID } from 'node:crypto';
import { buildEvent, postWebhook, TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;

function event(serviceId: number, action: string, extra: Record<string, unknown> = {}) {
  const base = buildEvent({ serviceId, action, ...extra });
  if (action !== 'create' && action !== 'change_password') delete base.secrets;
  return base;
}

async function send(body: Record<string, unknown>, wait = 20) {
  return postWebhook(bridge.url, JSON.stringify(body), { query: `?wait=${wait}` });
}

describe('create through the webhook', () => {
  const serviceId = 4101;
  const domain = `t${serviceId}.pbx.example.net`;

  it('answers success with serviceProperties once FusionPBX and FreeSWITCH are converged', async () => {
    bridge.esl.clearRecorded();
    const reply = await send(event(serviceId, 'create'));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain, adminUsername: 'admin', portalUrl: `https://${domain}/` } });
    const [domainRow] = await fusionRows('SELECT domain_uuid, domain_enabled::text FROM v_domains WHERE domain_name = $1', [domain]);
    expect(domainRow.domain_enabled).toBe('true');
    const extensions = await fusionRows('SELECT extension FROM v_extensions WHERE domain_uuid = $1 ORDER BY extension', [domainRow.domain_uuid]);
    expect(extensions.map((r) => r.extension)).toEqual(['100', '101', '102']);
    const voicemails = await fusionRows('SELECT voicemail_id FROM v_voicemails WHERE domain_uuid = $1 ORDER BY voicemail_id', [domainRow.domain_uuid]);
    expect(voicemails.map((r) => r.voicemail_id)).toEqual(['100', '101', '102']);
    const users = await fusionRows('SELECT username FROM v_users WHERE domain_uuid = $1', [domainRow.domain_uuid]);
    expect(users.map((r) => r.username)).toEqual(['admin']);
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:100@${domain}`, `memcache delete dialplan:${domain}`]));
    const [service] = await bridgeRows('SELECT desired_state, observed_state, tenant_domain, pending_apply FROM services WHERE service_id = $1', [serviceId]);
    expect(service).toEqual({ desired_state: 'active', observed_state: 'active', tenant_domain: domain, pending_apply: null });
  });

  it('answers a repeat of the same event from the inbox without running it again', async () => {
    const body = event(serviceId, 'create');
    const first = await send(body);
    const audits = await bridgeRows('SELECT count(*)::int AS n FROM audit_log WHERE event_id = $1', [body.eventId]);
    const again = await send(body);
    expect(again.body).toEqual(first.body);
    expect(await bridgeRows('SELECT count(*)::int AS n FROM audit_log WHERE event_id = $1', [body.eventId])).toEqual(audits);
    const [inbox] = await bridgeRows('SELECT attempts, status FROM webhook_inbox WHERE event_id = $1', [body.eventId]);
    expect(inbox).toEqual({ attempts: 1, status: 'succeeded' });
  });

  it('leaves FusionPBX unchanged when a new create event for the same service arrives', async () => {
    const snapshot = await fusionRows('SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]);
    for (let i = 0; i < 3; i += 1) expect((await send(event(serviceId, 'create'))).body.result).toBe('success');
    expect(await fusionRows('SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain])).toEqual(snapshot);
    expect(await fusionRows('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toEqual([{ n: 1 }]);
  });
});

describe('suspend and unsuspend', () => {
  const serviceId = 4102;
  const domain = `t${serviceId}.pbx.example.net`;

  it('restores exactly what was enabled before, keeping a customer-disabled extension disabled', async () => {
    expect((await send(event(serviceId, 'create'))).body.result).toBe('success');
    await bridge.fusion.query("UPDATE v_extensions SET enabled = 'false' WHERE extension = '101' AND domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)", [
      domain,
    ]);
    bridge.esl.clearRecorded();
    expect((await send(event(serviceId, 'suspend'))).body.result).toBe('success');
    const suspended = await fusionRows('SELECT e.extension, e.enabled::text FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [
      domain,
    ]);
    expect(suspended.every((r) => r.enabled === 'false')).toBe(true);
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`sofia profile internal flush_inbound_reg 100@${domain} reboot`]));
    expect((await bridgeRows('SELECT desired_state FROM services WHERE service_id = $1', [serviceId]))[0].desired_state).toBe('suspended');
    expect((await send(event(serviceId, 'unsuspend'))).body.result).toBe('success');
    const restored = await fusionRows('SELECT e.extension, e.enabled::text FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [domain]);
    expect(restored).toEqual([
      { extension: '100', enabled: 'true' },
      { extension: '101', enabled: 'false' },
      { extension: '102', enabled: 'true' },
    ]);
  });

  it('applies events of one service in arrival order even when they are sent back to back', async () => {
    const id = 4103;
    const create = event(id, 'create');
    const suspend = event(id, 'suspend');
    const first = await postWebhook(bridge.url, JSON.stringify(create));
    const second = await postWebhook(bridge.url, JSON.stringify(suspend), { query: '?wait=20' });
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(second.body.result).toBe('success');
    const rows = await bridgeRows('SELECT action, status FROM webhook_inbox WHERE service_id = $1 ORDER BY seq', [id]);
    expect(rows).toEqual([
      { action: 'create', status: 'succeeded' },
      { action: 'suspend', status: 'succeeded' },
    ]);
    const [domainRow] = await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [`t${id}.pbx.example.net`]);
    expect(domainRow.domain_enabled).toBe('false');
  });
});

describe('terminate, create again, change package, change password', () => {
  const serviceId = 4104;
  const domain = `t${serviceId}.pbx.example.net`;

  it('terminates, then a later create starts a new generation', async () => {
    expect((await send(event(serviceId, 'create'))).body.result).toBe('success');
    expect((await send(event(serviceId, 'terminate'))).body.result).toBe('success');
    expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [domain]))[0].domain_enabled).toBe('false');
    expect((await send(event(serviceId, 'create'))).body.result).toBe('success');
    expect((await bridgeRows('SELECT desired_state, generation FROM services WHERE service_id = $1', [serviceId]))[0]).toEqual({ desired_state: 'active', generation: 2 });
    expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [domain]))[0].domain_enabled).toBe('true');
  });

  it('lets a WHMCS configurable option (key|Label) override the plan limit', async () => {
    const id = 4107;
    const reply = await send(event(id, 'create', { plan: { maxExtensions: 2, firstExtension: 200 }, configurableOptions: { 'maxExtensions|Extensions': '4|4 extensions' } }));
    expect(reply.body.result).toBe('success');
    const rows = await fusionRows('SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [`t${id}.pbx.example.net`]);
    expect(rows.map((r) => r.extension)).toEqual(['200', '201', '202', '203']);
    expect((await bridgeRows('SELECT plan FROM services WHERE service_id = $1', [id]))[0].plan).toMatchObject({ maxExtensions: 4, firstExtension: 200 });
  });

  it('grows and shrinks the extension count with the plan, reporting what it disabled', async () => {
    const grow = await send(event(serviceId, 'change_package', { plan: { maxExtensions: 5, firstExtension: 100 } }));
    expect(grow.body).toMatchObject({ result: 'success' });
    expect(String(grow.body.message)).toContain('extensions created 103,104');
    const shrink = await send(event(serviceId, 'change_package', { plan: { maxExtensions: 2, firstExtension: 100 } }));
    expect(String(shrink.body.message)).toMatch(/disabled/);
    const enabled = await fusionRows(
      "SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.enabled::text = 'true' ORDER BY 1",
      [domain],
    );
    expect(enabled).toHaveLength(2);
  });

  it('changes the tenant admin password without ever logging it', async () => {
    const [before] = await fusionRows('SELECT u.password FROM v_users u JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]);
    const password = `New-${randomUUID()}`;
    const reply = await send(event(serviceId, 'change_password', { secrets: { servicePassword: password } }));
    expect(reply.body.result).toBe('success');
    const [after] = await fusionRows('SELECT u.password FROM v_users u JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]);
    expect(after.password).not.toBe(before.password);
    expect(after.password).toMatch(/^\$2y\$/);
    const logs = bridge.logLines.join('\n');
    expect(logs).not.toContain(password);
    expect(logs).not.toContain(TEST_WEBHOOK_SECRET);
    const [inbox] = await bridgeRows('SELECT sealed_secrets FROM webhook_inbox WHERE event_id = $1', [reply.body.eventId]);
    expect(inbox.sealed_secrets).toBeNull();
  });
});

describe('refusals', () => {
  it('reports a domain owned by another service as a non-retryable error and writes nothing', async () => {
    const owner = 4105;
    expect((await send(event(owner, 'create', { service: { id: owner, domain: 'shared.example.org' } }))).body.result).toBe('success');
    const before = await fusionRows('SELECT count(*)::int AS n FROM v_extensions');
    const reply = await send(event(4106, 'create', { service: { id: 4106, domain: 'shared.example.org' } }));
    expect(reply.body).toMatchObject({ result: 'error', retryable: false });
    expect(String(reply.body.message)).toMatch(/shared\.example\.org/);
    expect(await fusionRows('SELECT count(*)::int AS n FROM v_extensions')).toEqual(before);
  });

  it.each([['bad domain.example.com'], ['evil.example.com\nreloadxml'], ['quote".example.com'], ['ünïcode.example.com']])(
    'refuses the domain %j at ingest: 400 naming service.domain, nothing stored',
    async (domain) => {
      const id = 4200 + Math.floor(Math.random() * 1000);
      const reply = await send(event(id, 'create', { service: { id, domain } }));
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: 'service.domain' })] } });
      expect(await bridgeRows('SELECT count(*)::int AS n FROM webhook_inbox WHERE service_id = $1', [id])).toEqual([{ n: 0 }]);
      expect(await fusionRows('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toEqual([{ n: 0 }]);
    },
  );

  it('refuses a suspend for a service that was never created', async () => {
    const reply = await send(event(4999, 'suspend'));
    expect(reply.body).toMatchObject({ result: 'error', retryable: false });
  });
});

describe('the billing cycle an event states', () => {
  const cycleOf = (serviceId: number) =>
    bridgeRows("SELECT whmcs_cycle, to_char(next_due, 'YYYY-MM-DD') AS next_due, source FROM service_billing_cycles WHERE service_id = $1", [serviceId]);
  const withCycle = (serviceId: number, domain: string, billingCycle: string, nextDueDate: string) =>
    event(serviceId, 'create', { service: { id: serviceId, pid: 3, domain, username: 'admin', billingCycle, nextDueDate } });

  it('is recorded when the event is applied, and when the worker refuses it (a domain of another service)', async () => {
    expect((await send(withCycle(4120, 'cycle-owner.example.org', 'Monthly', '2027-02-10'))).body).toMatchObject({ result: 'success' });
    expect(await cycleOf(4120)).toEqual([{ whmcs_cycle: 'Monthly', next_due: '2027-02-10', source: 'event' }]);
    const refused = await send(withCycle(4121, 'cycle-owner.example.org', 'Quarterly', '2027-03-01'));
    expect(refused.body).toMatchObject({ result: 'error', retryable: false });
    expect(await cycleOf(4121)).toEqual([{ whmcs_cycle: 'Quarterly', next_due: '2027-03-01', source: 'event' }]);
  });
});

describe('who asked', () => {
  it("an admin's press named by the module (requestedBy) reaches the audit entries, applied or refused; WHMCS's own events carry none", async () => {
    const serviceId = 4110;
    const created = event(serviceId, 'create');
    expect((await send(created)).body.result).toBe('success');
    const suspended = event(serviceId, 'suspend', { requestedBy: 'jane.ops (admin #7)\u0007' });
    expect((await send(suspended)).body.result).toBe('success');
    const refused = event(4111, 'suspend', { requestedBy: 'admin #3' });
    expect((await send(refused)).body.result).toBe('error');
    const audit = async (eventId: unknown) => bridgeRows(`SELECT action, detail->>'requestedBy' AS requested_by FROM audit_log WHERE event_id = $1 ORDER BY id`, [eventId]);
    expect(await audit(created.eventId)).toEqual([{ action: 'create', requested_by: null }]);
    expect(await audit(suspended.eventId)).toEqual([{ action: 'suspend', requested_by: 'jane.ops (admin #7)' }]);
    expect(await audit(refused.eventId)).toEqual([{ action: 'suspend.failed', requested_by: 'admin #3' }]);
  });
});

describe('test connection', () => {
  it('reports the FusionPBX database and the event socket', async () => {
    const reply = await send(event(0, 'test_connection', { service: { id: 0 }, client: { id: 0 } }), 10);
    expect(reply.body.result).toBe('success');
    expect(String(reply.body.message)).toMatch(/FusionPBX database: ok .*event socket: ok/);
  });

  it('reports a down event socket as an error WHMCS can show, without retrying', async () => {
    await bridge.esl.stop();
    try {
      const reply = await send(event(0, 'test_connection', { service: { id: 0 }, client: { id: 0 } }), 15);
      expect(reply.body).toMatchObject({ result: 'error', retryable: false });
      expect(String(reply.body.message)).toMatch(/FusionPBX database: ok .*event socket: FAILED/);
      const [row] = await bridgeRows('SELECT attempts FROM webhook_inbox WHERE event_id = $1', [reply.body.eventId]);
      expect(row.attempts).toBe(1);
    } finally {
      await bridge.esl.start();
    }
  });
});

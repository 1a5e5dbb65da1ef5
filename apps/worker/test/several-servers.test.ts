import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createProvisioner, provisionerOptionsFrom } from '@ictvoip/fusionpbx';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, postWebhook, type EslStandin, type TestDatabase } from '@ictvoip/testkit';
import { call, createKey } from '../../api/test/v1-helpers';
import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
import { cdrBacklogByTenant, syncTenantCdrs } from '../src';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
import { startBridge, startSecondFusionServer, TEMPLATE_DOMAIN, waitFor, type Bridge, type SecondFusionServer } from './harness';

// Two FusionPBX servers behind one bridge: the default one (environment) and "pbx2" (registry).
const SECOND_ESL_PASSWORD = 'Second-Esl-Secret-7781';
const SECOND_DB_PASSWORD_MARKER = 'second-db-url-marker';

let bridge: Bridge;
let fusion2Db: TestDatabase;
let fusion2: Pool;
let esl2: EslStandin;
let second: SecondFusionServer;
let registry: FusionServersRepository;
let adminKey: string;

beforeAll(async () => {
  bridge = await startBridge({}, { logLevel: 'info' });
  second = await startSecondFusionServer(SECOND_ESL_PASSWORD);
  ({ db: fusion2Db, pool: fusion2, esl: esl2 } = second);
  await bridge.startApi();
  registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
  // The URL carries a query parameter as a marker, to find it (or not) in the stored row.
  await registry.add({
    name: 'pbx2',
    databaseUrl: `${fusion2Db.url}?application_name=${SECOND_DB_PASSWORD_MARKER}`,
    eslHost: esl2.host,
    eslPort: esl2.port,
    eslPassword: SECOND_ESL_PASSWORD,
    whmcsServerId: 2,
    whmcsHostname: 'pbx2.whmcs.example.net',
  });
  await bridge.startWorker({ schedulers: false });
  adminKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'ops', scope: 'admin', access: 'read-write' });
});
afterAll(async () => {
  await bridge.close();
  await second.close();
});

function event(serviceId: number, action: string, server: Record<string, unknown> | null) {
  const base = buildEvent({ serviceId, action });
  if (action !== 'create' && action !== 'change_password') delete base.secrets;
  if (server === null) delete base.server;
  else base.server = server;
  return base;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
const domainCount = async (pool: Pool, domain: string) => Number((await pool.query('SELECT count(*) AS n FROM v_domains WHERE domain_name = $1', [domain])).rows[0].n);
const boundServer = async (serviceId: number) =>
  (await bridge.api!.deps.pool.query('SELECT fusionpbx_server FROM services WHERE service_id = $1', [serviceId])).rows[0]?.fusionpbx_server;
const mentions = (esl: EslStandin, domain: string) => esl.apiCommands.filter((command) => command.includes(domain));

describe('routing by the event server block', () => {
  const onSecond = 9201;
  const onDefault = 9202;
  const domain2 = `t${onSecond}.pbx.example.net`;
  const domain1 = `t${onDefault}.pbx.example.net`;
  let createOnSecond: Record<string, unknown>;

  it('a create with server.id=2 lands in FusionPBX #2 only, with its event-socket commands on #2 only', async () => {
    bridge.esl.clearRecorded();
    esl2.clearRecorded();
    const transactionsOn = async (server: string) =>
      (await bridge.worker!.metrics.fusionpbxCalls.get()).values.find(
        (value) => value.metricName?.endsWith('_count') && value.labels.server === server && value.labels.call === 'create' && value.labels.outcome === 'ok',
      )?.value ?? 0;
    const createsOnDefault = await transactionsOn('default');
    createOnSecond = event(onSecond, 'create', { id: 2, hostname: 'other.example.net' });
    const reply = await send(createOnSecond);
    expect(reply.body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain2 } });
    expect(await domainCount(fusion2, domain2)).toBe(1);
    expect(await domainCount(bridge.fusion, domain2)).toBe(0);
    expect(mentions(esl2, domain2)).toEqual(expect.arrayContaining([`memcache delete dialplan:${domain2}`]));
    expect(mentions(bridge.esl, domain2)).toEqual([]);
    expect(await boundServer(onSecond)).toBe('pbx2');
    // The worker's metrics name the server each transaction and event-socket call went to.
    expect(await transactionsOn('pbx2')).toBe(1);
    expect(await transactionsOn('default')).toBe(createsOnDefault);
    const eslOnSecond = (await bridge.worker!.metrics.eslCalls.get()).values.filter((value) => value.metricName?.endsWith('_count') && value.labels.server === 'pbx2');
    expect(eslOnSecond.reduce((sum, value) => sum + value.value, 0)).toBe(esl2.apiCommands.length);
  });

  it('a create without a server block lands on the default server', async () => {
    bridge.esl.clearRecorded();
    esl2.clearRecorded();
    expect((await send(event(onDefault, 'create', null))).body.result).toBe('success');
    expect(await domainCount(bridge.fusion, domain1)).toBe(1);
    expect(await domainCount(fusion2, domain1)).toBe(0);
    expect(mentions(bridge.esl, domain1).length).toBeGreaterThan(0);
    expect(mentions(esl2, domain1)).toEqual([]);
    expect(await boundServer(onDefault)).toBeNull();
  });

  it('routes by hostname when the id does not match, and an unknown server id goes to the default', async () => {
    const byHost = 9203;
    const unknown = 9204;
    expect((await send(event(byHost, 'create', { id: 77, hostname: 'PBX2.whmcs.example.net' }))).body.result).toBe('success');
    expect(await domainCount(fusion2, `t${byHost}.pbx.example.net`)).toBe(1);
    expect(await boundServer(byHost)).toBe('pbx2');
    expect((await send(event(unknown, 'create', { id: 78, hostname: 'nowhere.example.net' }))).body.result).toBe('success');
    expect(await domainCount(bridge.fusion, `t${unknown}.pbx.example.net`)).toBe(1);
    expect(await boundServer(unknown)).toBeNull();
  });

  it('suspends the tenant on #2 on #2 only, even when the later event names another server (a tenant never moves)', async () => {
    bridge.esl.clearRecorded();
    esl2.clearRecorded();
    expect((await send(event(onSecond, 'suspend', { id: 1 }))).body.result).toBe('success');
    const rows = (await fusion2.query('SELECT d.domain_enabled::text AS enabled FROM v_domains d WHERE d.domain_name = $1', [domain2])).rows;
    expect(rows).toEqual([{ enabled: 'false' }]);
    expect(esl2.apiCommands).toEqual(expect.arrayContaining([`sofia profile internal flush_inbound_reg 100@${domain2} reboot`]));
    expect(mentions(bridge.esl, domain2)).toEqual([]);
    expect(await domainCount(bridge.fusion, domain2)).toBe(0);
    expect(await boundServer(onSecond)).toBe('pbx2');
    expect((await send(event(onSecond, 'unsuspend', null))).body.result).toBe('success');
    expect((await fusion2.query('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain2])).rows).toEqual([{ enabled: 'true' }]);
  });

  it('replaying the create event is a no-op', async () => {
    const audits = async () => Number((await bridge.api!.deps.pool.query('SELECT count(*) AS n FROM audit_log WHERE event_id = $1', [createOnSecond.eventId])).rows[0].n);
    const before = await audits();
    esl2.clearRecorded();
    const again = await send(createOnSecond);
    expect(again.body).toMatchObject({ result: 'success' });
    expect(await audits()).toBe(before);
    expect(esl2.apiCommands).toEqual([]);
    expect(await domainCount(fusion2, domain2)).toBe(1);
    expect(await domainCount(bridge.fusion, domain2)).toBe(0);
  });

  it('REST /v1 reads the tenant on #2 from #2', async () => {
    await fusion2.query(
      "UPDATE v_extensions SET description = 'lives on two' WHERE extension = '101' AND domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)",
      [domain2],
    );
    const list = await call(bridge.url, 'GET', `/v1/tenants/${onSecond}/extensions`, { token: adminKey });
    expect(list.status).toBe(200);
    expect(list.body.data.map((e: { extension: string }) => e.extension)).toEqual(['100', '101', '102']);
    expect(list.body.data.find((e: { extension: string }) => e.extension === '101').description).toBe('lives on two');
    const tenant = await call(bridge.url, 'GET', `/v1/tenants/${onSecond}`, { token: adminKey });
    expect(tenant.body).toMatchObject({ fusionpbxServer: 'pbx2', observed: { fusionpbx: { domainName: domain2 } } });
    const other = await call(bridge.url, 'GET', `/v1/tenants/${onDefault}`, { token: adminKey });
    expect(other.body).toMatchObject({ fusionpbxServer: 'default', observed: { fusionpbx: { domainName: domain1 } } });
  });

  it("writes through REST /v1 go to #2's database and event socket", async () => {
    esl2.clearRecorded();
    bridge.esl.clearRecorded();
    const reply = await call(bridge.url, 'PUT', `/v1/tenants/${onSecond}/extensions/101`, { token: adminKey, body: { description: 'edited via api' } });
    expect(reply.status).toBe(200);
    expect(
      (await fusion2.query("SELECT description FROM v_extensions WHERE extension = '101' AND domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)", [domain2]))
        .rows,
    ).toEqual([{ description: 'edited via api' }]);
    expect(mentions(esl2, domain2).length).toBeGreaterThan(0);
    expect(mentions(bridge.esl, domain2)).toEqual([]);
  });

  it("a REST write while #2's event socket is down is queued and applied on #2's socket once it is back", async () => {
    await esl2.stop();
    let job: { id: string; url: string };
    try {
      const reply = await call(bridge.url, 'PUT', `/v1/tenants/${onSecond}/extensions/102`, { token: adminKey, body: { description: 'queued for two' } });
      expect(reply.status).toBe(202);
      job = (reply.body.freeswitch as { job: { id: string; url: string } }).job;
    } finally {
      esl2.clearRecorded();
      bridge.esl.clearRecorded();
      await esl2.start();
    }
    await waitFor(async () => (await call(bridge.url, 'GET', job.url, { token: adminKey })).body.state === 'completed', 30000, 'the queued step on #2');
    expect(mentions(esl2, domain2)).toEqual(expect.arrayContaining([`memcache delete directory:102@${domain2}`]));
    expect(mentions(bridge.esl, domain2)).toEqual([]);
  });

  it('the WHMCS status action reads the tenant from #2', async () => {
    const reply = await postWebhook(bridge.url, JSON.stringify(event(onSecond, 'status', { id: 2 })));
    expect(reply.status).toBe(200);
    expect(reply.body.adminFields).toMatchObject({ 'PBX domain': domain2, 'Extensions enabled / plan': '3 of 3 / 3' });
  });

  it("CDR sync reads the tenant's calls from #2", async () => {
    const { rows } = await fusion2.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domain2]);
    await fusion2.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
       VALUES ($1, $2, $3, 'outbound', 'a', '12125550100', '12125550100', now(), 30, 'NORMAL_CLEARING')`,
      [randomUUID(), rows[0]!.domain_uuid, domain2],
    );
    const outcome = await syncTenantCdrs(bridge.worker!.deps, onSecond);
    expect(outcome).toMatchObject({ status: 'synced', read: 1, inserted: 1 });
    expect(await syncTenantCdrs(bridge.worker!.deps, onDefault)).toMatchObject({ status: 'synced', read: 0 });
  });

  it("the CDR backlog metric counts a tenant of #2 in #2's v_xml_cdr", async () => {
    const { rows } = await fusion2.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domain2]);
    // A call after the cursor of the sync above: not collected yet.
    await fusion2.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
       VALUES ($1, $2, $3, 'outbound', 'a', '12125550101', '12125550101', now() + interval '1 second', 12, 'NORMAL_CLEARING')`,
      [randomUUID(), rows[0]!.domain_uuid, domain2],
    );
    const backlog = await cdrBacklogByTenant(bridge.worker!.deps);
    expect(backlog).toEqual(expect.arrayContaining([{ serviceId: onSecond, backlog: 1 }]));
    // The sync's look-back window reads the earlier call again; only the new one is inserted.
    expect(await syncTenantCdrs(bridge.worker!.deps, onSecond)).toMatchObject({ status: 'synced', inserted: 1 });
    expect(await cdrBacklogByTenant(bridge.worker!.deps)).toEqual(expect.arrayContaining([{ serviceId: onSecond, backlog: 0 }]));
  });

  it('a test_connection for WHMCS server 2 probes #2', async () => {
    esl2.clearRecorded();
    const reply = await send(event(0, 'test_connection', { id: 2 }));
    expect(reply.body.result).toBe('success');
    expect(esl2.apiCommands).toContain('status');
  });
});

describe('maintenance across servers', () => {
  it('the drift report compares each tenant with its own server', async () => {
    const clean = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
    expect(clean.items).toEqual([]);
    expect(clean.tenants).toBeGreaterThanOrEqual(4);
    // Tenant 9203 is disabled by hand on FusionPBX #2: only the comparison with #2 can notice it.
    await fusion2.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = 't9203.pbx.example.net'");
    const drifted = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
    expect(drifted.items).toEqual([expect.objectContaining({ serviceId: 9203, kind: 'domain_disabled', fixAction: 'change_package' })]);
    await fusion2.query("UPDATE v_domains SET domain_enabled = 'true' WHERE domain_name = 't9203.pbx.example.net'");
  });

  it('a server that does not answer is one fusionpbx_unreachable item; the other servers are still compared', async () => {
    const sources = await driftSourcesOf(bridge.worker!.deps);
    // Nothing listens on port 1: pbx2's database refuses the connection, as a downed server would.
    const unreachable = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/fusionpbx', connectionTimeoutMillis: 2000 });
    await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = 't9202.pbx.example.net'");
    try {
      const report = await buildDriftReport({ ...sources, servers: new Map([['pbx2', unreachable]]) });
      const onSecond = Number((await bridge.api!.deps.pool.query("SELECT count(*) AS n FROM services WHERE fusionpbx_server = 'pbx2'")).rows[0].n);
      expect(onSecond).toBeGreaterThan(0);
      expect(report.items).toEqual([
        expect.objectContaining({
          kind: 'fusionpbx_unreachable',
          serviceId: null,
          expected: 'an answer from FusionPBX server pbx2',
          actual: expect.stringContaining('ECONNREFUSED'),
          fixAction: null,
          note: expect.stringContaining(`its ${onSecond} service(s) were not compared`),
        }),
        expect.objectContaining({ kind: 'domain_disabled', serviceId: 9202 }),
      ]);
      expect(report.counts.fusionpbx_unreachable).toBe(1);
      expect(report.counts.tenant_missing).toBe(0);
    } finally {
      await unreachable.end();
      await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'true' WHERE domain_name = 't9202.pbx.example.net'");
    }
  });

  it('WHMCS\'s Reconcile for a service whose server does not answer reports that, not "in step"', async () => {
    const serviceId = 9298;
    await registry.add({
      name: 'pbx-dead',
      databaseUrl: 'postgres://postgres@127.0.0.1:1/fusionpbx',
      eslHost: '127.0.0.1',
      eslPort: 1,
      eslPassword: 'Dead-Server-Secret-1',
      whmcsServerId: 98,
    });
    await bridge.api!.deps.pool.query(`INSERT INTO services (service_id, client_id, desired_state, fusionpbx_server) VALUES ($1, 1, 'active', 'pbx-dead')`, [serviceId]);
    try {
      const reply = await send(event(serviceId, 'reconcile', { id: 98 }));
      expect(reply.body.result).toBe('success');
      const [row] = (await bridge.api!.deps.pool.query("SELECT result FROM webhook_inbox WHERE service_id = $1 AND action = 'reconcile' ORDER BY seq DESC LIMIT 1", [serviceId]))
        .rows;
      expect(row.result.message).toMatch(/^1 difference\(s\): fusionpbx_unreachable: expected an answer from FusionPBX server pbx-dead/);
    } finally {
      await bridge.api!.deps.pool.query('DELETE FROM services WHERE service_id = $1', [serviceId]);
      await registry.remove('pbx-dead');
    }
  });

  it('purges a terminated tenant of #2 from #2 after the retention period', async () => {
    const serviceId = 9205;
    const domain = `t${serviceId}.pbx.example.net`;
    expect((await send(event(serviceId, 'create', { id: 2 }))).body.result).toBe('success');
    expect((await send(event(serviceId, 'terminate', null))).body.result).toBe('success');
    // The sync after the termination (no call): the purge waits for one.
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).status).toBe('synced');
    esl2.clearRecorded();
    const later = new Date(Date.now() + (bridge.config.fusionpbx.terminateRetentionDays + 1) * 86400_000);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later);
    expect(outcome.purged).toContain(serviceId);
    expect(await domainCount(fusion2, domain)).toBe(0);
    expect((await bridge.api!.deps.pool.query('SELECT observed_state FROM services WHERE service_id = $1', [serviceId])).rows).toEqual([{ observed_state: 'purged' }]);
  });
});

describe("purging with a registered server whose URL names another server's database", () => {
  it("judges each server's database by its own tenants: the misdirected one finishes no purge, the default one still does", async () => {
    const live = 9221;
    const stranded = 9222;
    const cutShort = 9223;
    // pbx3 was registered with pbx2's database URL (a typo): pbx2's tenants are there, none of pbx3's.
    await registry.add({ name: 'pbx3', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: SECOND_ESL_PASSWORD, whmcsServerId: 3 });
    const pool = bridge.api!.deps.pool;
    try {
      await pool.query(
        `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, observed_state, fusionpbx_server, updated_at)
         VALUES ($1, 1, $3, 'active', 'active', 'pbx3', now()),
                ($2, 1, $4, 'terminated', 'terminated', 'pbx3', now() - interval '400 days')`,
        [live, stranded, `t${live}.pbx.example.net`, `t${stranded}.pbx.example.net`],
      );
      expect((await send(event(cutShort, 'create', null))).body.result).toBe('success');
      expect((await send(event(cutShort, 'terminate', null))).body.result).toBe('success');
      // Each synced since its termination (the purge waits for that). pbx3's tenant finds no domain in the database its URL
      // names: that sync reads nothing and does not count, so its sync is one that ran on the right database before the typo.
      expect((await syncTenantCdrs(bridge.worker!.deps, stranded)).status).toBe('domain-missing');
      await pool.query(
        `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
         VALUES ($1, gen_random_uuid(), $2, now() - interval '1 day', gen_random_uuid(), now())`,
        [stranded, `t${stranded}.pbx.example.net`],
      );
      await syncTenantCdrs(bridge.worker!.deps, cutShort);
      const later = new Date(Date.now() + (bridge.config.fusionpbx.terminateRetentionDays + 1) * 86400_000);
      // The default server's domain deleted by hand: its bookkeeping is finished, the default database holding live tenants.
      const provisioner = (await bridge.worker!.deps.targets.get(null)).provisioner;
      expect(await provisioner.purgeTenant(cutShort, { retentionDays: bridge.config.fusionpbx.terminateRetentionDays, now: later })).toMatchObject({ purged: true });
      await pool.query(`UPDATE services SET updated_at = now() - interval '400 days' WHERE service_id = $1`, [cutShort]);

      const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later);
      expect(outcome.waiting).toContainEqual({ serviceId: stranded, reason: expect.stringMatching(/^FusionPBX database of server pbx3 holds none of its 1 live tenants/) });
      expect(outcome.purged).toContain(cutShort);
      expect(outcome.purged).not.toContain(stranded);
      const states = (await pool.query('SELECT service_id, observed_state FROM services WHERE service_id = ANY($1) ORDER BY service_id', [[stranded, cutShort]])).rows;
      expect(states).toEqual([
        { service_id: String(stranded), observed_state: 'terminated' },
        { service_id: String(cutShort), observed_state: 'purged' },
      ]);
    } finally {
      await pool.query('DELETE FROM cdr_sync_cursors WHERE service_id = $1', [stranded]);
      await pool.query('DELETE FROM services WHERE service_id = ANY($1)', [[live, stranded]]);
      await registry.remove('pbx3');
    }
  });
});

describe('a disabled server', () => {
  it('refuses events for its tenants and for new services mapped to it (never the default instead), and resumes once enabled', async () => {
    expect((await send(event(9211, 'create', { id: 2 }))).body.result).toBe('success');
    await registry.setEnabled('pbx2', false);
    try {
      const create = await send(event(9212, 'create', { id: 2 }));
      expect(create.body).toMatchObject({ result: 'error' });
      expect(JSON.stringify(create.body)).toContain('pbx2 is disabled');
      expect(await domainCount(bridge.fusion, 't9212.pbx.example.net')).toBe(0);
      expect(await domainCount(fusion2, 't9212.pbx.example.net')).toBe(0);
      // The API's preview of a new service routes by the worker's rule: the disabled match, not the default.
      const preview = await postWebhook(bridge.url, JSON.stringify(event(9213, 'create', { id: 2 })), { query: '?dryRun=1' });
      expect({ status: preview.status, body: preview.body }).toMatchObject({ status: 503, body: { error: { code: 'FUSIONPBX_SERVER_DISABLED' } } });
      const suspend = await send(event(9211, 'suspend', null));
      expect(suspend.body).toMatchObject({ result: 'error' });
      expect((await fusion2.query("SELECT domain_enabled::text AS e FROM v_domains WHERE domain_name = 't9211.pbx.example.net'")).rows).toEqual([{ e: 'true' }]);
      expect(await syncTenantCdrs(bridge.worker!.deps, 9211)).toMatchObject({ status: 'server-unavailable' });
      const rest = await call(bridge.url, 'GET', '/v1/tenants/9211/extensions', { token: adminKey });
      expect(rest.status).toBe(503);
      expect(rest.body.error ?? rest.body).toMatchObject({ code: 'FUSIONPBX_SERVER_DISABLED' });
    } finally {
      await registry.setEnabled('pbx2', true);
    }
    expect((await send(event(9211, 'suspend', null))).body.result).toBe('success');
    expect((await fusion2.query("SELECT domain_enabled::text AS e FROM v_domains WHERE domain_name = 't9211.pbx.example.net'")).rows).toEqual([{ e: 'false' }]);
  });
});

describe('a crash or an outage in the middle, on #2', () => {
  const inboxStatus = async (eventId: unknown) => (await bridge.api!.deps.pool.query('SELECT status FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0]?.status;

  it("keeps #2's committed rows while #2's event socket is down and applies them on #2 once it is back", async () => {
    const serviceId = 9221;
    const domain = `t${serviceId}.pbx.example.net`;
    const body = event(serviceId, 'create', { id: 2 });
    await esl2.stop();
    bridge.esl.clearRecorded();
    try {
      expect((await postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=2' })).status).toBe(202);
      await waitFor(async () => (await inboxStatus(body.eventId)) === 'pending_apply', 10000, 'pending_apply');
      expect(await boundServer(serviceId)).toBe('pbx2');
      expect(await domainCount(fusion2, domain)).toBe(1);
      esl2.clearRecorded();
    } finally {
      await esl2.start();
    }
    await waitFor(async () => (await inboxStatus(body.eventId)) === 'succeeded', 20000, 'applied after #2 is back');
    expect(mentions(esl2, domain)).toEqual(expect.arrayContaining([`memcache delete dialplan:${domain}`]));
    expect(mentions(bridge.esl, domain)).toEqual([]);
    expect(await domainCount(bridge.fusion, domain)).toBe(0);
  });

  it('a create whose FusionPBX #2 part committed before a crash is finished on #2, not redone on the default', async () => {
    const serviceId = 9222;
    const domain = `t${serviceId}.pbx.example.net`;
    const body = event(serviceId, 'create', { id: 2 });
    // The "crashed" attempt: #2 converged, nothing recorded in the bridge, nothing sent to FreeSWITCH.
    await createProvisioner({ pool: fusion2, options: provisionerOptionsFrom(bridge.config) }).create(body as never);
    expect(await boundServer(serviceId)).toBeUndefined();
    esl2.clearRecorded();
    expect((await send(body)).body.result).toBe('success');
    expect(await domainCount(fusion2, domain)).toBe(1);
    expect(await domainCount(bridge.fusion, domain)).toBe(0);
    expect(mentions(esl2, domain)).toEqual(expect.arrayContaining([`memcache delete dialplan:${domain}`]));
    expect(await boundServer(serviceId)).toBe('pbx2');
  });
});

describe('/readyz with two servers', () => {
  it('shows both; a down registered server is reported (degraded) without making /readyz 503', async () => {
    const up = await call(bridge.url, 'GET', '/readyz');
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ready', checks: { fusionpbxDatabase: { status: 'up' }, eventSocket: { status: 'up' }, 'fusionpbx:pbx2': { status: 'up' } } });
    await esl2.stop();
    try {
      const down = await call(bridge.url, 'GET', '/readyz');
      expect(down.status).toBe(200);
      expect(down.body).toMatchObject({ status: 'degraded', checks: { eventSocket: { status: 'up' }, 'fusionpbx:pbx2': { status: 'down' } } });
    } finally {
      await esl2.start();
    }
    await waitFor(async () => (await call(bridge.url, 'GET', '/readyz')).body.status === 'ready', 10000, 'pbx2 back up');
  });

  it('is degraded naming FUSIONPBX_TEMPLATE_DOMAIN when the FusionPBX database lacks the template domain (creates would fail, suspends still apply)', async () => {
    await bridge.fusion.query("UPDATE v_domains SET domain_name = 'renamed.pbx.test' WHERE domain_name = $1", [TEMPLATE_DOMAIN]);
    try {
      const missing = await call(bridge.url, 'GET', '/readyz');
      expect(missing.status).toBe(200);
      expect(missing.body.status).toBe('degraded');
      expect(missing.body.checks.fusionpbxDatabase).toMatchObject({ status: 'up' });
      expect(missing.body.checks.templateDomain).toMatchObject({ status: 'down', error: expect.stringContaining(`FUSIONPBX_TEMPLATE_DOMAIN ${TEMPLATE_DOMAIN}`) });
    } finally {
      await bridge.fusion.query("UPDATE v_domains SET domain_name = $1 WHERE domain_name = 'renamed.pbx.test'", [TEMPLATE_DOMAIN]);
    }
    expect((await call(bridge.url, 'GET', '/readyz')).status).toBe(200);
  });
});

describe('secrets of a registered server', () => {
  it('are encrypted at rest and never in a log line', async () => {
    const { rows } = await bridge.api!.deps.pool.query('SELECT row_to_json(s)::text AS row FROM fusionpbx_servers s');
    expect(rows).toHaveLength(1);
    expect(rows[0].row).not.toContain(SECOND_ESL_PASSWORD);
    expect(rows[0].row).not.toContain(SECOND_DB_PASSWORD_MARKER);
    expect(rows[0].row).not.toContain(fusion2Db.url);
    expect(bridge.logLines.join('\n')).not.toContain(SECOND_ESL_PASSWORD);
    const spec = await registry.spec('pbx2');
    expect(spec).toMatchObject({ eslPassword: SECOND_ESL_PASSWORD, eslPort: esl2.port });
  });
});

describe('an edited server', () => {
  it('reaches the running worker and API at the next job or request, no restart', async () => {
    const rotated = 'Rotated-Esl-Secret-5150';
    esl2.password = rotated;
    await registry.update('pbx2', { eslPassword: rotated });
    esl2.clearRecorded();
    expect((await send(event(9201, 'suspend', null))).body.result).toBe('success');
    expect(esl2.apiCommands.length).toBeGreaterThan(0);
    expect((await call(bridge.url, 'GET', '/readyz')).body.checks['fusionpbx:pbx2']).toMatchObject({ status: 'up' });
    expect(bridge.logLines.join('\n')).not.toContain(rotated);
  });
});

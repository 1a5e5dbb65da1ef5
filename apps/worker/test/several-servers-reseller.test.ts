import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Pool } from 'pg';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, createTestDatabase, freePort, loadFusionpbxSchema, postWebhook, testKeyring, type EslStandin, type TestDatabase } from '@ictvoip/testkit';
import { startBridge, startSecondFusionServer, TEMPLATE_DOMAIN, waitFor, type Bridge, type SecondFusionServer } from './harness';
import { addFusionUser, bcryptOf, postForm } from './compat-helpers';
import { syncTenantCdrs } from '../src';
import { call, createKey } from '../../api/test/v1-helpers';
import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
import { addJobs, CDR_JOBS, cdrSyncJobId } from '@ictvoip/queue';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';

// A reseller's bridge with two FusionPBX servers: the default one (environment) and "pbx2" (registry, WHMCS server 2).
const SECOND_ESL_PASSWORD = 'Reseller-Esl-Secret-4410';

let bridge: Bridge;
let fusion2Db: TestDatabase;
let fusion2: Pool;
let esl2: EslStandin;
let second: SecondFusionServer;
const EMPTY_REGISTRATIONS = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n  </registrations>\n</profile>\n';
let registry: FusionServersRepository;

beforeAll(async () => {
  bridge = await startBridge(
    {
      JOB_ATTEMPTS: '3',
      COMPAT_ICTVOIP: '1',
      TRUST_PROXY: 'loopback',
      COMPAT_LOGIN_MAX_FAILURES: '3',
      WORKER_CONCURRENCY: '2',
      WORKER_METRICS_PORT: String(await freePort()),
      CDR_BACKLOG_METRIC_SECONDS: '0',
    },
    { logLevel: 'info' },
  );
  second = await startSecondFusionServer(SECOND_ESL_PASSWORD);
  ({ db: fusion2Db, pool: fusion2, esl: esl2 } = second);
  // check_registration.php probes the tenants below: each switch lists its (empty) registrations, so "no" is an answer.
  for (const esl of [bridge.esl, esl2]) esl.respond(/^sofia xmlstatus profile '[A-Za-z0-9_.-]+' reg$/, EMPTY_REGISTRATIONS);
  await bridge.startApi();
  registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
  await registry.add({ name: 'pbx2', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: SECOND_ESL_PASSWORD, whmcsServerId: 2 });
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
  await second.close();
});

function event(serviceId: number, action: string, server: Record<string, unknown> | null, service: Record<string, unknown> = {}) {
  const base = buildEvent({ serviceId, action });
  if (action !== 'create' && action !== 'change_password') delete base.secrets;
  if (server === null) delete base.server;
  else base.server = server;
  base.service = { ...(base.service as Record<string, unknown>), ...service };
  return base;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
const domainCount = async (pool: Pool, domain: string) => Number((await pool.query('SELECT count(*) AS n FROM v_domains WHERE domain_name = $1', [domain])).rows[0].n);
const inbox = async (eventId: unknown) => (await bridge.api!.deps.pool.query('SELECT status, result FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0];

describe('the same domain name asked for on two servers', () => {
  it('the second service is refused at once, naming the service that holds the name, and nothing is written on its server', async () => {
    const domain = 'acme-shared.example.com';
    expect((await send(event(9301, 'create', null, { domain }))).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain } });
    const second = event(9302, 'create', { id: 2 }, { domain });
    const reply = await send(second);
    expect(reply.body).toMatchObject({ result: 'error', retryable: false });
    expect(JSON.stringify(reply.body)).toContain('9301');
    const row = await waitFor(async () => {
      const found = await inbox(second.eventId);
      return found?.status === 'failed' ? found : null;
    });
    expect(row.status).toBe('failed');
    // Nothing on pbx2: no domain left behind without a service the bridge tracks.
    expect(await domainCount(fusion2, domain)).toBe(0);
    expect(await domainCount(bridge.fusion, domain)).toBe(1);
  });

  it('the dry run of such a create answers the same refusal as the real run', async () => {
    const preview = await postWebhook(bridge.url, JSON.stringify(event(9303, 'create', { id: 2 }, { domain: 'acme-shared.example.com' })), { query: '?dryRun=1' });
    expect({ status: preview.status, body: preview.body }).toMatchObject({
      status: 200,
      body: { result: 'error', code: 'TENANT_CONFLICT', retryable: false, message: expect.stringContaining('already belongs to service 9301 (FusionPBX server default)') },
    });
  });
});

describe("one server's database down", () => {
  const DEAD_DATABASE = 'postgres://postgres@127.0.0.1:1/fusionpbx';

  /** pbx2's database stops answering (nothing listens there: connections are refused), then comes back. */
  async function withPbx2DatabaseDown(work: () => Promise<void>): Promise<void> {
    await registry.update('pbx2', { databaseUrl: DEAD_DATABASE });
    try {
      await work();
    } finally {
      await registry.update('pbx2', { databaseUrl: fusion2Db.url });
    }
  }

  it("does not stop the default server's superadmin from using the ictVoIP endpoints, nor lock the address out", async () => {
    const admin = { username: 'reseller-admin', password: 'Reseller-Admin-Pass-1' };
    await addFusionUser(bridge, admin.username, { password: bcryptOf(admin.password), salt: null }, ['superadmin']);
    const serviceId = 9311;
    const domain = `t${serviceId}.pbx.example.net`;
    expect((await send(event(serviceId, 'create', null))).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain } });
    const ask = () => postForm(bridge.url, '/app/registrations/check_registration.php', { ...admin, extension: '100', tenant_domain: domain });
    expect((await ask()).status).toBe(200);
    await withPbx2DatabaseDown(async () => {
      // More requests than COMPAT_LOGIN_MAX_FAILURES: none is a failed login.
      for (let i = 0; i < 4; i += 1) {
        const reply = await ask();
        expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 200, body: { status: 'success' } });
      }
    });
    expect((await ask()).status).toBe(200);
  });

  it("the worker's CDR backlog gauge stays current for the other servers' tenants (the down server's keep their last value)", async () => {
    const onDefault = 9331;
    const onSecond = 9332;
    expect((await send(event(onDefault, 'create', null))).body.result).toBe('success');
    expect((await send(event(onSecond, 'create', { id: 2 }))).body.result).toBe('success');
    await insertCdr(bridge.fusion, `t${onDefault}.pbx.example.net`, 120);
    await insertCdr(fusion2, `t${onSecond}.pbx.example.net`, 120);
    for (const serviceId of [onDefault, onSecond]) expect(await syncTenantCdrs(bridge.worker!.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1 });
    // One call on #2 after its cursor: its backlog is 1 before the outage.
    await insertCdr(fusion2, `t${onSecond}.pbx.example.net`, 60);
    expect(backlogOf(await scrape(), onSecond)).toBe(1);
    expect(backlogOf(await scrape(), onDefault)).toBe(0);
    await withPbx2DatabaseDown(async () => {
      await insertCdr(bridge.fusion, `t${onDefault}.pbx.example.net`, 30);
      const text = await scrape();
      expect(backlogOf(text, onDefault)).toBe(1);
      expect(backlogOf(text, onSecond)).toBe(1);
    });
  });

  it("the purge of terminated tenants goes on for the other servers; the down server's tenant waits, with the reason", async () => {
    const onSecond = 9341;
    const onDefault = 9342;
    for (const [serviceId, server] of [
      [onSecond, { id: 2 }],
      [onDefault, null],
    ] as const) {
      expect((await send(event(serviceId, 'create', server))).body.result).toBe('success');
      expect((await send(event(serviceId, 'terminate', null))).body.result).toBe('success');
      // The sync after the termination (no call): the purge waits for one.
      expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).status).toBe('synced');
    }
    const later = new Date(Date.now() + (bridge.config.fusionpbx.terminateRetentionDays + 1) * 86400_000);
    let outcome: Awaited<ReturnType<typeof purgeTerminatedTenants>> | undefined;
    await withPbx2DatabaseDown(async () => {
      outcome = await purgeTerminatedTenants(bridge.worker!.deps, later);
    });
    expect(outcome!.purged).toEqual([onDefault]);
    expect(outcome!.waiting).toEqual([{ serviceId: onSecond, reason: expect.stringContaining('ECONNREFUSED') }]);
    expect(await domainCount(bridge.fusion, `t${onDefault}.pbx.example.net`)).toBe(0);
    expect(await domainCount(fusion2, `t${onSecond}.pbx.example.net`)).toBe(1);
    const { rows: domainRows } = await fusion2.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [`t${onSecond}.pbx.example.net`]);
    // Once #2 answers again, the next run purges its tenant: its domain and every row of it on its own server (CDRs excepted, README).
    expect((await purgeTerminatedTenants(bridge.worker!.deps, later)).purged).toEqual([onSecond]);
    expect(await domainCount(fusion2, `t${onSecond}.pbx.example.net`)).toBe(0);
    expect(await rowsOfDomain(fusion2, domainRows[0]!.domain_uuid)).toEqual({});
  });

  it('REST on a tenant of the down server answers 503 naming that FusionPBX server, not the bridge database', async () => {
    const serviceId = 9351;
    expect((await send(event(serviceId, 'create', { id: 2 }))).body.result).toBe('success');
    const key = await createKey(bridge.url, bridge.config.adminToken, { name: 'ops-9351', scope: 'admin', access: 'read' });
    await withPbx2DatabaseDown(async () => {
      const reply = await call(bridge.url, 'GET', `/v1/tenants/${serviceId}/extensions`, { token: key });
      expect(reply.status).toBe(503);
      expect(JSON.stringify(reply.body)).toContain('pbx2');
      expect(JSON.stringify(reply.body)).not.toContain('bridge database');
    });
  });

  it('a superadmin of both servers asking for a tenant of the server that is down is told it did not answer (503), not that the tenant does not exist', async () => {
    const admin = { username: 'both-admin', password: 'Both-Admin-Pass-3' };
    const hash = bcryptOf(admin.password);
    await addFusionUser(bridge, admin.username, { password: hash, salt: null }, ['superadmin']);
    await addFusionUser({ fusion: fusion2 } as Bridge, admin.username, { password: hash, salt: null }, ['superadmin']);
    const serviceId = 9361;
    expect((await send(event(serviceId, 'create', { id: 2 }))).body.result).toBe('success');
    const ask = () => postForm(bridge.url, '/app/registrations/check_registration.php', { ...admin, extension: '100', tenant_domain: `t${serviceId}.pbx.example.net` });
    expect((await ask()).status).toBe(200);
    await withPbx2DatabaseDown(async () => {
      const reply = await ask();
      expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 503, body: { status: 'error', message: expect.stringContaining('server pbx2') } });
    });
  });

  it('a superadmin known only to the server that is down is told the server did not answer (503), not that the password is wrong', async () => {
    await withPbx2DatabaseDown(async () => {
      const reply = await postForm(bridge.url, '/app/registrations/check_registration.php', {
        username: 'only-on-two',
        password: 'Whatever-Pass-2',
        extension: '100',
        tenant_domain: 'x.example.net',
      });
      expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 503, body: { status: 'error', message: expect.stringContaining('pbx2') } });
      expect(reply.text).not.toContain('127.0.0.1:1');
    });
  });
});

/** Rows holding `domainUuid` in every FusionPBX table with a domain_uuid column but the CDRs, by table (only tables with rows). */
async function rowsOfDomain(pool: Pool, domainUuid: string): Promise<Record<string, number>> {
  const { rows: tables } = await pool.query<{ table_name: string }>(
    `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = 'public' AND c.column_name = 'domain_uuid' AND t.table_type = 'BASE TABLE' AND c.table_name NOT LIKE 'v_xml_cdr%'`,
  );
  const found: Record<string, number> = {};
  for (const { table_name: table } of tables) {
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE domain_uuid = $1`, [domainUuid]);
    if (rows[0]!.n > 0) found[table] = rows[0]!.n;
  }
  return found;
}

async function insertCdr(pool: Pool, domain: string, secondsAgo: number): Promise<void> {
  const { rows } = await pool.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domain]);
  await pool.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
     VALUES ($1, $2, $3, 'outbound', 'a', '12125550100', '12125550100', now() - make_interval(secs => $4), 30, 'NORMAL_CLEARING')`,
    [randomUUID(), rows[0]!.domain_uuid, domain, secondsAgo],
  );
}

async function scrape(): Promise<string> {
  const response = await fetch(bridge.worker!.metricsUrl!);
  expect(response.status).toBe(200);
  return response.text();
}

function backlogOf(text: string, serviceId: number): number | null {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`ictvoip_cdr_backlog{service_id="${serviceId}"} `));
  return line ? Number(line.split(' ').pop()) : null;
}

describe('a disabled server in the drift report and /status', () => {
  it('is one fusionpbx_unreachable item naming it and how many services were not compared, not a clean report', async () => {
    const onSecond = Number(
      (await bridge.api!.deps.pool.query("SELECT count(*) AS n FROM services WHERE fusionpbx_server = 'pbx2' AND observed_state IS DISTINCT FROM 'purged'")).rows[0].n,
    );
    expect(onSecond).toBeGreaterThan(0);
    await registry.setEnabled('pbx2', false);
    try {
      const report = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
      expect(report.items.filter((item) => item.kind === 'fusionpbx_unreachable')).toEqual([
        expect.objectContaining({
          server: 'pbx2',
          serviceId: null,
          actual: expect.stringContaining('disabled'),
          note: expect.stringContaining(`its ${onSecond} service(s) were not compared`),
        }),
      ]);
      // /status says so too: the server is listed as disabled (not asked, not a failure).
      const status = await call(bridge.url, 'GET', '/status', { token: bridge.config.adminToken });
      expect(status.body.servers).toContainEqual({ name: 'pbx2', version: null, active_calls: null, total_extensions: null, registered_extensions: null, disabled: true });
      expect(status.body.message).not.toContain('pbx2');
    } finally {
      await registry.setEnabled('pbx2', true);
    }
    const enabled = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
    expect(enabled.items.filter((item) => item.kind === 'fusionpbx_unreachable')).toEqual([]);
  });
});

describe('registering a server the bridge cannot talk to', () => {
  it('refuses an event-socket password the event-socket client refuses (whitespace) at add and update, so it never reaches the other servers', async () => {
    const spec = { name: 'pbx-space', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, whmcsServerId: 31 };
    await expect(registry.add({ ...spec, eslPassword: 'two words' })).rejects.toMatchObject({ code: 'FUSIONPBX_SERVER_INVALID', field: 'eslPassword' });
    await expect(registry.update('pbx2', { eslPassword: 'tab\there' })).rejects.toMatchObject({ code: 'FUSIONPBX_SERVER_INVALID', field: 'eslPassword' });
    expect(await registry.summary('pbx-space')).toBeNull();
    // The registry as it is: every server's targets still open, the default's superadmin still logs in.
    expect((await bridge.worker!.deps.targets.all()).map((target) => target.name)).toEqual(['default', 'pbx2']);
  });
});

describe('/readyz per registered server', () => {
  it("reports a registered server whose database lacks FusionPBX's schema or the template domain as down (creates routed there would all fail)", async () => {
    const bare = await createTestDatabase('fusion3');
    try {
      await registry.add({ name: 'pbx3', databaseUrl: bare.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: SECOND_ESL_PASSWORD, whmcsServerId: 3 });
      const noSchema = await call(bridge.url, 'GET', '/readyz');
      expect(noSchema.status).toBe(200);
      expect(noSchema.body.status).toBe('degraded');
      expect(noSchema.body.checks['fusionpbx:pbx3']).toMatchObject({ status: 'down', error: expect.stringContaining('v_domains') });
      await loadFusionpbxSchema(bare.url);
      const noTemplate = await call(bridge.url, 'GET', '/readyz');
      expect(noTemplate.body.checks['fusionpbx:pbx3']).toMatchObject({ status: 'down', error: expect.stringContaining(`FUSIONPBX_TEMPLATE_DOMAIN ${TEMPLATE_DOMAIN}`) });
      expect(noTemplate.body.checks['fusionpbx:pbx2']).toMatchObject({ status: 'up' });
    } finally {
      await registry.remove('pbx3');
      await bare.drop();
    }
  });
});

describe('a server that accepts connections and never answers', () => {
  it("does not hold the CDR queue: after its first syncs time out its other tenants are skipped and the other servers' tenants sync", async () => {
    // A FusionPBX host that hangs (accepts, never speaks): each connection costs the whole connection timeout.
    const { sockets, port, close } = await startSilentHost();
    const stuck = [9401, 9402, 9403, 9404, 9405, 9406];
    const onDefault = 9411;
    const pool = bridge.api!.deps.pool;
    await registry.add({
      name: 'pbx-hung',
      databaseUrl: `postgres://postgres@127.0.0.1:${port}/fusionpbx`,
      eslHost: '127.0.0.1',
      eslPort: port,
      eslPassword: 'Hung-Esl-Secret-1',
      whmcsServerId: 44,
    });
    try {
      for (const serviceId of stuck)
        await pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, fusionpbx_server) VALUES ($1, 1, $2, 'active', 'pbx-hung')`, [
          serviceId,
          `hung${serviceId}.example.net`,
        ]);
      expect((await send(event(onDefault, 'create', null))).body.result).toBe('success');
      await insertCdr(bridge.fusion, `t${onDefault}.pbx.example.net`, 60);
      // The stuck server's tenants first in the queue (as a fan-out in service-id order would put them), the default one last.
      const slot = `h75-${randomUUID()}`;
      await addJobs(
        bridge.worker!.deps.queues,
        CDR_JOBS.syncTenant,
        [...stuck, onDefault].map((serviceId) => ({ data: { serviceId }, opts: { jobId: cdrSyncJobId(serviceId, slot) } })),
      );
      const done = await waitFor(
        async () => {
          // State first, then the job: a job read while still active keeps returnvalue null after it completes.
          const queue = bridge.worker!.deps.queues['cdr-sync'];
          const jobId = cdrSyncJobId(onDefault, slot);
          return (await queue.getJobState(jobId)) === 'completed' ? ((await queue.getJob(jobId)) ?? null) : null;
        },
        120_000,
        "the default server's tenant synced",
      );
      expect(done.returnvalue).toMatchObject({ status: 'synced', inserted: 1 });
      // Two worker slots: at most the first two stuck syncs waited on the hung server before the default tenant's ran.
      expect(sockets.length).toBeLessThanOrEqual(2);
    } finally {
      await pool.query('DELETE FROM services WHERE service_id = ANY($1)', [stuck]);
      await registry.remove('pbx-hung');
      await close();
    }
  }, 150_000);
});

/** A host that accepts connections and never says a word (a hung FusionPBX server: its database and event socket alike). */
async function startSilentHost(): Promise<{ sockets: Socket[]; port: number; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const hung = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  return {
    sockets,
    port: (hung.address() as { port: number }).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    },
  };
}

describe('a server that never answers, in the ictVoIP listings over the whole install', () => {
  it("the CDR export and the gateway list answer within a bounded wait with the other servers' data, the silent server named", async () => {
    const silent = await startSilentHost();
    const onSecond = 9511;
    const pool = bridge.api!.deps.pool;
    await registry.add({
      name: 'pbx-silent',
      databaseUrl: `postgres://postgres@127.0.0.1:${silent.port}/fusionpbx`,
      eslHost: '127.0.0.1',
      eslPort: silent.port,
      eslPassword: 'Silent-Esl-Secret-1',
      whmcsServerId: 45,
    });
    try {
      await pool.query(
        `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, fusionpbx_server) VALUES (9512, 1, 'silent9512.example.net', 'active', 'pbx-silent')`,
      );
      expect((await send(event(onSecond, 'create', { id: 2 }))).body.result).toBe('success');
      await insertCdr(fusion2, `t${onSecond}.pbx.example.net`, 60);
      const today = new Date().toISOString().slice(0, 10);
      const admin = { authorization: `Bearer ${bridge.config.adminToken}` };
      const left = [{ server: 'pbx-silent', reason: expect.stringMatching(/no answer within \d+ ms|did not answer/) }];
      const started = Date.now();
      const cdrs = await postForm(bridge.url, '/app/xml_cdr/export_cdr.php', { date_start: today, date_end: today, format: 'JSON' }, admin);
      const gateways = await postForm(bridge.url, '/app/gateways/provision_list.php', {}, admin);
      // Two listings, each waiting once on the silent server (not once per tenant, not the 5 s connection timeout).
      expect(Date.now() - started).toBeLessThan(9500);
      expect({ status: cdrs.status, body: cdrs.body }).toMatchObject({ status: 200, body: { status: 'success', unavailable_servers: left } });
      expect(JSON.stringify(cdrs.body.records)).toContain(`t${onSecond}.pbx.example.net`);
      expect({ status: gateways.status, body: gateways.body }).toMatchObject({ status: 200, body: { status: 'success', unavailable_servers: left } });
    } finally {
      await pool.query('DELETE FROM services WHERE service_id = 9512');
      await registry.remove('pbx-silent');
      await silent.close();
    }
  }, 30_000);
});

describe('a server whose sealed secrets no configured key opens (sealed with a key since dropped from SEALING_KEY)', () => {
  const OLD_ESL_PASSWORD = 'Dropped-Key-Esl-Secret-7781';
  const lost = 9501;
  const onSecond = 9502;

  beforeAll(async () => {
    expect((await send(event(onSecond, 'create', { id: 2 }))).body.result).toBe('success');
    await new FusionServersRepository(bridge.api!.deps.pool, testKeyring(['dropped'])).add({
      name: 'pbx-lost-key',
      databaseUrl: fusion2Db.url.replace('postgres://postgres@', 'postgres://postgres:Dropped-Db-Secret@'),
      eslHost: esl2.host,
      eslPort: esl2.port,
      eslPassword: OLD_ESL_PASSWORD,
      whmcsServerId: 51,
    });
    await bridge.api!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, fusionpbx_server) VALUES ($1, 1, $2, 'active', 'pbx-lost-key')`, [
      lost,
      `lost${lost}.example.net`,
    ]);
  });
  afterAll(async () => {
    await bridge.api!.deps.pool.query('DELETE FROM services WHERE service_id = $1', [lost]);
    await registry.remove('pbx-lost-key');
  });

  const expectNamedWithoutSecret = (text: string) => {
    expect(text).toContain('pbx-lost-key');
    expect(text).toContain('dropped');
    for (const secret of [OLD_ESL_PASSWORD, 'Dropped-Db-Secret']) expect(text).not.toContain(secret);
  };

  it('/status still answers for the other servers and names that one as failing, with the reason', async () => {
    const reply = await call(bridge.url, 'GET', '/status', { token: bridge.config.adminToken });
    expect(reply.status).toBe(200);
    const servers = reply.body.servers as { name: string; total_extensions: number | null; error?: string }[];
    expect(servers.map((server) => server.name)).toEqual(['default', 'pbx2', 'pbx-lost-key']);
    expect(servers.find((server) => server.name === 'pbx2')!.total_extensions).toEqual(expect.any(Number));
    expect(servers.find((server) => server.name === 'pbx-lost-key')!.error).toContain('SEALING_KEY');
    expectNamedWithoutSecret(reply.body.message);
  });

  it("the ictVoIP CDR export and gateway list of the whole install come with the other servers' data, the server left out named", async () => {
    await insertCdr(fusion2, `t${onSecond}.pbx.example.net`, 60);
    const today = new Date().toISOString().slice(0, 10);
    const admin = { authorization: `Bearer ${bridge.config.adminToken}` };
    const left = [{ server: 'pbx-lost-key', reason: expect.stringContaining('SEALING_KEY') }];
    const cdrs = await postForm(bridge.url, '/app/xml_cdr/export_cdr.php', { date_start: today, date_end: today, format: 'JSON' }, admin);
    expect({ status: cdrs.status, body: cdrs.body }).toMatchObject({ status: 200, body: { status: 'success', total_records: expect.any(Number), unavailable_servers: left } });
    expect(JSON.stringify(cdrs.body.records)).toContain(`t${onSecond}.pbx.example.net`);
    expectNamedWithoutSecret(cdrs.text);
    const gateways = await postForm(bridge.url, '/app/gateways/provision_list.php', {}, admin);
    expect({ status: gateways.status, body: gateways.body }).toMatchObject({ status: 200, body: { status: 'success', gateways: expect.any(Array), unavailable_servers: left } });
    expectNamedWithoutSecret(gateways.text);
  });

  it("/readyz, the drift report and a tenant of that server each name it; the other servers' answers still come", async () => {
    const ready = await call(bridge.url, 'GET', '/readyz');
    expect(ready.body.checks).toMatchObject({ 'fusionpbx:pbx2': { status: 'up' }, 'fusionpbx:pbx-lost-key': { status: 'down' } });
    expect(ready.body.checks['fusionpbx:registry']).toBeUndefined();
    const report = await buildDriftReport(await driftSourcesOf(bridge.worker!.deps));
    expect(report.items.filter((item) => item.kind === 'fusionpbx_unreachable')).toEqual([
      expect.objectContaining({ server: 'pbx-lost-key', actual: expect.stringContaining('SEALING_KEY') }),
    ]);
    const key = await createKey(bridge.url, bridge.config.adminToken, { name: 'ops-lost-key', scope: 'admin', access: 'read' });
    const rest = await call(bridge.url, 'GET', `/v1/tenants/${lost}/extensions`, { token: key });
    expect(rest.status).toBe(503);
    expectNamedWithoutSecret(JSON.stringify(rest.body));
  });
});

describe('a decommissioned server removed from the registry', () => {
  it('once its tenants are purged it goes, and the listings over the whole install do not name it as unavailable', async () => {
    const pool = bridge.api!.deps.pool;
    await registry.add({ name: 'pbx-retired', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: SECOND_ESL_PASSWORD, whmcsServerId: 46 });
    await pool.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, observed_state, fusionpbx_server) VALUES (9521, 1, 'retired9521.example.net', 'terminated', 'purged', 'pbx-retired')`,
    );
    try {
      expect(await registry.remove('pbx-retired')).toBe(true);
      const reply = await postForm(bridge.url, '/app/gateways/provision_list.php', {}, { authorization: `Bearer ${bridge.config.adminToken}` });
      expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 200, body: { status: 'success' } });
      expect(reply.body.unavailable_servers).toBeUndefined();
    } finally {
      await pool.query('DELETE FROM services WHERE service_id = 9521');
    }
  });
});

describe('two create events for the same new service at once (a WHMCS double-click: two webhooks, two event ids)', () => {
  it('converge to one tenant on its server: both events succeed, one domain, no retry, nothing on the other server', async () => {
    const serviceId = 9531;
    const domain = `t${serviceId}.pbx.example.net`;
    const [first, second] = [event(serviceId, 'create', { id: 2 }), event(serviceId, 'create', { id: 2 })];
    expect(first.eventId).not.toBe(second.eventId);
    const replies = await Promise.all([send(first), send(second)]);
    const finished = async (eventId: unknown) =>
      waitFor(async () => {
        const row = await inbox(eventId);
        return row && ['succeeded', 'failed'].includes(row.status) ? row : null;
      });
    expect([(await finished(first.eventId)).status, (await finished(second.eventId)).status]).toEqual(['succeeded', 'succeeded']);
    // Neither failed an attempt first (a unique-index error retried until it passed would show here).
    const attempts = await bridge.api!.deps.pool.query('SELECT attempts, last_error FROM webhook_inbox WHERE event_id = ANY($1::uuid[])', [[first.eventId, second.eventId]]);
    expect(attempts.rows).toEqual([
      { attempts: expect.any(Number), last_error: null },
      { attempts: expect.any(Number), last_error: null },
    ]);
    expect(attempts.rows.every((row) => row.attempts <= 1)).toBe(true);
    for (const reply of replies) expect(reply.body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain } });
    expect(await domainCount(fusion2, domain)).toBe(1);
    expect(await domainCount(bridge.fusion, domain)).toBe(0);
    const { rows } = await bridge.api!.deps.pool.query('SELECT fusionpbx_server, tenant_domain FROM services WHERE service_id = $1', [serviceId]);
    expect(rows).toEqual([{ fusionpbx_server: 'pbx2', tenant_domain: domain }]);
    const tagged = await fusion2.query(
      `SELECT count(*)::int AS n FROM v_domain_settings WHERE domain_setting_category = 'ictvoip' AND domain_setting_subcategory = 'service_id' AND domain_setting_value = $1`,
      [String(serviceId)],
    );
    expect(tagged.rows[0].n).toBe(1);
  });
});

describe('the purge with more terminated tenants held back than one page', () => {
  it('still purges a due tenant after 500 held ones (CDRs not synced since their termination): they do not keep its domain on its server', async () => {
    const pool = bridge.api!.deps.pool;
    const held = { from: 1, to: 500 };
    const onSecond = 9541;
    await pool.query(
      `INSERT INTO services (service_id, client_id, desired_state, tenant_domain) SELECT n, 1, 'terminated', 'held' || n || '.example.net' FROM generate_series($1::int, $2::int) n`,
      [held.from, held.to],
    );
    await pool.query(
      `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
       SELECT n, gen_random_uuid(), 'held' || n || '.example.net', now(), gen_random_uuid(), now() - interval '1 day' FROM generate_series($1::int, $2::int) n`,
      [held.from, held.to],
    );
    try {
      expect((await send(event(onSecond, 'create', { id: 2 }))).body.result).toBe('success');
      expect((await send(event(onSecond, 'terminate', null))).body.result).toBe('success');
      expect((await syncTenantCdrs(bridge.worker!.deps, onSecond)).status).toBe('synced');
      const later = new Date(Date.now() + (bridge.config.fusionpbx.terminateRetentionDays + 1) * 86400_000);
      const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later);
      expect(outcome.waiting).toHaveLength(held.to - held.from + 1);
      expect(outcome.purged).toEqual([onSecond]);
      expect(await domainCount(fusion2, `t${onSecond}.pbx.example.net`)).toBe(0);
    } finally {
      await pool.query('DELETE FROM cdr_sync_cursors WHERE service_id BETWEEN $1 AND $2', [held.from, held.to]);
      await pool.query('DELETE FROM services WHERE service_id BETWEEN $1 AND $2', [held.from, held.to]);
    }
  });
});

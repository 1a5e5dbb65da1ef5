import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { createKey, createTenant } from '../../api/test/v1-helpers';
import type { Worker } from 'bullmq';
import { startBridge, waitFor, type Bridge } from './harness';
import { addFusionUser as addUserToFusion, expectError, getForm, php, postForm, TIMESTAMP, type FormReply } from './compat-helpers';

// ictVoIP's endpoints (COMPAT_ICTVOIP=1) against its documented examples
// (ictvoip-docs modules/fusionpbx/api_endpoints.rst, configuration.rst): form POSTs authenticated
// by a FusionPBX superadmin of the tenant's server (its own v_users row, password hashed by PHP
// itself: password_hash and the legacy md5(salt . password)) from a whitelisted peer, or by an API
// key; answers in ictVoIP's envelope. Writes go through the /v1 tenant-write jobs.

const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_REALM = 'hornblower.tel';
const SERVICE = 5701;
const OTHER = 5702;
// The documented example credentials.
const ADMIN = { username: 'admin', password: 'your-password' };
const LEGACY = { username: 'legacy-admin', password: 'old-Secret-1' };
const NOT_WHITELISTED = { 'x-forwarded-for': '203.0.113.9' };

let bridge: Bridge;
let domain: string;
let otherDomain: string;
let tenantKey: string;

const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) => postForm(bridge.url, path, fields, headers);
const addFusionUser = (username: string, stored: { password: string; salt: string | null }, groups: string[], enabled = 'true') =>
  addUserToFusion(bridge, username, stored, groups, enabled);

const asAdmin = (path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) => post(path, { ...ADMIN, ...fields }, headers);
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const writeCount = async () => Number((await bridge.worker!.deps.pool.query('SELECT count(*) AS n FROM tenant_writes')).rows[0].n);
beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', TRUST_PROXY: 'loopback', API_WRITE_WAIT_MS: '5000', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  otherDomain = (await createTenant(bridge, OTHER)).domain;
  await bridge.worker!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 8, "maxGateways": 3}'::jsonb WHERE service_id = $1`, [SERVICE]);
  await addFusionUser(ADMIN.username, { password: php('echo password_hash($argv[1], PASSWORD_DEFAULT);', ADMIN.password), salt: null }, ['superadmin']);
  const salt = 'f3a9c1d2-salt';
  await addFusionUser(LEGACY.username, { password: php('echo md5($argv[1] . $argv[2]);', salt, LEGACY.password), salt }, ['superadmin']);
  await addFusionUser('clerk', { password: php('echo password_hash($argv[1], PASSWORD_DEFAULT);', 'clerk-pass'), salt: null }, ['user']);
  await addFusionUser('gone', { password: php('echo password_hash($argv[1], PASSWORD_DEFAULT);', 'gone-pass'), salt: null }, ['superadmin'], 'false');
  tenantKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'compat', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  bridge.esl.respond(
    "sofia xmlstatus profile 'internal' reg",
    SAMPLE_REG.replace(
      '</registrations>',
      `${/<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0].replaceAll(SAMPLE_REALM, domain).replace(/999/g, '100')}\n  </registrations>`,
    ),
  );
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe('authentication: FusionPBX superadmin + whitelist, or an API key', () => {
  const path = '/app/registrations/check_registration.php';
  const fields = () => ({ extension: '100', tenant_domain: domain });

  it('accepts a bcrypt ($2y$) superadmin and a legacy md5+salt superadmin, by username or e-mail, case-insensitively', async () => {
    expect((await post(path, { ...ADMIN, ...fields() })).status).toBe(200);
    expect((await post(path, { ...LEGACY, ...fields() })).status).toBe(200);
    expect((await post(path, { username: 'ADMIN@example.net', password: ADMIN.password, ...fields() })).status).toBe(200);
  });

  it('accepts the credentials as HTTP Basic (curl -u, as servers.rst tests the endpoints)', async () => {
    const basic = `Basic ${Buffer.from(`${LEGACY.username}:${LEGACY.password}`).toString('base64')}`;
    expect((await post(path, fields(), { authorization: basic })).status).toBe(200);
  });

  it('refuses a wrong password, an unknown user, a user who is not superadmin and a disabled superadmin alike', async () => {
    for (const credentials of [
      { username: ADMIN.username, password: 'wrong' },
      { username: LEGACY.username, password: ADMIN.password },
      { username: 'nobody', password: 'x' },
      { username: 'clerk', password: 'clerk-pass' },
      { username: 'gone', password: 'gone-pass' },
    ]) {
      expectError(await post(path, { ...credentials, ...fields() }), 401, 'Authentication Failed: Invalid credentials');
    }
    const logs = bridge.logLines.join('\n');
    expect(logs).toContain('invalid FusionPBX credentials');
    expect(logs).not.toContain('gone-pass');
  });

  it('names a missing username or password', async () => {
    expectError(await post(path, { password: 'x', ...fields() }), 400, 'Missing Parameters: username is required');
    expectError(await post(path, { username: 'admin', ...fields() }), 400, 'Missing Parameters: password is required');
  });

  it('refuses a peer outside chkcon_whitelist.conf even with good credentials, with chkcon’s text', async () => {
    expectError(await asAdmin(path, fields(), NOT_WHITELISTED), 403, 'API Access Denied: Only whitelisted IPs may access this endpoint.');
  });

  it('takes a bridge API key instead (no whitelist needed), and a tenant key sees only its tenant', async () => {
    const bearer = { authorization: `Bearer ${tenantKey}` };
    const own = await post(path, fields(), { ...bearer, ...NOT_WHITELISTED });
    expect(own.status).toBe(200);
    expect(own.body.registered).toBe('yes');
    // No tenant_domain: a tenant key means its own tenant.
    expect((await post(path, { extension: '100' }, bearer)).body.registered).toBe('yes');
    expectError(await post(path, { extension: '100', tenant_domain: otherDomain }, bearer), 404, `Not Found: tenant ${otherDomain} not found`);
    expectError(await post(path, fields(), { authorization: 'Bearer ivk_not_a_key' }), 401, /^Authentication Failed: /);
  });

  it('counts requests per caller in ictVoIP’s buckets and says so in X-RateLimit-* headers', async () => {
    const reply = await asAdmin(path, fields());
    expect(reply.headers.get('x-ratelimit-limit')).toBe('100');
    expect(Number(reply.headers.get('x-ratelimit-remaining'))).toBeLessThan(100);
    expect(Number(reply.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    const gateways = await asAdmin('/app/gateways/provision_list.php', { tenant_domain: domain });
    expect(gateways.headers.get('x-ratelimit-limit')).toBe('50');
    const cdrs = await asAdmin('/app/xml_cdr/export_cdr.php', { date_start: '2024-01-01', date_end: '2024-01-31', tenant_domain: domain });
    expect(cdrs.headers.get('x-ratelimit-limit')).toBe('10');
  });
});

describe('/app/status/index.php', () => {
  it('answers the documented example with the documented fields', async () => {
    bridge.esl.respond('show calls count', '\n5 total.\n');
    const reply = await asAdmin('/app/status/index.php');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'success', message: 'System operational', active_calls: 5 });
    const documented = ['status', 'message', 'timestamp', 'version', 'uptime', 'active_calls', 'total_extensions', 'registered_extensions'];
    // The documented fields in the documented order (the bridge adds bridge_version, uptime_seconds and servers).
    expect(Object.keys(reply.body).filter((key) => documented.includes(key))).toEqual(documented);
    expect(reply.body.timestamp).toMatch(TIMESTAMP);
  });

  it('refuses wrong credentials sent to it', async () => {
    expectError(await post('/app/status/index.php', { username: 'admin', password: 'nope' }), 401, 'Authentication Failed: Invalid credentials');
  });
});

describe('/app/registrations/check_registration.php', () => {
  it('answers the documented example: registered "yes" with the contact’s ip, port and user agent as strings', async () => {
    const reply = await asAdmin('/app/registrations/check_registration.php', { extension: '100', tenant_domain: domain });
    expect(reply.status).toBe(200);
    expect(Object.keys(reply.body)).toEqual(['status', 'message', 'timestamp', 'registered', 'register_ip', 'register_port', 'register_useragent']);
    expect(reply.body).toMatchObject({ status: 'success', message: 'Extension status retrieved', registered: 'yes', register_ip: '203.0.113.228', register_port: '5060' });
    expect(reply.body.register_useragent).toMatch(/^Linphone-Desktop\/5\.0\.17/);
  });

  it('answers "no" with empty strings for an extension that is not registered; an unknown one is Not Found', async () => {
    const reply = await asAdmin('/app/registrations/check_registration.php', { extension: '101', tenant_domain: domain });
    expect(reply.body).toMatchObject({ status: 'success', registered: 'no', register_ip: '', register_port: '', register_useragent: '' });
    expectError(await asAdmin('/app/registrations/check_registration.php', { extension: '1001', tenant_domain: domain }), 404, /^Not Found: extension 1001 not found/);
  });

  it('accepts ictVoIP’s "domain | DID" form and names bad or missing fields', async () => {
    expect((await asAdmin('/app/registrations/check_registration.php', { extension: '100', tenant_domain: `${domain} | 5192229000` })).body.registered).toBe('yes');
    expectError(await asAdmin('/app/registrations/check_registration.php', { tenant_domain: domain }), 400, 'Missing Parameters: extension is required');
    expectError(await asAdmin('/app/registrations/check_registration.php', { extension: '100' }), 400, 'Missing Parameters: tenant_domain is required');
    expectError(
      await asAdmin('/app/registrations/check_registration.php', { extension: '100', tenant_domain: 'nowhere.example' }),
      404,
      'Not Found: tenant nowhere.example not found',
    );
  });
});

describe('/app/gateways/provision.php and provision_list.php', () => {
  const example = () => ({
    gateway_name: 'primary_gateway',
    gateway_domain: 'sip.provider.com',
    gateway_username: 'account',
    gateway_password: 'password',
    tenant_domain: domain,
  });

  it('refuses a missing or bad field by its form name, writing nothing', async () => {
    const before = await writeCount();
    const { gateway_password: _omitted, ...withoutPassword } = example();
    expectError(await asAdmin('/app/gateways/provision.php', withoutPassword), 400, 'Missing Parameters: gateway_password is required');
    expectError(await asAdmin('/app/gateways/provision.php', { ...example(), gateway_domain: 'sip provider!' }), 400, /^Invalid Request: gateway_domain /);
    expect(await writeCount()).toBe(before);
    expect(await fusionRows("select 1 from v_gateways where gateway = 'primary_gateway'")).toHaveLength(0);
  });

  it('answers the documented example, through a tenant-write job, and the same request again is the same gateway', async () => {
    const before = await writeCount();
    const first = await asAdmin('/app/gateways/provision.php', example());
    expect(first.status).toBe(200);
    expect(Object.keys(first.body)).toEqual(['status', 'message', 'timestamp', 'gateway_uuid', 'gateway_name', 'gateway_domain', 'gateway_enabled']);
    expect(first.body).toMatchObject({
      status: 'success',
      message: 'Gateway configured successfully',
      gateway_name: 'primary_gateway',
      gateway_domain: 'sip.provider.com',
      gateway_enabled: 'true',
    });
    const rows = await fusionRows("select gateway_uuid::text, proxy, username, password, enabled::text from v_gateways where gateway = 'primary_gateway'");
    expect(rows).toEqual([{ gateway_uuid: first.body.gateway_uuid, proxy: 'sip.provider.com', username: 'account', password: 'password', enabled: 'true' }]);
    const again = await asAdmin('/app/gateways/provision.php', example());
    expect(again.body).toMatchObject({ status: 'success', gateway_uuid: first.body.gateway_uuid });
    expect(await fusionRows("select 1 from v_gateways where gateway = 'primary_gateway'")).toHaveLength(1);
    // Both went through the /v1 write path: one audit row each, the password never stored in clear.
    const writes = (await bridge.worker!.deps.pool.query("SELECT operation, status, input::text FROM tenant_writes WHERE resource = 'gateway' ORDER BY created_at")).rows;
    expect(await writeCount()).toBe(before + 2);
    expect(writes.map((write) => [write.operation, write.status])).toEqual([
      ['create', 'succeeded'],
      ['update', 'succeeded'],
    ]);
    expect(writes.map((write) => write.input).join('')).not.toContain('"password"');
  });

  it('changes the gateway of that name when asked again with other values', async () => {
    const reply = await asAdmin('/app/gateways/provision.php', { ...example(), gateway_domain: 'sip2.provider.com' });
    expect(reply.body.gateway_domain).toBe('sip2.provider.com');
    expect(await fusionRows("select proxy from v_gateways where gateway = 'primary_gateway'")).toEqual([{ proxy: 'sip2.provider.com' }]);
  });

  it('lists the gateways with FreeSWITCH’s status', async () => {
    const [gateway] = await fusionRows("select gateway_uuid::text from v_gateways where gateway = 'primary_gateway'");
    bridge.esl.respond(`sofia xmlstatus gateway ${gateway.gateway_uuid}`, `<gateway><name>${gateway.gateway_uuid}</name><state>REGED</state><status>UP</status></gateway>\n`);
    const reply = await asAdmin('/app/gateways/provision_list.php');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'success', message: 'Gateways retrieved successfully' });
    const entry = (reply.body.gateways as Record<string, string>[]).find((item) => item.gateway_name === 'primary_gateway');
    expect(entry).toEqual({
      gateway_uuid: gateway.gateway_uuid,
      gateway_name: 'primary_gateway',
      gateway_domain: 'sip2.provider.com',
      gateway_enabled: 'true',
      gateway_status: 'UP',
      tenant_domain: domain,
    });
    // A tenant key lists its own tenant's gateways only.
    const other = await post('/app/gateways/provision_list.php', { tenant_domain: otherDomain }, { authorization: `Bearer ${tenantKey}` });
    expect(other.status).toBe(404);
  });
});

describe('/app/extensions/manage.php', () => {
  const manage = (fields: Record<string, string>) => asAdmin('/app/extensions/manage.php', fields);
  const extensionRow = async (extension: string) =>
    (
      await fusionRows(
        'select e.enabled::text, e.effective_caller_id_name from v_extensions e join v_domains d using (domain_uuid) where d.domain_name = $1 and e.extension = $2',
        [domain, extension],
      )
    )[0];

  it('creates an extension from the documented example (its SIP password in this answer), and a repeat leaves one extension', async () => {
    const first = await manage({ action: 'create', extension: '1002', domain });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'success', message: 'Extension created successfully', action: 'create', extension: '1002', domain, enabled: 'true' });
    expect(first.body.password).toMatch(/^.{20}$/);
    const again = await manage({ action: 'create', extension: '1002', domain });
    expect(again.body).toMatchObject({ status: 'success', message: 'Extension unchanged', extension_uuid: first.body.extension_uuid });
    expect(again.body.password).toBeUndefined();
    expect(await fusionRows("select 1 from v_extensions where extension = '1002'")).toHaveLength(1);
  });

  it('updates with FusionPBX’s field names, disables and enables, and deletes', async () => {
    expect((await manage({ action: 'update', extension: '1002', domain, effective_caller_id_name: 'Front Desk' })).body.message).toBe('Extension updated successfully');
    expect(await extensionRow('1002')).toMatchObject({ effective_caller_id_name: 'Front Desk' });
    expect((await manage({ action: 'disable', extension: '1002', domain })).body.enabled).toBe('false');
    expect(await extensionRow('1002')).toMatchObject({ enabled: 'false' });
    expect((await manage({ action: 'enable', extension: '1002', domain })).body.enabled).toBe('true');
    expect((await manage({ action: 'delete', extension: '1002', domain })).body.message).toBe('Extension deleted successfully');
    expect(await extensionRow('1002')).toBeUndefined();
    expectError(await manage({ action: 'delete', extension: '1002', domain }), 404, /^Not Found: extension 1002 not found/);
  });

  it('takes extension_uuid (as create answers it): an empty or malformed one is refused naming it, another extension’s is 404; nothing is deleted', async () => {
    const created = await manage({ action: 'create', extension: '1005', domain });
    const before = await writeCount();
    expectError(await manage({ action: 'delete', extension: '1005', domain, extension_uuid: '' }), 400, /^Invalid Request: extension_uuid must be the extension's uuid/);
    expectError(await manage({ action: 'delete', extension: '1005', domain, extension_uuid: 'not-a-uuid' }), 400, /^Invalid Request: extension_uuid /);
    expectError(await manage({ action: 'delete', extension: '1005', domain, extension_uuid: randomUUID() }), 404, /^Not Found: extension 1005 with extension_uuid /);
    expect(await writeCount()).toBe(before);
    expect(await extensionRow('1005')).toBeDefined();
    const deleted = await manage({ action: 'delete', extension: '1005', domain, extension_uuid: created.body.extension_uuid.toUpperCase() });
    expect(deleted.body.message).toBe('Extension deleted successfully');
    expect(await extensionRow('1005')).toBeUndefined();
  });

  it('a change not done within API_WRITE_WAIT_MS answers 202 with a job_url the superadmin reads with the same credentials (no /v1 key); another tenant’s key gets Not Found', async () => {
    expect((await manage({ action: 'create', extension: '1007', domain })).status).toBe(200);
    const writes = bridge.worker!.workers.find((worker: Worker) => worker.name === 'tenant-writes')!;
    await writes.pause();
    const basic = { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` };
    let queued: FormReply;
    try {
      queued = await manage({ action: 'create', extension: '1006', domain });
      expect(queued.status).toBe(202);
      expect(queued.body).toMatchObject({ status: 'success', message: 'Extension change queued', job_url: `/app/jobs/status.php?job_id=${queued.body.job_id}` });
      // The new extension's SIP password, in this answer only (as a create answered at once shows it); the job URL never shows it.
      expect(queued.body.password).toMatch(/^.{20}$/);
      const waiting = await getForm(bridge.url, queued.body.job_url, basic);
      expect(waiting.status).toBe(200);
      expect(waiting.body).toMatchObject({ status: 'success', job_id: queued.body.job_id, state: 'waiting', action: 'extension.upsert', write: { status: 'queued' } });
      expect(JSON.stringify(waiting.body)).not.toContain(queued.body.password);
      // A queued create of an extension that exists leaves it as it is: no password (it is not this create's).
      const existing = await manage({ action: 'create', extension: '1007', domain });
      expect(existing.status).toBe(202);
      expect(existing.body.password).toBeUndefined();
    } finally {
      await writes.resume();
    }
    await waitFor(async () => (await getForm(bridge.url, queued.body.job_url, basic)).body.state === 'completed', 15000, 'the queued create completed');
    const done = await asAdmin('/app/jobs/status.php', { job_id: queued.body.job_id });
    expect(done.body).toMatchObject({ message: 'Job completed', write: { status: 'succeeded', http_status: 201, result: { outcome: 'created' } } });
    expect(JSON.stringify(done.body)).not.toContain(queued.body.password);
    expect(
      await fusionRows("select password from v_extensions where extension = '1006' and domain_uuid = (select domain_uuid from v_domains where domain_name = $1)", [domain]),
    ).toEqual([{ password: queued.body.password }]);
    const otherKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'other-jobs', scope: 'tenant', serviceId: OTHER, access: 'read' });
    expectError(await getForm(bridge.url, queued.body.job_url, { authorization: `Bearer ${otherKey}` }), 404, `Not Found: job ${queued.body.job_id} not found`);
    expectError(await getForm(bridge.url, '/app/jobs/status.php', basic), 400, 'Missing Parameters: job_id is required');
    expectError(
      await getForm(bridge.url, queued.body.job_url, { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` }),
      401,
      'Authentication Failed: Invalid credentials',
    );
  }, 30000);

  it('names a bad action, extension or field, writing nothing', async () => {
    const before = await writeCount();
    expectError(await manage({ action: 'explode', extension: '1003', domain }), 400, 'Invalid Request: action must be one of create, update, enable, disable, delete');
    expectError(await manage({ action: 'create', extension: '10a', domain }), 400, 'Invalid Request: extension must be 2 to 15 digits');
    expectError(await manage({ action: 'create', extension: '1003' }), 400, 'Missing Parameters: domain is required');
    expectError(await manage({ action: 'create', extension: '1003', domain, effective_caller_id_name: 'bad\u0007name' }), 400, /^Invalid Request: effective_caller_id_name /);
    expect(await writeCount()).toBe(before);
  });

  it('refuses a read-only API key', async () => {
    const readOnly = await createKey(bridge.url, bridge.config.adminToken, { name: 'ro', scope: 'tenant', serviceId: SERVICE, access: 'read' });
    expectError(
      await post('/app/extensions/manage.php', { action: 'create', extension: '1004' }, { authorization: `Bearer ${readOnly}` }),
      403,
      'Access Denied: this API key is read-only',
    );
  });
});

describe('/app/xml_cdr/export_cdr.php', () => {
  const example = (format?: string) => ({ date_start: '2024-01-01', date_end: '2024-01-31', tenant_domain: domain, ...(format ? { format } : {}) });

  beforeAll(async () => {
    const [{ domain_uuid: domainUuid }] = await fusionRows('select domain_uuid from v_domains where domain_name = $1', [domain]);
    // 3 a-legs in January (the last on the 31st, which date_end includes), one b-leg, one in February, one <&> name.
    for (const [start, leg, name] of [
      ['2024-01-02 10:00:00+00', 'a', 'Alice'],
      ['2024-01-15 12:00:00+00', 'a', 'Bob <&> "Co"'],
      ['2024-01-31 23:59:00+00', 'a', '=cmd'],
      ['2024-01-15 12:00:00+00', 'b', 'Bleg'],
      ['2024-02-01 00:00:00+00', 'a', 'Later'],
    ]) {
      await bridge.fusion.query(
        `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number, start_stamp, end_stamp, duration, billsec, hangup_cause)
         values ($1, $2, $3, 'outbound', $4, $5, '100', '15195550100', $6::timestamptz, $6::timestamptz + interval '1 minute', 60, 55, 'NORMAL_CLEARING')`,
        [randomUUID(), domainUuid, domain, leg, name, start],
      );
    }
  });

  it('exports JSON: the documented envelope fields, the records, and total_records', async () => {
    const reply = await asAdmin('/app/xml_cdr/export_cdr.php', example());
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'success', message: 'CDR export completed', total_records: 3, date_range: '2024-01-01 to 2024-01-31', export_format: 'JSON' });
    expect(reply.body.records.map((record: { caller_id_name: string }) => record.caller_id_name)).toEqual(['=cmd', 'Bob <&> "Co"', 'Alice']);
    expect(reply.body.records[0]).toMatchObject({ domain_name: domain, destination_number: '15195550100', billsec: 55, start_stamp: '2024-01-31T23:59:00.000000Z' });
  });

  it('a time as date_end is the first instant left out: back-to-back windows export the call at their border once', async () => {
    const names = async (start: string, end: string) => {
      const reply = await post('/app/xml_cdr/export_cdr.php', { date_start: start, date_end: end }, { authorization: `Bearer ${tenantKey}` });
      expect(reply.status).toBe(200);
      return reply.body.records.map((record: { caller_id_name: string }) => record.caller_id_name);
    };
    // The border as 13:00 at +01:00 (12:00 UTC) ends the first window and as 12:00 UTC starts the second
    // (with the tenant's key: the export's limit is 10 a minute per caller and the admin's is used up here).
    expect(await names('2024-01-15 00:00', '2024-01-15T13:00:00+01:00')).toEqual([]);
    expect(await names('2024-01-15 12:00', '2024-01-16 00:00')).toEqual(['Bob <&> "Co"']);
  });

  it('exports CSV (header of FusionPBX column names, spreadsheet-safe) and XML (escaped, parseable)', async () => {
    const csv = await asAdmin('/app/xml_cdr/export_cdr.php', example('csv'));
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^xml_cdr_uuid,domain_name,direction,caller_id_name,/);
    expect(lines).toHaveLength(4);
    expect(csv.text).toContain("'=cmd");
    const xml = await asAdmin('/app/xml_cdr/export_cdr.php', example('XML'));
    expect(xml.headers.get('content-type')).toMatch(/^application\/xml/);
    const parsed = new XMLParser({ parseTagValue: false }).parse(xml.text) as { response: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(parsed.response).toMatchObject({ status: 'success', message: 'CDR export completed', total_records: '3', date_range: '2024-01-01 to 2024-01-31', export_format: 'XML' });
    expect(parsed.response.records.record.map((record: { caller_id_name: string }) => record.caller_id_name)).toEqual(['=cmd', 'Bob <&> "Co"', 'Alice']);
  });

  it('names missing or bad dates and formats', async () => {
    expectError(await asAdmin('/app/xml_cdr/export_cdr.php', { date_end: '2024-01-31', tenant_domain: domain }), 400, 'Missing Parameters: date_start is required');
    expectError(await asAdmin('/app/xml_cdr/export_cdr.php', { ...example(), date_start: '2024-02-30' }), 400, 'Invalid Request: date_start is not a calendar date');
    expectError(await asAdmin('/app/xml_cdr/export_cdr.php', { ...example(), date_end: '2023-12-01' }), 400, 'Invalid Request: date_end must be after date_start');
    expectError(await asAdmin('/app/xml_cdr/export_cdr.php', example('PDF')), 400, 'Invalid Request: format must be one of JSON, CSV, XML');
  });

  it('a FusionPBX domain the bridge does not manage (an ictVoIP tenant not yet adopted): 404 saying so to a superadmin, left out of an export naming no tenant', async () => {
    const unmanaged = `not-adopted-${randomUUID().slice(0, 8)}.example.net`;
    const domainUuid = randomUUID();
    await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, unmanaged]);
    await bridge.fusion.query(
      `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number, start_stamp, end_stamp, duration, billsec, hangup_cause)
       values ($1, $2, $3, 'outbound', 'a', 'Unmanaged', '200', '15195550100', '2024-01-10 10:00:00+00', '2024-01-10 10:01:00+00', 60, 60, 'NORMAL_CLEARING')`,
      [randomUUID(), domainUuid, unmanaged],
    );
    const notManaged = `Not Found: tenant ${unmanaged} is a FusionPBX domain the bridge does not manage (not created by it, nor taken over with ictvoip adopt)`;
    // The ictVoIP service-field form and another case name the same domain.
    const named = `${unmanaged.toUpperCase()} | 5192229000`;
    expectError(await post('/app/registrations/check_registration.php', { ...LEGACY, extension: '100', tenant_domain: named }), 404, notManaged);
    // A domain FusionPBX does not have either, and a tenant key naming the unmanaged one, learn nothing more.
    expectError(
      await post('/app/registrations/check_registration.php', { ...LEGACY, extension: '100', tenant_domain: 'nowhere.example.net' }),
      404,
      'Not Found: tenant nowhere.example.net not found',
    );
    expectError(
      await post('/app/registrations/check_registration.php', { extension: '100', tenant_domain: unmanaged }, { authorization: `Bearer ${tenantKey}` }),
      404,
      `Not Found: tenant ${unmanaged} not found`,
    );
    // Export naming no tenant: the bridge's tenants only (the unmanaged domain's call is not among them).
    const all = await post('/app/xml_cdr/export_cdr.php', { ...LEGACY, date_start: '2024-01-01', date_end: '2024-01-31' });
    expect(all.status).toBe(200);
    expect(all.body.records.map((record: { domain_name: string }) => record.domain_name)).not.toContain(unmanaged);
  });

  it('without a tenant_domain a superadmin exports every tenant of its server; a tenant key only its own', async () => {
    const all = await asAdmin('/app/xml_cdr/export_cdr.php', { date_start: '2024-01-01', date_end: '2024-01-31' });
    expect(all.body.total_records).toBe(3);
    const own = await post('/app/xml_cdr/export_cdr.php', { date_start: '2024-01-01', date_end: '2024-01-31' }, { authorization: `Bearer ${tenantKey}` });
    expect(own.body.total_records).toBe(3);
    expect(
      (await post('/app/xml_cdr/export_cdr.php', { date_start: '2024-01-01', date_end: '2024-01-31', tenant_domain: otherDomain }, { authorization: `Bearer ${tenantKey}` }))
        .status,
    ).toBe(404);
  });
});

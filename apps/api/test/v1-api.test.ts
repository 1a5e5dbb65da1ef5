import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { V1_ROUTES } from '../src/routes/v1';
import { call, createKey, createTenant } from './v1-helpers';

const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_REALM = 'hornblower.tel';

let bridge: Bridge;
let admin: string;
let domainA: string;
let domainB: string;
let jobA: string;
let keyA: string;
let keyARead: string;
let keyB: string;
const A = 5201;
const B = 5202;

const get = (path: string, token: string, headers: Record<string, string> = {}) => call(bridge.url, 'GET', path, { token, headers });
const send = (method: string, path: string, token: string, body?: unknown) => call(bridge.url, method, path, { token, body });
const fusionCount = async (sql: string, params: unknown[]) => Number((await bridge.fusion.query(sql, params)).rows[0].n);

/** The real 1.10 capture, with its one registration re-homed into `domain` as `extension`. */
function registrationFor(extension: string, domain: string): string {
  const block = /<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0];
  return block.replaceAll(SAMPLE_REALM, domain).replace(/999/g, extension);
}

function registrationsBody(domain: string, extension: string): string {
  const ownBlock = registrationFor(extension, domain);
  // Keep the original (foreign realm) registration too, so the realm filter is exercised.
  return SAMPLE_REG.replace('</registrations>', `${ownBlock}\n  </registrations>`);
}

beforeAll(async () => {
  bridge = await startBridge({ API_ESL_DEADLINE_MS: '1500' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  admin = bridge.config.adminToken;
  const a = await createTenant(bridge, A);
  const b = await createTenant(bridge, B);
  domainA = a.domain;
  domainB = b.domain;
  jobA = a.jobId;
  keyA = await createKey(bridge.url, admin, { name: 'tenant A', scope: 'tenant', serviceId: A, access: 'read-write' });
  keyARead = await createKey(bridge.url, admin, { name: 'tenant A read', scope: 'tenant', serviceId: A, access: 'read' });
  keyB = await createKey(bridge.url, admin, { name: 'tenant B', scope: 'tenant', serviceId: B, access: 'read-write' });
}, 60000);

afterAll(async () => {
  await bridge.close();
});

describe('API keys', () => {
  it('shows the secret once, stores only its sha256, and lists keys without secrets', async () => {
    const created = await call(bridge.url, 'POST', '/v1/admin/api-keys', { token: admin, body: { name: 'ops', scope: 'admin', access: 'read' } });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    expect(token).toMatch(/^ivk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const secret = token.split('_').slice(2).join('_');
    const { rows } = await bridge.api!.deps.pool.query('SELECT * FROM api_keys WHERE id = $1', [created.body.key.id]);
    expect(JSON.stringify(rows[0])).not.toContain(secret);
    expect(rows[0].secret_sha256).toHaveLength(32);
    const list = await get('/v1/admin/api-keys', admin);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(secret);
    expect(list.body.data.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['ops', 'tenant A', 'tenant B']));
  });

  it('answers 401 without a key, with a made-up key, and with a revoked key; records last use', async () => {
    const without = await call(bridge.url, 'GET', '/v1/tenants');
    expect(without.status).toBe(401);
    // The challenge comes with a 401 only (RFC 9110 §11.6.1), not with every answer.
    expect(without.headers.get('www-authenticate')).toBe('Bearer realm="ictvoip"');
    expect((await get('/v1/tenants', 'ivk_aaaaaaaaaaaa_' + 'A'.repeat(43))).status).toBe(401);
    const token = await createKey(bridge.url, admin, { name: 'short-lived', scope: 'tenant', serviceId: A, access: 'read' });
    const answered = await get(`/v1/tenants/${A}`, token);
    expect(answered.status).toBe(200);
    expect(answered.headers.get('www-authenticate')).toBeNull();
    const [key] = (await get(`/v1/admin/api-keys?serviceId=${A}`, admin)).body.data.filter((k: { name: string }) => k.name === 'short-lived');
    expect(key.lastUsedAt).not.toBeNull();
    const revoked = await send('DELETE', `/v1/admin/api-keys/${key.id}`, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await send('DELETE', `/v1/admin/api-keys/${key.id}`, admin)).body.revokedAt).toBe(revoked.body.revokedAt);
    const after = await get(`/v1/tenants/${A}`, token);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('UNAUTHORIZED');
  });

  it('refuses admin routes to tenant keys (403) and bad key requests with every failing path (400)', async () => {
    expect((await get('/v1/admin/api-keys', keyA)).status).toBe(403);
    const bad = await send('POST', '/v1/admin/api-keys', admin, { name: '', scope: 'tenant', access: 'all' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.access', 'body.name', 'body.serviceId']);
    const unknown = await send('POST', '/v1/admin/api-keys', admin, { name: 'x', scope: 'tenant', serviceId: 999999, access: 'read' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('body.serviceId');
  });
});

describe('tenants', () => {
  it('lists every tenant for admin and only its own for a tenant key', async () => {
    const all = await get('/v1/tenants', admin);
    expect(all.body.data.map((t: { serviceId: number }) => t.serviceId)).toEqual(expect.arrayContaining([A, B]));
    const own = await get('/v1/tenants', keyA);
    expect(own.body.data.map((t: { serviceId: number }) => t.serviceId)).toEqual([A]);
  });

  it('shows desired vs observed state, plan and counts, by service id or by domain', async () => {
    const byId = await get(`/v1/tenants/${A}`, keyA);
    expect(byId.status).toBe(200);
    const byDomain = await get(`/v1/tenants/${domainA}`, keyA);
    expect(byDomain.body.serviceId).toBe(A);
    const extensions = await fusionCount('SELECT count(*) AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domainA]);
    expect(byId.body).toMatchObject({
      serviceId: A,
      domain: domainA,
      desired: { state: 'active', plan: { maxExtensions: 3 } },
      observed: { state: 'active', fusionpbx: { domainName: domainA, domainEnabled: true, status: 'active' } },
      limits: { maxExtensions: 3 },
      counts: { extensions },
    });
  });
});

describe('extensions', () => {
  const base = () => `/v1/tenants/${A}/extensions`;

  it('lists the tenant’s extensions', async () => {
    const list = await get(base(), keyA);
    expect(list.status).toBe(200);
    expect(list.body.data.map((e: { extension: string }) => e.extension)).toEqual(['100', '101', '102']);
    expect(list.text).not.toMatch(/"password"/);
  });

  it('rejects bad input with every failing path and writes nothing', async () => {
    const before = await fusionCount('SELECT count(*) AS n FROM v_extensions', []);
    const reply = await send('POST', base(), keyA, {
      extension: '12a',
      callerIdNumber: 'call me',
      voicemailEmail: 'nope',
      enabled: 'maybe',
      description: 'line\nbreak',
      colour: 'red',
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION_FAILED');
    expect(reply.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(
      ['body.callerIdNumber', 'body.colour', 'body.description', 'body.enabled', 'body.extension', 'body.voicemailEmail'].sort(),
    );
    expect(await fusionCount('SELECT count(*) AS n FROM v_extensions', [])).toBe(before);
    const notJson = await call(bridge.url, 'POST', base(), { token: keyA, body: '{"extension":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    const wrongType = await call(bridge.url, 'POST', base(), { token: keyA, body: 'extension=200', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(wrongType.status).toBe(415);
  });

  /** The plan's extension limit as the bridge stores it (a change_package would write it). */
  const setMaxExtensions = (max: number) =>
    bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || jsonb_build_object('maxExtensions', $2::int) WHERE service_id = $1`, [A, max]);

  it('enforces the plan quota with 409 and writes nothing; a disabled extension counts too, as in FusionPBX', async () => {
    const reply = await send('POST', base(), keyA, { extension: '200', callerIdName: 'Reception' });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe('QUOTA_EXCEEDED');
    const disabled = await send('POST', base(), keyA, { extension: '200', enabled: false });
    expect(disabled.status).toBe(409);
    expect(disabled.body.error).toMatchObject({ code: 'QUOTA_EXCEEDED', message: 'the plan allows at most 3 extensions' });
    expect(await fusionCount("SELECT count(*) AS n FROM v_extensions WHERE extension = '200'", [])).toBe(0);
  });

  it('creates an extension like the GUI (row, mailbox, cache delete) and shows the SIP password once', async () => {
    await setMaxExtensions(4);
    bridge.esl.clearRecorded();
    const reply = await send('POST', base(), keyA, { extension: '200', callerIdName: 'Réception, "front"', voicemailEmail: 'desk@example.com', enabled: false });
    expect(reply.status).toBe(201);
    expect(reply.body.password).toHaveLength(20);
    expect(reply.body.extension).toMatchObject({ extension: '200', callerIdName: 'Réception, "front"', voicemailEmail: 'desk@example.com', enabled: false });
    expect(reply.body.freeswitch).toEqual({ applied: true });
    const [row] = (
      await bridge.fusion.query(
        "SELECT e.user_context, e.password, v.voicemail_mail_to FROM v_extensions e JOIN v_voicemails v ON v.domain_uuid = e.domain_uuid AND v.voicemail_id = e.extension WHERE e.extension = '200'",
      )
    ).rows;
    expect(row).toEqual({ user_context: domainA, password: reply.body.password, voicemail_mail_to: 'desk@example.com' });
    expect(bridge.esl.apiCommands).toContain(`memcache delete directory:200@${domainA}`);
    const again = await get(`${base()}/200`, keyA);
    expect(again.body.password).toBeUndefined();
    const duplicate = await send('POST', base(), keyA, { extension: '200' });
    expect(duplicate.status).toBe(409);
  });

  it('PUT is idempotent: the same request twice ends in the same state, the second writes nothing', async () => {
    const body = { callerIdName: 'Sales', outboundCallerIdNumber: '+15550100', numberAlias: '2000' };
    const first = await send('PUT', `${base()}/200`, keyA, body);
    expect(first.status).toBe(200);
    expect(first.body.outcome).toBe('updated');
    const [{ update_date: stamp }] = (await bridge.fusion.query("SELECT update_date FROM v_extensions WHERE extension = '200'")).rows;
    const second = await send('PUT', `${base()}/200`, keyA, body);
    expect(second.status).toBe(200);
    expect(second.body.outcome).toBe('unchanged');
    expect(second.body.extension).toEqual(first.body.extension);
    expect((await bridge.fusion.query("SELECT update_date FROM v_extensions WHERE extension = '200'")).rows[0].update_date).toEqual(stamp);
  });

  it('refuses an alias already used by another extension, and enabling over the quota', async () => {
    const alias = await send('PUT', `${base()}/101`, keyA, { numberAlias: '2000' });
    expect(alias.status).toBe(409);
    expect(alias.body.error.code).toBe('ALREADY_EXISTS');
    // A downgrade to 3: the disabled 200 is one too many to enable while 100–102 are.
    await setMaxExtensions(3);
    const enable = await send('PUT', `${base()}/200`, keyA, { enabled: true });
    expect(enable.status).toBe(409);
    expect(enable.body.error.code).toBe('QUOTA_EXCEEDED');
    bridge.esl.clearRecorded();
    expect((await send('PUT', `${base()}/102`, keyA, { enabled: false })).status).toBe(200);
    expect(bridge.esl.apiCommands).toContain(`sofia profile internal flush_inbound_reg 102@${domainA} reboot`);
    const now = await send('PUT', `${base()}/200`, keyA, { enabled: true });
    expect(now.status).toBe(200);
    expect(now.body.extension.enabled).toBe(true);
  });

  it('gives a read-only key 403 on writes and 200 on reads', async () => {
    expect((await get(base(), keyARead)).status).toBe(200);
    const write = await send('PUT', `${base()}/200`, keyARead, { callerIdName: 'x' });
    expect(write.status).toBe(403);
  });

  it('deletes an extension (204), then it is gone (404)', async () => {
    await setMaxExtensions(5);
    expect((await send('PUT', `${base()}/201`, keyA, { enabled: false })).status).toBe(201);
    bridge.esl.clearRecorded();
    expect((await send('DELETE', `${base()}/201`, keyA)).status).toBe(204);
    expect(bridge.esl.apiCommands).toContain(`memcache delete directory:201@${domainA}`);
    expect((await get(`${base()}/201`, keyA)).status).toBe(404);
    expect((await send('DELETE', `${base()}/201`, keyA)).status).toBe(404);
  });
});

describe('registrations (real 1.10 capture through the event-socket stand-in)', () => {
  beforeAll(() => {
    bridge.esl.respond("sofia xmlstatus profile 'internal' reg", registrationsBody(domainA, '101'));
    bridge.esl.respond("sofia xmlstatus profile 'external' reg", 'Invalid Profile!\n');
  });

  it('lists only the tenant realm’s registrations, with the contact unescaped', async () => {
    const reply = await get(`/v1/tenants/${A}/registrations`, keyA);
    expect(reply.status).toBe(200);
    expect(reply.body.data).toHaveLength(1);
    expect(reply.body.data[0]).toMatchObject({
      extension: '101',
      user: `101@${domainA}`,
      profile: 'internal',
      contact: `"" <sip:101@203.0.113.228;transport=udp;fs_nat=yes;fs_path=sip%3A101%40203.0.113.228%3A5060%3Btransport%3Dudp>`,
      networkIp: '203.0.113.228',
      networkPort: 5060,
      status: 'Registered',
      transport: 'UDP-NAT',
      expiresInSeconds: 3598,
      pingStatus: 'Reachable',
    });
    expect(reply.body.data[0].userAgent).toMatch(/^Linphone-Desktop\/5\.0\.17/);
    expect(reply.body.unavailableProfiles).toEqual(['external']);
    expect((await get(`/v1/tenants/${B}/registrations`, keyB)).body.data).toEqual([]);
  });

  it('answers per extension: registered or not', async () => {
    const yes = await get(`/v1/tenants/${A}/extensions/101/registration`, keyA);
    expect(yes.body).toMatchObject({ extension: '101', registered: true });
    const no = await get(`/v1/tenants/${A}/extensions/100/registration`, keyA);
    expect(no.body).toMatchObject({ extension: '100', registered: false, registrations: [] });
  });

  it('answers 503 with Retry-After within the deadline when the event socket is down, and recovers', async () => {
    await bridge.esl.stop();
    const started = Date.now();
    const reply = await get(`/v1/tenants/${A}/registrations`, keyA);
    expect(reply.status).toBe(503);
    expect(Number(reply.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2000);
    await bridge.esl.start();
    expect((await get(`/v1/tenants/${A}/registrations`, keyA)).status).toBe(200);
  });

  it('answers 503 within the deadline when the event socket is slow, never hanging', async () => {
    bridge.esl.replyDelayMs = 3000;
    const started = Date.now();
    const reply = await get(`/v1/tenants/${A}/registrations`, keyA);
    const elapsed = Date.now() - started;
    bridge.esl.replyDelayMs = 0;
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe('EVENT_SOCKET_UNAVAILABLE');
    expect(elapsed).toBeLessThan(2500);
  });
});

function gatewayStatusXml(uuid: string, state: string): string {
  // Element names and order of mod_sofia.c xml_gateway_status (no public capture exists; see samples/README.md).
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<gateway>\n  <name>${uuid}</name>\n  <profile>external</profile>\n  <scheme>Digest</scheme>\n  <realm>sip.carrier.example</realm>\n  <username>acct1</username>\n  <password>yes</password>\n  <from>&lt;sip:acct1@sip.carrier.example&gt;</from>\n  <contact>&lt;sip:gw+${uuid}@192.0.2.10:5080;transport=udp;gw=${uuid}&gt;</contact>\n  <exten>acct1</exten>\n  <to>sip:acct1@sip.carrier.example</to>\n  <proxy>sip:sip.carrier.example</proxy>\n  <context>public</context>\n  <expires>800</expires>\n  <freq>800</freq>\n  <ping>0</ping>\n  <pingfreq>0</pingfreq>\n  <pingmin>1</pingmin>\n  <pingcount>0</pingcount>\n  <pingmax>0</pingmax>\n  <pingtime>0.00</pingtime>\n  <pinging>0</pinging>\n  <state>${state}</state>\n  <status>UP</status>\n  <uptime-usec>93000000</uptime-usec>\n  <calls-in>4</calls-in>\n  <calls-out>7</calls-out>\n  <failed-calls-in>0</failed-calls-in>\n  <failed-calls-out>1</failed-calls-out>\n</gateway>\n`;
}

describe('gateways', () => {
  const base = () => `/v1/tenants/${A}/gateways`;
  let gatewayUuid: string;

  it('creates a gateway (password write-only), rescans the profile, and shows it come up', async () => {
    bridge.esl.clearRecorded();
    const reply = await send('POST', base(), keyA, { name: 'carrier', proxy: 'sip.carrier.example', register: true, username: 'acct1', password: 's3cret-Pass' });
    expect(reply.status).toBe(201);
    expect(reply.text).not.toContain('s3cret-Pass');
    expect(reply.body.gateway).toMatchObject({ name: 'carrier', passwordSet: true, profile: 'external', enabled: true, managed: false });
    gatewayUuid = reply.body.gateway.gatewayUuid;
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining(['switchname', 'sofia profile external rescan']));
    expect((await get(`${base()}/${gatewayUuid}/status`, keyA)).body).toMatchObject({ gatewayUuid, running: false });
    bridge.esl.respond(`sofia xmlstatus gateway ${gatewayUuid}`, gatewayStatusXml(gatewayUuid, 'REGED'));
    const status = await get(`${base()}/${gatewayUuid}/status`, keyA);
    expect(status.body).toMatchObject({ gatewayUuid, running: true, state: 'REGED', status: 'UP', uptimeSeconds: 93, callsIn: 4, callsOut: 7 });
  });

  it('rejects bad gateway input with every failing path, and a register gateway without credentials', async () => {
    const bad = await send('POST', base(), keyA, { name: 'bad\nname', proxy: 'has space', expireSeconds: 5, registerTransport: 'sctp' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.expireSeconds', 'body.name', 'body.proxy', 'body.registerTransport']);
    const noCredentials = await send('POST', base(), keyA, { name: 'other', proxy: 'sip.other.example', register: true });
    expect(noCredentials.status).toBe(400);
    expect(noCredentials.body.error.details[0].path).toBe('body.username');
    const badProfile = await send('POST', base(), keyA, { name: 'other', proxy: 'sip.other.example', register: false, profile: 'internal-ipv6' });
    expect(badProfile.status).toBe(400);
    expect(await fusionCount("SELECT count(*) AS n FROM v_gateways WHERE gateway = 'other'", [])).toBe(0);
  });

  it("refuses a gateway context that is another tenant's dialplan (its calls would run there), on create and update; public and its own domain are fine", async () => {
    const intoB = await send('POST', base(), keyA, { name: 'into-b', proxy: '203.0.113.9', register: false, context: domainB });
    expect(intoB.status).toBe(400);
    expect(intoB.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(JSON.stringify(intoB.body.error)).toContain('context');
    expect(await fusionCount("SELECT count(*) AS n FROM v_gateways WHERE gateway = 'into-b'", [])).toBe(0);
    const moved = await send('PUT', `${base()}/${gatewayUuid}`, keyA, { context: domainB });
    expect(moved.status).toBe(400);
    expect(await fusionCount('SELECT count(*) AS n FROM v_gateways WHERE context = $1', [domainB])).toBe(0);
    expect((await send('PUT', `${base()}/${gatewayUuid}`, keyA, { context: domainA })).status).toBe(200);
    expect((await send('PUT', `${base()}/${gatewayUuid}`, keyA, { context: 'public' })).status).toBe(200);
  });

  it('updates idempotently (killgw + startgw once, then nothing to restart)', async () => {
    bridge.esl.clearRecorded();
    const first = await send('PUT', `${base()}/${gatewayUuid}`, keyA, { expireSeconds: 600 });
    expect(first.body.outcome).toBe('updated');
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`sofia profile external killgw ${gatewayUuid}`, `sofia profile external startgw ${gatewayUuid}`]));
    bridge.esl.clearRecorded();
    const second = await send('PUT', `${base()}/${gatewayUuid}`, keyA, { expireSeconds: 600 });
    expect(second.body.outcome).toBe('unchanged');
    expect(second.body.gateway).toEqual(first.body.gateway);
    expect(bridge.esl.apiCommands.filter((c) => /killgw|startgw/.test(c))).toEqual([]);
  });

  it("a gateway's history: [] for a gateway of the tenant, 404 for one it neither has nor had a transition of, kept for a deleted one", async () => {
    expect((await get(`${base()}/${gatewayUuid}/history`, keyA)).body).toEqual({ data: [], nextCursor: null });
    const unknown = await get(`${base()}/${randomUUID()}/history`, keyA);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    const deleted = randomUUID();
    await bridge.api!.deps.pool.query(
      `INSERT INTO gateway_history (server, gateway_uuid, gateway_name, domain, service_id, transition, at, failing_since) VALUES ('default', $1, 'old', $2, $3, 'down', now(), now())`,
      [deleted, domainA, A],
    );
    expect((await get(`${base()}/${deleted}/history`, keyA)).body.data).toEqual([expect.objectContaining({ gatewayUuid: deleted, type: 'gateway.down' })]);
  });

  it('deletes a gateway (killgw) and answers 404 afterwards', async () => {
    bridge.esl.clearRecorded();
    expect((await send('DELETE', `${base()}/${gatewayUuid}`, keyA)).status).toBe(204);
    expect(bridge.esl.apiCommands).toContain(`sofia profile external killgw ${gatewayUuid}`);
    expect((await get(`${base()}/${gatewayUuid}`, keyA)).status).toBe(404);
  });
});

describe('jobs', () => {
  it('shows a provisioning job to its tenant, scrubbed, and 404 to another tenant', async () => {
    const mine = await get(`/v1/jobs/${jobA}`, keyA);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ id: jobA, serviceId: A, state: 'completed', action: 'create' });
    expect(mine.text).not.toMatch(/Adm1n-Pass-Example/);
    expect((await get(`/v1/jobs/${jobA}`, keyB)).status).toBe(404);
    expect((await get('/v1/jobs/no-such-job', keyA)).status).toBe(404);
  });
});

describe('tenant isolation matrix', () => {
  it('answers 404 on every tenant route when a tenant key names another tenant (by id or domain)', async () => {
    const { rows } = await bridge.fusion.query('SELECT gateway_uuid FROM v_gateways LIMIT 1');
    const someGateway = rows[0]?.gateway_uuid ?? '00000000-0000-4000-8000-000000000000';
    const requests: [string, string, unknown?][] = [];
    for (const tenant of [String(A), domainA]) {
      requests.push(
        ['GET', `/v1/tenants/${tenant}`],
        ['GET', `/v1/tenants/${tenant}/extensions`],
        ['POST', `/v1/tenants/${tenant}/extensions`, { extension: '300', enabled: false }],
        ['GET', `/v1/tenants/${tenant}/extensions/100`],
        ['PUT', `/v1/tenants/${tenant}/extensions/100`, { callerIdName: 'hijack' }],
        ['DELETE', `/v1/tenants/${tenant}/extensions/100`],
        ['GET', `/v1/tenants/${tenant}/extensions/100/registration`],
        ['GET', `/v1/tenants/${tenant}/registrations`],
        ['GET', `/v1/tenants/${tenant}/gateways`],
        ['POST', `/v1/tenants/${tenant}/gateways`, { name: 'x', proxy: 'sip.x.example', register: false }],
        ['GET', `/v1/tenants/${tenant}/gateways/${someGateway}`],
        ['PUT', `/v1/tenants/${tenant}/gateways/${someGateway}`, { expireSeconds: 900 }],
        ['DELETE', `/v1/tenants/${tenant}/gateways/${someGateway}`],
        ['GET', `/v1/tenants/${tenant}/gateways/${someGateway}/status`],
        ['GET', `/v1/tenants/${tenant}/cdrs`],
        ['GET', `/v1/tenants/${tenant}/cdrs?format=csv`],
        ['GET', `/v1/tenants/${tenant}/destinations`],
        ['POST', `/v1/tenants/${tenant}/destinations`, { number: '5550009999' }],
        ['GET', `/v1/tenants/${tenant}/destinations/5550009999`],
        ['PUT', `/v1/tenants/${tenant}/destinations/5550009999`, { enabled: false }],
        ['DELETE', `/v1/tenants/${tenant}/destinations/5550009999`],
      );
    }
    const tenantRoutes = V1_ROUTES.filter((r) => r.spec.path.startsWith('/v1/tenants/{tenant}'));
    const covered = new Set(requests.map(([method, path]) => `${method.toLowerCase()} ${path.replace(/\?.*/, '')}`));
    expect(covered.size).toBeGreaterThanOrEqual(tenantRoutes.length);
    const snapshot = await fusionCount(
      "SELECT count(*) AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.effective_caller_id_name = 'hijack'",
      [domainA],
    );
    for (const [method, path, body] of requests) {
      const reply = await send(method, path, keyB, body);
      expect({ method, path, status: reply.status }).toEqual({ method, path, status: 404 });
    }
    expect(snapshot).toBe(0);
    expect(await fusionCount("SELECT count(*) AS n FROM v_extensions WHERE effective_caller_id_name = 'hijack'", [])).toBe(0);
    expect(await fusionCount("SELECT count(*) AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = '100'", [domainA])).toBe(1);
  });

  it('answers 404 for a tenant that does not exist, and for unusable tenant names', async () => {
    expect((await get('/v1/tenants/987654', admin)).status).toBe(404);
    expect((await get('/v1/tenants/not a domain', admin)).status).toBe(404);
    expect((await get(`/v1/tenants/${domainB}`, admin)).body.serviceId).toBe(B);
  });
});

describe('/openapi.json', () => {
  it('describes every /v1 route with its parameters, body schema and responses', async () => {
    const reply = await call(bridge.url, 'GET', '/openapi.json');
    expect(reply.status).toBe(200);
    const doc = reply.body;
    expect(doc.openapi).toBe('3.1.0');
    for (const { spec } of V1_ROUTES) {
      const operation = doc.paths[spec.path]?.[spec.method];
      expect({ route: `${spec.method} ${spec.path}`, described: !!operation }).toEqual({ route: `${spec.method} ${spec.path}`, described: true });
      for (const name of spec.path.match(/\{([a-z]+)\}/gi) ?? []) {
        expect(operation.parameters.map((p: { name: string }) => `{${p.name}}`)).toContain(name);
      }
      if (spec.body) expect(operation.requestBody.content['application/json'].schema.type).toBe('object');
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['401', '429']));
    }
    const create = doc.paths['/v1/tenants/{tenant}/extensions'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(['extension']);
    expect(create.properties.extension.pattern).toBe('^[0-9]{2,15}$');
    // Every $ref resolves inside the document.
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[A-Za-z]+"/g) ?? [];
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref.split('/').pop()!.replace('"', '')]).toBeDefined();
  });
});

import { MASKED_VALUE } from '@ictvoip/fusionpbx';
import { withServiceLock } from '@ictvoip/store';
import { logRecords, startBridge, type Bridge } from '../../worker/test/harness';
import { V1_ROUTES } from '../src/routes/v1';
import { call, createKey, createTenant, type Reply } from './v1-helpers';

/**
 * `?dryRun=1` on every /v1 write route: the same answer codes as the real request for bad input,
 * quota and tenant isolation; on success 200 with the rows and event-socket commands, and neither a
 * database row nor an event-socket command changes.
 */

interface Row {
  table: string;
  op: 'insert' | 'update' | 'delete';
  key: string | null;
  columns: Record<string, string | null>;
}

let bridge: Bridge;
let admin: string;
let domainA: string;
let keyA: string;
let keyARead: string;
let keyB: string;
let gatewayUuid: string;
let spareKeyId: string;
const A = 5301;
const B = 5302;

const send = (method: string, path: string, token: string, body?: unknown) => call(bridge.url, method, path, { token, body });
const withDryRun = (path: string) => `${path}${path.includes('?') ? '&' : '?'}dryRun=1`;

/** Every row the bridge could write, as digests, plus how many event-socket commands arrived. */
async function snapshot(): Promise<{ fusion: Record<string, string>; keys: string; esl: number }> {
  const fusion: Record<string, string> = {};
  for (const table of ['v_domains', 'v_extensions', 'v_voicemails', 'v_gateways', 'v_extension_users', 'v_domain_settings', 'v_users']) {
    const { rows } = await bridge.fusion.query(`SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM ${table} t`);
    fusion[table] = `${rows[0].n}:${rows[0].d}`;
  }
  // last_used_at is the key's own use bookkeeping, written by authentication on any request.
  const keys = await bridge.api!.deps.pool.query<{ d: string }>(
    "SELECT md5(coalesce(string_agg(concat_ws(',', id, prefix, secret_sha256, name, scope, service_id, access, created_by, revoked_at), '|' ORDER BY id), '')) AS d FROM api_keys",
  );
  return { fusion, keys: keys.rows[0].d, esl: bridge.esl.received.length };
}

/** Runs the dry-run and checks that nothing at all changed. */
async function dryRun(method: string, path: string, token: string, body?: unknown): Promise<Reply> {
  const before = await snapshot();
  const reply = await send(method, withDryRun(path), token, body);
  expect(await snapshot()).toEqual(before);
  return reply;
}

/** The dry-run and the real request answer the same error; neither changes anything. */
async function sameRefusal(method: string, path: string, token: string, body: unknown, status: number): Promise<Reply> {
  const dry = await dryRun(method, path, token, body);
  const before = await snapshot();
  const real = await send(method, path, token, body);
  expect(await snapshot()).toEqual(before);
  expect(dry.status).toBe(status);
  expect(real.status).toBe(status);
  expect(dry.body).toEqual(real.body);
  return dry;
}

const rowsOf = (reply: Reply, table: string, op?: Row['op']) => (reply.body.rows as Row[]).filter((row) => row.table === table && (!op || row.op === op));

beforeAll(async () => {
  // A short API_LOCK_WAIT_MS: the busy tenant's dry run gives up on the lock soon (10 s by default).
  bridge = await startBridge({ API_ESL_DEADLINE_MS: '1500', API_LOCK_WAIT_MS: '300' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  admin = bridge.config.adminToken;
  domainA = (await createTenant(bridge, A, { maxGateways: 2 })).domain;
  await createTenant(bridge, B);
  keyA = await createKey(bridge.url, admin, { name: 'tenant A', scope: 'tenant', serviceId: A, access: 'read-write' });
  keyARead = await createKey(bridge.url, admin, { name: 'tenant A read', scope: 'tenant', serviceId: A, access: 'read' });
  keyB = await createKey(bridge.url, admin, { name: 'tenant B', scope: 'tenant', serviceId: B, access: 'read-write' });
  const gateway = await send('POST', `/v1/tenants/${A}/gateways`, keyA, {
    name: 'carrier',
    proxy: 'sip.carrier.example',
    register: true,
    username: 'acct1',
    password: 's3cret-Pass',
  });
  expect(gateway.status).toBe(201);
  gatewayUuid = gateway.body.gateway.gatewayUuid;
  const spare = await send('POST', '/v1/admin/api-keys', admin, { name: 'spare', scope: 'tenant', serviceId: A, access: 'read' });
  spareKeyId = spare.body.key.id;
}, 60000);

afterAll(async () => {
  await bridge.close();
});

describe('every write route', () => {
  it('takes dryRun in its query schema and documents it in /openapi.json', async () => {
    const writes = V1_ROUTES.filter(({ spec }) => spec.method !== 'get');
    expect(writes.map(({ spec }) => `${spec.method} ${spec.path}`).sort()).toEqual(
      [
        'delete /v1/admin/api-keys/{id}',
        'delete /v1/tenants/{tenant}/extensions/{extension}',
        'delete /v1/tenants/{tenant}/gateways/{gateway}',
        'delete /v1/tenants/{tenant}/destinations/{number}',
        'post /v1/tenants/{tenant}/destinations',
        'put /v1/tenants/{tenant}/destinations/{number}',
        'post /v1/admin/api-keys',
        'post /v1/tenants/{tenant}/extensions',
        'post /v1/tenants/{tenant}/gateways',
        'put /v1/tenants/{tenant}/extensions/{extension}',
        'put /v1/tenants/{tenant}/gateways/{gateway}',
        'put /v1/tenants/{tenant}/registrations/watch',
      ].sort(),
    );
    const document = (await call(bridge.url, 'GET', '/openapi.json')).body;
    for (const { spec } of writes) {
      const operation = document.paths[spec.path][spec.method];
      expect(operation.parameters).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'dryRun', in: 'query', required: false, schema: expect.objectContaining({ type: 'boolean' }) })]),
      );
      expect(operation.responses['200'].description).toContain('dryRun=1');
    }
    const reads = document.paths['/v1/tenants/{tenant}/extensions'].get.parameters.map((p: { name: string }) => p.name);
    expect(reads).not.toContain('dryRun');
  });

  it('refuses a dryRun value that is not a flag, like any bad query parameter, and writes nothing', async () => {
    const before = await snapshot();
    const bad = await send('POST', `/v1/tenants/${A}/extensions?dryRun=maybe`, keyA, { extension: '300', enabled: false });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual(['query.dryRun']);
    expect(await snapshot()).toEqual(before);
  });
});

describe('extensions', () => {
  const base = () => `/v1/tenants/${A}/extensions`;
  /** The plan's extension limit as the bridge stores it (every extension row counts against it on an add). */
  const setMaxExtensions = (max: number) =>
    bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || jsonb_build_object('maxExtensions', $2::int) WHERE service_id = $1`, [A, max]);

  it('POST ?dryRun=1 answers the extension and mailbox rows (password masked) and the cache delete; nothing is written or sent', async () => {
    await setMaxExtensions(4);
    const reply = await dryRun('POST', base(), keyA, { extension: '300', callerIdName: 'Lobby', voicemailEmail: 'lobby@example.com', enabled: false });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      dryRun: true,
      outcome: 'created',
      extension: { extension: '300', callerIdName: 'Lobby', voicemailEmail: 'lobby@example.com', enabled: false },
    });
    expect(reply.body.password).toBeUndefined();
    const [extension] = rowsOf(reply, 'v_extensions', 'insert');
    expect(extension.columns).toMatchObject({ extension: '300', user_context: domainA, password: MASKED_VALUE, enabled: 'false' });
    expect(rowsOf(reply, 'v_voicemails', 'insert')).toEqual([
      expect.objectContaining({ columns: expect.objectContaining({ voicemail_id: '300', voicemail_mail_to: 'lobby@example.com', voicemail_password: MASKED_VALUE }) }),
    ]);
    expect(reply.body.eslCommands).toEqual([`memcache delete directory:300@${domainA}`]);
    expect(reply.body.freeswitch).toEqual([{ kind: 'cache_delete', key: `directory:300@${domainA}` }]);
    expect((await send('GET', `${base()}/300`, keyA)).status).toBe(404);
  });

  it("describes the cache deletes with the tenant's server's cache options (its FusionTarget, which the worker applies with)", async () => {
    // Every server's target takes FUSIONPBX_CACHE_METHOD today; the dry run must read the target, not the config, so they cannot drift.
    await setMaxExtensions(4);
    const target = await bridge.api!.deps.targets.get(null);
    const configured = target.cacheOptions;
    target.cacheOptions = { method: 'file-esl' };
    try {
      const reply = await dryRun('POST', base(), keyA, { extension: '300', enabled: false });
      expect(reply.status).toBe(200);
      expect(reply.body.eslCommands).toEqual([`lua app/servers/resources/clear_cache.lua delete directory.300@${domainA}`]);
    } finally {
      target.cacheOptions = configured;
    }
  });

  it('PUT ?dryRun=1 answers the changed columns and the registration flush of a disabled extension', async () => {
    const reply = await dryRun('PUT', `${base()}/101`, keyA, { callerIdName: 'Sales', enabled: false });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ dryRun: true, outcome: 'updated', extension: { extension: '101', callerIdName: 'Sales', enabled: false } });
    expect(rowsOf(reply, 'v_extensions', 'update')).toEqual([expect.objectContaining({ columns: { effective_caller_id_name: 'Sales', enabled: 'false' } })]);
    expect(reply.body.eslCommands).toEqual([`memcache delete directory:101@${domainA}`, `sofia profile internal flush_inbound_reg 101@${domainA} reboot`]);
    expect((await send('GET', `${base()}/101`, keyA)).body).toMatchObject({ callerIdName: null, enabled: true });
  });

  it('PUT ?dryRun=1 of a new extension is a create; of an unchanged one writes no row', async () => {
    const created = await dryRun('PUT', `${base()}/301`, keyA, { enabled: false });
    expect(created.body.outcome).toBe('created');
    expect(rowsOf(created, 'v_extensions', 'insert')).toHaveLength(1);
    const unchanged = await dryRun('PUT', `${base()}/100`, keyA, { enabled: true });
    expect(unchanged.status).toBe(200);
    expect(unchanged.body.outcome).toBe('unchanged');
    expect(unchanged.body.rows).toEqual([]);
  });

  it('DELETE ?dryRun=1 answers the deleted rows (mailbox too with deleteVoicemail) and the flush', async () => {
    const reply = await dryRun('DELETE', `${base()}/102?deleteVoicemail=true`, keyA);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ dryRun: true, outcome: 'deleted', extension: null });
    expect(rowsOf(reply, 'v_extensions', 'delete')).toEqual([
      expect.objectContaining({ key: expect.any(String), columns: expect.objectContaining({ extension: '102', password: MASKED_VALUE }) }),
    ]);
    expect(rowsOf(reply, 'v_voicemails', 'delete')).toEqual([
      expect.objectContaining({ columns: expect.objectContaining({ voicemail_id: '102', voicemail_password: MASKED_VALUE }) }),
    ]);
    expect(reply.body.eslCommands).toEqual([`memcache delete directory:102@${domainA}`, `sofia profile internal flush_inbound_reg 102@${domainA} reboot`]);
    const keepMailbox = await dryRun('DELETE', `${base()}/102`, keyA);
    expect(rowsOf(keepMailbox, 'v_voicemails')).toEqual([]);
  });

  it('answers the same 400, 404 and 409 (quota, duplicate) as the real request, and writes nothing either way', async () => {
    await setMaxExtensions(3);
    const invalid = await sameRefusal('POST', base(), keyA, { extension: '12a', voicemailEmail: 'nope', colour: 'red' }, 400);
    expect(invalid.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.colour', 'body.extension', 'body.voicemailEmail']);
    expect((await sameRefusal('POST', base(), keyA, { extension: '300' }, 409)).body.error.code).toBe('QUOTA_EXCEEDED');
    expect((await sameRefusal('POST', base(), keyA, { extension: '100', enabled: false }, 409)).body.error.code).toBe('ALREADY_EXISTS');
    expect((await sameRefusal('DELETE', `${base()}/555`, keyA, undefined, 404)).body.error.code).toBe('NOT_FOUND');
  });
});

describe('gateways', () => {
  const base = () => `/v1/tenants/${A}/gateways`;

  it('POST ?dryRun=1 answers the gateway row (password masked) and switchname, sofia.conf delete, rescan', async () => {
    const reply = await dryRun('POST', base(), keyA, { name: 'backup', proxy: 'sip.backup.example', register: true, username: 'acct2', password: 'An0ther-Secret' });
    expect(reply.status).toBe(200);
    expect(reply.text).not.toContain('An0ther-Secret');
    expect(reply.body).toMatchObject({ dryRun: true, outcome: 'created', gateway: { name: 'backup', passwordSet: true } });
    expect(rowsOf(reply, 'v_gateways', 'insert')).toEqual([
      expect.objectContaining({ columns: expect.objectContaining({ gateway: 'backup', proxy: 'sip.backup.example', password: MASKED_VALUE }) }),
    ]);
    expect(reply.body.eslCommands).toEqual(['switchname', 'memcache delete configuration:sofia.conf:{switchname}', 'sofia profile external rescan']);
  });

  it('PUT ?dryRun=1 answers the changed columns and killgw + startgw; DELETE the deleted row and killgw', async () => {
    const update = await dryRun('PUT', `${base()}/${gatewayUuid}`, keyA, { expireSeconds: 600, password: 'N3w-Secret' });
    expect(update.status).toBe(200);
    expect(update.text).not.toContain('N3w-Secret');
    expect(rowsOf(update, 'v_gateways', 'update')).toEqual([{ table: 'v_gateways', op: 'update', key: gatewayUuid, columns: { password: MASKED_VALUE, expire_seconds: '600' } }]);
    expect(update.body.eslCommands).toEqual([
      'switchname',
      'memcache delete configuration:sofia.conf:{switchname}',
      `sofia profile external killgw ${gatewayUuid}`,
      `sofia profile external startgw ${gatewayUuid}`,
    ]);
    const remove = await dryRun('DELETE', `${base()}/${gatewayUuid}`, keyA);
    expect(remove.status).toBe(200);
    expect(rowsOf(remove, 'v_gateways', 'delete')).toEqual([
      expect.objectContaining({ key: gatewayUuid, columns: expect.objectContaining({ gateway: 'carrier', password: MASKED_VALUE }) }),
    ]);
    expect(remove.body.eslCommands).toEqual([`sofia profile external killgw ${gatewayUuid}`, 'switchname', 'memcache delete configuration:sofia.conf:{switchname}']);
    expect((await send('GET', `${base()}/${gatewayUuid}`, keyA)).status).toBe(200);
  });

  it('answers the same 400, 404 and 409 (quota) as the real request', async () => {
    await sameRefusal('POST', base(), keyA, { name: 'bad\nname', proxy: 'has space' }, 400);
    await sameRefusal('POST', base(), keyA, { name: 'other', proxy: 'sip.other.example', register: true }, 400);
    await sameRefusal('PUT', `${base()}/6f1c1c39-4b8a-4f57-9f43-0f3b6d3b1a11`, keyA, { expireSeconds: 600 }, 404);
    const second = await send('POST', base(), keyA, { name: 'second', proxy: 'sip.second.example', register: false });
    expect(second.status).toBe(201);
    expect((await sameRefusal('POST', base(), keyA, { name: 'third', proxy: 'sip.third.example', register: false }, 409)).body.error.code).toBe('QUOTA_EXCEEDED');
  });
});

describe('a tenant being provisioned', () => {
  it('answers 503 TENANT_BUSY with Retry-After while the service lock is held elsewhere, and writes nothing', async () => {
    const remove = () => dryRun('DELETE', `/v1/tenants/${A}/extensions/102`, keyA);
    // The lock held from the test's own connection, as a worker applying the tenant's event holds it.
    const busy = await withServiceLock(bridge.api!.deps.pool, A, remove);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
    // What was busy and when to try again, not one message for every lock.
    expect(busy.body).toEqual({
      error: {
        code: 'TENANT_BUSY',
        message: `tenant ${A} is busy: a provisioning event or another write of it is being applied (its lock was not free within 300 ms); retry after 2 s`,
      },
    });
    // The operator sees it too: one warning with the code and the request id.
    const requestId = busy.headers.get('x-request-id');
    const logged = logRecords(bridge, (record) => record.requestId === requestId && String(record.msg).startsWith('answered'));
    expect(logged).toEqual([expect.objectContaining({ level: 40, status: 503, code: 'TENANT_BUSY', path: `/v1/tenants/${A}/extensions/102` })]);
    // Free again: the same request is answered.
    expect((await remove()).body).toMatchObject({ dryRun: true, outcome: 'deleted' });
  });
});

describe('tenant isolation and access', () => {
  it('a tenant key cannot dry-run against another tenant (404, like the real request); a read-only key gets 403', async () => {
    const paths: [string, string, unknown][] = [
      ['POST', `/v1/tenants/${A}/extensions`, { extension: '300', enabled: false }],
      ['PUT', `/v1/tenants/${A}/extensions/100`, { callerIdName: 'x' }],
      ['DELETE', `/v1/tenants/${A}/extensions/100`, undefined],
      ['POST', `/v1/tenants/${domainA}/gateways`, { name: 'x', proxy: 'sip.x.example', register: false }],
      ['PUT', `/v1/tenants/${A}/gateways/${gatewayUuid}`, { expireSeconds: 600 }],
      ['DELETE', `/v1/tenants/${A}/gateways/${gatewayUuid}`, undefined],
    ];
    for (const [method, path, body] of paths) {
      expect((await sameRefusal(method, path, keyB, body, 404)).body.error.code).toBe('NOT_FOUND');
      expect((await sameRefusal(method, path, keyARead, body, 403)).body.error.code).toBe('FORBIDDEN');
    }
    expect((await sameRefusal('POST', '/v1/admin/api-keys', keyA, { name: 'x', scope: 'admin' }, 403)).body.error.code).toBe('FORBIDDEN');
    expect((await sameRefusal('DELETE', `/v1/admin/api-keys/${spareKeyId}`, keyA, undefined, 403)).body.error.code).toBe('FORBIDDEN');
  });
});

describe('admin API keys', () => {
  it('POST ?dryRun=1 answers the key row without a token or secret, and creates no key', async () => {
    const reply = await dryRun('POST', '/v1/admin/api-keys', admin, { name: 'ops', scope: 'tenant', serviceId: A, access: 'read' });
    expect(reply.status).toBe(200);
    expect(reply.body.token).toBeUndefined();
    expect(reply.body).toMatchObject({ dryRun: true, outcome: 'created', eslCommands: [], freeswitch: [] });
    expect(reply.body.rows).toEqual([
      {
        table: 'api_keys',
        op: 'insert',
        key: null,
        columns: expect.objectContaining({ name: 'ops', scope: 'tenant', service_id: String(A), access: 'read', secret_sha256: MASKED_VALUE }),
      },
    ]);
    const invalid = await sameRefusal('POST', '/v1/admin/api-keys', admin, { name: 'x', scope: 'tenant', serviceId: 999999, access: 'read' }, 400);
    expect(invalid.body.error.details[0].path).toBe('body.serviceId');
  });

  it('DELETE ?dryRun=1 answers the revocation without revoking; an unknown key is 404 both ways', async () => {
    const reply = await dryRun('DELETE', `/v1/admin/api-keys/${spareKeyId}`, admin);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ dryRun: true, outcome: 'revoked', key: { id: spareKeyId, revokedAt: null } });
    expect(reply.body.rows).toEqual([{ table: 'api_keys', op: 'update', key: spareKeyId, columns: { revoked_at: expect.any(String) } }]);
    await sameRefusal('DELETE', '/v1/admin/api-keys/987654', admin, undefined, 404);
    expect((await send('DELETE', `/v1/admin/api-keys/${spareKeyId}`, admin)).status).toBe(200);
    const again = await dryRun('DELETE', `/v1/admin/api-keys/${spareKeyId}`, admin);
    expect(again.body).toMatchObject({ outcome: 'unchanged', rows: [] });
  });
});

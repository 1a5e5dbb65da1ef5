import { startBridge, type Bridge } from '../../worker/test/harness';
import { V1_ROUTES } from '../src/routes/v1';
import { call, createKey } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

/**
 * Key scope and access on EVERY /v1 route, driven by the route list itself (a new route is covered
 * without editing this file): no key / a made-up key / a revoked key → 401; a read-only key on
 * any write route → 403; a tenant key on any admin route → 403; and none of those writes anything.
 * (The cross-tenant 404 matrix lives in v1-api.test.ts.)
 */
const SERVICE = 7401;
const DOMAIN = 't7401.pbx.example.net';

let bridge: Bridge;
let admin: string;
let readKey: string;
let writeKey: string;
let revokedKey: string;
let revokedKeyId: string;
let gatewayUuid: string;

/** A plausible valid body per write route, so a refusal can only come from the key. */
const BODIES: Record<string, unknown> = {
  'post /v1/tenants/{tenant}/extensions': { extension: '555', callerIdName: 'should not exist' },
  'put /v1/tenants/{tenant}/extensions/{extension}': { callerIdName: 'should not exist' },
  'post /v1/tenants/{tenant}/gateways': { name: 'should-not-exist', proxy: 'sip.example.net', register: false },
  'put /v1/tenants/{tenant}/gateways/{gateway}': { description: 'should not exist' },
  'post /v1/tenants/{tenant}/destinations': { number: '5550001111' },
  'put /v1/tenants/{tenant}/destinations/{number}': { description: 'should not exist' },
  'post /v1/admin/api-keys': { name: 'should not exist', scope: 'admin' },
  'put /v1/tenants/{tenant}/registrations/watch': { scope: 'off' },
};

function concretePath(path: string): string {
  return path
    .replace('{tenant}', String(SERVICE))
    .replace('{extension}', '100')
    .replace('{gateway}', gatewayUuid)
    .replace('{number}', '5550001234')
    .replace('{id}', path.startsWith('/v1/admin/api-keys') ? revokedKeyId : 'j-0000000001');
}

const routes = () =>
  V1_ROUTES.map(({ spec }) => ({
    method: spec.method.toUpperCase(),
    key: `${spec.method} ${spec.path}`,
    path: concretePath(spec.path),
    write: spec.method !== 'get',
    adminOnly: !!spec.adminOnly,
  }));

async function snapshot(): Promise<string> {
  const fusion = await bridge.fusion.query<{ d: string }>(
    `SELECT concat_ws('#', (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_extensions t),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_gateways t),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_voicemails t),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_destinations t),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_dialplans t)) AS d`,
  );
  const keys = await bridge.api!.deps.pool.query<{ d: string }>(
    `SELECT md5(coalesce(string_agg(concat_ws(',', id, prefix, name, scope, service_id, access, revoked_at), '|' ORDER BY id), '')) AS d FROM api_keys`,
  );
  return `${fusion.rows[0]!.d}#${keys.rows[0]!.d}`;
}

beforeAll(async () => {
  bridge = await startBridge({
    API_RATE_LIMIT_STANDARD: '100000',
    API_RATE_LIMIT_GATEWAYS: '100000',
    API_RATE_LIMIT_CDR_EXPORT: '100000',
    API_ESL_DEADLINE_MS: '500',
    LOG_LEVEL: 'warn',
  });
  await bridge.startApi();
  // REST writes are jobs: a worker applies them.
  await bridge.startWorker({ schedulers: false });
  admin = bridge.config.adminToken;
  await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, DOMAIN, { maxExtensions: 10, maxGateways: 5 });
  writeKey = await createKey(bridge.url, admin, { name: 'rw', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  readKey = await createKey(bridge.url, admin, { name: 'ro', scope: 'tenant', serviceId: SERVICE, access: 'read' });
  revokedKey = await createKey(bridge.url, admin, { name: 'revoked', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  const listed = await call(bridge.url, 'GET', '/v1/admin/api-keys', { token: admin });
  revokedKeyId = String(listed.body.data.find((key: { name: string }) => key.name === 'revoked').id);
  expect((await call(bridge.url, 'DELETE', `/v1/admin/api-keys/${revokedKeyId}`, { token: admin })).status).toBeLessThan(300);
  const gateway = await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/gateways`, { token: writeKey, body: { name: 'existing', proxy: 'sip.example.net', register: false } });
  if (gateway.status >= 300) throw new Error(`gateway seed failed: ${gateway.status} ${gateway.text}`);
  gatewayUuid = gateway.body.gateway.gatewayUuid;
  const number = await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/destinations`, { token: writeKey, body: { number: '5550001234' } });
  if (number.status >= 300) throw new Error(`number seed failed: ${number.status} ${number.text}`);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

describe('/v1 key scope and access on every route', () => {
  it('every write route has a valid body here (so the matrix covers new routes or fails)', () => {
    const writesWithBody = V1_ROUTES.filter((r) => r.spec.body).map((r) => `${r.spec.method} ${r.spec.path}`);
    expect(writesWithBody.sort()).toEqual(Object.keys(BODIES).sort());
  });

  it('401 on every route without a key, with a made-up key, a malformed header and a revoked key; nothing written', async () => {
    const before = await snapshot();
    const madeUp = `${writeKey.slice(0, -4)}abcd`;
    for (const route of routes()) {
      const body = BODIES[route.key];
      for (const [label, headers] of [
        ['no key', {}],
        ['made-up key', { authorization: `Bearer ${madeUp}` }],
        ['revoked key', { authorization: `Bearer ${revokedKey}` }],
        ['basic auth', { authorization: `Basic ${Buffer.from(`x:${writeKey}`).toString('base64')}` }],
        ['bearer without token', { authorization: 'Bearer ' }],
      ] as [string, Record<string, string>][]) {
        const reply = await call(bridge.url, route.method, route.path, { body, headers });
        expect({ route: route.key, label, status: reply.status }).toEqual({ route: route.key, label, status: 401 });
        expect(reply.body?.error?.code).toEqual(expect.any(String));
      }
    }
    expect(await snapshot()).toBe(before);
  });

  it('403 for a read-only key on every write route (tenant and admin), 200 on its tenant reads; nothing written', async () => {
    const before = await snapshot();
    const all = routes();
    const writes = all.filter((r) => r.write);
    expect(writes.length).toBeGreaterThanOrEqual(8);
    for (const route of writes) {
      const reply = await call(bridge.url, route.method, route.path, { token: readKey, body: BODIES[route.key] });
      expect({ route: route.key, status: reply.status }).toEqual({ route: route.key, status: 403 });
      expect(reply.body.error.code).toBe('FORBIDDEN');
    }
    expect(await snapshot()).toBe(before);
    for (const route of all.filter(
      (r) => !r.write && !r.adminOnly && r.key.startsWith('get /v1/tenants/{tenant}') && !r.key.endsWith('/status') && !r.key.includes('registration'),
    )) {
      const reply = await call(bridge.url, 'GET', route.path, { token: readKey });
      expect({ route: route.key, status: reply.status }).toEqual({ route: route.key, status: 200 });
    }
  });

  it('403 for a read-write tenant key on every admin route; nothing written', async () => {
    const before = await snapshot();
    const adminRoutes = routes().filter((r) => r.adminOnly);
    expect(adminRoutes.length).toBeGreaterThanOrEqual(3);
    for (const route of adminRoutes) {
      const reply = await call(bridge.url, route.method, route.path, { token: writeKey, body: BODIES[route.key] });
      expect({ route: route.key, status: reply.status }).toEqual({ route: route.key, status: 403 });
    }
    expect(await snapshot()).toBe(before);
  });

  it('the same write requests succeed with the read-write key (the refusals above were the key, not the request)', async () => {
    const extension = await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/extensions`, { token: writeKey, body: BODIES['post /v1/tenants/{tenant}/extensions'] });
    expect([201, 202]).toContain(extension.status);
    const gateway = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/gateways/${gatewayUuid}`, {
      token: writeKey,
      body: BODIES['put /v1/tenants/{tenant}/gateways/{gateway}'],
    });
    expect([200, 202]).toContain(gateway.status);
  });
});

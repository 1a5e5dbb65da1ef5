import { randomUUID } from 'node:crypto';
import { ServicesRepository } from '@ictvoip/store';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { V1_ROUTES } from '../src/routes/v1';
import { call, type Reply } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

/**
 * A client generated from /openapi.json knows only the statuses the document lists for an operation.
 * Every /v1 route is driven (from the route list itself) with bad input, an unknown tenant or
 * resource, a tenant the bridge has but FusionPBX does not (not created yet, or purged), and, for a
 * route with a body, a body that is not JSON or is too large: each real status must be one the
 * document lists for that operation, with the error schema.
 */
const PROVISIONED = 7703;
const UNPROVISIONED = 7704;
const UNKNOWN = 999_999;

let bridge: Bridge;
let document: { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };

/** A body each write route accepts, so what decides the answer is the probe, not the body. */
const BODIES: Record<string, unknown> = {
  'post /v1/tenants/{tenant}/extensions': { extension: '555' },
  'put /v1/tenants/{tenant}/extensions/{extension}': { description: 'x' },
  'post /v1/tenants/{tenant}/gateways': { name: 'probe', proxy: 'sip.example.net', register: false },
  'put /v1/tenants/{tenant}/gateways/{gateway}': { description: 'x' },
  'post /v1/tenants/{tenant}/destinations': { number: '5550001111' },
  'put /v1/tenants/{tenant}/destinations/{number}': { description: 'x' },
  'post /v1/admin/api-keys': { name: 'probe', scope: 'admin' },
  'put /v1/tenants/{tenant}/registrations/watch': { scope: 'off' },
};

function concrete(path: string, values: { tenant?: string; id?: string } = {}): string {
  return path
    .replace('{tenant}', values.tenant ?? String(PROVISIONED))
    .replace('{extension}', '100')
    .replace('{gateway}', randomUUID())
    .replace('{number}', '5550001234')
    .replace('{id}', values.id ?? (path.startsWith('/v1/admin/api-keys') ? '999999' : 'j-unknown-1'));
}

/** The probes of a route: [what, path, options]; most are refused, each status must be documented. */
function probes(method: string, path: string): [string, string, { body?: unknown; headers?: Record<string, string> }][] {
  const body = BODIES[`${method} ${path}`];
  const list: [string, string, { body?: unknown; headers?: Record<string, string> }][] = [];
  if (path.includes('{tenant}')) {
    list.push(['a tenant name over 253 characters', concrete(path, { tenant: 'x'.repeat(254) }), { body }]);
    list.push(['an unknown tenant', concrete(path, { tenant: String(UNKNOWN) }), { body }]);
    list.push(['a tenant FusionPBX does not have', concrete(path, { tenant: String(UNPROVISIONED) }), { body }]);
  } else if (path.includes('{id}')) {
    list.push(['a malformed id', concrete(path, { id: 'bad:id' }), { body }]);
    list.push(['an unknown id', concrete(path), { body }]);
  } else if (method === 'get') {
    list.push(['a query parameter it does not take', `${path}?limit=abc&unknown=1`, {}]);
  }
  if (body !== undefined) {
    list.push(['a body that is not JSON', concrete(path), { body: 'x=1', headers: { 'content-type': 'text/plain' } }]);
    list.push(['a body over the limit', concrete(path), { body: { description: 'x'.repeat(70_000) } }]);
    list.push(['a body failing validation', concrete(path), { body: { unknownField: true } }]);
  }
  return list;
}

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '200' });
  await bridge.startApi();
  await seedTenant(bridge.api!.deps.pool, bridge.fusion, PROVISIONED, 't7703.pbx.example.net');
  await new ServicesRepository(bridge.api!.deps.pool).setDesired({ serviceId: UNPROVISIONED, clientId: 7, desiredState: 'active', plan: {}, eventId: randomUUID() });
  document = (await call(bridge.url, 'GET', '/openapi.json')).body;
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe.each(V1_ROUTES.map(({ spec }) => [`${spec.method.toUpperCase()} ${spec.path}`, spec.method, spec.path] as const))('%s', (_name, method, path) => {
  const cases = probes(method, path);
  it.each(cases)('%s: the status it answers is one /openapi.json lists, with the error schema', async (_what, url, options) => {
    const reply: Reply = await call(bridge.url, method.toUpperCase(), url, { token: bridge.config.adminToken, ...options });
    // A route that needs no FusionPBX domain (history, watch) answers such a tenant 200: documented too.
    const documented = document.paths[path]![method]!.responses;
    expect({ status: reply.status, code: reply.body?.error?.code, documented: Object.keys(documented) }).toEqual({
      status: reply.status,
      code: reply.body?.error?.code,
      documented: expect.arrayContaining([String(reply.status)]),
    });
    if (reply.status >= 400) expect(documented[String(reply.status)]!.content).toEqual({ 'application/json': { schema: { $ref: '#/components/schemas/Error' } } });
  });
});

import { randomUUID } from 'node:crypto';
import { ServicesRepository } from '@ictvoip/store';
import { call } from './v1-helpers';
import { startTestApi, type TestApi } from './harness';

/**
 * A method a /v1 path does not take (a PATCH for a partial update, a POST to one tenant) is 405 with
 * `Allow`, not 404 "no route": a 404 tells the client the resource is not there, and it is.
 */
const SERVICE = 7705;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  await new ServicesRepository(api.api.deps.pool).setDesired({ serviceId: SERVICE, clientId: 7, desiredState: 'active', plan: {}, eventId: randomUUID() });
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('a method the path does not take', () => {
  it.each([
    ['PATCH', `/v1/tenants/${SERVICE}/extensions/100`, 'GET, HEAD, PUT, DELETE'],
    ['POST', `/v1/tenants/${SERVICE}`, 'GET, HEAD'],
    ['PUT', `/v1/tenants/${SERVICE}/extensions`, 'GET, HEAD, POST'],
    ['DELETE', '/v1/tenants', 'GET, HEAD'],
    ['POST', `/v1/tenants/${SERVICE}/cdrs`, 'GET, HEAD'],
  ])('%s %s: 405 with Allow: %s', async (method, path, allow) => {
    const reply = await call(api.url, method, path, { token: api.config.adminToken, body: { description: 'x' } });
    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe(allow);
    expect(reply.body).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed here; this path takes ${allow}` } });
  });

  it('OPTIONS: 204 with Allow', async () => {
    const reply = await call(api.url, 'OPTIONS', `/v1/tenants/${SERVICE}/extensions/100`, { token: api.config.adminToken });
    expect(reply.status).toBe(204);
    expect(reply.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  it('is still 401 without a key, and an unknown path is still 404', async () => {
    expect((await call(api.url, 'PATCH', `/v1/tenants/${SERVICE}/extensions/100`, { body: {} })).status).toBe(401);
    expect((await call(api.url, 'GET', `/v1/tenants/${SERVICE}/nothing-here`, { token: api.config.adminToken })).status).toBe(404);
  });

  it('the methods it takes still answer', async () => {
    expect((await call(api.url, 'GET', `/v1/tenants/${SERVICE}/registrations/history`, { token: api.config.adminToken })).status).toBe(200);
    expect((await call(api.url, 'HEAD', '/v1/tenants', { token: api.config.adminToken })).status).toBe(200);
  });
});

import { randomUUID } from 'node:crypto';
import { ServicesRepository } from '@ictvoip/store';
import { call } from './v1-helpers';
import { startTestApi, type TestApi } from './harness';

/**
 * A query parameter given twice (`?limit=5&limit=6`, a client appending to a URL that had it) reaches
 * the route as an array. The 400 must say that, naming the field, not "'limit' must be a number"
 * (it was one, twice) or "must be a valid date" for two valid dates.
 */
const SERVICE = 7707;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  await new ServicesRepository(api.api.deps.pool).setDesired({ serviceId: SERVICE, clientId: 7, desiredState: 'active', plan: {}, eventId: randomUUID() });
}, 60_000);

afterAll(async () => {
  await api?.close();
});

it.each([
  ['/v1/tenants?limit=5&limit=6', 'query.limit'],
  [`/v1/tenants/${SERVICE}/registrations/history?from=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z`, 'query.from'],
  [`/v1/tenants/${SERVICE}/registrations/history?type=lost&type=lost`, 'query.type'],
])('%s: 400 naming %s as given more than once', async (path, field) => {
  const reply = await call(api.url, 'GET', path, { token: api.config.adminToken });
  expect(reply.status).toBe(400);
  expect(reply.body.error.details).toEqual([{ path: field, message: 'must be given once' }]);
});

it('a parameter given once still validates as before, and an unknown one twice is still not allowed', async () => {
  const reply = await call(api.url, 'GET', '/v1/tenants?limit=abc', { token: api.config.adminToken });
  expect(reply.body.error.details).toEqual([{ path: 'query.limit', message: "'limit' must be a number" }]);
  const unknown = await call(api.url, 'GET', '/v1/tenants?foo=1&foo=2', { token: api.config.adminToken });
  expect(unknown.body.error.details).toEqual([{ path: 'query.foo', message: "'foo' is not allowed" }]);
});

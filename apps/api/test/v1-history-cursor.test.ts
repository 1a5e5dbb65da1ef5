import { randomUUID } from 'node:crypto';
import { ServicesRepository } from '@ictvoip/store';
import { call } from './v1-helpers';
import { startTestApi, type TestApi } from './harness';

/**
 * A cursor the history routes did not issue is bad input like any other: 400 VALIDATION_FAILED with
 * `details` naming `query.cursor`, the envelope /v1's other routes (the CDR listing) use, so one
 * client-side handler reads every 400.
 */
const SERVICE = 7702;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  const services = new ServicesRepository(api.api.deps.pool);
  await services.setDesired({ serviceId: SERVICE, clientId: 7, desiredState: 'active', plan: {}, eventId: randomUUID() });
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('a foreign cursor on the history routes', () => {
  it.each([
    ['registration history', `/v1/tenants/${SERVICE}/registrations/history`],
    ['gateway history', `/v1/tenants/${SERVICE}/gateways/${randomUUID()}/history`],
  ])('%s: 400 naming query.cursor', async (_what, path) => {
    // base64url of "nope": well-formed for the pattern, not a cursor this API returned.
    const reply = await call(api.url, 'GET', `${path}?cursor=bm9wZQ`, { token: api.config.adminToken });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error: { code: 'VALIDATION_FAILED', message: 'request is invalid (1 problem)', details: [{ path: 'query.cursor', message: 'is not a cursor returned by this API' }] },
    });
  });
});

import { call } from './v1-helpers';
import { startTestApi, type TestApi } from './harness';

/**
 * A body over a route's limit is answered 413 with that route's limit: /v1 takes 64 KiB, the webhook
 * 256 KiB. The message is what a developer reads to size a request, so it must name the right one.
 */
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('413 names the limit of the route it refused', () => {
  it('/v1: 64 KiB (a 70 KB body is refused as over 64 KiB, not 256 KiB)', async () => {
    const reply = await call(api.url, 'POST', '/v1/admin/api-keys', { token: api.config.adminToken, body: { name: 'x'.repeat(70_000), scope: 'admin' } });
    expect(reply.status).toBe(413);
    expect(reply.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body exceeds 64 KiB' } });
  });

  it('the webhook: 256 KiB', async () => {
    const reply = await call(api.url, 'POST', '/webhooks/whmcs', { body: { padding: 'x'.repeat(300_000) } });
    expect(reply.status).toBe(413);
    expect(reply.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body exceeds 256 KiB' } });
  });
});

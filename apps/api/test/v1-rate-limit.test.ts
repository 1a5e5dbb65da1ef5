import { startApi, type RunningApi } from '@ictvoip/api';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { call, createKey } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

const SERVICE = 5401;
let bridge: Bridge;
let second: RunningApi;
let key: string;

beforeAll(async () => {
  bridge = await startBridge({ API_RATE_LIMIT_STANDARD: '5', API_RATE_LIMIT_CDR_EXPORT: '2', API_RATE_LIMIT_GATEWAYS: '3', API_RATE_LIMIT_WINDOW_SECONDS: '30' });
  await bridge.startApi();
  second = await startApi(bridge.config, bridge.logger, { port: 0, migrate: false });
  await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, 'rate.pbx.example.net');
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'rate', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
}, 60000);

afterAll(async () => {
  await second.close();
  await bridge.close();
});

describe('per-key rate limits shared by two API processes', () => {
  it('counts requests to both APIs in one window, with headers, then 429 + Retry-After', async () => {
    const urls = [bridge.url, second.url];
    const remaining: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const reply = await call(urls[i % 2], 'GET', `/v1/tenants/${SERVICE}`, { token: key });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('x-ratelimit-limit')).toBe('5');
      remaining.push(Number(reply.headers.get('x-ratelimit-remaining')));
      const reset = Number(reply.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 30);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    for (const url of urls) {
      const limited = await call(url, 'GET', `/v1/tenants/${SERVICE}/extensions`, { token: key });
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('RATE_LIMITED');
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(30);
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    }
  });

  it('keeps separate budgets for CDR export and gateway operations, and none for the operator token', async () => {
    for (let i = 0; i < 2; i += 1) expect((await call(second.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?format=csv`, { token: key })).status).toBe(200);
    const export3 = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?format=ndjson`, { token: key });
    expect(export3.status).toBe(429);
    expect(export3.headers.get('x-ratelimit-limit')).toBe('2');
    const gateways = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/gateways`, { token: key });
    expect(gateways.status).toBe(200);
    expect(gateways.headers.get('x-ratelimit-limit')).toBe('3');
    for (let i = 0; i < 10; i += 1) expect((await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}`, { token: bridge.config.adminToken })).status).toBe(200);
    // README: the operator's token is not limited, so its answers carry no X-RateLimit headers.
    expect((await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}`, { token: bridge.config.adminToken })).headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('gives another key its own budget', async () => {
    const other = await createKey(bridge.url, bridge.config.adminToken, { name: 'rate 2', scope: 'tenant', serviceId: SERVICE, access: 'read' });
    const reply = await call(second.url, 'GET', `/v1/tenants/${SERVICE}`, { token: other });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-ratelimit-remaining')).toBe('4');
  });
});

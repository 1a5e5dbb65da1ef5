import { startBridge, type Bridge } from '../../worker/test/harness';
import { call, createKey, createTenant } from './v1-helpers';

/**
 * The X-Request-Id of a /v1 write is its idempotency key (README, "The same request repeated"). An id
 * the bridge cannot keep (outside `[A-Za-z0-9._-]{1,100}`) must be refused naming the header, not
 * silently swapped for a random one: the client would believe its retry safe while every repeat is a
 * write of its own (a repeated POST answered 409 ALREADY_EXISTS, the SIP password of the first lost).
 */
const SERVICE = 7701;

let bridge: Bridge;
let key: string;

const writes = async () => Number((await bridge.api!.deps.pool.query('SELECT count(*)::int AS n FROM tenant_writes WHERE service_id = $1', [SERVICE])).rows[0].n);

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '10000' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await createTenant(bridge, SERVICE, { maxExtensions: 6, initialExtensions: 2 });
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'request-id', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

const post = (body: Record<string, unknown>, requestId: string) =>
  call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/extensions`, { token: key, body, headers: { 'x-request-id': requestId } });

describe('X-Request-Id on /v1 writes', () => {
  it('a usable id makes the repeat the same write: the first answer again, password included', async () => {
    const first = await post({ extension: '150' }, 'add-150.v1_retry');
    expect(first.status).toBe(201);
    expect(first.headers.get('x-request-id')).toBe('add-150.v1_retry');
    const again = await post({ extension: '150' }, 'add-150.v1_retry');
    expect(again.status).toBe(201);
    expect(again.body.password).toBe(first.body.password);
  });

  it.each([
    ['a colon', 'order:151'],
    ['a space', 'add 151'],
    ['a slash and base64 padding', 'YWRkLTE1MQ/+=='],
    ['over 100 characters', `add-151-${'x'.repeat(100)}`],
  ])('an id with %s is refused 400 naming the header, and nothing is written', async (_what, requestId) => {
    const before = await writes();
    const reply = await post({ extension: '151' }, requestId);
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION_FAILED');
    expect(reply.body.error.details).toEqual([{ path: 'headers.x-request-id', message: expect.stringMatching(/1 to 100 .*letters, digits/) }]);
    expect(await writes()).toBe(before);
    const listed = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/extensions/151`, { token: key });
    expect(listed.status).toBe(404);
  });

  it('a read is not refused for an id it does not keep (a GET has nothing to repeat)', async () => {
    const reply = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/extensions`, { token: key, headers: { 'x-request-id': 'trace:abc def' } });
    expect(reply.status).toBe(200);
  });

  it('/openapi.json names the header, with its pattern, on each extension, gateway and destination write', async () => {
    const document = (await call(bridge.url, 'GET', '/openapi.json')).body;
    const keyed: string[] = [];
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, { parameters?: { name: string; in: string; schema: { pattern?: string } }[] }>>)) {
      for (const [method, operation] of Object.entries(item)) {
        const header = operation.parameters?.find((parameter) => parameter.in === 'header' && parameter.name === 'X-Request-Id');
        if (!header) continue;
        expect(header.schema.pattern).toBe('^[A-Za-z0-9._-]{1,100}$');
        keyed.push(`${method} ${path}`);
      }
    }
    expect(keyed.sort()).toEqual(
      ['extensions', 'gateways', 'destinations']
        .flatMap((resource) => {
          const item = { extensions: 'extension', gateways: 'gateway', destinations: 'number' }[resource];
          return [`post /v1/tenants/{tenant}/${resource}`, `put /v1/tenants/{tenant}/${resource}/{${item}}`, `delete /v1/tenants/{tenant}/${resource}/{${item}}`];
        })
        .sort(),
    );
  });
});

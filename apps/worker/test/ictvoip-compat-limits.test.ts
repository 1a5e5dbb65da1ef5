import { writeFileSync } from 'node:fs';
import { createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, type Bridge } from './harness';
import { addFusionUser, bcryptOf, expectError, postForm, postMultipart, type FormReply } from './compat-helpers';

// ictVoIP's endpoints (COMPAT_ICTVOIP=1) at their limits: the documented rate limits
// (api_endpoints.rst "Rate Limiting": 100/min standard, 10 CDR export, 50 gateways) answered 429 in
// the envelope with X-RateLimit-* and Retry-After; multipart/form-data bodies (curl -F) read like
// urlencoded ones; and a per-address lockout after wrong superadmin passwords, counted in Redis.

const SERVICE = 5801;
const OPS = { username: 'ops', password: 'Ops-pass-4417' };
const MAX_FAILURES = 3;
const LOCKOUT_SECONDS = 60;
// Whitelisted peers (TRUST_PROXY=loopback: the bridge takes the address from X-Forwarded-For).
const peer = (last: number) => ({ 'x-forwarded-for': `198.51.100.${last}` });

let bridge: Bridge;
let domain: string;

const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) => postForm(bridge.url, path, fields, headers);

beforeAll(async () => {
  bridge = await startBridge({
    COMPAT_ICTVOIP: '1',
    TRUST_PROXY: 'loopback',
    COMPAT_LOGIN_MAX_FAILURES: String(MAX_FAILURES),
    COMPAT_LOGIN_LOCKOUT_SECONDS: String(LOCKOUT_SECONDS),
  });
  writeFileSync(bridge.env.CHKCON_WHITELIST_FILE!, '# chkcon_whitelist.conf\n127.0.0.1\n::1\n198.51.100.0/24\n');
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  // Room for one more extension than the create made.
  await bridge.worker!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 5}'::jsonb WHERE service_id = $1`, [SERVICE]);
  await addFusionUser(bridge, OPS.username, { password: bcryptOf(OPS.password), salt: null }, ['superadmin']);
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe('the documented rate limits, per endpoint', () => {
  // Requests for a tenant the key does not see: answered 404 by the handler, after they are counted.
  const endpoints: [path: string, limit: number][] = [
    ['/app/registrations/check_registration.php', 100],
    ['/app/extensions/manage.php', 100],
    ['/app/gateways/provision.php', 50],
    ['/app/gateways/provision_list.php', 50],
    ['/app/xml_cdr/export_cdr.php', 10],
  ];

  it.each(endpoints)('%s: %i requests a minute, then 429 in the envelope with X-RateLimit-* and Retry-After', async (path, limit) => {
    const key = await createKey(bridge.url, bridge.config.adminToken, { name: `limit-${limit}-${path}`, scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
    const bearer = { authorization: `Bearer ${key}` };
    const replies: FormReply[] = [];
    // Ten at a time: the count is Redis', whatever the order of arrival.
    for (let sent = 0; sent < limit; sent += 10) {
      replies.push(...(await Promise.all(Array.from({ length: Math.min(10, limit - sent) }, () => post(path, { tenant_domain: 'unknown.example.net' }, bearer)))));
    }
    expect(replies.filter((reply) => reply.status === 429)).toHaveLength(0);
    expect(replies.map((reply) => reply.headers.get('x-ratelimit-limit'))).toEqual(replies.map(() => String(limit)));
    expect(replies.map((reply) => Number(reply.headers.get('x-ratelimit-remaining'))).sort((a, b) => a - b)).toEqual(Array.from({ length: limit }, (_, index) => index));

    const over = await post(path, { tenant_domain: 'unknown.example.net' }, bearer);
    expectError(over, 429, new RegExp(`^Rate Limited: rate limit of ${limit} requests per 60 s exceeded`));
    expect(over.headers.get('x-ratelimit-limit')).toBe(String(limit));
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
    const reset = Number(over.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 60);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });
});

describe('multipart/form-data (curl -F)', () => {
  const form = (fields: Record<string, string>) => {
    const data = new FormData();
    for (const [name, value] of Object.entries(fields)) data.append(name, value);
    return data;
  };
  const fields = () => ({ ...OPS, date_start: '2024-01-01', date_end: '2024-01-31', format: 'JSON', tenant_domain: domain });

  it('answers a multipart export exactly as the urlencoded one', async () => {
    const multipart = await postMultipart(bridge.url, '/app/xml_cdr/export_cdr.php', form(fields()));
    const urlencoded = await post('/app/xml_cdr/export_cdr.php', fields());
    expect(multipart.status).toBe(200);
    expect(multipart.body).toMatchObject({ status: 'success', total_records: 0, export_format: 'JSON' });
    expect({ ...multipart.body, timestamp: '' }).toEqual({ ...urlencoded.body, timestamp: '' });
  });

  it('writes through the same job as the urlencoded form (an extension made from a multipart body)', async () => {
    const reply = await postMultipart(bridge.url, '/app/extensions/manage.php', form({ ...OPS, action: 'create', extension: '150', domain }));
    expect(reply.body).toMatchObject({ status: 'success' });
    expect(reply.status).toBe(200);
    const { rows } = await bridge.fusion.query('SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension = $2', [
      domain,
      '150',
    ]);
    expect(rows).toHaveLength(1);
  });

  it('refuses a file upload, a repeated field, a body over 64 KiB and a broken body by name, in the envelope', async () => {
    const upload = form({ ...OPS, date_end: '2024-01-31' });
    upload.append('date_start', new Blob(['2024-01-01']), 'dates.txt');
    expectError(await postMultipart(bridge.url, '/app/xml_cdr/export_cdr.php', upload), 400, 'Invalid Request: date_start must be given once, as text');
    const repeated = form({ ...OPS, date_start: '2024-01-01', date_end: '2024-01-31' });
    repeated.append('date_start', '2024-02-01');
    expectError(await postMultipart(bridge.url, '/app/xml_cdr/export_cdr.php', repeated), 400, 'Invalid Request: date_start must be given once, as text');
    expectError(await postMultipart(bridge.url, '/app/xml_cdr/export_cdr.php', form({ ...OPS, pad: 'x'.repeat(70_000) })), 413, 'Invalid Request: request body exceeds 64 KiB');
    const broken = await fetch(`${bridge.url}/app/xml_cdr/export_cdr.php`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nops',
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ status: 'error', message: 'Invalid Request: request body could not be read' });
  });

  it('checks credentials sent as multipart to the status page', async () => {
    expectError(
      await postMultipart(bridge.url, '/app/status/index.php', form({ username: OPS.username, password: 'nope' }), peer(50)),
      401,
      'Authentication Failed: Invalid credentials',
    );
  });
});

describe('lockout after wrong superadmin passwords, per address', () => {
  // Past the password check, a request without its fields is answered 400 by the endpoint.
  const path = '/app/registrations/check_registration.php';
  const attempt = (password: string, from: number) => post(path, { username: OPS.username, password }, peer(from));
  const failuresKey = (from: number) => `${bridge.config.redis.queuePrefix}:ratelimit:login-198.51.100.${from}:loginFailures`;
  const LOCKED = /^Rate Limited: too many failed logins from this address; retry in \d+ s$/;

  it(`locks an address out at wrong password number ${MAX_FAILURES}, before any password check, for the window; other addresses are not affected`, async () => {
    for (let failure = 1; failure < MAX_FAILURES; failure += 1) expectError(await attempt(`wrong-${failure}`, 10), 401, 'Authentication Failed: Invalid credentials');
    const locking = await attempt('wrong-last', 10);
    expectError(locking, 429, LOCKED);
    const retryAfter = Number(locking.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    // The right password too: the address is refused before the check.
    expectError(await attempt(OPS.password, 10), 429, LOCKED);
    // Basic credentials from that address as well.
    const basic = { authorization: `Basic ${Buffer.from(`${OPS.username}:${OPS.password}`).toString('base64')}`, ...peer(10) };
    expectError(await post(path, {}, basic), 429, LOCKED);
    // Another address with the right password gets through.
    expectError(await attempt(OPS.password, 11), 400, 'Missing Parameters: extension is required');

    // Counted in Redis, shared by every API process, expiring with the window.
    const redis = bridge.api!.deps.redis;
    expect(await redis.get(failuresKey(10))).toBe(String(MAX_FAILURES));
    const ttl = await redis.pttl(failuresKey(10));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(LOCKOUT_SECONDS * 1000);

    // Logged with the address and the username, never a password.
    const logs = bridge.logLines.join('\n');
    expect(logs).toContain(`address locked out after ${MAX_FAILURES} failed logins`);
    expect(logs).toContain('198.51.100.10');
    for (const password of ['wrong-1', 'wrong-last', OPS.password]) expect(logs).not.toContain(password);
  });

  it(`a burst of concurrent wrong passwords gets ${MAX_FAILURES} password checks, not one per request: checks in flight are counted`, async () => {
    const BURST = 8 * MAX_FAILURES;
    const replies = await Promise.all(Array.from({ length: BURST }, (_, index) => attempt(`burst-${index}`, 40)));
    // Each check that ran logged its failure; the rest were refused before any hash was computed.
    const checked = bridge.logLines.filter((line) => line.includes('invalid FusionPBX credentials') && line.includes('198.51.100.40'));
    expect(checked).toHaveLength(MAX_FAILURES);
    expect(replies.filter((reply) => reply.status === 401)).toHaveLength(MAX_FAILURES - 1);
    for (const reply of replies.filter((one) => one.status !== 401)) expectError(reply, 429, LOCKED);
    expectError(await attempt(OPS.password, 40), 429, LOCKED);
  });

  it('lets the address in again once the window has ended', async () => {
    const redis = bridge.api!.deps.redis;
    for (let failure = 0; failure < MAX_FAILURES; failure += 1) await attempt('wrong', 20);
    expectError(await attempt(OPS.password, 20), 429, LOCKED);
    // The window ends (Redis' own expiry, shortened here rather than waited for).
    await redis.pexpire(failuresKey(20), 1);
    while ((await redis.exists(failuresKey(20))) === 1) await new Promise((resolve) => setImmediate(resolve));
    expectError(await attempt(OPS.password, 20), 400, 'Missing Parameters: extension is required');
  });

  it('a good login starts the count again; a missing password and API keys are not counted', async () => {
    for (let failure = 1; failure < MAX_FAILURES; failure += 1) await attempt('wrong', 30);
    expectError(await attempt(OPS.password, 30), 400, 'Missing Parameters: extension is required');
    expect(await bridge.api!.deps.redis.exists(failuresKey(30))).toBe(0);
    for (let failure = 1; failure < MAX_FAILURES; failure += 1) expectError(await attempt('wrong', 30), 401, 'Authentication Failed: Invalid credentials');
    for (let index = 0; index < MAX_FAILURES; index += 1) expectError(await post(path, { username: OPS.username }, peer(30)), 400, 'Missing Parameters: password is required');
    expectError(await post(path, {}, { authorization: 'Bearer ivk_not_a_key', ...peer(30) }), 401, /^Authentication Failed: /);
    expect(await bridge.api!.deps.redis.get(failuresKey(30))).toBe(String(MAX_FAILURES - 1));
    expectError(await attempt(OPS.password, 30), 400, 'Missing Parameters: extension is required');
  });
});

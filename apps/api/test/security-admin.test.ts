import { startTestApi, type TestApi } from './harness';

const ADMIN_TOKEN = 'security-admin-token-5e7c1a9b3d';
let t: TestApi;

beforeAll(async () => {
  t = await startTestApi({ ADMIN_TOKEN });
});
afterAll(async () => {
  await t.close();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// Every admin surface mounted today: the Bull Board UI, its JSON API and its mutating actions.
const ROUTES: [string, string][] = [
  ['GET', '/admin/queues'],
  ['GET', '/admin/queues/'],
  ['GET', '/admin/queues/api/queues'],
  ['GET', '/admin/queues/api/queues?activeQueue=provisioning&status=failed'],
  ['PUT', '/admin/queues/api/queues/provisioning/retry/failed'],
  ['PUT', '/admin/queues/api/queues/provisioning/clean/completed'],
  ['PUT', '/admin/queues/api/queues/provisioning/pause'],
  ['PUT', '/admin/queues/api/queues/provisioning/empty'],
  ['DELETE', '/admin/queues/api/queues/provisioning/svc-1-create-x'],
];

const REFUSED_CREDENTIALS: [string, Record<string, string>][] = [
  ['no credentials', {}],
  ['a wrong bearer token', { authorization: 'Bearer not-the-admin-token-000000' }],
  ['a bearer token with a trailing extra character', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
  ['the token as the basic-auth user name instead of the password', { authorization: basic(ADMIN_TOKEN, '') }],
  ['a wrong basic-auth password', { authorization: basic('admin', 'wrong-password-0000000000') }],
  ['an empty bearer', { authorization: 'Bearer ' }],
  ['an unknown scheme carrying the token', { authorization: `Token ${ADMIN_TOKEN}` }],
  ['the token in an X-Admin-Token header', { 'x-admin-token': ADMIN_TOKEN }],
  ['the token in a cookie', { cookie: `token=${ADMIN_TOKEN}` }],
];

describe('admin routes without the admin token', () => {
  const matrix = ROUTES.flatMap(([method, path]) => REFUSED_CREDENTIALS.map(([why, headers]) => [method, path, why, headers] as const));
  it.each(matrix)('%s %s with %s → 401 + WWW-Authenticate, nothing done', async (method, path, _why, headers) => {
    const reply = await fetch(`${t.url}${path}`, { method, headers });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+"/);
    const body = await reply.json();
    expect(body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(JSON.stringify(body)).not.toContain(ADMIN_TOKEN);
  });

  it('the token in the query string is not accepted', async () => {
    const reply = await fetch(`${t.url}/admin/queues/api/queues?token=${ADMIN_TOKEN}&access_token=${ADMIN_TOKEN}`);
    await reply.body?.cancel();
    expect(reply.status).toBe(401);
  });

  it('a refused pause left the queue running', async () => {
    await (await fetch(`${t.url}/admin/queues/api/queues/provisioning/pause`, { method: 'PUT' })).body?.cancel();
    expect(await t.api.deps.queues.provisioning.isPaused()).toBe(false);
  });

  it('path tricks do not get around the check', async () => {
    for (const path of [
      '/admin/queues/../queues/api/queues',
      '/ADMIN/queues/api/queues',
      '/admin//queues/api/queues',
      '/admin/queues%2fapi%2fqueues',
      '/admin/queues/%2e%2e/queues/api/queues',
    ]) {
      const reply = await fetch(`${t.url}${path}`);
      await reply.body?.cancel();
      expect([401, 404]).toContain(reply.status);
      expect(reply.status === 200).toBe(false);
    }
  });
});

describe('admin routes with the admin token (control: the refusals above are about the token)', () => {
  it.each([
    ['bearer', { authorization: `Bearer ${ADMIN_TOKEN}` }],
    ['basic auth, any user, token as password', { authorization: basic('ops', ADMIN_TOKEN) }],
  ])('%s → 200', async (_name, headers) => {
    const ui = await fetch(`${t.url}/admin/queues`, { headers });
    await ui.body?.cancel();
    expect(ui.status).toBe(200);
    const api = await fetch(`${t.url}/admin/queues/api/queues`, { headers });
    expect(api.status).toBe(200);
    const queues = (await api.json()) as { queues: { name: string }[] };
    expect(queues.queues.map((q) => q.name)).toEqual(expect.arrayContaining(['provisioning', 'maintenance']));
  });
});

describe('a change to the admin routes asked by a page of another site (the browser re-sending cached basic auth)', () => {
  const crossSite = { authorization: basic('ops', ADMIN_TOKEN), 'sec-fetch-site': 'cross-site' };

  it('is refused 403 and does nothing (the queue is not paused)', async () => {
    const pause = await fetch(`${t.url}/admin/queues/api/queues/provisioning/pause`, { method: 'PUT', headers: crossSite });
    expect(pause.status).toBe(403);
    expect(await pause.json()).toMatchObject({ error: { code: 'CROSS_SITE_REQUEST' } });
    expect(await t.api.deps.queues.provisioning.isPaused()).toBe(false);
    const drift = await fetch(`${t.url}/admin/drift?fix=1`, { method: 'POST', headers: crossSite });
    await drift.body?.cancel();
    expect(drift.status).toBe(403);
  });

  it('a read from another site, the same change from Bull Board itself (same-origin) or with a bearer token are not refused', async () => {
    expect((await fetch(`${t.url}/admin/queues/api/queues`, { headers: crossSite }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(200);
    const sameOrigin = await fetch(`${t.url}/admin/queues/api/queues/provisioning/pause`, {
      method: 'PUT',
      headers: { authorization: basic('ops', ADMIN_TOKEN), 'sec-fetch-site': 'same-origin' },
    });
    await sameOrigin.body?.cancel();
    expect(sameOrigin.status).toBe(200);
    expect(await t.api.deps.queues.provisioning.isPaused()).toBe(true);
    const resume = await fetch(`${t.url}/admin/queues/api/queues/provisioning/resume`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'sec-fetch-site': 'cross-site' },
    });
    await resume.body?.cancel();
    expect(resume.status).toBe(200);
    expect(await t.api.deps.queues.provisioning.isPaused()).toBe(false);
  });
});

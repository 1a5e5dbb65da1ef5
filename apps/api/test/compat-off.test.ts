import { loadConfig } from '@ictvoip/config';
import { startTestApi, type TestApi } from './harness';
import { COMPAT_ROUTES } from '../src/routes/compat';

// ictVoIP's endpoints exist only with COMPAT_ICTVOIP=1; off (the default) their paths are unknown.
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  await api.close();
});

describe('COMPAT_ICTVOIP', () => {
  it('is off by default: every ictVoIP path is a plain 404 and no credentials are read', async () => {
    expect(api.config.compatIctvoip).toBe(false);
    for (const route of COMPAT_ROUTES) {
      const reply = await fetch(`${api.url}${route.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'username=admin&password=your-password',
      });
      expect(reply.status).toBe(404);
      expect(((await reply.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
      // The GET of servers.rst's `curl -u` checks is unknown as well.
      const get = await fetch(`${api.url}${route.path}`, { headers: { authorization: `Basic ${Buffer.from('admin:your-password').toString('base64')}` } });
      await get.body?.cancel();
      expect(get.status).toBe(404);
    }
  });

  it('takes only 0 or 1, naming the variable otherwise', () => {
    expect(() => loadConfig({ ...process.env, NODE_ENV: 'test', COMPAT_ICTVOIP: 'yes' })).toThrow(/COMPAT_ICTVOIP/);
    expect(loadConfig({ NODE_ENV: 'test', COMPAT_ICTVOIP: '1' }).compatIctvoip).toBe(true);
  });
});

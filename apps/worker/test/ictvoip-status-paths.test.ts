import { startBridge, waitFor, type Bridge } from './harness';
import { addFusionUser, bcryptOf, expectError, postForm } from './compat-helpers';

/**
 * ictVoIP's status page is `/app/status/index.php`, which PHP also serves as `/app/status/` (the
 * "Server Status Address" its docs have WHMCS point at). The bridge answers the status on every one
 * of those paths, so it must check the credentials a script sends on every one of them alike: a wrong
 * password is 401 wherever it is sent, not 401 on index.php and a status page on the directory.
 */
const ADMIN = { username: 'admin', password: 'your-password' };
const PATHS = ['/app/status/index.php', '/app/status/', '/app/status'];

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1' });
  await bridge.startApi();
  // A request before the API's Redis connection is ready is a 503 (the login lockout counts in Redis): wait for it.
  await waitFor(async () => bridge.api!.deps.redis.status === 'ready', 15_000, 'the API to reach Redis');
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

const basic = (username: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` });

describe.each(PATHS)('%s', (path) => {
  it('refuses a wrong password, as a form field or as HTTP Basic, POST or GET', async () => {
    expectError(await postForm(bridge.url, path, { username: 'admin', password: 'nope' }), 401, 'Authentication Failed: Invalid credentials');
    expectError(await postForm(bridge.url, path, {}, basic('admin', 'nope')), 401, 'Authentication Failed: Invalid credentials');
    const get = await fetch(`${bridge.url}${path}`, { headers: basic('admin', 'nope') });
    await get.body?.cancel();
    expect(get.status).toBe(401);
  });

  it('refuses credentials in the URL without echoing them', async () => {
    const reply = await fetch(`${bridge.url}${path}?username=admin&password=your-password`);
    expect(reply.status).toBe(400);
    expect(await reply.text()).not.toContain('your-password');
  });

  it('answers the status to the right password, and to a whitelisted peer sending none', async () => {
    const signedIn = await postForm(bridge.url, path, ADMIN);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({ version: expect.any(String), total_extensions: expect.any(Number) });
    const open = await postForm(bridge.url, path, {});
    expect(open.status).toBe(200);
    expect(open.body).toHaveProperty('total_extensions');
  });
});

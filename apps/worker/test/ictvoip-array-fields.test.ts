import { createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, type Bridge } from './harness';
import { expectError, postForm } from './compat-helpers';

/**
 * PHP's form arrays: `http_build_query(['extension' => ['100']])` sends `extension[0]=100`, a script's
 * `extension[]=100` likewise; PHP reads either as an array in `$_POST['extension']`. The bridge
 * refuses a field given twice by name ("must be given once, as text"): an array given in PHP's
 * bracket form is the same mistake and must be named so, not reported as a field never sent.
 */
const SERVICE = 7706;
let bridge: Bridge;
let key: string;
let domain: string;

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'arrays', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe('a field sent as a PHP array', () => {
  it.each([['extension[]'], ['extension[0]'], ['extension[a][b]']])('%s=100 is refused as not plain text ("must be given once, as text"), not as missing', async (field) => {
    const reply = await postForm(bridge.url, '/app/registrations/check_registration.php', { [field]: '100', tenant_domain: domain }, { authorization: `Bearer ${key}` });
    expectError(reply, 400, 'Invalid Request: extension must be given once, as text');
  });

  it('a field that is really missing is still Missing Parameters', async () => {
    const reply = await postForm(bridge.url, '/app/registrations/check_registration.php', { tenant_domain: domain }, { authorization: `Bearer ${key}` });
    expectError(reply, 400, 'Missing Parameters: extension is required');
  });
});

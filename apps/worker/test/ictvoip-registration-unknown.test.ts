import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKey, createTenant } from '../../api/test/v1-helpers';
import { logRecords, startBridge, type Bridge } from './harness';
import { expectError, postForm } from './compat-helpers';

/**
 * check_registration.php answers from FreeSWITCH's `sofia xmlstatus profile … reg`. When no enabled SIP
 * profile answers with a registration list (mod_sofia not loaded, an `-ERR`, a reply cut short), the
 * bridge does not know whether the phone is registered: registration monitoring leaves such phones
 * unobserved rather than lost. The compatible endpoint must not answer `registered: "no"` then (a
 * script alerting on "no" would page for every phone): it is a `Server Error` with Retry-After.
 */
const SERVICE = 7708;
const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');

let bridge: Bridge;
let key: string;
let domain: string;

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  key = await createKey(bridge.url, bridge.config.adminToken, { name: 'reg', scope: 'tenant', serviceId: SERVICE, access: 'read' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

const check = () => postForm(bridge.url, '/app/registrations/check_registration.php', { extension: '100', tenant_domain: domain }, { authorization: `Bearer ${key}` });

describe('check_registration.php when FreeSWITCH lists no registrations', () => {
  it('no SIP profile answers: 503 Server Error naming the profiles, not registered "no"', async () => {
    bridge.esl.respond(/^sofia xmlstatus profile '[A-Za-z0-9_.-]+' reg$/, '-ERR sofia Command not found!\n');
    const reply = await check();
    expectError(reply, 503, /^Server Error: no SIP profile listed its registrations \(.*internal.*\); whether 100 is registered is unknown$/);
    expect(reply.headers.get('retry-after')).toBe('5');
    // The operator sees the 503 too: one warning with its code and request id, not the key.
    const requestId = reply.headers.get('x-request-id');
    const logged = logRecords(bridge, (record) => record.requestId === requestId && String(record.msg).startsWith('answered'));
    expect(logged).toEqual([expect.objectContaining({ level: 40, status: 503, code: 'REGISTRATIONS_UNKNOWN', method: 'POST', path: '/app/registrations/check_registration.php' })]);
    expect(JSON.stringify(logged)).not.toContain(key);
  });

  it('a profile answers: "no" is an answer again', async () => {
    bridge.esl.respond(/^sofia xmlstatus profile '[A-Za-z0-9_.-]+' reg$/, SAMPLE_REG);
    const reply = await check();
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'success', registered: 'no', register_ip: '' });
  });
});

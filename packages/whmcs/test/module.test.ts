/**
 * The real PHP server module (apps/whmcs-module/modules/servers/ictvoip) run by php-cli against a
 * loopback bridge that checks every delivery with verifySignature and parseWebhookEvent.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { effectivePlan, parseTenantCommand, parseWebhookEvent } from '@ictvoip/whmcs';
import { assertPhpAvailable, closedPort, MODULE_DIR, runModule, startBridge, type FakeBridge, type LogEntry } from './module-harness';

const SECRET = 'whsec-test-0123456789abcdef-access-hash';
const SERVICE_PASSWORD = 'Sv9!pass-word-42';
const SERVER_PASSWORD = 'server-record-password-77';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let bridge: FakeBridge;
const allLogs: LogEntry[] = [];

/** $params shaped like WHMCS 8 passes them to a server module. */
function whmcsParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    whmcsVersion: '8.13.1-release.1',
    accountid: 4711,
    serviceid: 4711,
    userid: 42,
    pid: 7,
    serverid: 3,
    domain: 'acme.pbx.example.net',
    username: 'acmepbx',
    password: SERVICE_PASSWORD,
    producttype: 'other',
    moduletype: 'ictvoip',
    status: 'Active',
    configoption1: '25',
    configoption2: '200',
    configoption3: 'sip-trunk-default',
    configoption4: 'retail-2025',
    configoption5: 'postpaid',
    configoption6: '500',
    configoption7: 'acme-brand',
    configoption8: '4',
    configoption9: '',
    configoption16: 'marked',
    configoption17: 'nanp',
    configoptions: { 'maxExtensions|Extensions': '40', 'Recording|Call recording': 'on', 'plan | Plan': 'gold|Gold plan', Region: ' eu-west ', ratio: '1.5', code: '0042' },
    customfields: { 'Account PIN|PIN': '0042', Notes: 'call after 5pm' },
    clientsdetails: { userid: 42, id: 42, firstname: 'Ada', lastname: 'Lovelace', companyname: 'Acme Ltd', email: 'ada@acme.example' },
    server: true,
    serverip: '127.0.0.1',
    serverhostname: '127.0.0.1',
    serverusername: 'admin',
    serverpassword: SERVER_PASSWORD,
    serveraccesshash: SECRET,
    serversecure: false,
    serverport: bridge.port,
    ...overrides,
  };
}

async function run<R = string>(
  fn: string,
  params: Record<string, unknown>,
  extra: {
    withModel?: boolean;
    modelColumns?: Record<string, string | { dateTime: string }>;
    constants?: Record<string, number>;
    session?: Record<string, unknown>;
    adminUsername?: string;
  } = {},
) {
  const output = await runModule<R>({ function: fn, params, ...extra });
  allLogs.push(...output.logs);
  return output;
}

function delivery(index: number) {
  return bridge.deliveries[index];
}

function listPhpFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return listPhpFiles(full);
    return name.endsWith('.php') ? [full] : [];
  });
}

beforeAll(async () => {
  assertPhpAvailable();
  bridge = await startBridge(SECRET);
});

afterAll(async () => {
  await bridge?.close();
});

beforeEach(() => {
  bridge.deliveries.length = 0;
  bridge.respond = () => ({ status: 200, json: { result: 'success', message: 'done' } });
});

describe('module files', () => {
  test('php -l is clean on every PHP file of the module', () => {
    const files = listPhpFiles(MODULE_DIR);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const lint = spawnSync('php', ['-l', file], { encoding: 'utf8' });
      expect({ file, status: lint.status, out: lint.stdout + lint.stderr }).toEqual(expect.objectContaining({ file, status: 0 }));
    }
  });

  test('MetaData requires a server record; ConfigOptions keeps its documented positions', async () => {
    const meta = await run<Record<string, unknown>>('MetaData', {});
    expect(meta.result).toMatchObject({ APIVersion: '1.1', RequiresServer: true });
    const options = await run<Record<string, { FriendlyName: string; Type: string }>>('ConfigOptions', {});
    // Positions are part of the module's public interface: configoption<N> follows this order forever.
    expect(Object.values(options.result).map((field) => field.FriendlyName)).toEqual([
      'Max extensions',
      'First extension',
      'Gateway template',
      'Rate deck',
      'Billing mode',
      'Included minutes',
      'Brand',
      'Max gateways',
      'Max destinations',
      'Country code',
      'Number format',
      'Ring group',
      'Credit limit',
      'Low balance threshold',
      'At zero balance',
      'Registration watch',
      'Route template',
      'Settings layout',
    ]);
    const buttons = await run<Record<string, string>>('AdminCustomButtonArray', {});
    expect(buttons.result).toEqual({ Resync: 'Resync', Reconcile: 'Reconcile' });
  });
});

describe('CreateAccount', () => {
  test('posts a signed event the bridge schema accepts, built from $params, and saves serviceProperties', async () => {
    bridge.respond = () => ({
      status: 200,
      json: { result: 'success', message: 'tenant ready', serviceProperties: { 'PBX Domain': 'acme.pbx.example.net', 'Tenant UUID': 'b1c4', Extensions: 40 } },
    });
    const params = whmcsParams();
    const { result, savedProperties } = await run('CreateAccount', params, { withModel: true });

    expect(result).toBe('success');
    expect(bridge.deliveries).toHaveLength(1);
    const delivery = bridge.deliveries[0];
    expect(delivery.signatureError).toBeUndefined();
    expect(delivery.url).toBe('/webhooks/whmcs?wait=20');
    expect(delivery.headers['content-type']).toBe('application/json');
    const event = parseWebhookEvent(delivery.body);
    expect(event.eventId).toMatch(UUID_V4);
    expect(event).toMatchObject({
      schemaVersion: 1,
      action: 'create',
      // the service model's billing cycle and dates (service billing periods); the date part of a datetime
      service: {
        id: params.serviceid,
        pid: params.pid,
        domain: params.domain,
        username: params.username,
        status: params.status,
        billingCycle: 'Quarterly',
        nextDueDate: '2027-01-15',
        regDate: '2026-01-15',
      },
      client: { id: params.userid, email: 'ada@acme.example', companyName: 'Acme Ltd', firstName: 'Ada', lastName: 'Lovelace' },
      server: { id: params.serverid, hostname: params.serverhostname },
      plan: {
        maxExtensions: 25,
        firstExtension: 200,
        gatewayTemplate: 'sip-trunk-default',
        rateDeck: 'retail-2025',
        billingMode: 'postpaid',
        includedMinutes: 500,
        brand: 'acme-brand',
        maxGateways: 4,
        registrationWatch: 'marked',
        routeTemplate: 'nanp',
      },
      configurableOptions: params.configoptions,
      customFields: { 'Account PIN': '0042', Notes: 'call after 5pm' },
      secrets: { servicePassword: SERVICE_PASSWORD },
    });
    expect(event.plan).not.toHaveProperty('maxDestinations');
    expect(Date.parse(event.occurredAt)).not.toBeNaN();
    expect(delivery.body.configurableOptionsNormalized).toEqual({ maxExtensions: 40, Recording: true, plan: 'gold', Region: 'eu-west', ratio: 1.5, code: '0042' });
    // The raw options still let the bridge's own override logic work.
    expect(effectivePlan(event).maxExtensions).toBe(40);
    expect(JSON.stringify(delivery.body)).not.toContain(SECRET);
    expect(JSON.stringify(delivery.body)).not.toContain(SERVER_PASSWORD);
    expect(savedProperties).toEqual([{ 'PBX Domain': 'acme.pbx.example.net', 'Tenant UUID': 'b1c4', Extensions: '40' }]);
  });

  // A Free Account or One Time service has no next due date: tblhosting holds 0000-00-00, which a date cast
  // turns into -0001-11-30; sent as is, the bridge refused the whole create (service.nextDueDate must be YYYY-MM-DD).
  test.each([
    ['the zero date as text', '0000-00-00'],
    ['the zero date as a date object', { dateTime: '0000-00-00' }],
  ])('a service without a next due date (%s) is created; the date is left out, the others kept', async (_case, nextduedate) => {
    const { result } = await run('CreateAccount', whmcsParams(), {
      withModel: true,
      modelColumns: { billingcycle: 'Free Account', nextduedate, regdate: { dateTime: '2026-01-15 10:00:00' } },
    });
    expect(result).toBe('success');
    const event = parseWebhookEvent(bridge.deliveries[0].body);
    expect(event.service).toMatchObject({ billingCycle: 'Free Account', regDate: '2026-01-15' });
    expect(event.service).not.toHaveProperty('nextDueDate');
  });

  test('each call is a new delivery intent: a fresh UUID v4 eventId', async () => {
    await run('CreateAccount', whmcsParams());
    await run('CreateAccount', whmcsParams());
    const ids = bridge.deliveries.map((delivery) => delivery.body.eventId);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(ids[0]).not.toBe(ids[1]);
  });

  test('a module setting that is not a whole number is refused by name, nothing is sent', async () => {
    const { result } = await run('CreateAccount', whmcsParams({ configoption1: 'ten' }));
    expect(result).toContain('Module setting 1 (Max extensions)');
    expect(bridge.deliveries).toHaveLength(0);
  });

  test('credit-control settings (positions 13-15) go out as decimal strings and a choice; a bad amount is refused by name', async () => {
    const { result } = await run('CreateAccount', whmcsParams({ configoption5: 'prepaid', configoption13: '', configoption14: '5.25', configoption15: 'outbound' }));
    expect(result).toBe('success');
    const event = parseTenantCommand(bridge.deliveries[0].body);
    expect(event.plan).toMatchObject({ billingMode: 'prepaid', lowBalanceThreshold: '5.25', creditRestriction: 'outbound' });
    expect(event.plan).not.toHaveProperty('creditLimit');
    const refused = await run('CreateAccount', whmcsParams({ configoption13: '50,00' }));
    expect(refused.result).toContain('Module setting 13 (Credit limit) must be an amount');
    expect(bridge.deliveries).toHaveLength(1);
  });

  test('a server record without Access Hash is refused, nothing is sent', async () => {
    const { result } = await run('CreateAccount', whmcsParams({ serveraccesshash: '' }));
    expect(result).toContain('Access Hash');
    expect(bridge.deliveries).toHaveLength(0);
  });

  test('blank settings and no options or custom fields still make a valid event (objects, not [])', async () => {
    const blank = Object.fromEntries(Array.from({ length: 17 }, (_, index) => index + 1).map((position) => [`configoption${position}`, '']));
    await run('CreateAccount', whmcsParams({ ...blank, configoptions: {}, customfields: {} }));
    const event = parseWebhookEvent(bridge.deliveries[0].body);
    // No first extension is defaulted at ingest: the provisioner applies PROVISIONING_FILE's defaultFirstExtension (else 100).
    expect(event.plan).toEqual({});
    expect(event.configurableOptions).toEqual({});
    expect(event.customFields).toEqual({});
    expect(delivery(0).rawBody.toString()).not.toContain('[]');
  });

  test('options whose names look like list indexes stay a JSON object', async () => {
    await run('CreateAccount', whmcsParams({ configoptions: { 0: '5' }, customfields: { 0: 'x' } }));
    const event = parseWebhookEvent(bridge.deliveries[0].body);
    expect(event.configurableOptions).toEqual({ 0: '5' });
    expect(event.customFields).toEqual({ 0: 'x' });
  });
});

describe('other state changes', () => {
  test.each([
    ['SuspendAccount', 'suspend'],
    ['UnsuspendAccount', 'unsuspend'],
    ['TerminateAccount', 'terminate'],
    ['ChangePackage', 'change_package'],
  ])('%s sends a signed "%s" event without the service password', async (fn, action) => {
    const { result } = await run(fn, whmcsParams({ suspendreason: 'Overdue on Payment' }));
    expect(result).toBe('success');
    const delivery = bridge.deliveries[0];
    expect(delivery.signatureError).toBeUndefined();
    expect(delivery.url).toBe('/webhooks/whmcs?wait=20');
    const event = parseWebhookEvent(delivery.body);
    expect(event.action).toBe(action);
    expect(event.secrets).toBeUndefined();
    expect(delivery.rawBody.toString()).not.toContain(SERVICE_PASSWORD);
    if (action === 'suspend') expect(delivery.body.reason).toBe('Overdue on Payment');
  });

  test('ChangePassword carries the new service password', async () => {
    const { result } = await run('ChangePassword', whmcsParams({ password: 'N3w-Passw0rd' }));
    expect(result).toBe('success');
    const event = parseWebhookEvent(bridge.deliveries[0].body);
    expect(event).toMatchObject({ action: 'change_password', secrets: { servicePassword: 'N3w-Passw0rd' } });
  });

  // The bridge's worker refuses a portal password over 72 bytes (bcrypt) or with control characters, after
  // the webhook took it: a client was told to "try again in a few minutes", which could never work.
  test.each([
    ['73 ASCII characters', 'a'.repeat(73), /at most 72 bytes/],
    ['37 accented letters (74 bytes)', 'ä'.repeat(37), /at most 72 bytes/],
    ['a tab', 'Tab\there-1', /control character/],
  ])('a new password the bridge can never store (%s) is refused by the module with the rule, to the client too; nothing is sent', async (_case, password, rule) => {
    bridge.respond = () => ({ status: 200, json: { result: 'error', message: 'secrets.servicePassword is longer than 72 bytes (bcrypt limit)', retryable: false } });
    const client = await run('ChangePassword', whmcsParams({ password }));
    expect(client.result).toMatch(rule);
    expect(client.result).not.toContain(password);
    const admin = await run('ChangePassword', whmcsParams({ password }), { session: { adminid: 3 } });
    expect(admin.result).toMatch(rule);
    const create = await run('CreateAccount', whmcsParams({ password }), { session: { adminid: 3 } });
    expect(create.result).toMatch(rule);
    expect(bridge.deliveries).toHaveLength(0);
    // Logged (the scrub list aside, which WHMCS never writes) without the password.
    const logged = [...client.logs, ...admin.logs, ...create.logs].map(({ replaceVars: _scrubList, ...entry }) => entry);
    expect(logged).toHaveLength(3);
    expect(JSON.stringify(logged)).not.toContain(JSON.stringify(password).slice(1, -1));
  });

  // The bridge refuses a create or change_password without secrets.servicePassword (400 naming it): a
  // service whose password WHMCS left empty is refused here, telling staff what to do, before anything is sent.
  test.each([
    ['CreateAccount', /no password.*Password field.*press Create again/],
    ['ChangePassword', /No new password was given/],
  ])('%s without a service password is refused by the module with what to do; nothing is sent', async (fn, message) => {
    const empty = await run(fn, whmcsParams({ password: '' }), { session: { adminid: 3 } });
    expect(empty.result).toMatch(message);
    const { password: _none, ...withoutPassword } = whmcsParams();
    const absent = await run(fn, withoutPassword, { session: { adminid: 3 } });
    expect(absent.result).toMatch(message);
    expect(bridge.deliveries).toHaveLength(0);
  });

  test('a new password of exactly 72 bytes is sent as it is', async () => {
    const password = `${'ä'.repeat(30)}${'b'.repeat(12)}`;
    const { result } = await run('ChangePassword', whmcsParams({ password }));
    expect(result).toBe('success');
    expect(parseWebhookEvent(bridge.deliveries[0].body)).toMatchObject({ secrets: { servicePassword: password } });
  });

  test.each([
    ['Active', 'create'],
    ['Suspended', 'suspend'],
    ['Terminated', 'terminate'],
    ['Cancelled', 'terminate'],
  ])('Resync of a %s service sends "%s"', async (status, action) => {
    const { result } = await run('Resync', whmcsParams({ status }));
    expect(result).toBe('success');
    expect(bridge.deliveries[0].body).toMatchObject({ action, trigger: 'resync' });
  });

  test('Resync of a Pending service explains itself and sends nothing', async () => {
    const { result } = await run('Resync', whmcsParams({ status: 'Pending' }));
    expect(result).toContain('pending');
    expect(bridge.deliveries).toHaveLength(0);
  });

  test("an admin's press names the admin in the event (requestedBy, for the bridge's audit); cron and clients send none", async () => {
    await run('Resync', whmcsParams({ status: 'Suspended' }), { session: { adminid: 7 }, adminUsername: 'jane.ops<script>' });
    expect(bridge.deliveries[0]!.body).toMatchObject({ action: 'suspend', requestedBy: 'jane.opsscript (admin #7)' });
    await run('SuspendAccount', whmcsParams(), { session: { adminid: 3 } });
    expect(bridge.deliveries[1]!.body).toMatchObject({ action: 'suspend', requestedBy: 'admin #3' });
    await run('SuspendAccount', whmcsParams());
    expect(bridge.deliveries[2]!.body).not.toHaveProperty('requestedBy');
    expect(bridge.deliveries.every((delivery) => delivery.signatureError === undefined)).toBe(true);
  });

  test('Reconcile sends a signed reconcile event', async () => {
    const { result } = await run('Reconcile', whmcsParams());
    expect(result).toBe('success');
    expect(bridge.deliveries[0]).toMatchObject({ body: expect.objectContaining({ action: 'reconcile' }) });
    expect(bridge.deliveries[0].signatureError).toBeUndefined();
  });
});

describe('reply mapping', () => {
  test('200 error returns the bridge message; retryable errors say so', async () => {
    bridge.respond = () => ({ status: 200, json: { result: 'error', message: 'domain acme.pbx.example.net belongs to another service', retryable: false } });
    const final = await run('CreateAccount', whmcsParams());
    expect(final.result).toBe('ictVoIP bridge: domain acme.pbx.example.net belongs to another service');

    bridge.respond = () => ({ status: 200, json: { result: 'error', message: 'FusionPBX database unreachable', retryable: true } });
    const temporary = await run('CreateAccount', whmcsParams());
    expect(temporary.result).toContain('FusionPBX database unreachable');
    expect(temporary.result).toContain('safe to retry');
  });

  test('202 pending is not success and says the action is safe to retry', async () => {
    bridge.respond = (delivery) => ({ status: 202, json: { result: 'pending', eventId: delivery.body.eventId, jobId: 'tenant.create:4711', statusUrl: '/v1/events/x' } });
    const { result, savedProperties } = await run('CreateAccount', whmcsParams(), { withModel: true });
    expect(result).not.toBe('success');
    expect(result).toContain('tenant.create:4711');
    expect(result).toContain('safe to retry');
    expect(savedProperties).toEqual([]);
  });

  test("202 pending_apply (FusionPBX done, FreeSWITCH's side waiting for its event socket) is success and saves serviceProperties", async () => {
    bridge.respond = (delivery) => ({
      status: 202,
      json: {
        result: 'pending',
        state: 'pending_apply',
        eventId: delivery.body.eventId,
        jobId: 'tenant.create:4712',
        statusUrl: '/v1/events/x',
        message: 'tenant ready; FusionPBX updated; FreeSWITCH side pending since 2026-12-06T12:00:00.000Z: connect ECONNREFUSED',
        serviceProperties: { 'PBX Domain': 'acme.pbx.example.net' },
      },
    });
    const { result, savedProperties } = await run('CreateAccount', whmcsParams(), { withModel: true });
    expect(result).toBe('success');
    expect(savedProperties).toEqual([{ 'PBX Domain': 'acme.pbx.example.net' }]);
  });

  test('a wrong Access Hash is refused by the bridge (401) and the message points at it', async () => {
    const { result } = await run('SuspendAccount', whmcsParams({ serveraccesshash: 'not-the-secret' }));
    expect(bridge.deliveries[0].signatureError?.reason).toBe('bad_signature');
    expect(result).toContain('HTTP 401');
    expect(result).toContain('Access Hash');
    expect(result).not.toContain('not-the-secret');
  });

  test('400 shows the validation details', async () => {
    bridge.respond = () => ({
      status: 400,
      json: { error: { code: 'VALIDATION_FAILED', message: 'invalid event', details: [{ path: 'plan.maxExtensions', message: 'must be <= 10000' }] } },
    });
    const { result } = await run('ChangePackage', whmcsParams());
    expect(result).toContain('HTTP 400');
    expect(result).toContain('plan.maxExtensions: must be <= 10000');
  });

  // A customer's order text (a DIDs custom field) comes back in the bridge's message, and WHMCS shows a module's
  // message to staff (service page, Module Queue, its e-mail): it must never arrive there as markup.
  test("markup in the bridge's message (a customer's order text) reaches WHMCS as text, never as a tag", async () => {
    const hostile = '<img src=x onerror=alert(document.cookie)>';
    bridge.respond = () => ({ status: 200, json: { result: 'error', message: `plan.dids: '${hostile}' is not a phone number`, retryable: false } });
    const created = await run('CreateAccount', whmcsParams());
    expect(created.result).toContain("plan.dids: '‹img src=x onerror=alert(document.cookie)>' is not a phone number");
    bridge.respond = () => ({
      status: 400,
      json: { error: { code: 'VALIDATION_FAILED', message: 'invalid <b>event</b>', details: [{ path: 'customFields.DIDs', message: `${hostile} <!-- x --> </div>` }] } },
    });
    const changed = await run('ChangePackage', whmcsParams());
    bridge.respond = () => ({ status: 200, json: { result: 'error', message: `FusionPBX said ${hostile}` } });
    const tested = await run<{ success: boolean; error: string }>('TestConnection', whmcsParams());
    for (const message of [created.result, changed.result, tested.result.error]) {
      expect(message).not.toMatch(/<[A-Za-z!/?]/);
      expect(message).toContain('onerror=alert(document.cookie)');
    }
    expect(changed.result).toContain('invalid ‹b>event‹/b>');
  });

  test('503 and a non-JSON answer are reported as safe to retry', async () => {
    bridge.respond = () => ({ status: 503, json: { error: { code: 'DEPENDENCY_DOWN', message: 'redis down' } } });
    const unavailable = await run('SuspendAccount', whmcsParams());
    expect(unavailable.result).toMatch(/HTTP 503.*redis down.*safe to retry/);

    bridge.respond = () => ({ status: 200, text: '<html>proxy error</html>' });
    const garbled = await run('SuspendAccount', whmcsParams());
    expect(garbled.result).toMatch(/not JSON.*safe to retry/);
  });

  test('connection refused says the bridge could not be reached and is safe to retry', async () => {
    const port = await closedPort();
    const { result } = await run('CreateAccount', whmcsParams({ serverport: port }));
    expect(result).toContain(`Could not reach the ictVoIP bridge at http://127.0.0.1:${port}/webhooks/whmcs`);
    expect(result).toContain('safe to retry');
  });

  test("a client's failed ChangePassword shows the client a plain message; staff keep the details (module log, an admin's press)", async () => {
    const port = await closedPort();
    const client = await run('ChangePassword', whmcsParams({ serverport: port, password: 'N3w-Passw0rd' }));
    expect(client.result).toBe('Your password could not be changed right now. Please try again in a few minutes, or contact support.');
    expect(JSON.stringify(client.logs)).toContain(`Could not reach the ictVoIP bridge at http://127.0.0.1:${port}/webhooks/whmcs`);
    const admin = await run('ChangePassword', whmcsParams({ serverport: port, password: 'N3w-Passw0rd' }), { session: { adminid: 3 } });
    expect(admin.result).toContain(`Could not reach the ictVoIP bridge at http://127.0.0.1:${port}/webhooks/whmcs`);
    // A 401's setup hint is for staff too; a success is a success for both.
    const refused = await run('ChangePassword', whmcsParams({ serveraccesshash: 'not-the-secret', password: 'N3w-Passw0rd' }));
    expect(refused.result).not.toContain('Access Hash');
    expect((await run('ChangePassword', whmcsParams({ password: 'N3w-Passw0rd' }))).result).toBe('success');
  });

  test('no answer within the total timeout says it may still complete and is safe to retry', async () => {
    bridge.respond = () => 'hang';
    const started = Date.now();
    const { result } = await run('CreateAccount', whmcsParams(), { constants: { ICTVOIP_TOTAL_TIMEOUT: 2 } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(bridge.deliveries).toHaveLength(1);
    expect(result).toContain('No answer from the ictVoIP bridge');
    expect(result).toContain('may still complete');
    expect(result).toContain('safe to retry');
  });
});

describe('TestConnection, admin tab and client area', () => {
  test('TestConnection succeeds when the bridge accepts the signed probe', async () => {
    bridge.respond = () => ({ status: 200, json: { result: 'success', message: 'ready' } });
    const { result } = await run<{ success: boolean; error: string }>('TestConnection', whmcsParams());
    expect(result).toEqual({ success: true, error: '' });
    const delivery = bridge.deliveries[0];
    expect(delivery.signatureError).toBeUndefined();
    expect(delivery.url).toBe('/webhooks/whmcs?wait=10');
    expect(delivery.body).toMatchObject({ schemaVersion: 1, action: 'test_connection', server: { id: 3, hostname: '127.0.0.1' } });
    expect(delivery.body.eventId).toMatch(UUID_V4);
    expect(delivery.body.secrets).toBeUndefined();
  });

  test('TestConnection reports a wrong Access Hash and an unreachable bridge', async () => {
    const wrong = await run<{ success: boolean; error: string }>('TestConnection', whmcsParams({ serveraccesshash: 'wrong' }));
    expect(wrong.result.success).toBe(false);
    expect(wrong.result.error).toContain('Access Hash');
    const down = await run<{ success: boolean; error: string }>('TestConnection', whmcsParams({ serverport: await closedPort() }));
    expect(down.result.success).toBe(false);
    expect(down.result.error).toContain('Could not reach');
  });

  test('a hostname typed as host:port reaches that port (it was bracketed as if IPv6: a bad URL)', async () => {
    const typed = await run<{ success: boolean; error: string }>('TestConnection', whmcsParams({ serverhostname: `127.0.0.1:${bridge.port}`, serverport: await closedPort() }));
    expect(typed.result).toEqual({ success: true, error: '' });
    expect(bridge.deliveries).toHaveLength(1);
  });

  // Without the server form's port override WHMCS may hand the module no port: it meant the bridge's
  // default (MetaData: 3000, or 443 with SSL), not HTTP's 80 where no bridge listens.
  test.each([
    ['blank', '', false, 'http://127.0.0.1:3000/webhooks/whmcs'],
    ['0', 0, false, 'http://127.0.0.1:3000/webhooks/whmcs'],
    ['missing', undefined, false, 'http://127.0.0.1:3000/webhooks/whmcs'],
    ['blank, with SSL', '', true, 'https://127.0.0.1/webhooks/whmcs'],
  ])('a server record whose port is %s goes to the default port of MetaData', async (_case, serverport, serversecure, url) => {
    const { logs } = await run('SuspendAccount', whmcsParams({ serverport, serversecure }), { constants: { ICTVOIP_CONNECT_TIMEOUT: 2, ICTVOIP_TOTAL_TIMEOUT: 2 } });
    const meta = await run<Record<string, string>>('MetaData', {});
    expect(meta.result).toMatchObject({ DefaultNonSSLPort: '3000', DefaultSSLPort: '443' });
    expect(logs).toHaveLength(1);
    expect(logs[0]!.request).toMatchObject({ url });
  });

  test("AdminServicesTabFields shows the bridge's adminFields, HTML-escaped", async () => {
    bridge.respond = () => ({ status: 200, json: { result: 'success', adminFields: { 'Tenant state': 'active', 'Registered phones': 3, Note: '<b>x</b>' } } });
    const { result } = await run<Record<string, string>>('AdminServicesTabFields', whmcsParams());
    expect(result).toEqual({ 'Tenant state': 'active', 'Registered phones': '3', Note: '&lt;b&gt;x&lt;/b&gt;' });
    expect(bridge.deliveries[0].body).toMatchObject({ action: 'status', audience: 'admin' });
    expect(bridge.deliveries[0].body.secrets).toBeUndefined();
  });

  test('ClientArea asks the bridge once (signed overview read) and hides errors from clients', async () => {
    const usage = { period: '2025-01', calls: 7, minutes: 321, includedMinutes: 500, amount: '1.250000', currency: 'EUR', unratedCalls: 0 };
    bridge.respond = () => ({ status: 200, json: { period: '2025-01', periods: ['2025-01'], calls: [], totals: {}, usage, phones: [], numbers: [], credit: null } });
    const before = bridge.deliveries.length;
    const ok = await run<{ tabOverviewModuleOutputTemplate: string; templateVariables: Record<string, unknown> }>('ClientArea', whmcsParams());
    expect(ok.result.tabOverviewModuleOutputTemplate).toBe('templates/clientarea.tpl');
    // One call for the whole page; its data in full is tested in apps/whmcs-module.
    expect(bridge.deliveries.slice(before).map((delivery) => delivery.url)).toEqual(['/whmcs/client/overview']);
    expect(ok.result.templateVariables).toMatchObject({
      ictvoip: { usage: { period: '2025-01', minutes: 321, includedMinutes: 500, minutesLeft: 179, amount: '1.25', currency: 'EUR' } },
      ictvoipUnavailable: false,
    });

    const down = await run<{ templateVariables: Record<string, unknown> }>('ClientArea', whmcsParams({ serverport: await closedPort() }));
    expect(down.result.templateVariables).toMatchObject({
      ictvoip: { usage: null },
      ictvoipUnavailable: true,
      ictvoipCallsUnavailable: true,
      ictvoipPhonesUnavailable: true,
    });
  });
});

describe('module log', () => {
  test('every call was logged, with the secrets in the scrub list and nowhere in the logged data', () => {
    expect(allLogs.length).toBeGreaterThan(20);
    for (const entry of allLogs) {
      expect(entry.module).toBe('ictvoip');
      const logged = JSON.stringify([entry.request, entry.response, entry.processed]);
      expect(logged).not.toContain(SECRET);
      expect(logged).not.toContain(SERVICE_PASSWORD);
      expect(logged).not.toContain('N3w-Passw0rd');
      expect(logged).not.toContain(SERVER_PASSWORD);
    }
    const createLog = allLogs.find((entry) => entry.action === 'CreateAccount' && JSON.stringify(entry.request).includes('"create"'));
    expect(createLog?.replaceVars).toEqual(expect.arrayContaining([SECRET, SERVICE_PASSWORD, SERVER_PASSWORD]));
    expect(JSON.stringify(createLog?.request)).toContain('[redacted]');
  });
});

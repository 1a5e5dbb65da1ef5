/**
 * A product moved from ictVoIP's `fusionpbx` server module to ours, unchanged: its licence key in
 * module setting 1 (getting_started/quick_install.rst, the "License Key" field), the names of its
 * module settings as configurable options / custom fields (modules/fusionpbx/configuration.rst:
 * Domain, Extensions, Extension Length, Default Password, Email Template) and its service fields
 * (clientadmin/clientadmin.rst: "Tenant | Inbound DID(s)" and "Extension(s)" = "221 | 606").
 * The real PHP module runs with php-cli, first against a loopback bridge that checks every delivery
 * with the bridge's own parser, then against the running bridge (FusionPBX rows).
 */
import { effectivePlan, parseWebhookEvent, type WebhookEvent } from '@ictvoip/whmcs';
import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { assertPhpAvailable, runModule, startBridge as startLoopbackBridge, type FakeBridge, type LogEntry } from '../../../packages/whmcs/test/module-harness';
import { startBridge, type Bridge } from '../../worker/test/harness';

const LICENCE = 'LeasedFusionPBX_fa4fa0a112e4f3c10107';
const DEFAULT_PASSWORD = 'Ict-default-Pass-991';
const SERVICE_PASSWORD = 'Moved-Service-Pass-7';

/** $params of a service whose product was made for ictVoIP's module and then switched to ours. */
function movedParams(port: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    whmcsVersion: '8.13.1-release.1',
    serviceid: 9101,
    userid: 42,
    pid: 12,
    serverid: 3,
    domain: 'mcon.example.ca | 5192229000',
    username: '',
    dedicatedip: '2112 | 2113 | 2120',
    password: SERVICE_PASSWORD,
    status: 'Active',
    configoption1: LICENCE,
    configoption18: 'ictvoip',
    configoptions: {},
    customfields: { 'Default Password': DEFAULT_PASSWORD, 'Email Template': 'VoIP Welcome' },
    clientsdetails: { userid: 42, id: 42, firstname: 'Ada', lastname: 'Lovelace', companyname: 'Acme Ltd', email: 'ada@acme.example' },
    serverhostname: '127.0.0.1',
    serveraccesshash: TEST_WEBHOOK_SECRET,
    serversecure: false,
    serverport: port,
    ...overrides,
  };
}

function expectNoIctvoipSecret(what: unknown): void {
  const text = JSON.stringify(what);
  expect(text).not.toContain(LICENCE);
  expect(text).not.toContain(DEFAULT_PASSWORD);
}

describe('the module with ictVoIP’s names (loopback bridge)', () => {
  let loopback: FakeBridge;
  const logs: LogEntry[] = [];

  beforeAll(async () => {
    assertPhpAvailable();
    loopback = await startLoopbackBridge(TEST_WEBHOOK_SECRET);
  });
  afterAll(async () => {
    await loopback?.close();
  });
  beforeEach(() => {
    loopback.deliveries.length = 0;
    loopback.respond = () => ({ status: 200, json: { result: 'success', message: 'done' } });
  });

  async function create(overrides: Record<string, unknown> = {}): Promise<{ result: string; event: WebhookEvent | null; body: Record<string, unknown> | null }> {
    const output = await runModule<string>({ function: 'CreateAccount', params: movedParams(loopback.port, overrides) });
    logs.push(...output.logs);
    const delivery = loopback.deliveries.at(-1);
    return { result: output.result, event: delivery ? parseWebhookEvent(delivery.body) : null, body: delivery?.body ?? null };
  }

  test('setting 18 offers the ictvoip layout after the 17 positions, which stay where they were', async () => {
    const options = await runModule<Record<string, { FriendlyName: string; Options?: string; Default?: string }>>({ function: 'ConfigOptions' });
    const fields = Object.values(options.result);
    expect(fields).toHaveLength(18);
    expect(fields[0]!.FriendlyName).toBe('Max extensions');
    expect(fields[17]).toMatchObject({ FriendlyName: 'Settings layout', Options: 'bridge,ictvoip', Default: 'bridge' });
  });

  test('the licence key in setting 1 is ignored: not in the event, not in the module log, and in the scrub list', async () => {
    const { result, event, body } = await create();
    expect(result).toBe('success');
    expect(event!.plan).not.toHaveProperty('maxExtensions');
    expect((body!.moduleSettings as Record<string, string>).configoption1).toBe('');
    expectNoIctvoipSecret(body);
    const log = logs.at(-1)!;
    expect(log.replaceVars).toEqual(expect.arrayContaining([LICENCE, DEFAULT_PASSWORD]));
    expectNoIctvoipSecret([log.request, log.response, log.processed]);
  });

  test('the "Extension(s)" service field becomes the extension list; the Domain field keeps "tenant | DID"', async () => {
    const { event } = await create();
    expect(event!.plan.extensionNumbers).toEqual(['2112', '2113', '2120']);
    expect(event!.service.domain).toBe('mcon.example.ca | 5192229000');
    expect(effectivePlan(event!).maxExtensions).toBeUndefined();
    // "Default Password" is dropped; the rest of the custom fields pass through.
    expect(event!.customFields).toEqual({ 'Email Template': 'VoIP Welcome' });
  });

  test('an "Extensions" configurable option of one number is a list of one in the ictvoip layout, and the bridge does not read it as a quantity', async () => {
    const { event, body } = await create({ dedicatedip: '', configoptions: { Extensions: '2112' } });
    expect(event!.plan.extensionNumbers).toEqual(['2112']);
    expect(body!.configurableOptionsNormalized).toEqual({ Extensions: ['2112'] });
    expect(effectivePlan(event!)).not.toHaveProperty('maxExtensions');
    expect(effectivePlan(event!).extensionNumbers).toEqual(['2112']);
  });

  test('an extension list typed into the Username field is taken as the list and not sent as the FusionPBX login', async () => {
    const { event } = await create({ dedicatedip: '', username: '221 | 606' });
    expect(event!.plan.extensionNumbers).toEqual(['221', '606']);
    expect(event!.service.username).toBe('');
  });

  test('"Extension Length" numbers the extensions from the first number of that many digits; "Domain" fills an empty service domain', async () => {
    const { event } = await create({
      dedicatedip: '',
      domain: '',
      configoption6: '30',
      customfields: { 'Extension Length': '4', 'Domain|Tenant domain': 'pbx.client.example' },
    });
    expect(event!.plan).toMatchObject({ firstExtension: 1000, includedMinutes: 30 });
    expect(event!.plan).not.toHaveProperty('extensionNumbers');
    expect(event!.service.domain).toBe('pbx.client.example');
    // Our own setting 2 wins over the ictVoIP name.
    const own = await create({ dedicatedip: '', configoption2: '500', customfields: { 'Extension Length': '4' } });
    expect(own.event!.plan.firstExtension).toBe(500);
  });

  test('a licence key under a "License Key" option or custom field is dropped and scrubbed, in either layout', async () => {
    const { event, body } = await create({
      configoption1: '5',
      configoption18: 'bridge',
      dedicatedip: '',
      configoptions: { 'License Key': LICENCE, 'maxExtensions|Extensions': '7' },
      customfields: { Licence: LICENCE },
    });
    expect(event!.plan.maxExtensions).toBe(5);
    expect(event!.configurableOptions).toEqual({ 'maxExtensions|Extensions': '7' });
    expect(effectivePlan(event!).maxExtensions).toBe(7);
    expectNoIctvoipSecret(body);
    expect(logs.at(-1)!.replaceVars).toContain(LICENCE);
  });

  test('our layout: an "Extensions" quantity stays Max extensions, a list becomes the extension list', async () => {
    const quantity = await create({ configoption1: '5', configoption18: '', dedicatedip: '10.0.0.1', configoptions: { Extensions: '12' } });
    expect(quantity.event!.plan).not.toHaveProperty('extensionNumbers');
    expect(effectivePlan(quantity.event!).maxExtensions).toBe(12);
    const list = await create({ configoption1: '5', configoption18: '', configoptions: { Extensions: '2112 | 2113' } });
    expect(list.event!.plan.extensionNumbers).toEqual(['2112', '2113']);
    expect(effectivePlan(list.event!).maxExtensions).toBe(5);
    // Nowhere in the event is the list read as its first number (2112).
    expect(list.body!.configurableOptions).toEqual({ Extensions: '2112 | 2113' });
    expect(list.body!.configurableOptionsNormalized).toEqual({ Extensions: ['2112', '2113'] });
    expect(quantity.body!.configurableOptionsNormalized).toEqual({ Extensions: 12 });
    // A dropdown's "value|Label" is not a list.
    const dropdown = await create({ configoption1: '5', configoption18: '', configoptions: { Extensions: '50|50 extensions' } });
    expect(effectivePlan(dropdown.event!).maxExtensions).toBe(50);
  });

  test('a licence key left in setting 1 without choosing the layout is refused without echoing it; nothing is sent', async () => {
    const { result } = await create({ configoption18: 'bridge' });
    expect(result).toBe('Module setting 1 (Max extensions) holds what looks like ictVoIP\'s licence key: set module setting 18 (Settings layout) to "ictvoip"');
    expect(loopback.deliveries).toHaveLength(0);
    const log = logs.at(-1)!;
    expectNoIctvoipSecret([log.request, log.response, log.processed]);
    expect(log.replaceVars).toContain(LICENCE);
  });

  test('a bad extension list or length is refused naming the field, nothing is sent', async () => {
    expect((await create({ dedicatedip: '2112 | abc' })).result).toBe(
      'The service field "Extension(s)" (WHMCS\'s Dedicated IP) must list extension numbers separated by | (e.g. "2112 | 2113"); part 2 is "abc"',
    );
    expect((await create({ dedicatedip: '', configoptions: { 'Extension(s)': '2112 | 2112' } })).result).toBe('Configurable option "Extension(s)" lists an extension twice');
    expect((await create({ dedicatedip: '', customfields: { 'Extension Length': 'four' } })).result).toBe(
      'Custom field "Extension Length" (digits of an extension number) must be 1 to 8, got "four"',
    );
    expect(loopback.deliveries).toHaveLength(0);
  });
});

describe('a moved product against the running bridge', () => {
  let bridge: Bridge;

  beforeAll(async () => {
    assertPhpAvailable();
    bridge = await startBridge();
    await bridge.startApi();
    await bridge.startWorker({ schedulers: false });
  }, 90_000);
  afterAll(async () => {
    await bridge?.close();
  });

  test('CreateAccount makes exactly the listed extensions in the tenant of the Domain field; the licence key reaches no row and no log', async () => {
    const port = Number(new URL(bridge.url).port);
    const { result, logs } = await runModule<string>({ function: 'CreateAccount', params: movedParams(port) });
    expect(result).toBe('success');
    const { rows } = await bridge.fusion.query<{ extension: string }>(
      'SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1',
      ['mcon.example.ca'],
    );
    expect(rows.map((row) => row.extension)).toEqual(['2112', '2113', '2120']);
    const inbox = await bridge.api!.deps.pool.query('SELECT payload::text AS payload FROM webhook_inbox WHERE service_id = 9101');
    expect(inbox.rows.length).toBeGreaterThan(0);
    expectNoIctvoipSecret(inbox.rows);
    expectNoIctvoipSecret(bridge.logLines);
    expectNoIctvoipSecret(logs.map((log) => [log.request, log.response, log.processed]));
  });
});

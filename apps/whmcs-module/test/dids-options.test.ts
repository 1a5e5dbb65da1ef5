/**
 * Issue #15: a product sells its numbers through a WHMCS configurable option ("DIDs", "Phone
 * Numbers": `a | b`, commas, or a dropdown's `value|Label`) or a custom field. The real PHP module
 * runs with php-cli, first against a loopback bridge that reads each delivery with the bridge's own
 * parser, then against the running bridge (FusionPBX rows, normalised by module settings 10 and 11).
 */
import { parseTenantCommand, type TenantCommand } from '@ictvoip/whmcs';
import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { assertPhpAvailable, runModule, startBridge as startLoopbackBridge, type FakeBridge } from '../../../packages/whmcs/test/module-harness';
import { startBridge, type Bridge } from '../../worker/test/harness';

function params(port: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    whmcsVersion: '8.13.1-release.1',
    serviceid: 9201,
    userid: 43,
    pid: 14,
    serverid: 3,
    domain: 'dids9201.pbx.example.net',
    username: '',
    password: 'Dids-Service-Pass-9',
    status: 'Active',
    configoption1: '2',
    configoption2: '100',
    configoption10: '1',
    configoption11: 'national',
    configoptions: { 'DIDs|Phone numbers': '(519) 555-0100 | +1 519 555 0101' },
    customfields: {},
    clientsdetails: { userid: 43, id: 43, firstname: 'Grace', lastname: 'Hopper', companyname: 'Numbers Ltd', email: 'grace@numbers.example' },
    serverhostname: '127.0.0.1',
    serveraccesshash: TEST_WEBHOOK_SECRET,
    serversecure: false,
    serverport: port,
    ...overrides,
  };
}

describe('DIDs from configurable options and custom fields (loopback bridge)', () => {
  let loopback: FakeBridge;
  beforeAll(async () => {
    assertPhpAvailable();
    loopback = await startLoopbackBridge(TEST_WEBHOOK_SECRET);
  });
  afterAll(async () => {
    await loopback?.close();
  });

  async function command(overrides: Record<string, unknown>): Promise<{ body: Record<string, unknown>; command: TenantCommand }> {
    loopback.deliveries.length = 0;
    const output = await runModule<string>({ function: 'CreateAccount', params: params(loopback.port, overrides) });
    expect(output.result).toBe('success');
    const body = loopback.deliveries.at(-1)!.body;
    return { body, command: parseTenantCommand(body) };
  }

  test('an option holding `a | b` reaches the bridge as written and becomes plan.dids beside the country code and format', async () => {
    const { body, command: sent } = await command({});
    // The module sends the option untouched: its `|` is the list's, not a dropdown label's.
    expect(body.configurableOptions).toEqual({ 'DIDs|Phone numbers': '(519) 555-0100 | +1 519 555 0101' });
    expect(sent.plan).toMatchObject({ dids: ['(519) 555-0100', '+1 519 555 0101'], countryCode: '1', numberFormat: 'national' });
  });

  test("a dropdown choice `value|Label` is its value; a custom field's comma list joins after it", async () => {
    const { command: sent } = await command({
      configoptions: { 'Phone Number': '5195550102|Toronto (519) 555-0102' },
      customfields: { 'Phone Numbers|Extra numbers': '5195550103, 5195550104' },
    });
    expect(sent.plan.dids).toEqual(['5195550102', '5195550103', '5195550104']);
  });

  test('a quantity under a DIDs name is no list of numbers: the plan states none', async () => {
    const { command: sent } = await command({ configoptions: { 'DIDs|Extra numbers': '2' } });
    expect(sent.plan).not.toHaveProperty('dids');
  });
});

describe('DIDs from a configurable option reach FusionPBX (running bridge)', () => {
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

  const destinations = async (domain: string) =>
    (
      await bridge.fusion.query<{ destination_prefix: string | null; destination_number: string }>(
        'SELECT t.destination_prefix, t.destination_number FROM v_destinations t JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 2',
        [domain],
      )
    ).rows;

  test('CreateAccount writes one inbound destination per number, in the plan’s national format', async () => {
    const port = Number(new URL(bridge.url).port);
    const { result } = await runModule<string>({ function: 'CreateAccount', params: params(port) });
    expect(result).toBe('success');
    expect(await destinations('dids9201.pbx.example.net')).toEqual([
      { destination_prefix: '1', destination_number: '5195550100' },
      { destination_prefix: '1', destination_number: '5195550101' },
    ]);
  });

  test('a bad number in the option is refused naming the option and the entry; nothing is written', async () => {
    const port = Number(new URL(bridge.url).port);
    const { result } = await runModule<string>({
      function: 'CreateAccount',
      params: params(port, { serviceid: 9202, domain: 'dids9202.pbx.example.net', configoptions: { 'DIDs|Phone numbers': '5195550110 | 519555011x' } }),
    });
    expect(result).toContain('configurableOptions.DIDs[1]');
    expect(result).toContain('519555011x');
    expect((await bridge.fusion.query("SELECT 1 FROM v_domains WHERE domain_name = 'dids9202.pbx.example.net'")).rows).toEqual([]);
  });
});

import { assertPhpAvailable, runModule } from '../../../packages/whmcs/test/module-harness';
import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';

/**
 * The real PHP module (php-cli) against the real bridge: API + worker + FusionPBX database + the
 * event-socket stand-in. What an operator sees in WHMCS, end to end.
 */
let bridge: Bridge;
const SERVICE_ID = 7301;
const DOMAIN = 'acme-e2e.pbx.example.net';

beforeAll(async () => {
  assertPhpAvailable();
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

function whmcsParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const port = Number(new URL(bridge.url).port);
  return {
    whmcsVersion: '8.13.1-release.1',
    accountid: SERVICE_ID,
    serviceid: SERVICE_ID,
    userid: 42,
    pid: 7,
    serverid: 3,
    domain: DOMAIN,
    username: 'owner',
    password: 'Str0ng-Passw0rd-e2e!',
    status: 'Active',
    configoption1: '3',
    configoption2: '100',
    configoption3: '',
    configoption4: '',
    configoption5: 'postpaid',
    configoption6: '100',
    configoption7: '',
    configoptions: { 'maxExtensions|Extensions': '4' },
    customfields: {},
    clientsdetails: { userid: 42, id: 42, firstname: 'Ada', lastname: 'Lovelace', companyname: 'Acme Ltd', email: 'ada@acme.example' },
    server: true,
    serverip: '127.0.0.1',
    serverhostname: '127.0.0.1',
    serveraccesshash: TEST_WEBHOOK_SECRET,
    serversecure: false,
    serverport: port,
    ...overrides,
  };
}

const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;

describe('the WHMCS module against the running bridge', () => {
  it('Test Connection reports success', async () => {
    const { result } = await runModule<{ success: boolean; error?: string }>({ function: 'TestConnection', params: whmcsParams() });
    expect(result).toEqual(expect.objectContaining({ success: true }));
  });

  it('CreateAccount provisions the tenant and saves its service properties', async () => {
    const { result, savedProperties } = await runModule<string>({ function: 'CreateAccount', params: whmcsParams(), withModel: true });
    expect(result).toBe('success');
    const extensions = await fusionRows('SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [DOMAIN]);
    // The configurable option (4) overrides module setting 1 (3).
    expect(extensions.map((r) => r.extension)).toEqual(['100', '101', '102', '103']);
    expect(JSON.stringify(savedProperties)).toContain(DOMAIN);
  });

  it('the admin tab and the client area show live state from the bridge', async () => {
    const admin = await runModule<Record<string, string>>({ function: 'AdminServicesTabFields', params: whmcsParams() });
    expect(admin.result['PBX domain']).toBe(DOMAIN);
    expect(admin.result['State (WHMCS / FusionPBX)']).toBe('active / active');
    expect(admin.result['Extensions enabled / plan']).toBe('4 of 4 / 4');
    const client = await runModule<{ templateVariables: { ictvoip: { usage: { calls: number } | null }; ictvoipUnavailable: boolean; ictvoipPhones: { extension: string }[] } }>({
      function: 'ClientArea',
      params: whmcsParams(),
    });
    expect(client.result.templateVariables.ictvoipUnavailable).toBe(false);
    expect(client.result.templateVariables.ictvoip.usage?.calls).toBe(0);
    expect(client.result.templateVariables.ictvoipPhones.map((phone) => phone.extension)).toEqual(['100', '101', '102', '103']);
  });

  it('Suspend and Unsuspend converge, and Reconcile reports no drift', async () => {
    expect((await runModule<string>({ function: 'SuspendAccount', params: whmcsParams({ status: 'Suspended' }) })).result).toBe('success');
    expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [DOMAIN]))[0].domain_enabled).toBe('false');
    expect((await runModule<string>({ function: 'UnsuspendAccount', params: whmcsParams() })).result).toBe('success');
    expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [DOMAIN]))[0].domain_enabled).toBe('true');
    expect((await runModule<string>({ function: 'Reconcile', params: whmcsParams() })).result).toBe('success');
  });

  it('Reconcile reports a change made by hand in FusionPBX', async () => {
    await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [DOMAIN]);
    const { result } = await runModule<string>({ function: 'Reconcile', params: whmcsParams() });
    expect(result).toBe('success');
    const [row] = (await bridge.api!.deps.pool.query("SELECT result FROM webhook_inbox WHERE service_id = $1 AND action = 'reconcile' ORDER BY seq DESC LIMIT 1", [SERVICE_ID]))
      .rows;
    expect(row.result.message).toMatch(/domain_disabled/);
    await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'true' WHERE domain_name = $1", [DOMAIN]);
  });

  it('a wrong Access Hash is refused with a message naming it, and nothing changes', async () => {
    const before = await fusionRows('SELECT count(*)::int AS n FROM v_domains');
    const { result } = await runModule<string>({ function: 'TerminateAccount', params: whmcsParams({ serveraccesshash: 'not-the-secret-at-all-000' }) });
    expect(result).toMatch(/Access Hash/i);
    expect(await fusionRows('SELECT count(*)::int AS n FROM v_domains')).toEqual(before);
    expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [DOMAIN]))[0].domain_enabled).toBe('true');
  });

  it("with FreeSWITCH's event socket down, a suspend is success in WHMCS once FusionPBX has it (not held to the module's 20 s wait)", async () => {
    await bridge.esl.stop();
    try {
      const { result } = await runModule<string>({ function: 'SuspendAccount', params: whmcsParams({ status: 'Suspended' }) });
      expect(result).toBe('success');
      expect((await fusionRows('SELECT domain_enabled::text FROM v_domains WHERE domain_name = $1', [DOMAIN]))[0].domain_enabled).toBe('false');
      // Answered at pending_apply: the FreeSWITCH side was still waiting when WHMCS got its answer.
      const [row] = (
        await bridge.api!.deps.pool.query(
          "SELECT status, result->>'message' AS message FROM webhook_inbox WHERE service_id = $1 AND action = 'suspend' ORDER BY seq DESC LIMIT 1",
          [SERVICE_ID],
        )
      ).rows;
      expect(row).toMatchObject({ status: 'pending_apply', message: expect.any(String) });
    } finally {
      await bridge.esl.start();
    }
  });
});

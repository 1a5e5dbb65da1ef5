import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { runCli, type CliRun } from './run-cli';

// `ictvoip numbers` (issue 15): the tenant's inbound numbers from the CLI, written through the same
// tenant_writes row and `tenant.destination.write` job as /v1/tenants/{t}/destinations.
let bridge: Bridge;
const A = 5901;
const B = 5902;
const cli = (...args: string[]): Promise<CliRun> => runCli(bridge.env, args);
const numbersOf = async (serviceId: number) =>
  (
    await bridge.fusion.query(
      `SELECT t.destination_number, t.destination_actions, t.destination_enabled::text AS enabled FROM v_destinations t
        JOIN v_domain_settings s ON s.domain_uuid = t.domain_uuid AND s.domain_setting_category = 'ictvoip' AND s.domain_setting_subcategory = 'service_id'
       WHERE s.domain_setting_value = $1 ORDER BY 1`,
      [String(serviceId)],
    )
  ).rows;

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '1500', JOB_BACKOFF_MS: '100' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await createTenant(bridge, A, { countryCode: '1', dids: ['5555900001'] });
  await createTenant(bridge, B, { countryCode: '1', dids: ['5555900099'] });
}, 90_000);
afterAll(async () => {
  await bridge.close();
});

it('add, set-action, list and remove go through the destination job; the same --request-id is one write; REST sees the same rows', async () => {
  const added = await cli('numbers', 'add', '+1 555 590 0002', '--service', String(A), '--description', 'sales', '--request-id', 'cli-add-1', '--json');
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: '' });
  expect(added.json).toMatchObject({
    requestId: 'cli-add-1',
    outcome: 'created',
    destination: { number: '5555900002', e164: '+15555900002', description: 'sales', managedByPlan: false },
  });
  const repeat = await cli('numbers', 'add', '+1 555 590 0002', '--service', String(A), '--description', 'sales', '--request-id', 'cli-add-1', '--json');
  expect(repeat.json).toMatchObject({ writeId: added.json.writeId, outcome: 'created' });
  const { rows } = await bridge.api!.deps.pool.query("SELECT resource, operation, status FROM tenant_writes WHERE request_id = 'cli-add-1'");
  expect(rows).toEqual([{ resource: 'destination', operation: 'create', status: 'succeeded' }]);

  const changed = await cli('numbers', 'set-action', '5555900002', '--service', String(A), '--action', 'voicemail:101', '--json');
  expect(changed.code).toBe(0);
  expect(changed.json).toMatchObject({ destination: { action: { type: 'voicemail', target: '101' } } });

  const key = await createKey(bridge.url, bridge.config.adminToken, { name: 'cli-a', scope: 'tenant', serviceId: A, access: 'read' });
  const rest = await call(bridge.url, 'GET', `/v1/tenants/${A}/destinations`, { token: key });
  const list = await cli('numbers', 'list', '--service', String(A), '--json');
  expect(list.code).toBe(0);
  expect(list.json).toEqual({ data: rest.body.data });
  expect((list.json.data as { e164: string }[]).map((row) => row.e164)).toEqual(['+15555900001', '+15555900002']);
  const human = await cli('numbers', 'list', '--service', String(A));
  expect(human.stdout).toContain('+15555900001\ttransfer:100 XML');
  expect(human.stdout).toContain('+15555900002\ttransfer:*99101 XML');

  const removed = await cli('numbers', 'remove', '+15555900002', '--service', String(A), '--json');
  expect(removed.code).toBe(0);
  expect((await numbersOf(A)).map((row) => row.destination_number)).toEqual(['5555900001']);
}, 300_000);

it('refusals: another tenant’s number, a plan number, a bad number or action, an unknown service', async () => {
  const taken = await cli('numbers', 'add', '5555900099', '--service', String(A), '--json');
  expect(taken.code).toBe(1);
  expect((taken.json.error as { code: string }).code).toBe('NUMBER_TAKEN');
  expect(JSON.stringify(taken.json)).not.toContain(`${B}`);
  const plan = await cli('numbers', 'remove', '5555900001', '--service', String(A), '--json');
  expect((plan.json.error as { code: string }).code).toBe('MANAGED_BY_PLAN');
  const other = await cli('numbers', 'set-action', '5555900099', '--service', String(A), '--action', 'extension', '--json');
  expect((other.json.error as { code: string }).code).toBe('NOT_FOUND');
  const bad = await cli('numbers', 'add', 'abc', '--service', String(A));
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('a phone number');
  const badAction = await cli('numbers', 'set-action', '5555900001', '--service', String(A), '--action', 'fax:1');
  expect(badAction.stderr).toContain('--action takes extension|voicemail|ring_group|dialplan');
  const unknown = await cli('numbers', 'list', '--service', '999999', '--json');
  expect(unknown.json).toEqual({ error: { code: 'UNKNOWN_SERVICE', message: 'service 999999 is not known to the bridge' } });
  expect((await numbersOf(A)).map((row) => row.destination_number)).toEqual(['5555900001']);
  expect((await numbersOf(B)).map((row) => row.destination_number)).toEqual(['5555900099']);
}, 300_000);

it('with the event socket down, numbers add says FusionPBX is written and FreeSWITCH follows (not a bare "created")', async () => {
  await bridge.esl.stop();
  try {
    const added = await cli('numbers', 'add', '+1 555 590 0007', '--service', String(A));
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^create \+1 555 590 0007: created \(FusionPBX is updated; FreeSWITCH not yet/m);
    expect((await numbersOf(A)).map((row) => row.destination_number)).toContain('5555900007');
  } finally {
    await bridge.esl.start();
  }
}, 120_000);

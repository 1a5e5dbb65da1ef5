import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';

// Rows the tenant admin or an operator changed in FusionPBX's own pages, then WHMCS's events arrive.

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

const domainOf = (serviceId: number) => `t${serviceId}.pbx.example.net`;
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;

function event(serviceId: number, action: string, plan: Record<string, unknown>) {
  const body = buildEvent({ serviceId, action, plan: { firstExtension: 100, rateDeck: 'standard', brand: 'default', includedMinutes: 100, ...plan } });
  if (action !== 'create') delete body.secrets;
  return body;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });

describe('a plan extension number the tenant made an alias of another extension', () => {
  const serviceId = 7441;

  it('does not fail the next change_package for good: the plan applies and the answer names the number it did not make', async () => {
    expect((await send(event(serviceId, 'create', { maxExtensions: 4 }))).body.result).toBe('success');
    const [{ domain_uuid: domainUuid }] = await fusionRows('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domainOf(serviceId)]);
    // extensions.php deletes 103 (and its mailbox); extension_edit.php gives 100 the alias 103 (an update checks no uniqueness).
    await bridge.fusion.query("DELETE FROM v_voicemails WHERE domain_uuid = $1 AND voicemail_id = '103'", [domainUuid]);
    await bridge.fusion.query("DELETE FROM v_extensions WHERE domain_uuid = $1 AND extension = '103'", [domainUuid]);
    await bridge.fusion.query("UPDATE v_extensions SET number_alias = '103', update_date = now() WHERE domain_uuid = $1 AND extension = '100'", [domainUuid]);

    const reply = await send(event(serviceId, 'change_package', { maxExtensions: 4, maxGateways: 2 }));
    expect(reply.body).toMatchObject({ result: 'success' });
    expect(String(reply.body.message)).toContain("extensions not created (number is another extension's alias in FusionPBX) 103");
    const limits = await fusionRows(
      "SELECT domain_setting_value AS value FROM v_domain_settings WHERE domain_uuid = $1 AND domain_setting_category = 'limit' AND domain_setting_subcategory = 'gateways'",
      [domainUuid],
    );
    expect(limits).toEqual([{ value: '2' }]);
  });
});

describe('the tenant domain renamed in FusionPBX (domain_edit.php)', () => {
  const serviceId = 7442;

  it('is a drift difference until an event records the new name; the event answers WHMCS with the new domain and portal', async () => {
    expect((await send(event(serviceId, 'create', { maxExtensions: 2 }))).body.result).toBe('success');
    const sources = await driftSourcesOf(bridge.worker!.deps);
    const ours = async () => (await buildDriftReport(sources)).items.filter((item) => item.serviceId === serviceId);
    expect(await ours()).toEqual([]);
    await bridge.fusion.query("UPDATE v_domains SET domain_name = 'renamed-7442.pbx.example.net' WHERE domain_name = $1", [domainOf(serviceId)]);

    expect((await ours()).map((item) => [item.kind, item.expected, item.actual, item.fixAction])).toEqual([
      ['domain_renamed', `domain ${domainOf(serviceId)}`, 'domain renamed-7442.pbx.example.net', 'change_package'],
    ]);
    const reply = await send(event(serviceId, 'change_package', { maxExtensions: 2 }));
    expect(reply.body).toMatchObject({
      result: 'success',
      serviceProperties: { pbxDomain: 'renamed-7442.pbx.example.net', portalUrl: 'https://renamed-7442.pbx.example.net/' },
    });
    expect(await ours()).toEqual([]);

    // Renamed again while suspended: the fix is the suspend sent again, which changes nothing else.
    expect((await send(event(serviceId, 'suspend', {}))).body.result).toBe('success');
    await bridge.fusion.query("UPDATE v_domains SET domain_name = 'again-7442.pbx.example.net' WHERE domain_name = 'renamed-7442.pbx.example.net'");
    expect((await ours()).map((item) => [item.kind, item.fixAction])).toEqual([['domain_renamed', 'suspend']]);
    expect((await send(event(serviceId, 'suspend', {}))).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: 'again-7442.pbx.example.net' } });
    expect(await ours()).toEqual([]);
  });
});

describe("another tenant's catch-all inbound route (FusionPBX's Inbound Routes page, a tenant admin may make one)", () => {
  const serviceId = 7443;
  const otherId = 7444;

  async function addRoute(domainUuid: string, name: string, expression: string, enabled: boolean): Promise<string> {
    const [{ uuid }] = await fusionRows(
      `INSERT INTO v_dialplans (dialplan_uuid, domain_uuid, app_uuid, dialplan_name, dialplan_order, dialplan_continue, dialplan_context, dialplan_enabled)
       VALUES (gen_random_uuid(), $1, 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4', $2, 100, 'false', 'public', $3) RETURNING dialplan_uuid::text AS uuid`,
      [domainUuid, name, String(enabled)],
    );
    await bridge.fusion.query(
      `INSERT INTO v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group)
       VALUES (gen_random_uuid(), $1, $2, 'condition', 'destination_number', $3, 0, 0)`,
      [domainUuid, uuid, expression],
    );
    return uuid as string;
  }

  it('stops neither a change_package adding a number nor one keeping its numbers; the drift report names the route', async () => {
    const plan = (dids: string[]) => ({ maxExtensions: 2, countryCode: '1', dids });
    expect((await send(event(serviceId, 'create', plan(['5552230001'])))).body.result).toBe('success');
    expect((await send(event(otherId, 'create', { maxExtensions: 2 }))).body.result).toBe('success');
    const [{ domain_uuid: otherDomain }] = await fusionRows('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domainOf(otherId)]);
    await addRoute(otherDomain as string, 'unassigned', '^(\\d+)$', true);
    await addRoute(otherDomain as string, 'old_catch_all', '^(.*)$', false);

    expect((await send(event(serviceId, 'change_package', plan(['5552230001'])))).body).toMatchObject({ result: 'success' });
    expect((await send(event(serviceId, 'change_package', plan(['5552230001', '5552230002'])))).body).toMatchObject({ result: 'success' });
    const numbers = await fusionRows(
      'SELECT x.destination_number AS number FROM v_destinations x JOIN v_domains d ON d.domain_uuid = x.domain_uuid WHERE d.domain_name = $1 ORDER BY 1',
      [domainOf(serviceId)],
    );
    expect(numbers).toEqual([{ number: '5552230001' }, { number: '5552230002' }]);

    const sources = await driftSourcesOf(bridge.worker!.deps);
    const items = (await buildDriftReport(sources)).items.filter((item) => item.serviceId === serviceId);
    expect(items.map((item) => [item.kind, item.actual, item.fixAction])).toEqual([
      ['inbound_route_conflict', `route unassigned of domain ${domainOf(otherId)} (^(\\d+)$) matches +15552230001, +15552230002 as one of a range`, null],
    ]);
    expect(items[0]!.note).toContain('narrow it to its own numbers or disable it in FusionPBX');
    // The route's own tenant is not told about its own route.
    expect((await buildDriftReport(sources)).items.filter((item) => item.serviceId === otherId)).toEqual([]);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { buildDriftReport } from '@ictvoip/operations';
import { setOutboundRestriction } from '@ictvoip/fusionpbx';
import { startBridge, type Bridge } from './harness';

/**
 * Issue #15 through the whole bridge: a WHMCS create with a gateway, a route template and trunk
 * CIDRs leaves the outbound routes and the access-control nodes in FusionPBX, and FreeSWITCH gets the
 * dialplan cache delete, the acl.conf cache delete and `reloadacl` from the tenant's backlog.
 */
let bridge: Bridge;
let dir: string;
const APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-routes-'));
  const file = join(dir, 'provisioning.json');
  writeFileSync(
    file,
    JSON.stringify({
      gatewayTemplates: { 'carrier-a': { proxy: 'sip.carrier-a.example', register: true, username: 'acme', password: 'change-me' } },
      routeTemplates: { uk: [{ pattern: '^(0[1-9]\\d{8,9})$' }, { pattern: '^(00\\d{9,17})$', tollAllow: 'international' }, { pattern: '^(999|112)$' }] },
    }),
  );
  bridge = await startBridge({ PROVISIONING_FILE: file });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge?.close();
  rmSync(dir, { recursive: true, force: true });
});

const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;

function event(serviceId: number, action: string, plan: Record<string, unknown>) {
  const base = buildEvent({ serviceId, action, plan: { maxExtensions: 2, firstExtension: 100, gatewayTemplate: 'carrier-a', routeTemplate: 'uk', ...plan } });
  if (action !== 'create') delete base.secrets;
  return base;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });

test('create, change package and terminate keep routes and trunk nodes with the plan; FreeSWITCH reloads the ACL each time', async () => {
  const serviceId = 4601;
  const domain = `t${serviceId}.pbx.example.net`;
  bridge.esl.clearRecorded();
  const created = await send(event(serviceId, 'create', { trunkCidrs: '203.0.113.10 | 198.51.100.0/24' }));
  expect(created.body).toMatchObject({ result: 'success' });
  const routes = () =>
    fusionRows('select dialplan_name from v_dialplans d join v_domains using (domain_uuid) where domain_name = $1 and app_uuid = $2 order by dialplan_name', [domain, APP_UUID]);
  const nodes = () => fusionRows('select node_cidr from v_access_control_nodes where node_description = $1 order by node_cidr', [domain]);
  // Patterns the page does not know are named filename_safe(pattern): ^(0[1-9]\d{8,9})$ → 019d89.
  // 5.1.0's page names every call-direction dialplan `call_direction-outbound` (5.3.0 adds the abbreviation).
  const release51 = (await fusionRows("select 1 from information_schema.tables where table_schema = current_schema() and table_name = 'v_xml_cdr_json'")).length === 0;
  const callDirection = (abbreviation: string) => (release51 ? 'call_direction-outbound' : `call_direction-outbound.${abbreviation}`);
  expect((await routes()).map((row) => row.dialplan_name)).toEqual([
    callDirection('00d917'),
    callDirection('019d89'),
    callDirection('999112'),
    'carrier-a.00d917',
    'carrier-a.019d89',
    'carrier-a.999112',
  ]);
  expect((await nodes()).map((row) => row.node_cidr)).toEqual(['198.51.100.0/24', '203.0.113.10/32']);
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete dialplan:${domain}`, 'memcache delete configuration:acl.conf', 'reloadacl']));

  bridge.esl.clearRecorded();
  const changed = await send(event(serviceId, 'change_package', { trunkCidrs: ['203.0.113.10'] }));
  expect(changed.body).toMatchObject({ result: 'success' });
  expect((await nodes()).map((row) => row.node_cidr)).toEqual(['203.0.113.10/32']);
  expect(bridge.esl.apiCommands).toContain('reloadacl');

  bridge.esl.clearRecorded();
  const terminated = await send(event(serviceId, 'terminate', {}));
  expect(terminated.body).toMatchObject({ result: 'success' });
  expect(await routes()).toEqual([]);
  expect(await nodes()).toEqual([]);
  expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete dialplan:${domain}`, 'reloadacl']));
});

test('drift: a bridge route, trunk node or plan number deleted in FusionPBX is reported with change_package, which writes it again; a route enabled while suspended is reported for a person', async () => {
  const serviceId = 4602;
  const domain = `t${serviceId}.pbx.example.net`;
  const created = await send(event(serviceId, 'create', { trunkCidrs: '203.0.113.20', countryCode: '44', dids: ['+44 20 7946 0001'] }));
  expect(created.body).toMatchObject({ result: 'success' });
  const sources = { pool: bridge.worker!.deps.pool, fusionPool: bridge.fusion };
  const ours = async () => (await buildDriftReport(sources)).items.filter((item) => item.serviceId === serviceId);
  expect(await ours()).toEqual([]);

  const [route] = await fusionRows(
    'SELECT p.dialplan_uuid FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.app_uuid = $2 ORDER BY 1 LIMIT 1',
    [domain, APP_UUID],
  );
  await bridge.fusion.query('DELETE FROM v_dialplan_details WHERE dialplan_uuid = $1', [route.dialplan_uuid]);
  await bridge.fusion.query('DELETE FROM v_dialplans WHERE dialplan_uuid = $1', [route.dialplan_uuid]);
  await bridge.fusion.query('DELETE FROM v_access_control_nodes WHERE node_description = $1', [domain]);
  await bridge.fusion.query('DELETE FROM v_destinations WHERE domain_uuid = (SELECT domain_uuid FROM v_domains WHERE domain_name = $1)', [domain]);
  const drifted = await ours();
  expect(drifted.map((item) => [item.kind, item.fixAction]).sort()).toEqual([
    ['numbers_mismatch', 'change_package'],
    ['routes_mismatch', 'change_package'],
    ['trunk_acl_mismatch', 'change_package'],
  ]);
  expect(drifted.find((item) => item.kind === 'numbers_mismatch')).toMatchObject({ expected: 'plan numbers +442079460001', actual: 'missing +442079460001' });

  expect((await send(event(serviceId, 'change_package', { trunkCidrs: '203.0.113.20', countryCode: '44', dids: ['+44 20 7946 0001'] }))).body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);

  expect((await send(event(serviceId, 'suspend', {}))).body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);
  await bridge.fusion.query(
    "UPDATE v_dialplans SET dialplan_enabled = 'true' WHERE dialplan_uuid = (SELECT dialplan_uuid FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.app_uuid = $2 ORDER BY 1 LIMIT 1)",
    [domain, APP_UUID],
  );
  expect((await ours()).map((item) => [item.kind, item.fixAction])).toEqual([['routes_mismatch', null]]);
});

test('drift under the outbound credit restriction: the emergency route pair left enabled is no drift; a paid route enabled in FusionPBX is reported for a person', async () => {
  const serviceId = 4603;
  const domain = `t${serviceId}.pbx.example.net`;
  expect((await send(event(serviceId, 'create', {}))).body).toMatchObject({ result: 'success' });
  const sources = { pool: bridge.worker!.deps.pool, fusionPool: bridge.fusion };
  const ours = async () => (await buildDriftReport(sources)).items.filter((item) => item.serviceId === serviceId);
  const restricted = await setOutboundRestriction(bridge.fusion, serviceId, true);
  expect(restricted.emergencyRoutes).toHaveLength(2); // ^(999|112)$: its call-direction dialplan and the route
  const enabled = () =>
    fusionRows(
      "SELECT p.dialplan_name FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.app_uuid = $2 AND p.dialplan_enabled::text = 'true' ORDER BY 1",
      [domain, APP_UUID],
    );
  expect((await enabled()).map((row) => row.dialplan_name)).toContain('carrier-a.999112');
  expect(await ours()).toEqual([]);

  await bridge.fusion.query("UPDATE v_dialplans SET dialplan_enabled = 'true' WHERE dialplan_name = 'carrier-a.019d89' AND dialplan_context = $1", [domain]);
  const drift = await ours();
  expect(drift.map((item) => [item.kind, item.fixAction])).toEqual([['routes_mismatch', null]]);
  expect(drift[0]).toMatchObject({ expected: "the bridge's outbound routes disabled (the credit restriction)", actual: expect.stringMatching(/^1 enabled/) });
});

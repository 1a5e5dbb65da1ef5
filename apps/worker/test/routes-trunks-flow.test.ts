import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
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

test('a trunk CIDR another tenant holds: the create fails for good naming the owner, nothing is written; the dry-run says the same', async () => {
  const owner = 4603;
  const ownerDomain = `t${owner}.pbx.example.net`;
  expect((await send(event(owner, 'create', { trunkCidrs: '198.51.100.128/25' }))).body).toMatchObject({ result: 'success' });
  const taker = event(4604, 'create', { trunkCidrs: ['192.0.2.44', '198.51.100.200'] });
  const dryRun = await postWebhook(bridge.url, JSON.stringify(taker), { query: '?dryRun=1' });
  expect(dryRun.status).toBe(200);
  expect(dryRun.body).toMatchObject({ result: 'error', code: 'TRUNK_CIDR_TAKEN', retryable: false });
  expect(String(dryRun.body.message)).toContain(`domain ${ownerDomain}`);

  const refused = await send(taker);
  expect(refused.body).toMatchObject({ result: 'error', retryable: false });
  expect(String(refused.body.message)).toMatch(
    /trunk CIDR 198\.51\.100\.200\/32 overlaps 198\.51\.100\.128\/25, which is already a trunk address of domain t4603\.pbx\.example\.net/,
  );
  expect(await fusionRows("select 1 from v_domains where domain_name = 't4604.pbx.example.net'")).toEqual([]);
  expect(await fusionRows("select node_cidr from v_access_control_nodes where node_cidr in ('192.0.2.44/32', '198.51.100.200/32')")).toEqual([]);
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

test("drift: the plan's gateway deleted or disabled in FusionPBX's page is reported with change_package, which writes it again and points the routes at it; enabled while suspended is for a person", async () => {
  const serviceId = 4608;
  const domain = `t${serviceId}.pbx.example.net`;
  expect((await send(event(serviceId, 'create', {}))).body).toMatchObject({ result: 'success' });
  const sources = await driftSourcesOf(bridge.worker!.deps);
  const ours = async () => (await buildDriftReport(sources)).items.filter((item) => item.serviceId === serviceId);
  const gateways = () =>
    fusionRows('select gateway_uuid::text as uuid, gateway, enabled::text as enabled from v_gateways g join v_domains d using (domain_uuid) where d.domain_name = $1', [domain]);
  const bridgedTo = async () =>
    (
      await fusionRows(
        "select distinct x.dialplan_detail_data as data from v_dialplan_details x join v_dialplans p using (dialplan_uuid) join v_domains d on d.domain_uuid = p.domain_uuid where d.domain_name = $1 and x.dialplan_detail_data like 'sofia/gateway/%'",
        [domain],
      )
    ).map((row) => String(row.data).split('/')[2]);
  expect(await ours()).toEqual([]);
  const [original] = await gateways();
  expect(original).toMatchObject({ gateway: 'carrier-a', enabled: 'true' });

  // gateway_delete.php: the row goes, the routes still name its uuid.
  await bridge.fusion.query('DELETE FROM v_gateways WHERE gateway_uuid = $1', [original.uuid]);
  expect((await ours()).map((item) => [item.kind, item.expected, item.actual, item.fixAction])).toEqual([
    ['gateway_mismatch', "the plan's gateway carrier-a, enabled", `gateway ${original.uuid} missing from FusionPBX`, 'change_package'],
  ]);
  expect((await send(event(serviceId, 'change_package', {}))).body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);
  const [again] = await gateways();
  expect(again).toMatchObject({ gateway: 'carrier-a', enabled: 'true' });
  expect(new Set(await bridgedTo())).toEqual(new Set([again.uuid]));

  // Switched off in gateway_edit.php: change_package keeps the operator's choice, so the report asks a person.
  await bridge.fusion.query("UPDATE v_gateways SET enabled = 'false' WHERE gateway_uuid = $1", [again.uuid]);
  const switchedOff = await ours();
  expect(switchedOff.map((item) => [item.kind, item.actual, item.fixAction])).toEqual([['gateway_mismatch', 'gateway carrier-a disabled', null]]);
  expect(switchedOff[0]!.note).toContain('change_package keeps it off');
  expect((await send(event(serviceId, 'change_package', {}))).body).toMatchObject({ result: 'success' });
  expect((await gateways())[0]).toMatchObject({ enabled: 'false' });
  await bridge.fusion.query("UPDATE v_gateways SET enabled = 'true' WHERE gateway_uuid = $1", [again.uuid]);
  expect(await ours()).toEqual([]);

  // A plan that drops the gateway: the bridge switches it off itself; the plan taking it back again is in step once change_package ran.
  expect((await send(event(serviceId, 'change_package', { gatewayTemplate: undefined, routeTemplate: undefined }))).body).toMatchObject({ result: 'success' });
  expect((await gateways())[0]).toMatchObject({ enabled: 'false' });
  // The stored plan takes the gateway back (a change_package whose job has not run yet).
  await bridge.worker!.deps.pool.query('UPDATE services SET plan = plan || $2::jsonb WHERE service_id = $1', [
    serviceId,
    JSON.stringify({ gatewayTemplate: 'carrier-a', routeTemplate: 'uk' }),
  ]);
  expect((await ours()).map((item) => [item.kind, item.actual, item.fixAction])).toContainEqual(['gateway_mismatch', 'gateway carrier-a disabled', 'change_package']);
  expect((await send(event(serviceId, 'change_package', {}))).body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);

  // Suspended: every gateway of the domain stays disabled; one enabled by hand needs a person.
  expect((await send(event(serviceId, 'suspend', {}))).body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);
  await bridge.fusion.query("UPDATE v_gateways SET enabled = 'true' WHERE gateway_uuid = $1", [again.uuid]);
  const suspended = await ours();
  expect(suspended.map((item) => [item.kind, item.actual, item.fixAction])).toEqual([['gateway_mismatch', '1 enabled (carrier-a)', null]]);
  expect(suspended[0]!.note).toContain('disable it there');
});

test('drift re-derives the plan: numbers, trunk CIDRs and routes the stored plan names but FusionPBX lacks (an event that never applied, a template edited since) are reported; change_package converges them', async () => {
  const serviceId = 4605;
  const domain = `t${serviceId}.pbx.example.net`;
  const plan = { trunkCidrs: '203.0.113.50', countryCode: '44', dids: ['+44 20 7946 0050'] };
  expect((await send(event(serviceId, 'create', plan))).body).toMatchObject({ result: 'success' });
  const sources = await driftSourcesOf(bridge.worker!.deps);
  expect(sources.provisioning?.routeTemplates?.uk).toHaveLength(3);
  const ours = async (provisioning = sources.provisioning) =>
    (await buildDriftReport({ ...sources, provisioning })).items.filter((item) => item.serviceId === serviceId).sort((a, b) => a.kind.localeCompare(b.kind));
  expect(await ours()).toEqual([]);

  // The bridge's stored plan moves on (as a change_package whose job failed would leave it): FusionPBX has not followed.
  const storedPlan = async (changes: Record<string, unknown>) =>
    bridge.worker!.deps.pool.query('UPDATE services SET plan = plan || $2::jsonb WHERE service_id = $1', [serviceId, JSON.stringify(changes)]);
  await storedPlan({ dids: ['+44 20 7946 0051'], trunkCidrs: ['203.0.113.50', '203.0.113.51'], routeTemplate: 'uk-national' });
  const drifted = await ours({ ...sources.provisioning, routeTemplates: { ...sources.provisioning!.routeTemplates, 'uk-national': [{ pattern: '^(0[1-9]\\d{8,9})$' }] } });
  expect(drifted.map((item) => [item.kind, item.expected, item.actual, item.fixAction])).toEqual([
    ['numbers_mismatch', 'plan numbers +442079460051', 'missing +442079460051; dropped by the plan but still there +442079460050', 'change_package'],
    [
      'routes_mismatch',
      'the 1 route(s) of template uk-national: carrier-a.019d89',
      '6 route dialplan(s) of the bridge: carrier-a.00d917, carrier-a.019d89, carrier-a.999112',
      'change_package',
    ],
    ['trunk_acl_mismatch', "trunk ACL nodes for the plan's CIDRs 203.0.113.50/32, 203.0.113.51/32", 'missing 203.0.113.51/32', 'change_package'],
  ]);
  // Without the provisioning templates the routes are checked against the tenant state only (nothing missing there).
  expect((await ours(null)).map((item) => item.kind)).toEqual(['numbers_mismatch', 'trunk_acl_mismatch']);

  // A number the plan names that another tenant holds: change_package would be refused, so a person decides.
  expect((await send(event(4606, 'create', { countryCode: '44', dids: ['+44 20 7946 0052'] }))).body).toMatchObject({ result: 'success' });
  await storedPlan({ dids: ['+44 20 7946 0050', '+44 20 7946 0052'], trunkCidrs: ['203.0.113.50'], routeTemplate: 'uk' });
  const taken = await ours();
  expect(taken.map((item) => [item.kind, item.actual, item.fixAction])).toEqual([['numbers_mismatch', 'missing +442079460052', null]]);
  expect(taken[0]!.note).toContain('+442079460052 is a number of t4606.pbx.example.net');

  // The plan as FusionPBX has it again, through the event: in step.
  await storedPlan({ dids: ['+44 20 7946 0050'] });
  expect(await ours()).toEqual([]);
  expect((await fusionRows('SELECT count(*)::int AS n FROM v_destinations t JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]))[0].n).toBe(1);
  const changed = await send(event(serviceId, 'change_package', { ...plan, trunkCidrs: ['203.0.113.50', '203.0.113.51'] }));
  expect(changed.body).toMatchObject({ result: 'success' });
  expect(await ours()).toEqual([]);
});

test('drift under the outbound credit restriction: the emergency route pair left enabled is no drift; a paid route enabled in FusionPBX is reported for a person', async () => {
  const serviceId = 4607;
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

import { randomUUID } from 'node:crypto';
import {
  FusionpbxValidationError,
  type Provisioner,
  type ProvisionerOptions,
  type RouteTemplate,
  TenantNotFoundError,
  createProvisioner,
  setOutboundRestriction,
} from '@ictvoip/fusionpbx';
import type { TenantCommand } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, setupFusionpbx, tenantEvent, testOptions } from './helpers';

/**
 * Issue #15 gaps and #16's outbound restriction: the bridge's outbound routes and trunk ACL nodes
 * across suspend / unsuspend, and the credit restriction `outbound` on the routes, on the fixture
 * and both full schemas. FusionPBX's dialplan toggle only flips dialplan_enabled (the Lua dialplan
 * reads enabled rows) and clears `dialplan:<context>`; access_control_nodes has no enabled column,
 * so a suspended tenant's nodes are deleted and written back with their own uuids.
 */
const APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';
const ROUTES: Record<string, RouteTemplate[]> = {
  default: [{ pattern: '^(\\d{10})$' }, { pattern: '^(011\\d{9,17})$', enabled: false }],
  other: [{ pattern: '^(\\d{7})$' }],
};

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
const providers = randomUUID();
const operatorNode = randomUUID();

function options(extra: Partial<ProvisionerOptions> = {}): ProvisionerOptions {
  return { ...testOptions(fx.basics), routeTemplates: ROUTES, ...extra };
}

beforeAll(async () => {
  fx = await setupFusionpbx('fpbx_routes_suspend');
  provisioner = createProvisioner({ pool: fx.pool, options: options() });
  await fx.pool.query("insert into v_access_controls (access_control_uuid, access_control_name, access_control_default) values ($1, 'providers', 'deny')", [providers]);
  await fx.pool.query(
    "insert into v_access_control_nodes (access_control_node_uuid, access_control_uuid, node_type, node_cidr, node_description) values ($1, $2, 'allow', '192.0.2.1/32', 'carrier')",
    [operatorNode, providers],
  );
});
afterAll(() => fx?.close());

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows as Record<string, unknown>[];
/** [name, enabled] of the outbound-route dialplans (5.1 names every call-direction dialplan alike: listed, not keyed). */
const routeStates = async (domainUuid: string): Promise<[string, boolean][]> =>
  (
    await rows('select dialplan_name, dialplan_enabled::text as enabled from v_dialplans where domain_uuid = $1 and app_uuid = $2 order by dialplan_name, dialplan_enabled::text', [
      domainUuid,
      APP_UUID,
    ])
  ).map((row) => [row.dialplan_name as string, row.enabled === 'true']);
const enabledRoutes = async (domainUuid: string) => (await routeStates(domainUuid)).filter(([, enabled]) => enabled);
const nodeRows = (domainName: string) =>
  rows('select access_control_node_uuid, access_control_uuid, node_type, node_cidr, node_description from v_access_control_nodes where node_description = $1 order by node_cidr', [
    domainName,
  ]);
const event = (serviceId: number, plan: Record<string, unknown> = {}, action: TenantCommand['action'] = 'create'): TenantCommand => ({
  ...tenantEvent(serviceId, {}, plan),
  action,
});
const trunk = { trunkCidrs: ['203.0.113.60', '198.51.100.64/26'] };
/** Another tenant's trunk: a CIDR belongs to one tenant of the server. */
const trunkOf = (serviceId: number) => ({ trunkCidrs: [`10.84.${serviceId % 256}.1`, `10.85.${serviceId % 256}.0/26`] });

/** A route the tenant made on the page itself: never touched by the bridge. */
async function addOwnRoute(domainUuid: string, domainName: string): Promise<string> {
  const own = randomUUID();
  await fx.pool.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_order, dialplan_enabled)
     values ($1, $2, $3, $4, 'mine.7d', 'false', 200, 'true')`,
    [domainUuid, own, APP_UUID, domainName],
  );
  return own;
}

/** The managed route dialplans as rows, apart from the columns a toggle writes. */
const routeSnapshot = async (domainUuid: string) =>
  (await rows('select * from v_dialplans where domain_uuid = $1 and app_uuid = $2 order by dialplan_uuid', [domainUuid, APP_UUID])).map(
    ({ dialplan_enabled: _enabled, update_date: _date, update_user: _user, ...rest }) => rest,
  );

describe(`suspend and unsuspend: the bridge's routes and trunk nodes (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('suspend disables the routes and removes the trunk nodes; unsuspend restores exactly them (a route disabled by the plan stays disabled)', async () => {
    const created = await provisioner.create(event(8401, trunk));
    await addOwnRoute(created.domainUuid, created.domainName);
    const routesBefore = await routeStates(created.domainUuid);
    expect(routesBefore.filter(([, enabled]) => !enabled)).toHaveLength(2); // the 011 route's two dialplans
    const snapshot = await routeSnapshot(created.domainUuid);
    const nodesBefore = await nodeRows(created.domainName);
    expect(nodesBefore).toHaveLength(2);

    const suspended = await provisioner.suspend(event(8401, {}, 'suspend'));
    // The tenant's own route too: email-to-fax and call broadcasts dial through it whatever the domain's state.
    expect(await enabledRoutes(created.domainUuid)).toEqual([]);
    expect(Object.values(suspended.suspendMemory?.dialplans ?? {})).toEqual([true]);
    expect(await nodeRows(created.domainName)).toEqual([]);
    expect(await rows('select node_cidr from v_access_control_nodes where access_control_node_uuid = $1', [operatorNode])).toEqual([{ node_cidr: '192.0.2.1/32' }]);
    expect(suspended.freeswitch).toEqual(
      expect.arrayContaining([{ kind: 'cache_delete', key: `dialplan:${created.domainName}` }, { kind: 'cache_delete', key: 'configuration:acl.conf' }, { kind: 'reload_acl' }]),
    );
    expect(Object.keys(suspended.suspendMemory?.outboundRoutes ?? {})).toHaveLength(4);
    expect(suspended.suspendMemory?.trunkNodes?.map((node) => node.cidr).sort()).toEqual(['198.51.100.64/26', '203.0.113.60/32']);

    // Repeat: nothing written, the FreeSWITCH side sent again.
    const before = await dumpTables(fx.pool);
    const replay = await provisioner.suspend(event(8401, {}, 'suspend'));
    expect(replay.changed).toBe(false);
    expect(replay.freeswitch).toEqual(expect.arrayContaining([{ kind: 'cache_delete', key: `dialplan:${created.domainName}` }, { kind: 'reload_acl' }]));
    expect(await dumpTables(fx.pool)).toEqual(before);

    const unsuspended = await provisioner.unsuspend(event(8401, {}, 'unsuspend'));
    expect(await routeStates(created.domainUuid)).toEqual(routesBefore);
    expect(await routeSnapshot(created.domainUuid)).toEqual(snapshot);
    expect(await nodeRows(created.domainName)).toEqual(nodesBefore);
    expect(unsuspended.freeswitch).toEqual(expect.arrayContaining([{ kind: 'cache_delete', key: `dialplan:${created.domainName}` }, { kind: 'reload_acl' }]));

    // The restored nodes are the bridge's again: change package dropping one deletes it.
    const replayCreate = await provisioner.create(event(8401, trunk));
    expect(replayCreate.changed).toBe(false);
    await provisioner.changePackage(event(8401, { trunkCidrs: ['203.0.113.60'] }, 'change_package'));
    expect((await nodeRows(created.domainName)).map((row) => row.node_cidr)).toEqual(['203.0.113.60/32']);
  });

  test('a crash in the middle of unsuspend (the node insert fails) leaves the tenant suspended as it was; the retry restores it', async () => {
    const created = await provisioner.create(event(8402, trunkOf(8402)));
    const routesBefore = await routeStates(created.domainUuid);
    const nodesBefore = await nodeRows(created.domainName);
    await provisioner.suspend(event(8402, {}, 'suspend'));
    const before = await dumpTables(fx.pool);
    await fx.pool.query(`create or replace function h25_refuse() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`);
    await fx.pool.query('create trigger h25_refuse before insert on v_access_control_nodes for each row execute function h25_refuse()');
    try {
      await expect(provisioner.unsuspend(event(8402, {}, 'unsuspend'))).rejects.toThrow(/disk full/);
      expect(await dumpTables(fx.pool)).toEqual(before);
    } finally {
      await fx.pool.query('drop trigger h25_refuse on v_access_control_nodes');
    }
    await provisioner.unsuspend(event(8402, {}, 'unsuspend'));
    expect(await routeStates(created.domainUuid)).toEqual(routesBefore);
    expect(await nodeRows(created.domainName)).toEqual(nodesBefore);
  });

  test('terminate while suspended removes the routes; the nodes do not come back', async () => {
    const created = await provisioner.create(event(8403, trunkOf(8403)));
    await provisioner.suspend(event(8403, {}, 'suspend'));
    await provisioner.terminate(event(8403, {}, 'terminate'));
    expect(await routeStates(created.domainUuid)).toEqual([]);
    expect(await nodeRows(created.domainName)).toEqual([]);
  });
});

describe(`credit restriction "outbound" on the bridge's routes (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('restrict disables only the bridge routes; replay writes nothing; lift restores exactly; inbound numbers and extensions untouched', async () => {
    const created = await provisioner.create(event(8501, { countryCode: '1', dids: ['5554010001'] }));
    await addOwnRoute(created.domainUuid, created.domainName);
    const routesBefore = await routeStates(created.domainUuid);
    const untouched = async () => ({
      extensions: await rows('select extension, enabled::text from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid]),
      destinations: await rows('select destination_number, destination_enabled::text from v_destinations where domain_uuid = $1', [created.domainUuid]),
      gateways: await rows('select gateway_uuid, enabled::text from v_gateways where domain_uuid = $1', [created.domainUuid]),
    });
    const others = await untouched();

    const restricted = await setOutboundRestriction(fx.pool, 8501, true);
    expect(restricted).toMatchObject({ serviceId: '8501', domainName: created.domainName, restricted: true, changed: true });
    expect(restricted.routes).toHaveLength(4);
    expect(restricted.freeswitch).toEqual([{ kind: 'cache_delete', key: `dialplan:${created.domainName}` }]);
    expect(await enabledRoutes(created.domainUuid)).toEqual([['mine.7d', true]]);
    expect(await untouched()).toEqual(others);

    const before = await dumpTables(fx.pool);
    const replay = await setOutboundRestriction(fx.pool, '8501', true);
    expect(replay.changed).toBe(false);
    expect(replay.freeswitch).toEqual([{ kind: 'cache_delete', key: `dialplan:${created.domainName}` }]);
    expect(await dumpTables(fx.pool)).toEqual(before);

    // change_package and a create replay while restricted keep the routes disabled.
    expect((await provisioner.create(event(8501, { countryCode: '1', dids: ['5554010001'] }))).changed).toBe(false);
    await provisioner.changePackage(event(8501, { countryCode: '1', dids: ['5554010001'], routeTemplate: 'other' }, 'change_package'));
    expect(await enabledRoutes(created.domainUuid)).toEqual([['mine.7d', true]]);

    const lifted = await setOutboundRestriction(fx.pool, 8501, false);
    expect(lifted.changed).toBe(true);
    expect(await enabledRoutes(created.domainUuid)).toHaveLength(3); // the 'other' template's two dialplans and the tenant's own;
    expect((await setOutboundRestriction(fx.pool, 8501, false)).changed).toBe(false);
    await provisioner.changePackage(event(8501, { countryCode: '1', dids: ['5554010001'] }, 'change_package'));
    expect(await routeStates(created.domainUuid)).toEqual(routesBefore);
  });

  test('with suspend: restricted then suspended then lifted then unsuspended ends as before; restricted while suspended stays disabled after unsuspend', async () => {
    const created = await provisioner.create(event(8502));
    const routesBefore = await routeStates(created.domainUuid);
    await setOutboundRestriction(fx.pool, 8502, true);
    await provisioner.suspend(event(8502, {}, 'suspend'));
    await setOutboundRestriction(fx.pool, 8502, false);
    expect(await enabledRoutes(created.domainUuid)).toEqual([]); // still suspended
    await provisioner.unsuspend(event(8502, {}, 'unsuspend'));
    expect(await routeStates(created.domainUuid)).toEqual(routesBefore);

    await provisioner.suspend(event(8502, {}, 'suspend'));
    await setOutboundRestriction(fx.pool, 8502, true);
    await provisioner.unsuspend(event(8502, {}, 'unsuspend'));
    expect(await enabledRoutes(created.domainUuid)).toEqual([]); // credit still at zero
    await setOutboundRestriction(fx.pool, 8502, false);
    expect(await routeStates(created.domainUuid)).toEqual(routesBefore);
  });

  test('an unknown service or a bad id is refused, nothing written', async () => {
    const before = await dumpTables(fx.pool);
    await expect(setOutboundRestriction(fx.pool, 8599, true)).rejects.toBeInstanceOf(TenantNotFoundError);
    await expect(setOutboundRestriction(fx.pool, 'x1', true)).rejects.toBeInstanceOf(FusionpbxValidationError);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });
});

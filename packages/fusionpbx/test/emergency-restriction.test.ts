import { randomUUID } from 'node:crypto';
import {
  type Provisioner,
  type ProvisionerOptions,
  type RouteTemplate,
  createProvisioner,
  gatewaysOfBridge,
  isEmergencyExpression,
  numbersOfExpression,
  setOutboundRestriction,
} from '@ictvoip/fusionpbx';
import type { TenantCommand } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, setupFusionpbx, tenantEvent, testOptions } from './helpers';

/**
 * Issue #16: the credit restriction `outbound` keeps emergency calls routed. The emergency routes
 * (the bridge's and the tenant's own) stay enabled and their gateways are reported as kept; every
 * other bridge route is disabled, and so is every route the tenant made that dials through a kept
 * gateway; the lift restores exactly. On the fixture and both full schemas (FUSIONPBX_SCHEMA).
 */
const APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';
const EMERGENCY = '(^911$|^933$)';
const ROUTES: Record<string, RouteTemplate[]> = {
  default: [{ pattern: '^(\\d{10})$' }, { pattern: '^(011\\d{9,17})$', enabled: false }, { pattern: EMERGENCY, description: 'Emergency' }],
  other: [{ pattern: '^(\\d{7})$' }, { pattern: EMERGENCY, description: 'Emergency' }],
};

describe('emergency routes: which expressions count', () => {
  test.each([
    [EMERGENCY, true],
    ['^(911)$', true],
    ['^911$', true],
    ['^(?:112|999)$', true],
    ['^9(911)$', true], // behind the route's outbound prefix 9
    ['^\\+?(112)$', true],
    ['(^988$)', false], // a lifeline, not in the emergency list
    ['^(311)$', false],
    ['^(\\d{3})$', false], // also 411: a paid route
    ['(^911$|^411$)', false],
    ['911', false], // unanchored: matches inside any number
    ['^911', false],
    ['^(1?911)$', false],
    ['^(911', false],
    ['', false],
  ])('%s → %s', (expression, expected) => {
    expect(isEmergencyExpression(expression)).toBe(expected);
  });

  test('the numbers of an expression and the gateways of a bridge', () => {
    expect(numbersOfExpression(EMERGENCY)).toEqual(['911', '933']);
    expect(numbersOfExpression('^(\\d{10})$')).toBeNull();
    const [a, b] = [randomUUID(), randomUUID()];
    expect(gatewaysOfBridge(`sofia/gateway/${a.toUpperCase()}/$1`)).toEqual([a]);
    expect(gatewaysOfBridge(`sofia/gateway/${a}/1$1|sofia/gateway/${b}/$1`)).toEqual([a, b]);
    expect(gatewaysOfBridge('user/100@example.net')).toEqual([]);
  });
});

let fx: FusionpbxTestDb;
let provisioner: Provisioner;

function options(extra: Partial<ProvisionerOptions> = {}): ProvisionerOptions {
  return { ...testOptions(fx.basics), routeTemplates: ROUTES, ...extra };
}

beforeAll(async () => {
  fx = await setupFusionpbx('fpbx_emergency_restriction');
  provisioner = createProvisioner({ pool: fx.pool, options: options() });
});
afterAll(() => fx?.close());

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows as Record<string, unknown>[];
const event = (serviceId: number, plan: Record<string, unknown> = {}, action: TenantCommand['action'] = 'create'): TenantCommand => ({
  ...tenantEvent(serviceId, {}, plan),
  action,
});
/** [name, enabled] of every outbound-route dialplan of the domain. */
const routeStates = async (domainUuid: string): Promise<[string, boolean][]> =>
  (
    await rows('select dialplan_name, dialplan_enabled::text as enabled from v_dialplans where domain_uuid = $1 and app_uuid = $2 order by dialplan_name, dialplan_enabled::text', [
      domainUuid,
      APP_UUID,
    ])
  ).map((row) => [row.dialplan_name as string, row.enabled === 'true']);
/** The enabled outbound-route dialplans: the template's emergency pair by its description, the others by name. */
const enabledNames = async (domainUuid: string) =>
  (
    await rows(
      `select case when dialplan_description = 'Emergency' then 'EMERGENCY' else dialplan_name end as name from v_dialplans
       where domain_uuid = $1 and app_uuid = $2 and dialplan_enabled::text = 'true'`,
      [domainUuid, APP_UUID],
    )
  )
    .map((row) => row.name as string)
    .sort();
const tenantGateway = async (domainUuid: string) => (await rows('select gateway_uuid::text as uuid from v_gateways where domain_uuid = $1', [domainUuid]))[0]!.uuid as string;

/** A route the tenant made on FusionPBX's page: one dialplan, its expression and its bridge. */
async function addOwnRoute(domainUuid: string, domainName: string, name: string, expression: string, gatewayUuid: string | null, enabled = true): Promise<string> {
  const uuid = randomUUID();
  await fx.pool.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_order, dialplan_enabled)
     values ($1, $2, $3, $4, $5, 'false', 200, $6)`,
    [domainUuid, uuid, APP_UUID, domainName, name, String(enabled)],
  );
  const details: [string, string, string][] = [
    ['condition', 'destination_number', expression],
    ['action', 'bridge', gatewayUuid ? `sofia/gateway/${gatewayUuid}/$1` : 'user/$1@${domain_name}'],
  ];
  for (const [index, [tag, type, data]] of details.entries()) {
    await fx.pool.query(
      `insert into v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group, dialplan_detail_enabled)
       values ($1, $2, $3, $4, $5, $6, $7, 0, 'true')`,
      [randomUUID(), domainUuid, uuid, tag, type, data, (index + 1) * 10],
    );
  }
  return uuid;
}

/** Another gateway of the tenant's domain (as the gateway page writes the columns that matter here). */
async function addGateway(domainUuid: string, name: string): Promise<string> {
  const uuid = randomUUID();
  await fx.pool.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, $3, 'false', 'external', 'true')`, [
    uuid,
    domainUuid,
    name,
  ]);
  return uuid;
}

describe(`credit restriction "outbound" keeps emergency calls routed (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('restrict: emergency routes enabled and their gateways kept; paid routes through a kept gateway disabled (the tenant’s own too); replay writes nothing; lift restores exactly', async () => {
    const created = await provisioner.create(event(8601));
    const { domainUuid, domainName } = created;
    const trunk = await tenantGateway(domainUuid);
    const other = await addGateway(domainUuid, 'other-carrier');
    const ownPaid = await addOwnRoute(domainUuid, domainName, 'mine.paid', '^(\\d{11})$', trunk);
    await addOwnRoute(domainUuid, domainName, 'mine.off', '^(\\d{12})$', trunk, false);
    const ownOther = await addOwnRoute(domainUuid, domainName, 'mine.other', '^(\\d{7})$', other);
    await addOwnRoute(domainUuid, domainName, 'mine.local', '^(\\d{3})$', null);
    const ownEmergency = await addOwnRoute(domainUuid, domainName, 'mine.112', '^(112)$', other);
    const before = await routeStates(domainUuid);
    const beforeDump = await dumpTables(fx.pool);

    const restricted = await setOutboundRestriction(fx.pool, 8601, true);
    expect(restricted.changed).toBe(true);
    expect(restricted.keptGateways).toEqual([trunk, other].sort());
    // The other carrier stays up for the tenant's 112 route: its 7-digit route through it goes off too.
    expect(restricted.ownRoutes.sort()).toEqual([ownPaid, ownOther].sort());
    expect(restricted.emergencyRoutes).toHaveLength(3); // the template's pair and the tenant's 112
    expect(restricted.emergencyRoutes).toContain(ownEmergency);
    expect(restricted.freeswitch).toEqual([{ kind: 'cache_delete', key: `dialplan:${domainName}` }]);
    // The emergency pair (call direction + route through the trunk), the 112 route, and the tenant's route that uses no gateway.
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY', 'mine.112', 'mine.local']);
    const bridge = await rows(
      `select d.dialplan_detail_data as data from v_dialplan_details d join v_dialplans p using (dialplan_uuid) where p.domain_uuid = $1 and p.dialplan_name like '%.911' and d.dialplan_detail_type = 'bridge'`,
      [domainUuid],
    );
    expect(bridge).toEqual([{ data: `sofia/gateway/${trunk}/$1` }]);
    // Gateways are credit control's to stop: this call leaves them as they are.
    expect(await rows('select enabled::text from v_gateways where domain_uuid = $1', [domainUuid])).toEqual([{ enabled: 'true' }, { enabled: 'true' }]);

    const snapshot = await dumpTables(fx.pool);
    const replay = await setOutboundRestriction(fx.pool, 8601, true);
    expect(replay).toMatchObject({ changed: false, keptGateways: [trunk, other].sort() });
    expect(replay.ownRoutes.sort()).toEqual([ownPaid, ownOther].sort());
    expect(await dumpTables(fx.pool)).toEqual(snapshot);

    const lifted = await setOutboundRestriction(fx.pool, 8601, false);
    expect(lifted).toMatchObject({ changed: true, keptGateways: [], ownRoutes: [] });
    expect(await routeStates(domainUuid)).toEqual(before);
    expect((await setOutboundRestriction(fx.pool, 8601, false)).changed).toBe(false);
    // Only dialplan_enabled moved and moved back (the toggle's update_date / update_user aside).
    const strip = (dump: Record<string, unknown[]>) =>
      (dump.v_dialplans ?? []).map((row) => JSON.parse(row as string) as Record<string, unknown>).map(({ update_date: _d, update_user: _u, ...rest }) => JSON.stringify(rest));
    expect(strip(await dumpTables(fx.pool)).sort()).toEqual(strip(beforeDump).sort());
  });

  test('applied again: a route the tenant adds or re-enables while restricted is disabled and remembered; nothing new writes nothing (xmin); the lift restores the late one too', async () => {
    const created = await provisioner.create(event(8604));
    const { domainUuid, domainName } = created;
    const trunk = await tenantGateway(domainUuid);
    const early = await addOwnRoute(domainUuid, domainName, 'mine.early', '^(\\d{11})$', trunk);
    const enabledBefore = await enabledNames(domainUuid);
    const restricted = await setOutboundRestriction(fx.pool, 8604, true);
    expect(restricted.ownRoutes).toEqual([early]);
    const late = await addOwnRoute(domainUuid, domainName, 'mine.late', '^(\\d{12})$', trunk);
    const lateOff = await addOwnRoute(domainUuid, domainName, 'mine.late-off', '^(\\d{13})$', trunk, false);
    const xmins = async () => rows('select dialplan_uuid::text, xmin::text from v_dialplans where domain_uuid = $1 order by 1', [domainUuid]);

    const again = await setOutboundRestriction(fx.pool, 8604, true);
    expect(again.changed).toBe(true);
    expect(again.ownRoutes.sort()).toEqual([early, late].sort());
    expect(again.freeswitch).toEqual([{ kind: 'cache_delete', key: `dialplan:${domainName}` }]);
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY']);

    // Nothing new: not one dialplan row nor the tenant state is rewritten.
    const stateXmin = async () => rows('select xmin::text from v_domain_settings where domain_uuid = $1 order by domain_setting_uuid', [domainUuid]);
    const [rowsBefore, stateBefore] = [await xmins(), await stateXmin()];
    expect((await setOutboundRestriction(fx.pool, 8604, true)).changed).toBe(false);
    expect(await xmins()).toEqual(rowsBefore);
    expect(await stateXmin()).toEqual(stateBefore);

    // The tenant enables the early route by hand: applied again it goes off, its memory (enabled) unchanged.
    await fx.pool.query(`update v_dialplans set dialplan_enabled = 'true' where dialplan_uuid = $1`, [early]);
    expect((await setOutboundRestriction(fx.pool, 8604, true)).ownRoutes.sort()).toEqual([early, late].sort());
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY']);

    await setOutboundRestriction(fx.pool, 8604, false);
    expect(await enabledNames(domainUuid)).toEqual([...enabledBefore, 'mine.late'].sort());
    expect((await rows('select dialplan_enabled::text as on from v_dialplans where dialplan_uuid = $1', [lateOff]))[0]).toEqual({ on: 'false' });
  });

  test('a crash in the middle (the own route’s update fails) writes nothing; the retry restricts; the lift restores', async () => {
    const created = await provisioner.create(event(8602));
    const { domainUuid, domainName } = created;
    const trunk = await tenantGateway(domainUuid);
    await addOwnRoute(domainUuid, domainName, 'mine.paid', '^(\\d{11})$', trunk);
    const before = await routeStates(domainUuid);
    const dump = await dumpTables(fx.pool);
    await fx.pool.query(
      `create or replace function h32_refuse() returns trigger language plpgsql as $$ begin if new.dialplan_name = 'mine.paid' then raise exception 'disk full'; end if; return new; end $$`,
    );
    await fx.pool.query('create trigger h32_refuse before update on v_dialplans for each row execute function h32_refuse()');
    try {
      await expect(setOutboundRestriction(fx.pool, 8602, true)).rejects.toThrow(/disk full/);
      expect(await dumpTables(fx.pool)).toEqual(dump);
    } finally {
      await fx.pool.query('drop trigger h32_refuse on v_dialplans');
    }
    const restricted = await setOutboundRestriction(fx.pool, 8602, true);
    expect(restricted.keptGateways).toEqual([trunk]);
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY']);

    await setOutboundRestriction(fx.pool, 8602, false);
    expect(await routeStates(domainUuid)).toEqual(before);
  });

  test('with suspend and change_package: emergency routes come back enabled at unsuspend while restricted; a new plan keeps its emergency route enabled', async () => {
    const created = await provisioner.create(event(8603));
    const { domainUuid } = created;
    const trunk = await tenantGateway(domainUuid);
    const before = await routeStates(domainUuid);
    await provisioner.suspend(event(8603, {}, 'suspend'));
    const restricted = await setOutboundRestriction(fx.pool, 8603, true);
    expect(restricted.keptGateways).toEqual([trunk]); // the emergency route as unsuspend will restore it
    expect(await enabledNames(domainUuid)).toEqual([]);
    await provisioner.unsuspend(event(8603, {}, 'unsuspend'));
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY']);

    await provisioner.changePackage(event(8603, { routeTemplate: 'other' }, 'change_package'));
    expect(await enabledNames(domainUuid)).toEqual(['EMERGENCY', 'EMERGENCY']);
    expect((await setOutboundRestriction(fx.pool, 8603, true)).keptGateways).toEqual([trunk]);
    await setOutboundRestriction(fx.pool, 8603, false);
    expect(await enabledNames(domainUuid)).toHaveLength(4); // the 7-digit pair and the emergency pair
    await provisioner.changePackage(event(8603, {}, 'change_package'));
    expect(await routeStates(domainUuid)).toEqual(before);
  });
});

import { randomUUID } from 'node:crypto';
import { type EslStandin, startEslStandin } from '@ictvoip/testkit';
import { EslClient, EslCommandError, applyFreeswitchSide } from '@ictvoip/freeswitch';
import {
  FusionpbxConfigError,
  FusionpbxValidationError,
  type Provisioner,
  type ProvisionerOptions,
  type RouteTemplate,
  TRUNK_ACL_LOCK_KEY,
  TrunkCidrOwnedError,
  createProvisioner,
  writeRejectionOf,
} from '@ictvoip/fusionpbx';
import { EventValidationError, type TenantCommand } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, setupFusionpbx, tenantEvent, testOptions } from './helpers';

/**
 * Issue #15, outbound routes: the rows FusionPBX's outbound-route page writes, derived from the PHP
 * source (app/dialplan_outbound/dialplan_outbound_add.php; line numbers are 5.3.0's unless noted)
 * and dialplan.php xml(), compared column by column on the fixture and on both full schemas.
 */
const APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3'; // line 422
const NANP = '^(?:\\+1|1)?([2-9]\\d{2}[2-9]\\d{2}\\d{4})$'; // line 243 → abbreviation 10-11-NANP
const INTERNATIONAL = '^(011\\d{9,17})$'; // line 247 → 011.9-17d
const EMERGENCY = '(^911$|^933$)'; // line 271 → 911
const DIAL_NINE = '^9(\\d{10})$'; // line 291 → 9.10d, outbound_prefix 9 (line 317)

const ROUTES: Record<string, RouteTemplate[]> = {
  nanp: [{ pattern: NANP }, { pattern: INTERNATIONAL, tollAllow: 'international', order: 110 }, { pattern: EMERGENCY, description: 'Emergency' }],
  office: [{ pattern: DIAL_NINE, prefix: '1010', limit: 5, accountcode: 'acct-77', pinNumbers: true, enabled: false }],
};

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
let standin: EslStandin;
let esl: EslClient;
let release: '5.1' | '5.3';
const providers = randomUUID();
const cache = { method: 'memcache' as const };

function options(extra: Partial<ProvisionerOptions> = {}): ProvisionerOptions {
  return { ...testOptions(fx.basics), routeTemplates: ROUTES, ...extra };
}

beforeAll(async () => {
  fx = await setupFusionpbx('fpbx_routes');
  provisioner = createProvisioner({ pool: fx.pool, options: options() });
  standin = await startEslStandin();
  esl = new EslClient({ host: standin.host, port: standin.port, password: 'ClueCon', commandTimeoutMs: 2000, reconnectAttempts: 2, reconnectInitialDelayMs: 20 });
  const { rows } = await fx.pool.query("select 1 from information_schema.tables where table_schema = current_schema() and table_name = 'v_xml_cdr_json'");
  release = rows.length > 0 ? '5.3' : '5.1';
  // app/access_controls/app_defaults.php creates `providers` (default deny) on install, before any tenant.
  await fx.pool.query("insert into v_access_controls (access_control_uuid, access_control_name, access_control_default) values ($1, 'providers', 'deny')", [providers]);
});
afterAll(async () => {
  await esl?.close();
  await standin?.stop();
  await fx?.close();
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;
const routeRows = (domainUuid: string) => rows('select * from v_dialplans where domain_uuid = $1 and app_uuid = $2 order by dialplan_order, dialplan_name', [domainUuid, APP_UUID]);
const detailRows = (dialplanUuid: string) => rows('select * from v_dialplan_details where dialplan_uuid = $1 order by dialplan_detail_order', [dialplanUuid]);
const gatewayOf = async (domainUuid: string) =>
  (await rows('select gateway_uuid, gateway from v_gateways where domain_uuid = $1', [domainUuid]))[0] as { gateway_uuid: string; gateway: string };

type Detail = [tag: string, type: string, data: string, enabled?: boolean, inline?: string];

/** Lines 437-479: the call_direction-outbound dialplan's details. */
const callDirectionDetails = (pattern: string): Detail[] => [
  ['condition', '${user_exists}', 'false'],
  ['condition', '${call_direction}', '^$'],
  ['condition', 'destination_number', pattern],
  ['action', 'export', 'call_direction=outbound', true, 'true'],
];

/** Lines 495-780 for a route without limit, prefix or PIN through gateway `gatewayUuid`. */
function routeDetails(pattern: string, gatewayUuid: string, toll: string | null): Detail[] {
  const emergency = pattern === EMERGENCY;
  const id = emergency ? 'emergency' : 'outbound';
  const details: Detail[] = [['condition', '${user_exists}', 'false']];
  if (toll) details.push(['condition', '${toll_allow}', toll]);
  details.push(
    ['condition', 'destination_number', pattern],
    ['action', 'set', 'sip_h_accountcode=${accountcode}', false],
    ['action', 'export', 'call_direction=outbound', true, 'true'],
    ['action', 'unset', 'call_timeout'],
    ['action', 'set', 'hangup_after_bridge=true'],
    ['action', 'set', `effective_caller_id_name=\${${id}_caller_id_name}`],
    ['action', 'set', `effective_caller_id_number=\${${id}_caller_id_number}`],
  );
  if (emergency && release === '5.3') details.push(['action', 'set', 'call_date=${strftime(%d-%b-%Y %r)}', false], ['action', 'lua', 'app.lua emergency 1', false]);
  // 5.1.0 line 631.
  if (emergency && release === '5.1')
    details.push(['action', 'lua', "email.lua ${email_to} ${email_from} '' 'Emergency Call' '${sip_from_user}@${domain_name} has called 911 emergency'", false]);
  details.push(
    ['action', 'set', 'inherit_codec=true'],
    ['action', 'set', 'ignore_display_updates=true'],
    ['action', 'set', 'callee_id_number=$1'],
    // 5.1.0 line 676 lacks 809.
    ['action', 'set', `continue_on_fail=1,2,3,6,18,21,27,28,31,34,38,41,42,44,58,88,111,403,501,602,607${release === '5.3' ? ',809' : ''}`],
    ['action', 'bridge', `sofia/gateway/${gatewayUuid}/$1`],
  );
  return details;
}

async function expectDetails(dialplanUuid: string, domainUuid: string, expected: Detail[]): Promise<void> {
  const details = await detailRows(dialplanUuid);
  expect(details.map((row) => [row.dialplan_detail_tag, row.dialplan_detail_type, row.dialplan_detail_data, row.dialplan_detail_enabled, row.dialplan_detail_inline])).toEqual(
    expected.map(([tag, type, data, enabled = true, inline = null]) => [tag, type, data, enabled, inline]),
  );
  details.forEach((row, index) => {
    // Every detail: group 0, order $y * 10, no break (the page sets none).
    expect(row).toMatchObject({
      domain_uuid: domainUuid,
      dialplan_uuid: dialplanUuid,
      dialplan_detail_group: '0',
      dialplan_detail_order: String((index + 1) * 10),
      dialplan_detail_break: null,
    });
    expect(row.dialplan_detail_uuid).toMatch(/^[0-9a-f-]{36}$/);
  });
}

/** dialplan.php xml(): conditions as `<condition .../>` but the last, opened for the actions. */
function expectedXml(name: string, cont: string, uuid: string, details: Detail[]): string {
  const enabled = details.filter(([, , , on = true]) => on);
  const conditions = enabled.filter(([tag]) => tag === 'condition');
  const actions = enabled.filter(([tag]) => tag === 'action');
  const lines = [`<extension name="${name}" continue="${cont}" uuid="${uuid}">`];
  conditions.forEach(([, type, data], index) => lines.push(`\t<condition field="${type}" expression="${data}"${index === conditions.length - 1 ? '>' : '/>'}`));
  for (const [, type, data, , inline] of actions) lines.push(`\t\t<action application="${type}" data="${data}"${inline ? ` inline="${inline}"` : ''}/>`);
  lines.push('\t</condition>', '</extension>');
  // xml() ends with "\n"; database::save() trims it away.
  return lines.join('\n');
}

function routeEvent(serviceId: number, plan: Record<string, unknown>, action: TenantCommand['action'] = 'create'): TenantCommand {
  return { ...tenantEvent(serviceId, {}, plan), action };
}

describe(`outbound routes (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('create: each template route is the two dialplans the outbound-route page writes, column by column, through the plan gateway', async () => {
    const result = await provisioner.create(routeEvent(8101, { routeTemplate: 'nanp' }));
    const domain = result.domainName;
    const gateway = await gatewayOf(result.domainUuid);
    const dialplans = await routeRows(result.domainUuid);
    expect(dialplans).toHaveLength(6);

    const suffix = (abbreviation: string, description: string | null) => (release === '5.3' && !description ? `.${abbreviation}` : ''); // line 432
    const expected = [
      // [name, order, continue, description, details]
      [`call_direction-outbound${suffix('10-11-NANP', null)}`, '22', 'true', null, callDirectionDetails(NANP)],
      [`call_direction-outbound${suffix('011.9-17d', null)}`, '22', 'true', null, callDirectionDetails(INTERNATIONAL)],
      [`call_direction-outbound${suffix('911', 'Emergency')}`, '22', 'true', 'Emergency', callDirectionDetails(EMERGENCY)],
      [`${gateway.gateway}.10-11-NANP`, '100', 'false', null, routeDetails(NANP, gateway.gateway_uuid, null)],
      [`${gateway.gateway}.911`, '100', 'false', 'Emergency', routeDetails(EMERGENCY, gateway.gateway_uuid, null)],
      [`${gateway.gateway}.011.9-17d`, '110', 'false', null, routeDetails(INTERNATIONAL, gateway.gateway_uuid, 'international')],
    ] as const;
    // 5.1.0 names every call-direction dialplan alike: each row is told apart by its destination_number condition.
    const patternOf = async (dialplanUuid: string) => (await detailRows(dialplanUuid)).find((detail) => detail.dialplan_detail_type === 'destination_number')?.dialplan_detail_data;
    const patterns = new Map<string, string>();
    for (const row of dialplans) patterns.set(row.dialplan_uuid, await patternOf(row.dialplan_uuid));
    for (const [name, order, cont, description, details] of expected) {
      const pattern = details.find(([, type]) => type === 'destination_number')?.[2];
      const row = dialplans.find((candidate) => candidate.dialplan_name === name && patterns.get(candidate.dialplan_uuid) === pattern);
      expect(row).toBeDefined();
      expect(row).toMatchObject({
        domain_uuid: result.domainUuid,
        app_uuid: APP_UUID,
        hostname: null,
        dialplan_context: domain, // line 420: $_SESSION['domain_name']
        dialplan_name: name,
        dialplan_number: null,
        dialplan_destination: null,
        dialplan_continue: cont,
        dialplan_order: order,
        dialplan_enabled: 'true',
        dialplan_description: description,
      });
      if ('insert_date' in row) expect(row.insert_date).toBeInstanceOf(Date);
      if ('update_date' in row) expect(row.update_date).toBeNull();
      await expectDetails(row.dialplan_uuid, result.domainUuid, [...details]);
      expect(row.dialplan_xml).toBe(expectedXml(name, cont, row.dialplan_uuid, [...details]));
    }
    // Line 843: the domain's dialplan cache goes after the write.
    expect(result.freeswitch).toContainEqual({ kind: 'cache_delete', key: `dialplan:${domain}` });
  });

  test('the XML of a national route reads as FreeSWITCH gets it', async () => {
    const result = await provisioner.create(routeEvent(8102, { routeTemplate: 'nanp' }));
    const gateway = await gatewayOf(result.domainUuid);
    const [route] = await rows('select * from v_dialplans where domain_uuid = $1 and dialplan_name = $2', [result.domainUuid, `${gateway.gateway}.10-11-NANP`]);
    const id = route.dialplan_uuid as string;
    const causes = `1,2,3,6,18,21,27,28,31,34,38,41,42,44,58,88,111,403,501,602,607${release === '5.3' ? ',809' : ''}`;
    expect(route.dialplan_xml).toBe(
      `<extension name="trunk.10-11-NANP" continue="false" uuid="${id}">\n` +
        '\t<condition field="${user_exists}" expression="false"/>\n' +
        `\t<condition field="destination_number" expression="${NANP}">\n` +
        '\t\t<action application="export" data="call_direction=outbound" inline="true"/>\n' +
        '\t\t<action application="unset" data="call_timeout"/>\n' +
        '\t\t<action application="set" data="hangup_after_bridge=true"/>\n' +
        '\t\t<action application="set" data="effective_caller_id_name=${outbound_caller_id_name}"/>\n' +
        '\t\t<action application="set" data="effective_caller_id_number=${outbound_caller_id_number}"/>\n' +
        '\t\t<action application="set" data="inherit_codec=true"/>\n' +
        '\t\t<action application="set" data="ignore_display_updates=true"/>\n' +
        '\t\t<action application="set" data="callee_id_number=$1"/>\n' +
        `\t\t<action application="set" data="continue_on_fail=${causes}"/>\n` +
        `\t\t<action application="bridge" data="sofia/gateway/${gateway.gateway_uuid}/$1"/>\n` +
        '\t</condition>\n' +
        '</extension>',
    );
  });

  test('prefix, limit, account code, PIN numbers and a disabled route as the page writes them', async () => {
    const result = await provisioner.create(routeEvent(8103, { routeTemplate: 'office' }));
    const gateway = await gatewayOf(result.domainUuid);
    const [callDirection, route] = await routeRows(result.domainUuid);
    expect(callDirection).toMatchObject({ dialplan_name: release === '5.3' ? 'call_direction-outbound.9.10d' : 'call_direction-outbound', dialplan_enabled: 'false' });
    expect(route).toMatchObject({ dialplan_name: 'trunk.9.10d', dialplan_enabled: 'false', dialplan_order: '100' });
    const causes = `1,2,3,6,18,21,27,28,31,34,38,41,42,44,58,88,111,403,501,602,607${release === '5.3' ? ',809' : ''}`;
    await expectDetails(route.dialplan_uuid, result.domainUuid, [
      ['condition', '${user_exists}', 'false'],
      ['condition', 'destination_number', DIAL_NINE],
      ['action', 'set', 'sip_h_accountcode=acct-77', false], // line 538: disabled
      ['action', 'export', 'call_direction=outbound', true, 'true'],
      ['action', 'unset', 'call_timeout'],
      ['action', 'set', 'hangup_after_bridge=true'],
      ['action', 'set', 'effective_caller_id_name=${outbound_caller_id_name}'],
      ['action', 'set', 'effective_caller_id_number=${outbound_caller_id_number}'],
      ['action', 'set', 'inherit_codec=true'],
      ['action', 'set', 'ignore_display_updates=true'],
      ['action', 'set', 'callee_id_number=$1'],
      ['action', 'set', `continue_on_fail=${causes}`],
      ['action', 'limit', 'hash ${domain_name} outbound 5 !USER_BUSY'], // line 712
      ['action', 'set', 'outbound_prefix=9'], // lines 317, 725
      ['action', 'set', 'pin_number=database'], // line 738
      ['action', 'lua', 'pin_number.lua'], // line 749
      ['action', 'set', 'provider_prefix=1010'], // line 762: prefix longer than 2
      ['action', 'bridge', `sofia/gateway/${gateway.gateway_uuid}/1010$1`], // line 327
    ]);
  });

  test("replay writes nothing; change package swaps the routes and leaves the tenant's own route alone; no gateway, no routes", async () => {
    const first = await provisioner.create(routeEvent(8104, { routeTemplate: 'nanp' }));
    const before = await dumpTables(fx.pool);
    const replay = await provisioner.create(routeEvent(8104, { routeTemplate: 'nanp' }));
    expect(replay.changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);

    // A route the tenant adds on the page itself (same app_uuid, not the bridge's).
    const own = randomUUID();
    await fx.pool.query(
      `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_order, dialplan_enabled, dialplan_xml)
       values ($1, $2, $3, $4, 'mine.7d', 'false', 200, 'true', '<extension name="mine.7d"/>')`,
      [first.domainUuid, own, APP_UUID, first.domainName],
    );
    await fx.pool.query(
      `insert into v_dialplan_details (domain_uuid, dialplan_uuid, dialplan_detail_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_group, dialplan_detail_order, dialplan_detail_enabled)
       values ($1, $2, $3, 'condition', 'destination_number', '^(\\d{7})$', 0, 10, true)`,
      [first.domainUuid, own, randomUUID()],
    );

    const changed = await provisioner.changePackage(routeEvent(8104, { routeTemplate: 'office' }, 'change_package'));
    expect(changed.changed).toBe(true);
    expect(changed.freeswitch).toContainEqual({ kind: 'cache_delete', key: `dialplan:${first.domainName}` });
    const names = (await routeRows(first.domainUuid)).map((row) => row.dialplan_name).sort();
    expect(names).toEqual([release === '5.3' ? 'call_direction-outbound.9.10d' : 'call_direction-outbound', 'mine.7d', 'trunk.9.10d'].sort());
    expect(await detailRows(own)).toHaveLength(1);

    // The plan loses its gateway: the bridge's routes go, the tenant's stays.
    const withoutGateway = await provisioner.changePackage(routeEvent(8104, { routeTemplate: 'office', gatewayTemplate: '' }, 'change_package'));
    expect(withoutGateway.changed).toBe(true);
    expect((await routeRows(first.domainUuid)).map((row) => row.dialplan_name)).toEqual(['mine.7d']);
    const orphans = await rows(
      'select count(*)::int as n from v_dialplan_details d where domain_uuid = $1 and not exists (select 1 from v_dialplans p where p.dialplan_uuid = d.dialplan_uuid)',
      [first.domainUuid],
    );
    expect(orphans[0].n).toBe(0);
  });

  test('a pattern typed with spaces around it is written trimmed, as the page saves it (untrimmed, the XML expression never matched), and a replay writes nothing', async () => {
    const spaced = createProvisioner({ pool: fx.pool, options: options({ routeTemplates: { spaced: [{ pattern: ' ^(\\d{10})$ ' }] } }) });
    const created = await spaced.create(routeEvent(8108, { routeTemplate: 'spaced' }));
    const routes = await routeRows(created.domainUuid);
    expect(routes.map((row) => row.dialplan_name).sort()).toEqual([release === '5.3' ? 'call_direction-outbound.10d' : 'call_direction-outbound', 'trunk.10d'].sort());
    for (const route of routes) expect(route.dialplan_xml ?? '').not.toContain('expression=" ');
    expect((await spaced.changePackage(routeEvent(8108, { routeTemplate: 'spaced' }, 'change_package'))).changed).toBe(false);
  });

  test('order 0 is written 333, as the page reads an empty order (lines 417-419: PHP empty() holds for "0")', async () => {
    const zero = createProvisioner({ pool: fx.pool, options: options({ routeTemplates: { zero: [{ pattern: '^(\\d{10})$', order: 0 }] } }) });
    const created = await zero.create(routeEvent(8109, { routeTemplate: 'zero' }));
    const route = (await routeRows(created.domainUuid)).find((row) => row.dialplan_name === 'trunk.10d');
    expect(route?.dialplan_order).toBe('333');
  });

  test('terminate removes the routes and clears the dialplan cache; a create after terminate writes them again', async () => {
    const created = await provisioner.create(routeEvent(8105, { routeTemplate: 'nanp' }));
    const terminated = await provisioner.terminate(routeEvent(8105, {}, 'terminate'));
    expect(await routeRows(created.domainUuid)).toEqual([]);
    expect(terminated.freeswitch).toContainEqual({ kind: 'cache_delete', key: `dialplan:${created.domainName}` });
    const replay = await provisioner.terminate(routeEvent(8105, {}, 'terminate'));
    expect(replay.changed).toBe(false);
    await provisioner.create(routeEvent(8105, { routeTemplate: 'nanp' }));
    expect(await routeRows(created.domainUuid)).toHaveLength(6);
  });

  test('a template the plan names but the options lack, or a bad template, is refused before any row is written', async () => {
    const before = await dumpTables(fx.pool);
    const unknown = await provisioner.create(routeEvent(8106, { routeTemplate: 'nowhere' })).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(FusionpbxValidationError);
    expect((unknown as FusionpbxValidationError).field).toBe('plan.routeTemplate');
    const bad = createProvisioner({ pool: fx.pool, options: options({ routeTemplates: { nanp: [{ pattern: '^(\\d{10})$" onload="x' }] } }) });
    const refused = await bad.create(routeEvent(8106, { routeTemplate: 'nanp' })).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FusionpbxConfigError);
    expect((refused as Error).message).toContain('routeTemplates.nanp[0].pattern');
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('a crash in the middle of the create (a failing write after the routes) leaves nothing half-written', async () => {
    const before = await dumpTables(fx.pool);
    await fx.pool.query(`create or replace function h22_refuse() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`);
    await fx.pool.query('create trigger h22_refuse before insert on v_access_control_nodes for each row execute function h22_refuse()');
    try {
      await expect(provisioner.create(routeEvent(8107, { routeTemplate: 'nanp', trunkCidrs: ['203.0.113.70'] }))).rejects.toThrow(/disk full/);
      expect(await dumpTables(fx.pool)).toEqual(before);
    } finally {
      await fx.pool.query('drop trigger h22_refuse on v_access_control_nodes');
    }
    const retried = await provisioner.create(routeEvent(8107, { routeTemplate: 'nanp', trunkCidrs: ['203.0.113.70'] }));
    expect(await routeRows(retried.domainUuid)).toHaveLength(6);
  });
});

describe(`alternate gateways: Alternate 1 and 2 of the outbound-route page (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  const backup = randomUUID(); // a global gateway (domain_uuid NULL), named
  const spare = randomUUID(); // another domain's gateway, named by its uuid
  const LIFELINE = '(^988$)';
  const FAILOVER: Record<string, RouteTemplate[]> = {
    failover: [
      { pattern: NANP, gateway2: 'backup-carrier', gateway3: spare },
      { pattern: LIFELINE, prefix: '1010', gateway2: 'backup-carrier' },
    ],
    missing: [{ pattern: NANP, gateway2: 'nobody' }],
  };
  let failover: Provisioner;
  const insertGateway = (uuid: string, domainUuid: string | null, name: string, enabled = true) =>
    fx.pool.query("insert into v_gateways (gateway_uuid, domain_uuid, gateway, proxy, profile, context, enabled) values ($1, $2, $3, 'backup.example', 'external', 'public', $4)", [
      uuid,
      domainUuid,
      name,
      String(enabled),
    ]);

  beforeAll(async () => {
    failover = createProvisioner({ pool: fx.pool, options: options({ routeTemplates: { ...ROUTES, ...FAILOVER } }) });
    await insertGateway(backup, null, 'backup-carrier');
    // Switched off: an alternate is bridged to all the same, as the page leaves a saved route alone.
    await insertGateway(spare, fx.basics.templateDomainUuid, 'spare-carrier', false);
  });

  test("each alternate is one more bridge after the gateway's, as the page writes gateway_2 and gateway_3 (name, details and XML unchanged otherwise)", async () => {
    const result = await failover.create(routeEvent(8601, { routeTemplate: 'failover' }));
    const gateway = await gatewayOf(result.domainUuid);
    const dialplans = await routeRows(result.domainUuid);
    const route = dialplans.find((row) => row.dialplan_name === `${gateway.gateway}.10-11-NANP`);
    const details: Detail[] = [
      ...routeDetails(NANP, gateway.gateway_uuid, null),
      ['action', 'bridge', `sofia/gateway/${backup}/$1`],
      ['action', 'bridge', `sofia/gateway/${spare}/$1`],
    ];
    await expectDetails(route.dialplan_uuid, result.domainUuid, details);
    expect(route.dialplan_xml).toBe(expectedXml(route.dialplan_name, 'false', route.dialplan_uuid, details));

    // Lines 322-344: 988 goes to the lifeline number through every gateway, the prefix before it.
    const lifeline = dialplans.find((row) => row.dialplan_name === `${gateway.gateway}.988`);
    const bridges = (await detailRows(lifeline.dialplan_uuid)).filter((row) => row.dialplan_detail_type === 'bridge').map((row) => row.dialplan_detail_data);
    expect(bridges).toEqual([`sofia/gateway/${gateway.gateway_uuid}/101018002738255`, `sofia/gateway/${backup}/101018002738255`]);
    // The call-direction dialplans do not change with the alternates.
    const callDirection = dialplans.filter((row) => row.dialplan_continue === 'true');
    expect(callDirection).toHaveLength(2);
    for (const row of callDirection) expect((await detailRows(row.dialplan_uuid)).some((detail) => detail.dialplan_detail_type === 'bridge')).toBe(false);

    const before = await dumpTables(fx.pool);
    expect((await failover.create(routeEvent(8601, { routeTemplate: 'failover' }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test("a name means the tenant's own gateway before a global one; change package follows when the tenant gets one", async () => {
    const result = await failover.create(routeEvent(8602, { routeTemplate: 'failover' }));
    const gateway = await gatewayOf(result.domainUuid);
    const bridgesOf = async () => {
      const route = (await routeRows(result.domainUuid)).find((row) => row.dialplan_name === `${gateway.gateway}.10-11-NANP`);
      return (await detailRows(route.dialplan_uuid)).filter((row) => row.dialplan_detail_type === 'bridge').map((row) => row.dialplan_detail_data);
    };
    expect(await bridgesOf()).toEqual([`sofia/gateway/${gateway.gateway_uuid}/$1`, `sofia/gateway/${backup}/$1`, `sofia/gateway/${spare}/$1`]);
    const own = randomUUID();
    await insertGateway(own, result.domainUuid, 'backup-carrier');
    const changed = await failover.changePackage(routeEvent(8602, { routeTemplate: 'failover' }, 'change_package'));
    expect(changed.freeswitch).toContainEqual({ kind: 'cache_delete', key: `dialplan:${result.domainName}` });
    expect(await bridgesOf()).toEqual([`sofia/gateway/${gateway.gateway_uuid}/$1`, `sofia/gateway/${own}/$1`, `sofia/gateway/${spare}/$1`]);
    // Dropping the alternates (another template) leaves the one bridge the page writes without them.
    await failover.changePackage(routeEvent(8602, { routeTemplate: 'nanp' }, 'change_package'));
    expect(await bridgesOf()).toEqual([`sofia/gateway/${gateway.gateway_uuid}/$1`]);
  });

  test('an alternate FusionPBX does not have is a permanent error naming the template field; nothing written', async () => {
    const before = await dumpTables(fx.pool);
    const error = await failover.create(routeEvent(8603, { routeTemplate: 'missing' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FusionpbxConfigError);
    expect((error as Error).message).toMatch(/^routeTemplates\.missing\[0\]\.gateway2: FusionPBX has no gateway "nobody"/);
    expect(await dumpTables(fx.pool)).toEqual(before);
    // Two global gateways of one name: the name is not enough.
    await insertGateway(randomUUID(), null, 'nobody');
    await insertGateway(randomUUID(), null, 'nobody');
    const twice = await failover.create(routeEvent(8603, { routeTemplate: 'missing' })).catch((caught: unknown) => caught);
    expect((twice as Error).message).toMatch(/gateway2: 2 global gateways are named "nobody"; name the alternate by its uuid/);
  });

  test('a bad alternate in a template is refused before any row, naming the field', async () => {
    const bad = createProvisioner({
      pool: fx.pool,
      options: options({ routeTemplates: { nanp: [{ pattern: NANP, gateway3: 'backup-carrier' }], colon: [{ pattern: NANP, gateway2: 'uuid:name' }] } }),
    });
    const before = await dumpTables(fx.pool);
    for (const [template, message] of [
      ['nanp', 'routeTemplates.nanp[0].gateway3: needs gateway2 (the page fills Alternate 1 first)'],
      ['colon', 'routeTemplates.colon[0].gateway2: must be a gateway uuid or name (no : " < > &, no surrounding spaces)'],
    ]) {
      const error = await bad.create(routeEvent(8604, { routeTemplate: template })).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(FusionpbxConfigError);
      expect((error as Error).message).toBe(message);
    }
    expect(await dumpTables(fx.pool)).toEqual(before);
  });
});

describe(`IP trunks in FusionPBX's access control list (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  let operatorNode: string;
  beforeAll(async () => {
    operatorNode = randomUUID();
    await fx.pool.query(
      "insert into v_access_control_nodes (access_control_node_uuid, access_control_uuid, node_type, node_cidr, node_description) values ($1, $2, 'allow', '192.0.2.1/32', 'carrier')",
      [operatorNode, providers],
    );
  });
  const nodes = (description: string) => rows('select * from v_access_control_nodes where node_description = $1 order by node_cidr', [description]);

  test('create adds one allow node per CIDR, named after the domain, as access_control_edit.php saves it; reloadacl reaches FreeSWITCH', async () => {
    const result = await provisioner.create(routeEvent(8201, { trunkCidrs: '203.0.113.10 | 198.51.100.0/24, 2001:db8::/48' }));
    const written = await nodes(result.domainName);
    expect(written.map((row) => row.node_cidr)).toEqual(['198.51.100.0/24', '2001:db8::/48', '203.0.113.10/32']); // bare IPv4 gets /32 (access_control_edit.php 5.3.0 line 170)
    for (const row of written) {
      expect(row).toMatchObject({ access_control_uuid: providers, node_type: 'allow', node_description: result.domainName });
      expect(row.access_control_node_uuid).toMatch(/^[0-9a-f-]{36}$/);
      if ('insert_date' in row) expect(row.insert_date).toBeInstanceOf(Date);
    }
    expect(result.freeswitch.slice(-2)).toEqual([{ kind: 'cache_delete', key: 'configuration:acl.conf' }, { kind: 'reload_acl' }]);
    standin.clearRecorded();
    const applied = await applyFreeswitchSide(esl, result.freeswitch, { cache });
    expect(applied.actions.slice(-2)).toEqual(['memcache delete configuration:acl.conf', 'reloadacl']);
    expect(standin.apiCommands.slice(-2)).toEqual(['memcache delete configuration:acl.conf', 'reloadacl']);

    const before = await dumpTables(fx.pool);
    const replay = await provisioner.create(routeEvent(8201, { trunkCidrs: ['203.0.113.10/32', '198.51.100.0/24', '2001:db8::/48'] }));
    expect(replay.changed).toBe(false);
    expect(replay.freeswitch).not.toContainEqual({ kind: 'reload_acl' });
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('change package dropping a CIDR deletes only that node; terminate deletes the rest; the operator node stays', async () => {
    const result = await provisioner.create(routeEvent(8202, { trunkCidrs: ['203.0.113.20', '203.0.113.21'] }));
    const kept = (await nodes(result.domainName)).find((row) => row.node_cidr === '203.0.113.20/32');
    const changed = await provisioner.changePackage(routeEvent(8202, { trunkCidrs: ['203.0.113.20'] }, 'change_package'));
    expect(changed.freeswitch).toContainEqual({ kind: 'reload_acl' });
    const after = await nodes(result.domainName);
    expect(after.map((row) => row.access_control_node_uuid)).toEqual([kept.access_control_node_uuid]);

    const terminated = await provisioner.terminate(routeEvent(8202, {}, 'terminate'));
    expect(await nodes(result.domainName)).toEqual([]);
    expect(terminated.freeswitch).toContainEqual({ kind: 'reload_acl' });
    expect((await rows('select * from v_access_control_nodes where access_control_node_uuid = $1', [operatorNode])).map((row) => row.node_cidr)).toEqual(['192.0.2.1/32']);
  });

  test('a list the operator configures that does not exist yet is created as the page creates one (default deny)', async () => {
    const custom = createProvisioner({ pool: fx.pool, options: options({ trunkAccessControl: 'customer-trunks' }) });
    const result = await custom.create(routeEvent(8203, { trunkCidrs: ['203.0.113.30'] }));
    const [list] = await rows("select * from v_access_controls where access_control_name = 'customer-trunks'");
    expect(list).toMatchObject({ access_control_default: 'deny', access_control_description: null });
    expect((await nodes(result.domainName)).map((row) => [row.access_control_uuid, row.node_cidr])).toEqual([[list.access_control_uuid, '203.0.113.30/32']]);
  });

  test('a bad CIDR is refused at ingest naming the field: it never reaches the provisioner', () => {
    let refusal: unknown = null;
    try {
      routeEvent(8204, { trunkCidrs: ['203.0.113.40', '203.0.113.300/24'] });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(EventValidationError);
    expect((refusal as EventValidationError).details).toEqual([{ path: 'plan.trunkCidrs', message: expect.stringContaining("'plan.trunkCidrs[1]'") }]);
  });

  test('reloadacl refused by FreeSWITCH fails the apply (retryable), the rows stay', async () => {
    const result = await provisioner.create(routeEvent(8205, { trunkCidrs: ['203.0.113.50'] }));
    standin.fail('reloadacl', 'Acl reload failed');
    try {
      await expect(applyFreeswitchSide(esl, result.freeswitch, { cache })).rejects.toBeInstanceOf(EslCommandError);
    } finally {
      standin.failures.length = 0;
    }
    expect(await nodes(result.domainName)).toHaveLength(1);
  });
});

describe(`a trunk CIDR belongs to one tenant of the server (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  const nodes = (description: string) => rows('select node_cidr from v_access_control_nodes where node_description = $1 order by node_cidr', [description]);
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (caught: unknown) => caught,
    );

  test('create with a CIDR another tenant holds, or one overlapping it, is a permanent error naming the owner; nothing written', async () => {
    const owner = await provisioner.create(routeEvent(8501, { routeTemplate: 'nanp', trunkCidrs: ['198.18.5.0/24', '2001:db8:85::1'] }));
    for (const [cidrs, cidr, held] of [
      [['198.18.5.0/24'], '198.18.5.0/24', '198.18.5.0/24'],
      [['198.18.9.1', '198.18.5.77'], '198.18.5.77/32', '198.18.5.0/24'],
      [['198.18.0.0/16'], '198.18.0.0/16', '198.18.5.0/24'],
      [['2001:DB8:85::/64'], '2001:DB8:85::/64', '2001:db8:85::1'],
    ] as const) {
      const before = await dumpTables(fx.pool);
      const error = await refusal(provisioner.create(routeEvent(8502, { routeTemplate: 'nanp', trunkCidrs: [...cidrs] })));
      expect(error).toBeInstanceOf(TrunkCidrOwnedError);
      expect(error).toMatchObject({ code: 'TRUNK_CIDR_TAKEN', cidr, ownerCidr: held, ownerDomain: owner.domainName });
      expect((error as Error).message).toContain(`domain ${owner.domainName}`);
      // The routes written before the check went with the rollback: no domain, no route, no node.
      expect(await dumpTables(fx.pool)).toEqual(before);
    }
    // Another tenant's key learns that the address is taken, not by whom.
    const rejection = writeRejectionOf(new TrunkCidrOwnedError('198.18.5.0/24', '198.18.5.0/24', owner.domainName));
    expect(rejection).toEqual({ status: 409, code: 'TRUNK_CIDR_TAKEN', message: 'trunk CIDR 198.18.5.0/24 is already in use on this FusionPBX server' });
    // A neighbouring range and the operator's own node (not named after a domain) are no one's.
    await fx.pool.query(
      "insert into v_access_control_nodes (access_control_node_uuid, access_control_uuid, node_type, node_cidr, node_description) values ($1, $2, 'allow', '198.18.7.1/32', 'carrier B')",
      [randomUUID(), providers],
    );
    const other = await provisioner.create(routeEvent(8502, { routeTemplate: 'nanp', trunkCidrs: ['198.18.6.0/24', '198.18.7.1'] }));
    expect((await nodes(other.domainName)).map((row) => row.node_cidr)).toEqual(['198.18.6.0/24', '198.18.7.1/32']);
    expect((await nodes(owner.domainName)).map((row) => row.node_cidr)).toEqual(['198.18.5.0/24', '2001:db8:85::1']);
  });

  test("change package adding another tenant's CIDR is refused with the tenant's nodes and routes as they were; once the owner drops it, it is free", async () => {
    const owner = await provisioner.create(routeEvent(8503, { trunkCidrs: ['198.18.10.1', '198.18.10.2'] }));
    const taker = await provisioner.create(routeEvent(8504, { routeTemplate: 'nanp', trunkCidrs: ['198.18.11.1'] }));
    const before = await dumpTables(fx.pool);
    const error = await refusal(provisioner.changePackage(routeEvent(8504, { routeTemplate: 'office', trunkCidrs: ['198.18.11.1', '198.18.10.2'] }, 'change_package')));
    expect(error).toMatchObject({ code: 'TRUNK_CIDR_TAKEN', cidr: '198.18.10.2/32', ownerDomain: owner.domainName });
    expect(await dumpTables(fx.pool)).toEqual(before);

    // A replay of the owner's create, and its own change keeping the CIDR, are not refused by its own nodes.
    expect((await provisioner.create(routeEvent(8503, { trunkCidrs: ['198.18.10.1', '198.18.10.2'] }))).changed).toBe(false);
    await provisioner.changePackage(routeEvent(8503, { trunkCidrs: ['198.18.10.1'] }, 'change_package'));
    const moved = await provisioner.changePackage(routeEvent(8504, { routeTemplate: 'nanp', trunkCidrs: ['198.18.11.1', '198.18.10.2'] }, 'change_package'));
    expect(moved.freeswitch).toContainEqual({ kind: 'reload_acl' });
    expect((await nodes(taker.domainName)).map((row) => row.node_cidr)).toEqual(['198.18.10.2/32', '198.18.11.1/32']);
  });

  test("a suspended tenant's CIDRs stay its own (unsuspend puts them back); after terminate they are free", async () => {
    const owner = await provisioner.create(routeEvent(8505, { trunkCidrs: ['198.18.20.0/28'] }));
    await provisioner.suspend(routeEvent(8505, {}, 'suspend'));
    expect(await nodes(owner.domainName)).toEqual([]);
    const error = await refusal(provisioner.create(routeEvent(8506, { trunkCidrs: ['198.18.20.5'] })));
    expect(error).toMatchObject({ code: 'TRUNK_CIDR_TAKEN', cidr: '198.18.20.5/32', ownerCidr: '198.18.20.0/28', ownerDomain: owner.domainName });
    await provisioner.unsuspend(routeEvent(8505, {}, 'unsuspend'));
    expect((await nodes(owner.domainName)).map((row) => row.node_cidr)).toEqual(['198.18.20.0/28']);

    await provisioner.terminate(routeEvent(8505, {}, 'terminate'));
    const taker = await provisioner.create(routeEvent(8506, { trunkCidrs: ['198.18.20.5'] }));
    expect((await nodes(taker.domainName)).map((row) => row.node_cidr)).toEqual(['198.18.20.5/32']);
  });

  test('two tenants claiming overlapping CIDRs at the same moment: one wins, the other is refused', async () => {
    // Both creates are held at the trunk ACL's lock until each is waiting there, then let go together.
    const blocker = await fx.pool.connect();
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      await blocker.query('begin');
      await blocker.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [TRUNK_ACL_LOCK_KEY]);
      const racing = Promise.allSettled([
        provisioner.create(routeEvent(8507, { routeTemplate: 'nanp', trunkCidrs: ['198.18.30.0/24'] })),
        provisioner.create(routeEvent(8508, { routeTemplate: 'nanp', trunkCidrs: ['198.18.30.9'] })),
      ]);
      const deadline = Date.now() + 10_000;
      const waiting = async () => Number((await fx.pool.query("select count(*) as n from pg_locks where locktype = 'advisory' and not granted")).rows[0].n);
      while ((await waiting()) < 2) {
        if (Date.now() > deadline) throw new Error('the two creates never both waited for the trunk ACL lock');
        await new Promise((resolve) => setImmediate(resolve));
      }
      await blocker.query('commit');
      outcomes = await racing;
    } finally {
      blocker.release();
    }
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')!;
    expect(refused.reason).toBeInstanceOf(TrunkCidrOwnedError);
    const { rows: held } = await fx.pool.query("select node_cidr from v_access_control_nodes where node_cidr like '198.18.30.%'");
    expect(held).toHaveLength(1);
  });
});

describe(`FusionPBX's other limit/* keys (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('devices, ring groups, IVR menus, call-center queues and users are written like the other limits and follow change package', async () => {
    const result = await provisioner.create(routeEvent(8301, { maxDevices: 4, maxRingGroups: 2, maxIvrMenus: 1, maxCallCenterQueues: 0, maxUsers: 5 }));
    const limits = async () =>
      (
        await rows(
          "select domain_setting_subcategory, domain_setting_name, domain_setting_value, domain_setting_enabled from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'limit' order by 1",
          [result.domainUuid],
        )
      ).map((row) => [row.domain_setting_subcategory, row.domain_setting_name, row.domain_setting_value, String(row.domain_setting_enabled)]);
    expect(await limits()).toEqual([
      ['call_center_queues', 'numeric', '0', 'true'],
      ['devices', 'numeric', '4', 'true'],
      ['extensions', 'numeric', '3', 'true'],
      ['ivr_menus', 'numeric', '1', 'true'],
      ['ring_groups', 'numeric', '2', 'true'],
      ['users', 'numeric', '5', 'true'],
    ]);
    await provisioner.changePackage(routeEvent(8301, { maxDevices: 6 }, 'change_package'));
    expect(await limits()).toEqual([
      ['devices', 'numeric', '6', 'true'],
      ['extensions', 'numeric', '3', 'true'],
    ]);
  });
});

import { EslStandin } from '@ictvoip/testkit';
import { type Provisioner, TenantStateError } from '@ictvoip/fusionpbx';
import { EslClient, applyFreeswitchSide } from '@ictvoip/freeswitch';
import { type FusionpbxTestDb, dumpTables, provisioningSuite, tenantEvent } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
let standin: EslStandin;
let esl: EslClient;
const cache = { method: 'memcache' as const };

const suite = provisioningSuite('fpbx_life', 2000);
beforeAll(() => {
  ({ fx, provisioner, standin, esl } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;
const enabledMap = async (domainUuid: string) =>
  Object.fromEntries(
    (await rows('select extension, enabled from v_extensions where domain_uuid = $1 order by extension', [domainUuid])).map((row) => [row.extension, row.enabled]),
  );

async function applyAndRecord(steps: Parameters<typeof applyFreeswitchSide>[1]): Promise<string[]> {
  standin.clearRecorded();
  await applyFreeswitchSide(esl, steps, { cache });
  return [...standin.apiCommands];
}

describe('suspend / unsuspend', () => {
  test('suspend disables everything, unsuspend restores exactly (an extension the customer disabled stays disabled)', async () => {
    const created = await provisioner.create(tenantEvent(2001));
    const domain = created.domainName;
    await fx.pool.query("update v_extensions set enabled = 'false' where domain_uuid = $1 and extension = '101'", [created.domainUuid]);
    const [gateway] = await rows('select * from v_gateways where domain_uuid = $1', [created.domainUuid]);
    const uuidOf = Object.fromEntries(
      (await rows('select extension, extension_uuid from v_extensions where domain_uuid = $1', [created.domainUuid])).map((row) => [row.extension, row.extension_uuid]),
    );
    const [owner] = await rows("select user_uuid from v_users where domain_uuid = $1 and username = 'owner'", [created.domainUuid]);

    const suspended = await provisioner.suspend(tenantEvent(2001));
    expect(suspended.status).toBe('suspended');
    expect(suspended.suspendMemory).toEqual({
      domainEnabled: true,
      extensions: { '100': true, '101': false, '102': true },
      gateways: { [gateway.gateway_uuid]: true },
      users: { owner: true },
      extensionUuids: { [uuidOf['100']]: true, [uuidOf['101']]: false, [uuidOf['102']]: true },
      userUuids: { [owner.user_uuid]: true },
    });
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'false', '101': 'false', '102': 'false' });
    expect((await rows('select domain_enabled from v_domains where domain_uuid = $1', [created.domainUuid]))[0].domain_enabled).toBe(false);
    expect((await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid]))[0].enabled).toBe('false');
    expect((await rows('select user_enabled from v_users where domain_uuid = $1', [created.domainUuid]))[0].user_enabled).toBe('false');

    const call = standin.addChannel({ context: domain, dest: '12125550100' });
    const commands = await applyAndRecord(suspended.freeswitch);
    expect(commands).toEqual([
      ...['100', '101', '102'].map((ext) => `memcache delete directory:${ext}@${domain}`),
      ...['100', '101', '102'].map((ext) => `sofia profile internal flush_inbound_reg ${ext}@${domain} reboot`),
      'switchname',
      `memcache delete configuration:sofia.conf:${standin.switchname}`,
      `sofia profile ${gateway.profile} killgw ${gateway.gateway_uuid}`,
      // Last: the calls already up end once nothing lets a new one start.
      'show channels as json',
      `uuid_kill ${call} FACILITY_NOT_SUBSCRIBED`,
    ]);

    // Replaying suspend changes nothing and keeps the memory.
    const before = await dumpTables(fx.pool);
    for (let i = 0; i < 3; i += 1) {
      const again = await provisioner.suspend(tenantEvent(2001));
      expect(again.changed).toBe(false);
      expect(again.suspendMemory).toEqual(suspended.suspendMemory);
      expect(again.freeswitch).toEqual(suspended.freeswitch);
    }
    // A late create replay does not unsuspend.
    expect((await provisioner.create(tenantEvent(2001))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);

    const resumed = await provisioner.unsuspend(tenantEvent(2001));
    expect(resumed.status).toBe('active');
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'false', '102': 'true' });
    expect((await rows('select domain_enabled from v_domains where domain_uuid = $1', [created.domainUuid]))[0].domain_enabled).toBe(true);
    expect((await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid]))[0].enabled).toBe('true');
    expect((await rows('select user_enabled from v_users where domain_uuid = $1', [created.domainUuid]))[0].user_enabled).toBe('true');
    expect(await applyAndRecord(resumed.freeswitch)).toEqual([
      ...['100', '101', '102'].map((ext) => `memcache delete directory:${ext}@${domain}`),
      'switchname',
      `memcache delete configuration:sofia.conf:${standin.switchname}`,
      `sofia profile ${gateway.profile} startgw ${gateway.gateway_uuid}`,
    ]);

    const afterResume = await dumpTables(fx.pool);
    for (let i = 0; i < 3; i += 1) expect((await provisioner.unsuspend(tenantEvent(2001))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(afterResume);
  });

  test('change_package is refused while suspended; suspend before create is a typed error', async () => {
    await provisioner.create(tenantEvent(2002));
    await provisioner.suspend(tenantEvent(2002));
    await expect(provisioner.changePackage(tenantEvent(2002, {}, { maxExtensions: 5 }))).rejects.toBeInstanceOf(TenantStateError);
    await expect(provisioner.suspend(tenantEvent(2999))).rejects.toMatchObject({ code: 'TENANT_NOT_FOUND' });
  });
});

describe('terminate / purge / create again', () => {
  test('terminate disables now; create again starts a new generation; purge after retention keeps CDRs', async () => {
    const created = await provisioner.create(tenantEvent(3001));
    await fx.pool.query("update v_extensions set enabled = 'false' where domain_uuid = $1 and extension = '102'", [created.domainUuid]);
    const terminated = await provisioner.terminate(tenantEvent(3001));
    expect(terminated.status).toBe('terminated');
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'false', '101': 'false', '102': 'false' });
    const before = await dumpTables(fx.pool);
    expect((await provisioner.terminate(tenantEvent(3001))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
    await expect(provisioner.unsuspend(tenantEvent(3001))).rejects.toBeInstanceOf(TenantStateError);

    const again = await provisioner.create(tenantEvent(3001));
    expect(again).toMatchObject({ status: 'active', generation: 2, domainUuid: created.domainUuid });
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true' });

    await provisioner.terminate(tenantEvent(3001));
    const cdrUuid = '0b9c3c0e-8f1e-4c55-9d4a-6f1f0d2b8a11';
    await fx.pool.query(
      "insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, leg, direction, hangup_cause, billsec, insert_date) values ($1, $2, $3, 'a', 'outbound', 'NORMAL_CLEARING', 42, now())",
      [cdrUuid, created.domainUuid, created.domainName],
    );
    const early = await provisioner.purgeTenant(3001, { retentionDays: 30 });
    expect(early).toMatchObject({ purged: false, reason: 'retention' });
    const purged = await provisioner.purgeTenant(3001, { retentionDays: 30, now: new Date(Date.now() + 31 * 86_400_000) });
    expect(purged.purged).toBe(true);
    expect(purged.deleted).toMatchObject({ v_domains: 1, v_extensions: 3, v_voicemails: 3, v_users: 1, v_user_groups: 1, v_gateways: 1, v_dialplans: 3 });
    for (const table of ['v_domains', 'v_extensions', 'v_voicemails', 'v_users', 'v_user_groups', 'v_gateways', 'v_dialplans', 'v_dialplan_details', 'v_domain_settings']) {
      expect(await rows(`select 1 from ${table} where domain_uuid = $1`, [created.domainUuid])).toHaveLength(0);
    }
    expect(await rows('select billsec from v_xml_cdr where xml_cdr_uuid = $1', [cdrUuid])).toEqual([{ billsec: '42' }]);
    expect(purged.freeswitch.map((step) => step.kind)).toEqual(['cache_delete', 'cache_delete', 'cache_delete', 'sofia_conf_cache_delete', 'gateway_kill', 'cache_delete']);
    expect(await provisioner.purgeTenant(3001, { retentionDays: 0 })).toMatchObject({ purged: false, reason: 'not_found' });

    const fresh = await provisioner.create(tenantEvent(3001));
    expect(fresh.generation).toBe(1);
    expect(fresh.domainUuid).not.toBe(created.domainUuid);
    expect(fresh.domainName).toBe(created.domainName);
  });
});

describe('change_package', () => {
  test('adds extensions automatically, disables the surplus newest-first and re-enables exactly those', async () => {
    const created = await provisioner.create(tenantEvent(4001));
    const grown = await provisioner.changePackage(tenantEvent(4001, {}, { maxExtensions: 5 }));
    expect(grown.report.createdExtensions).toEqual(['103', '104']);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true', '103': 'true', '104': 'true' });

    const shrunk = await provisioner.changePackage(tenantEvent(4001, { configurableOptions: { maxExtensions: '2' } }));
    expect(shrunk.report.disabledExtensions).toEqual(['104', '103', '102']);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'false', '103': 'false', '104': 'false' });
    const flushes = shrunk.freeswitch.filter((step) => step.kind === 'flush_registration');
    expect(flushes).toEqual(['104', '103', '102'].map((ext) => ({ kind: 'flush_registration', profile: 'internal', user: `${ext}@${created.domainName}` })));

    const before = await dumpTables(fx.pool);
    for (let i = 0; i < 3; i += 1) expect((await provisioner.changePackage(tenantEvent(4001, { configurableOptions: { maxExtensions: '2' } }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);

    const regrown = await provisioner.changePackage(tenantEvent(4001, {}, { maxExtensions: 4 }));
    expect(regrown.report.reenabledExtensions).toEqual(['102', '103']);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true', '103': 'true', '104': 'false' });
  });

  test('a tenant admin removed in FusionPBX does not stop a change_package (it carries no password): the plan applies, no user is made', async () => {
    const created = await provisioner.create(tenantEvent(4003));
    const [admin] = (await fx.pool.query("select user_uuid from v_users where domain_uuid = $1 and username = 'owner'", [created.domainUuid])).rows;
    expect(admin).toBeDefined();
    await fx.pool.query('delete from v_user_groups where user_uuid = $1', [admin.user_uuid]);
    await fx.pool.query('delete from v_users where user_uuid = $1', [admin.user_uuid]);

    const grown = await provisioner.changePackage(tenantEvent(4003, { secrets: {} }, { maxExtensions: 4 }));
    expect(grown.report.createdExtensions).toEqual(['103']);
    expect((await fx.pool.query('select username from v_users where domain_uuid = $1', [created.domainUuid])).rows).toEqual([]);
  });

  test('a changed gateway template rewrites the same gateway and restarts it (killgw + startgw)', async () => {
    const created = await provisioner.create(tenantEvent(4002));
    const [gateway] = await rows('select * from v_gateways where domain_uuid = $1', [created.domainUuid]);
    const changed = await provisioner.changePackage(tenantEvent(4002, {}, { gatewayTemplate: 'trunk2', brand: '' }));
    const [after] = await rows('select * from v_gateways where domain_uuid = $1', [created.domainUuid]);
    expect(after).toMatchObject({ gateway_uuid: gateway.gateway_uuid, proxy: 'sip2.carrier.example.org', username: 'acct-2', password: 'trunk-secret-2' });
    expect(after.update_date).toBeInstanceOf(Date);
    expect(changed.freeswitch.filter((step) => step.kind.startsWith('gateway_') || step.kind === 'sofia_rescan')).toEqual([
      { kind: 'gateway_kill', profile: 'external', gatewayUuid: gateway.gateway_uuid },
      { kind: 'gateway_start', profile: 'external', gatewayUuid: gateway.gateway_uuid },
    ]);
    const title = await rows("select domain_setting_value from v_domain_settings where domain_uuid = $1 and domain_setting_subcategory = 'title'", [created.domainUuid]);
    expect(title).toEqual([{ domain_setting_value: 'Example Voice' }]);
  });
});

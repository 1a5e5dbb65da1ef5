import { type Provisioner, createProvisioner } from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, dumpTables, setupFusionpbx, tenantEvent, testOptions } from './helpers';

/**
 * FusionPBX 5.5+ turned many text flags into boolean columns. The same statements must work on
 * both; here the flags the provisioner writes are converted to boolean before the provisioner's
 * pool first reads the column catalog.
 */
let fx: FusionpbxTestDb;
let provisioner: Provisioner;

beforeAll(async () => {
  fx = await setupFusionpbx('fpbx_bool');
  for (const [table, column] of [
    ['v_extensions', 'enabled'],
    ['v_extensions', 'directory_visible'],
    ['v_extensions', 'directory_exten_visible'],
    ['v_extensions', 'call_screen_enabled'],
    ['v_gateways', 'enabled'],
    ['v_gateways', 'register'],
    ['v_users', 'user_enabled'],
    ['v_dialplans', 'dialplan_enabled'],
    ['v_dialplans', 'dialplan_continue'],
    ['v_sip_profiles', 'sip_profile_enabled'],
  ]) {
    await fx.pool.query(`alter table ${table} alter column ${column} type boolean using ${column}::boolean`);
  }
  provisioner = createProvisioner({ pool: fx.pool, options: testOptions(fx.basics) });
});

afterAll(async () => {
  await fx.close();
});

test('create / suspend / unsuspend converge and replay cleanly with boolean flag columns (5.5+)', async () => {
  const created = await provisioner.create(tenantEvent(8001));
  const { rows: extensions } = await fx.pool.query('select extension, enabled, directory_visible from v_extensions where domain_uuid = $1 order by extension', [
    created.domainUuid,
  ]);
  expect(extensions).toEqual([
    { extension: '100', enabled: true, directory_visible: true },
    { extension: '101', enabled: true, directory_visible: true },
    { extension: '102', enabled: true, directory_visible: true },
  ]);
  const before = await dumpTables(fx.pool);
  expect((await provisioner.create(tenantEvent(8001))).changed).toBe(false);
  expect(await dumpTables(fx.pool)).toEqual(before);

  await fx.pool.query("update v_extensions set enabled = false where domain_uuid = $1 and extension = '102'", [created.domainUuid]);
  const suspended = await provisioner.suspend(tenantEvent(8001));
  expect(suspended.suspendMemory?.extensions).toEqual({ '100': true, '101': true, '102': false });
  await provisioner.unsuspend(tenantEvent(8001));
  const { rows: restored } = await fx.pool.query('select extension, enabled from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid]);
  expect(restored.map((row) => row.enabled)).toEqual([true, true, false]);
  const { rows: gateways } = await fx.pool.query('select enabled, register from v_gateways where domain_uuid = $1', [created.domainUuid]);
  expect(gateways).toEqual([{ enabled: true, register: true }]);
});

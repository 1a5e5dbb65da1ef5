import { MASKED_VALUE, type Provisioner, TenantNotFoundError, createProvisioner } from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, dumpTables, setupFusionpbx, tenantEvent, testOptions } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;

beforeAll(async () => {
  fx = await setupFusionpbx('fpbx_preview');
  provisioner = createProvisioner({ pool: fx.pool, options: testOptions(fx.basics) });
});

afterAll(async () => {
  await fx.close();
});

describe('provisioner.preview', () => {
  test("suspend preview lists the disabling updates, returns the real run's steps, and changes no row", async () => {
    const created = await provisioner.create(tenantEvent(2101));
    const before = await dumpTables(fx.pool);
    const preview = await provisioner.preview('suspend', tenantEvent(2101));
    expect(preview.result.status).toBe('suspended');
    const updates = preview.rows.filter((row) => row.op === 'update');
    expect(updates.filter((row) => row.table === 'v_extensions').map((row) => row.columns)).toEqual([{ enabled: 'false' }, { enabled: 'false' }, { enabled: 'false' }]);
    expect(updates).toEqual(expect.arrayContaining([{ table: 'v_domains', op: 'update', key: created.domainUuid, columns: { domain_enabled: 'false' } }]));
    expect(await dumpTables(fx.pool)).toEqual(before);

    const real = await provisioner.suspend(tenantEvent(2101));
    expect(real.freeswitch).toEqual(preview.result.freeswitch);
  });

  test('a repeat create previews no writes; change_password shows the masked hash only', async () => {
    await provisioner.create(tenantEvent(2102));
    const repeat = await provisioner.preview('create', tenantEvent(2102));
    expect(repeat.rows).toEqual([]);
    expect(repeat.result.changed).toBe(false);

    const event = tenantEvent(2102);
    const password = 'N3w-Secret-Pass!';
    const changed = await provisioner.preview('changePassword', { ...event, secrets: { servicePassword: password } });
    expect(changed.rows).toEqual([expect.objectContaining({ table: 'v_users', op: 'update', columns: expect.objectContaining({ password: MASKED_VALUE }) })]);
    expect(JSON.stringify(changed)).not.toContain(password);
  });

  test('fails like the real call (unknown tenant) and leaves nothing behind', async () => {
    const before = await dumpTables(fx.pool);
    await expect(provisioner.preview('suspend', tenantEvent(2199))).rejects.toBeInstanceOf(TenantNotFoundError);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });
});

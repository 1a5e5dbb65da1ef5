import { randomUUID } from 'node:crypto';
import { type Provisioner } from '@ictvoip/fusionpbx';
import { PLAN_LIMITS } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, provisioningSuite, refusedAtIngest, tenantEvent } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;

const suite = provisioningSuite('fpbx_limits', 2000);
beforeAll(() => {
  ({ fx, provisioner } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;
const limitRows = (domainUuid: string) =>
  rows("select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'limit' order by domain_setting_subcategory, domain_setting_description", [
    domainUuid,
  ]);
const limitValues = async (domainUuid: string) =>
  (await limitRows(domainUuid)).map((row) => [row.domain_setting_subcategory, row.domain_setting_value, row.domain_setting_description]);

/** A row as an operator adds it on FusionPBX's domain settings page. */
async function operatorLimit(domainUuid: string, subcategory: string, value: string): Promise<void> {
  await fx.pool.query(
    `insert into v_domain_settings (domain_setting_uuid, domain_uuid, domain_setting_category, domain_setting_subcategory, domain_setting_name,
       domain_setting_value, domain_setting_order, domain_setting_enabled, domain_setting_description)
     values ($1, $2, 'limit', $3, 'numeric', $4, 0, true, 'set by the operator')`,
    [randomUUID(), domainUuid, subcategory, value],
  );
}

describe(`FusionPBX's own limits (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('create writes limit/<key>/numeric as the domain settings page does, for each limit the plan states', async () => {
    const result = await provisioner.create(tenantEvent(7001, {}, { maxGateways: 2, maxDestinations: 20 }));
    const limits = await limitRows(result.domainUuid);
    expect(limits).toHaveLength(3);
    expect(limits.map((row) => [row.domain_setting_subcategory, row.domain_setting_value])).toEqual([
      ['destinations', '20'],
      ['extensions', '3'],
      ['gateways', '2'],
    ]);
    for (const row of limits) {
      expect(row).toMatchObject({
        domain_uuid: result.domainUuid,
        app_uuid: null,
        domain_setting_category: 'limit',
        domain_setting_name: 'numeric',
        domain_setting_order: '0',
        domain_setting_enabled: true,
        domain_setting_description: 'ictVoIP plan limit',
      });
      expect(row.domain_setting_uuid).toMatch(/^[0-9a-f-]{36}$/);
      if ('insert_date' in row) expect(row.insert_date).toBeInstanceOf(Date);
      if ('update_date' in row) expect(row.update_date).toBeNull();
    }

    // A replay writes nothing: no new rows, no update_date.
    const before = await dumpTables(fx.pool);
    expect((await provisioner.create(tenantEvent(7001, {}, { maxGateways: 2, maxDestinations: 20 }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('change_package raises and lowers the limits; limits alone add no FreeSWITCH step', async () => {
    const created = await provisioner.create(tenantEvent(7002, {}, { maxExtensions: 2, maxGateways: 1 }));
    const unchanged = await provisioner.changePackage(tenantEvent(7002, {}, { maxExtensions: 2, maxGateways: 1 }));
    expect(unchanged.changed).toBe(false);

    const raised = await provisioner.changePackage(tenantEvent(7002, {}, { maxExtensions: 2, maxGateways: 4 }));
    expect(raised.changed).toBe(true);
    expect(raised.freeswitch).toEqual(unchanged.freeswitch);
    expect(await limitValues(created.domainUuid)).toEqual([
      ['extensions', '2', 'ictVoIP plan limit'],
      ['gateways', '4', 'ictVoIP plan limit'],
    ]);

    // Configurable options move them like the plan does.
    await provisioner.changePackage(tenantEvent(7002, { configurableOptions: { 'maxGateways|Gateways': '0', 'maxExtensions|Extensions': '1' } }));
    expect(await limitValues(created.domainUuid)).toEqual([
      ['extensions', '1', 'ictVoIP plan limit'],
      ['gateways', '0', 'ictVoIP plan limit'],
    ]);
    const gateways = (await limitRows(created.domainUuid)).find((row) => row.domain_setting_subcategory === 'gateways');
    if ('update_date' in gateways) expect(gateways.update_date).toBeInstanceOf(Date);

    const before = await dumpTables(fx.pool);
    expect((await provisioner.changePackage(tenantEvent(7002, { configurableOptions: { 'maxGateways|Gateways': '0', 'maxExtensions|Extensions': '1' } }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test("a plan without a limit removes the bridge's row only; the operator's limit rows stay", async () => {
    const created = await provisioner.create(tenantEvent(7003, {}, { maxGateways: 3 }));
    await operatorLimit(created.domainUuid, 'devices', '5');
    await operatorLimit(created.domainUuid, 'destinations', '7');

    await provisioner.changePackage(tenantEvent(7003, {}, { maxExtensions: 3 }));
    expect(await limitValues(created.domainUuid)).toEqual([
      ['destinations', '7', 'set by the operator'],
      ['devices', '5', 'set by the operator'],
      ['extensions', '3', 'ictVoIP plan limit'],
    ]);

    const before = await dumpTables(fx.pool);
    expect((await provisioner.changePackage(tenantEvent(7003, {}, { maxExtensions: 3 }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);

    // A plan that states the limit again writes the plan's value over a same-key row (the plan is the authority).
    await provisioner.changePackage(tenantEvent(7003, {}, { maxExtensions: 3, maxDestinations: 9 }));
    expect(await limitValues(created.domainUuid)).toEqual([
      ['destinations', '9', 'ictVoIP plan limit'],
      ['devices', '5', 'set by the operator'],
      ['extensions', '3', 'ictVoIP plan limit'],
    ]);
  });

  test.each([
    ['maxGateways', -1],
    ['maxGateways', PLAN_LIMITS.maxGateways.max + 1],
    ['maxDestinations', PLAN_LIMITS.maxDestinations.max + 1],
    ['maxGateways', 'many'],
  ])('%s = %p is refused at ingest, naming the field: no command, nothing written', (key, value) => {
    // The provisioner reads the limits as the command holds them (validated once, by parseTenantCommand).
    expect(refusedAtIngest(() => tenantEvent(7004, {}, { [key]: value }))).toEqual([`plan.${key}`]);
  });
});

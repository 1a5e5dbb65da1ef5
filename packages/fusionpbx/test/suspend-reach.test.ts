/**
 * What a suspended tenant can still reach through FusionPBX's own rows: dialplan.lua serves the public
 * context and a domain's context whatever v_domains.domain_enabled says, so an inbound route the
 * tenant's admin made (no v_destinations row) and the tenant's own outbound routes must be disabled
 * too, and given back exactly. A suspend sent again disables again what a stale portal session
 * re-enabled meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { type Provisioner, forgetColumnCatalog } from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, provisioningSuite, tenantEvent } from './helpers';

const INBOUND_ROUTE_APP = 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4';
const OUTBOUND_ROUTE_APP = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
const suite = provisioningSuite('fpbx_suspend_reach', 2000);
beforeAll(() => {
  ({ fx, provisioner } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;

async function addDialplan(domainUuid: string, context: string, appUuid: string, name: string, number: string | null, enabled: boolean): Promise<string> {
  const uuid = randomUUID();
  await fx.pool.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_number, dialplan_continue, dialplan_order, dialplan_enabled, dialplan_xml, insert_date)
     values ($1, $2, $3, $4, $5, $6, 'false', 100, $7, '<extension/>', now())`,
    [domainUuid, uuid, appUuid, context, name, number, String(enabled)],
  );
  return uuid;
}

const dialplanStates = async (domainUuid: string) =>
  Object.fromEntries(
    (
      await rows("select dialplan_name, dialplan_enabled::text from v_dialplans where domain_uuid = $1 and (dialplan_context = 'public' or app_uuid = $2) order by dialplan_name", [
        domainUuid,
        OUTBOUND_ROUTE_APP,
      ])
    ).map((row) => [row.dialplan_name, row.dialplan_enabled]),
  );

describe(`suspend reaches the tenant's own routes (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test("the tenant's inbound route without a number row and its own outbound route are disabled; unsuspend gives each back as it was, a number's route the operator had switched off included", async () => {
    const created = await provisioner.create(tenantEvent(7301, {}, { maxExtensions: 2, dids: ['5557010001'], countryCode: '1' }));
    await addDialplan(created.domainUuid, 'public', INBOUND_ROUTE_APP, 'own-inbound', '2125550199', true);
    await addDialplan(created.domainUuid, 'public', INBOUND_ROUTE_APP, 'own-inbound-off', '2125550198', false);
    await addDialplan(created.domainUuid, created.domainName, OUTBOUND_ROUTE_APP, 'own-outbound', null, true);
    // The plan number's route switched off by the operator, its number row left enabled.
    await fx.pool.query(
      "update v_dialplans set dialplan_enabled = 'false' where dialplan_uuid = (select dialplan_uuid from v_destinations where domain_uuid = $1 and destination_number like '%5557010001')",
      [created.domainUuid],
    );
    const before = await dialplanStates(created.domainUuid);
    expect(Object.values(before).filter((enabled) => enabled === 'true')).toHaveLength(2);

    const suspended = await provisioner.suspend(tenantEvent(7301));
    expect(Object.values(await dialplanStates(created.domainUuid))).toEqual(Object.values(before).map(() => 'false'));
    expect(suspended.freeswitch).toEqual(
      expect.arrayContaining([
        { kind: 'cache_delete', key: 'dialplan:public' },
        { kind: 'cache_delete', key: `dialplan:${created.domainName}` },
      ]),
    );

    await provisioner.unsuspend(tenantEvent(7301));
    expect(await dialplanStates(created.domainUuid)).toEqual(before);
    const [number] = await rows("select destination_enabled::text from v_destinations where domain_uuid = $1 and destination_number like '%5557010001'", [created.domainUuid]);
    expect(number.destination_enabled).toBe('true');
  });

  test('a suspend sent again disables what was re-enabled meanwhile; unsuspend restores what the first suspend found', async () => {
    const created = await provisioner.create(tenantEvent(7302, {}, { maxExtensions: 2 }));
    const inbound = await addDialplan(created.domainUuid, 'public', INBOUND_ROUTE_APP, 'own-inbound', '2125550197', true);
    await fx.pool.query("update v_extensions set enabled = 'false' where domain_uuid = $1 and extension = '101'", [created.domainUuid]);
    await provisioner.suspend(tenantEvent(7302));

    // A portal session opened before the suspend turns things back on (FusionPBX checks users at login only).
    await fx.pool.query("update v_extensions set enabled = 'true' where domain_uuid = $1", [created.domainUuid]);
    await fx.pool.query("update v_dialplans set dialplan_enabled = 'true' where dialplan_uuid = $1", [inbound]);
    const again = await provisioner.suspend(tenantEvent(7302));
    expect(again.changed).toBe(true);
    expect((await rows('select extension, enabled::text from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid])).map((row) => row.enabled)).toEqual([
      'false',
      'false',
    ]);
    expect((await rows('select dialplan_enabled::text from v_dialplans where dialplan_uuid = $1', [inbound]))[0].dialplan_enabled).toBe('false');
    expect(again.suspendMemory?.extensions).toEqual({ '100': true, '101': false });

    // Sent a third time with nothing re-enabled: nothing written.
    expect((await provisioner.suspend(tenantEvent(7302))).changed).toBe(false);

    await provisioner.unsuspend(tenantEvent(7302));
    expect((await rows('select extension, enabled::text from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid])).map((row) => row.enabled)).toEqual([
      'true',
      'false',
    ]);
    expect((await rows('select dialplan_enabled::text from v_dialplans where dialplan_uuid = $1', [inbound]))[0].dialplan_enabled).toBe('true');
  });

  test("the tenant's phones stop being provisioned (app/provision serves any enabled device, whatever domain_enabled says); unsuspend gives each device back as it was", async () => {
    // FusionPBX 5.1/5.3 have v_devices; the bridge's smaller fixture does not: give it the columns the provision page reads.
    await fx.pool.query('create table if not exists v_devices (device_uuid uuid primary key, domain_uuid uuid, device_address text, device_enabled text)');
    forgetColumnCatalog(fx.pool);
    const created = await provisioner.create(tenantEvent(7304, {}, { maxExtensions: 1 }));
    const addDevice = async (address: string, enabled: string) => {
      const uuid = randomUUID();
      await fx.pool.query('insert into v_devices (device_uuid, domain_uuid, device_address, device_enabled) values ($1, $2, $3, $4)', [uuid, created.domainUuid, address, enabled]);
      return uuid;
    };
    const desk = await addDevice('001565aabb01', 'true');
    const spare = await addDevice('001565aabb02', 'false');
    const devices = async () =>
      Object.fromEntries(
        (await rows('select device_uuid::text, device_enabled from v_devices where domain_uuid = $1', [created.domainUuid])).map((row) => [row.device_uuid, row.device_enabled]),
      );

    const suspended = await provisioner.suspend(tenantEvent(7304));
    expect(await devices()).toEqual({ [desk]: 'false', [spare]: 'false' });
    expect(suspended.suspendMemory?.devices).toEqual({ [desk]: true, [spare]: false });
    // A stale portal session enables the desk phone again: a suspend sent again disables it, the first memory stays.
    await fx.pool.query("update v_devices set device_enabled = 'true' where device_uuid = $1", [desk]);
    expect((await provisioner.suspend(tenantEvent(7304))).suspendMemory?.devices).toEqual({ [desk]: true, [spare]: false });
    expect(await devices()).toEqual({ [desk]: 'false', [spare]: 'false' });

    await provisioner.unsuspend(tenantEvent(7304));
    expect(await devices()).toEqual({ [desk]: 'true', [spare]: 'false' });
    // Terminate disables them too; a new generation enables every device with everything else.
    await provisioner.terminate(tenantEvent(7304));
    expect(await devices()).toEqual({ [desk]: 'false', [spare]: 'false' });
    await provisioner.create(tenantEvent(7304, {}, { maxExtensions: 1 }));
    expect(await devices()).toEqual({ [desk]: 'true', [spare]: 'true' });
  });

  test("terminate leaves the tenant's own routes disabled; a create of a new generation enables them again with everything else", async () => {
    const created = await provisioner.create(tenantEvent(7303, {}, { maxExtensions: 1 }));
    const inbound = await addDialplan(created.domainUuid, 'public', INBOUND_ROUTE_APP, 'own-inbound', '2125550196', true);
    await provisioner.terminate(tenantEvent(7303));
    expect((await rows('select dialplan_enabled::text from v_dialplans where dialplan_uuid = $1', [inbound]))[0].dialplan_enabled).toBe('false');
    const again = await provisioner.create(tenantEvent(7303, {}, { maxExtensions: 1 }));
    expect(again.generation).toBe(2);
    expect((await rows('select dialplan_enabled::text from v_dialplans where dialplan_uuid = $1', [inbound]))[0].dialplan_enabled).toBe('true');
    expect(again.freeswitch).toContainEqual({ kind: 'cache_delete', key: 'dialplan:public' });
  });
});

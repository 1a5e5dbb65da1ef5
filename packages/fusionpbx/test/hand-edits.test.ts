import { randomUUID } from 'node:crypto';
import {
  type Provisioner,
  ManagedResourceError,
  UniquenessError,
  createTenantDestination,
  createTenantGateway,
  deleteTenantDestination,
  destinationWriteOptions,
  listTenantDestinations,
  numberPlanOf,
  portalPasswordMatches,
} from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, dumpTables, provisioningSuite, tenantEvent } from './helpers';

// Rows an operator or the tenant admin changes in FusionPBX's own pages, then WHMCS events arrive.

let fx: FusionpbxTestDb;
let provisioner: Provisioner;

const suite = provisioningSuite('fpbx_hand', 2000);
beforeAll(() => {
  ({ fx, provisioner } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;
const enabledMap = async (domainUuid: string) =>
  Object.fromEntries(
    (await rows('select extension, enabled from v_extensions where domain_uuid = $1 order by extension', [domainUuid])).map((row) => [row.extension, row.enabled]),
  );

/** An extension added on app/extensions/extension_edit.php (its main columns, and the mailbox it makes with it). */
async function addExtensionAsThePage(domainUuid: string, domainName: string, extension: string): Promise<void> {
  await fx.pool.query(
    `insert into v_extensions (extension_uuid, domain_uuid, extension, password, accountcode, user_context, call_timeout, limit_max, limit_destination, enabled, insert_date)
     values ($1, $2, $3, 'Page-Pass-1', $4, $4, 30, 5, 'error/user_busy', 'true', now())`,
    [randomUUID(), domainUuid, extension, domainName],
  );
  await fx.pool.query(
    `insert into v_voicemails (voicemail_uuid, domain_uuid, voicemail_id, voicemail_password, voicemail_enabled, insert_date) values ($1, $2, $3, $3, 'true', now())`,
    [randomUUID(), domainUuid, extension],
  );
}

/** extension_edit.php saving the Enabled field (extensions.php's toggle writes the same column). */
async function setEnabledAsThePage(domainUuid: string, extension: string, enabled: boolean): Promise<void> {
  await fx.pool.query('update v_extensions set enabled = $3, update_date = now() where domain_uuid = $1 and extension = $2', [domainUuid, extension, String(enabled)]);
}

describe('extensions changed in FusionPBX, then change_package', () => {
  test("a bigger plan re-enables the tenant's own extension it disabled as surplus, instead of making a new one", async () => {
    const created = await provisioner.create(tenantEvent(7401, {}, { maxExtensions: 4, initialExtensions: 3 }));
    // The tenant admin adds 150 in FusionPBX: the plan allows 4.
    await addExtensionAsThePage(created.domainUuid, created.domainName, '150');
    const shrunk = await provisioner.changePackage(tenantEvent(7401, {}, { maxExtensions: 3, initialExtensions: 3 }));
    expect(shrunk.report.disabledExtensions).toEqual(['150']);

    const regrown = await provisioner.changePackage(tenantEvent(7401, {}, { maxExtensions: 4, initialExtensions: 3 }));
    expect(regrown.report.reenabledExtensions).toEqual(['150']);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true', '150': 'true' });
  });

  test('a bigger plan re-enables the surplus before it adds a plan number the tenant deleted', async () => {
    const created = await provisioner.create(tenantEvent(7402, {}, { maxExtensions: 4 }));
    // The tenant admin deletes 103 (extensions.php) and adds 150 in its place.
    await fx.pool.query("delete from v_voicemails where domain_uuid = $1 and voicemail_id = '103'", [created.domainUuid]);
    await fx.pool.query("delete from v_extensions where domain_uuid = $1 and extension = '103'", [created.domainUuid]);
    await addExtensionAsThePage(created.domainUuid, created.domainName, '150');
    const shrunk = await provisioner.changePackage(tenantEvent(7402, {}, { maxExtensions: 3 }));
    expect(shrunk.report.disabledExtensions).toEqual(['150']);

    const regrown = await provisioner.changePackage(tenantEvent(7402, {}, { maxExtensions: 4 }));
    expect(regrown.report).toMatchObject({ reenabledExtensions: ['150'], createdExtensions: [], skippedExtensions: ['103'] });
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true', '150': 'true' });
  });

  test('an extension the plan once disabled as surplus, deleted and made again by hand, is not re-enabled when the operator disables it', async () => {
    const created = await provisioner.create(tenantEvent(7403, {}, { maxExtensions: 3 }));
    expect((await provisioner.changePackage(tenantEvent(7403, {}, { maxExtensions: 2 }))).report.disabledExtensions).toEqual(['102']);
    // The operator deletes 102 (extensions.php's delete); the bigger plan makes it again, and the operator disables it on purpose.
    await fx.pool.query("delete from v_voicemails where domain_uuid = $1 and voicemail_id = '102'", [created.domainUuid]);
    await fx.pool.query("delete from v_extensions where domain_uuid = $1 and extension = '102'", [created.domainUuid]);
    const regrown = await provisioner.changePackage(tenantEvent(7403, {}, { maxExtensions: 3 }));
    expect(regrown.report.createdExtensions).toEqual(['102']);
    await setEnabledAsThePage(created.domainUuid, '102', false);

    const again = await provisioner.changePackage(tenantEvent(7403, {}, { maxExtensions: 4, initialExtensions: 3 }));
    expect(again.report.reenabledExtensions).toEqual([]);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'false' });
  });
});

describe('a plan number taken as an alias in FusionPBX, then change_package', () => {
  test('the plan applies; the number another extension uses as its number_alias is reported, not made and not a failure', async () => {
    const created = await provisioner.create(tenantEvent(7431, {}, { maxExtensions: 4 }));
    // The tenant deletes 103 (extensions.php) and gives 100 the alias 103 on extension_edit.php (an update checks no uniqueness).
    await fx.pool.query("delete from v_voicemails where domain_uuid = $1 and voicemail_id = '103'", [created.domainUuid]);
    await fx.pool.query("delete from v_extensions where domain_uuid = $1 and extension = '103'", [created.domainUuid]);
    await fx.pool.query("update v_extensions set number_alias = '103', update_date = now() where domain_uuid = $1 and extension = '100'", [created.domainUuid]);

    const moved = await provisioner.changePackage(tenantEvent(7431, { secrets: {} }, { maxExtensions: 4, gatewayTemplate: 'trunk2' }));
    expect(moved.report).toMatchObject({ createdExtensions: [], aliasedExtensions: ['103'] });
    expect(await rows('select proxy from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ proxy: 'sip2.carrier.example.org' }]);
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true' });
  });
});

describe("the plan's ring group changed in FusionPBX, then change_package adds a number", () => {
  const plan = (dids: string[]) => ({ countryCode: '1', ringGroup: '600', dids });
  const actionOf = async (domainUuid: string, number: string) =>
    (await rows('select destination_actions from v_destinations where domain_uuid = $1 and destination_number = $2', [domainUuid, number]))[0]?.destination_actions;

  test('a ring group the tenant switched off (ring_groups.php toggle): the new number is written like the others, not a failure', async () => {
    const created = await provisioner.create(tenantEvent(7451, {}, plan(['5552074501'])));
    // ring_groups->toggle(): the group's ring_group_enabled and its dialplan's dialplan_enabled.
    const [group] = await rows("select ring_group_uuid, dialplan_uuid from v_ring_groups where domain_uuid = $1 and ring_group_extension = '600'", [created.domainUuid]);
    await fx.pool.query("update v_ring_groups set ring_group_enabled = 'false' where ring_group_uuid = $1", [group.ring_group_uuid]);
    await fx.pool.query("update v_dialplans set dialplan_enabled = 'false' where dialplan_uuid = $1", [group.dialplan_uuid]);

    const grown = await provisioner.changePackage(tenantEvent(7451, { secrets: {} }, plan(['5552074501', '5552074502'])));
    expect(grown.changed).toBe(true);
    expect(await actionOf(created.domainUuid, '5552074502')).toEqual(await actionOf(created.domainUuid, '5552074501'));
    expect(await rows('select ring_group_enabled from v_ring_groups where domain_uuid = $1', [created.domainUuid])).toEqual([{ ring_group_enabled: 'false' }]);
  });

  test('a ring group the tenant deleted and whose number it gave an extension: the plan applies, its numbers ring that extension', async () => {
    const created = await provisioner.create(tenantEvent(7452, {}, plan(['5552074511'])));
    // ring_groups->delete(): the group, its destinations, its dialplan (and details); then extension_edit.php adds 600.
    const [group] = await rows("select ring_group_uuid, dialplan_uuid from v_ring_groups where domain_uuid = $1 and ring_group_extension = '600'", [created.domainUuid]);
    await fx.pool.query('delete from v_ring_group_destinations where ring_group_uuid = $1', [group.ring_group_uuid]);
    await fx.pool.query('delete from v_ring_groups where ring_group_uuid = $1', [group.ring_group_uuid]);
    await fx.pool.query('delete from v_dialplan_details where dialplan_uuid = $1', [group.dialplan_uuid]);
    await fx.pool.query('delete from v_dialplans where dialplan_uuid = $1', [group.dialplan_uuid]);
    await addExtensionAsThePage(created.domainUuid, created.domainName, '600');

    const grown = await provisioner.changePackage(tenantEvent(7452, { secrets: {} }, { ...plan(['5552074511', '5552074512']), maxExtensions: 4 }));
    expect(grown.changed).toBe(true);
    expect(await rows('select count(*)::int as n from v_ring_groups where domain_uuid = $1', [created.domainUuid])).toEqual([{ n: 0 }]);
    expect(await actionOf(created.domainUuid, '5552074512')).toEqual(await actionOf(created.domainUuid, '5552074511'));
  });

  test("a plan ring group whose number is an extension the plan's numbers never rang is still refused (the plan's mistake)", async () => {
    const created = await provisioner.create(tenantEvent(7453, {}, { countryCode: '1', dids: ['5552074521'] }));
    await addExtensionAsThePage(created.domainUuid, created.domainName, '600');
    await expect(provisioner.changePackage(tenantEvent(7453, { secrets: {} }, { ...plan(['5552074521', '5552074522']), maxExtensions: 4 }))).rejects.toBeInstanceOf(
      UniquenessError,
    );
  });
});

describe('the tenant admin and the plan gateway switched off in FusionPBX, then change_package', () => {
  test('the tenant admin user disabled on user_edit.php stays disabled', async () => {
    const created = await provisioner.create(tenantEvent(7411));
    await fx.pool.query("update v_users set user_enabled = 'false', update_date = now() where domain_uuid = $1 and username = 'owner'", [created.domainUuid]);
    const changed = await provisioner.changePackage(tenantEvent(7411, { secrets: {} }, { maxExtensions: 4 }));
    expect(changed.report.createdExtensions).toEqual(['103']);
    expect(await rows('select username, user_enabled from v_users where domain_uuid = $1', [created.domainUuid])).toEqual([{ username: 'owner', user_enabled: 'false' }]);
    // A create repeated for the live tenant changes nothing either.
    expect((await provisioner.create(tenantEvent(7411, {}, { maxExtensions: 4 }))).changed).toBe(false);
    expect(await rows('select user_enabled from v_users where domain_uuid = $1', [created.domainUuid])).toEqual([{ user_enabled: 'false' }]);
  });

  test('the tenant admin taken out of the admin group on user_edit.php stays out (change_package, change_password, a repeated create); a create after terminate puts it back', async () => {
    const created = await provisioner.create(tenantEvent(7418));
    const groupsOfAdmin = async () =>
      (await rows("select g.group_name from v_user_groups g join v_users u using (user_uuid) where u.domain_uuid = $1 and u.username = 'owner'", [created.domainUuid])).map(
        (row) => row.group_name,
      );
    expect(await groupsOfAdmin()).toEqual(['admin']);
    // user_edit.php: the operator demotes the customer's admin (its group row deleted, the user kept).
    await fx.pool.query("delete from v_user_groups where user_uuid = (select user_uuid from v_users where domain_uuid = $1 and username = 'owner')", [created.domainUuid]);
    expect((await provisioner.changePackage(tenantEvent(7418, { secrets: {} }, { maxExtensions: 4 }))).report.createdExtensions).toEqual(['103']);
    await provisioner.changePassword(tenantEvent(7418, { secrets: { servicePassword: 'An0ther-Portal-Pass!' } }));
    await provisioner.create(tenantEvent(7418, {}, { maxExtensions: 4 }));
    expect(await groupsOfAdmin()).toEqual([]);
    await provisioner.terminate(tenantEvent(7418));
    await provisioner.create(tenantEvent(7418));
    expect(await groupsOfAdmin()).toEqual(['admin']);
  });

  test('the plan gateway switched off on gateways.php stays off (its template still applies), and is not started', async () => {
    const created = await provisioner.create(tenantEvent(7412));
    const [gateway] = await rows('select gateway_uuid from v_gateways where domain_uuid = $1', [created.domainUuid]);
    await fx.pool.query("update v_gateways set enabled = 'false', update_date = now() where gateway_uuid = $1", [gateway.gateway_uuid]);

    const grown = await provisioner.changePackage(tenantEvent(7412, { secrets: {} }, { maxExtensions: 4 }));
    expect(grown.report.createdExtensions).toEqual(['103']);
    expect(await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ enabled: 'false' }]);
    expect(grown.freeswitch.filter((step) => step.kind === 'gateway_start')).toEqual([]);

    const moved = await provisioner.changePackage(tenantEvent(7412, { secrets: {} }, { maxExtensions: 4, gatewayTemplate: 'trunk2' }));
    expect(await rows('select proxy, enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ proxy: 'sip2.carrier.example.org', enabled: 'false' }]);
    expect(moved.freeswitch.filter((step) => step.kind === 'gateway_start')).toEqual([]);
  });

  test("a gateway the tenant made under the template's name is not taken over: change_package fails naming it, nothing written", async () => {
    const created = await provisioner.create(tenantEvent(7417, {}, { gatewayTemplate: '' }));
    // gateway_edit.php: the tenant's own trunk, named like the plan template the reseller adds later.
    const own = randomUUID();
    await fx.pool.query(
      "insert into v_gateways (gateway_uuid, domain_uuid, gateway, proxy, username, password, register, profile, context, enabled) values ($1, $2, 'trunk', 'sip.own-carrier.example', 'own-user', 'own-secret', 'true', 'external', 'public', 'true')",
      [own, created.domainUuid],
    );
    const before = await dumpTables(fx.pool);
    const error = await provisioner.changePackage(tenantEvent(7417, { secrets: {} }, { maxExtensions: 4, gatewayTemplate: 'trunk' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UniquenessError);
    expect((error as Error).message).toBe(
      `gateway trunk already exists in domain ${created.domainName} (${own}) and was not made by the bridge: it is not taken over; rename or delete it in FusionPBX, or name the plan's gateway template otherwise`,
    );
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('a gateway the plan dropped (the plan disabled it) comes back enabled with a plan that has it again', async () => {
    const created = await provisioner.create(tenantEvent(7413));
    await provisioner.changePackage(tenantEvent(7413, { secrets: {} }, { gatewayTemplate: '' }));
    expect(await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ enabled: 'false' }]);
    const back = await provisioner.changePackage(tenantEvent(7413, { secrets: {} }, { gatewayTemplate: 'trunk' }));
    expect(await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ enabled: 'true' }]);
    expect(back.freeswitch.filter((step) => step.kind === 'gateway_start')).toHaveLength(1);
  });

  test('a create after terminate enables the plan gateway terminate disabled', async () => {
    const created = await provisioner.create(tenantEvent(7414));
    await provisioner.terminate(tenantEvent(7414));
    expect(await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ enabled: 'false' }]);
    await provisioner.create(tenantEvent(7414));
    expect(await rows('select enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).toEqual([{ enabled: 'true' }]);
    // The bookkeeping is spent: a replay writes nothing.
    expect((await provisioner.create(tenantEvent(7414))).changed).toBe(false);
  });
});

describe("the tenant's own gateways over terminate and a new create", () => {
  test('a create after terminate starts the gateways of the tenant terminate stopped, as it enables its users and extensions', async () => {
    const created = await provisioner.create(tenantEvent(7415));
    const own = await createTenantGateway(fx.pool, { name: 'own-trunk', proxy: 'sip.own.example', register: false }, { serviceId: 7415, maxGateways: 3 });
    await provisioner.terminate(tenantEvent(7415));
    const enabledOf = async () =>
      Object.fromEntries((await rows('select gateway, enabled from v_gateways where domain_uuid = $1', [created.domainUuid])).map((row) => [row.gateway, row.enabled]));
    expect(await enabledOf()).toEqual({ trunk: 'false', 'own-trunk': 'false' });

    const again = await provisioner.create(tenantEvent(7415));
    expect(await enabledOf()).toEqual({ trunk: 'true', 'own-trunk': 'true' });
    expect(again.freeswitch).toContainEqual(expect.objectContaining({ kind: 'gateway_start', gatewayUuid: own.gateway!.gatewayUuid }));
    expect((await provisioner.create(tenantEvent(7415))).changed).toBe(false);
  });
});

describe('a plan number edited on destination_edit.php, then the REST API', () => {
  test("a plan number whose description the tenant changed is still the plan's: listed managedByPlan, not deleted by the API", async () => {
    const plan = { countryCode: '1', dids: ['5552017401'] };
    const created = await provisioner.create(tenantEvent(7421, {}, plan));
    const [row] = await rows('select destination_uuid, dialplan_uuid from v_destinations where domain_uuid = $1', [created.domainUuid]);
    // destination_edit.php saves the description on the destination and (as dialplan_description) on its dialplan.
    await fx.pool.query("update v_destinations set destination_description = 'Front office', update_date = now() where destination_uuid = $1", [row.destination_uuid]);
    await fx.pool.query("update v_dialplans set dialplan_description = 'Front office', update_date = now() where dialplan_uuid = $1", [row.dialplan_uuid]);

    const listed = await listTenantDestinations(fx.pool, created.domainUuid, numberPlanOf('1', undefined));
    expect(listed.map((view) => [view.number, view.description, view.managedByPlan])).toEqual([['5552017401', 'Front office', true]]);
    await expect(deleteTenantDestination(fx.pool, '+15552017401', destinationWriteOptions(7421, plan))).rejects.toBeInstanceOf(ManagedResourceError);
    expect(await rows('select count(*)::int as n from v_destinations where domain_uuid = $1', [created.domainUuid])).toEqual([{ n: 1 }]);
  });

  test("a number the tenant added is not the plan's, whatever its description says", async () => {
    const plan = { countryCode: '1', dids: ['5552017402'] };
    const created = await provisioner.create(tenantEvent(7422, {}, plan));
    // The tenant adds a number of its own with the plan numbers' description.
    await createTenantDestination(fx.pool, '+15552017499', { description: 'ictVoIP plan number' }, destinationWriteOptions(7422, plan));
    const listed = await listTenantDestinations(fx.pool, created.domainUuid, numberPlanOf('1', undefined));
    expect(listed.map((view) => [view.number, view.managedByPlan]).sort()).toEqual([
      ['5552017402', true],
      ['5552017499', false],
    ]);
    await deleteTenantDestination(fx.pool, '+15552017499', destinationWriteOptions(7422, plan));
    expect(await rows('select destination_number from v_destinations where domain_uuid = $1', [created.domainUuid])).toEqual([{ destination_number: '5552017402' }]);
  });
});

describe('the tenant admin renamed on user_edit.php, then WHMCS changes the password', () => {
  test('the renamed admin gets the new password (no second admin under the old name); the state and the service properties follow the new name', async () => {
    const created = await provisioner.create(tenantEvent(7416));
    await fx.pool.query("update v_users set username = 'boss', update_date = now() where domain_uuid = $1 and username = 'owner'", [created.domainUuid]);

    const changed = await provisioner.changePassword(tenantEvent(7416, { secrets: { servicePassword: 'N3w-Portal-Pass!' } }));
    const users = await rows('select username, password from v_users where domain_uuid = $1', [created.domainUuid]);
    expect(users.map((user) => user.username)).toEqual(['boss']);
    expect(await portalPasswordMatches('N3w-Portal-Pass!', users[0].password)).toBe(true);
    expect(changed.serviceProperties).toMatchObject({ adminUsername: 'boss' });
    // A change_package after it keeps to the renamed admin too.
    expect((await provisioner.changePackage(tenantEvent(7416, { secrets: {} }))).serviceProperties).toMatchObject({ adminUsername: 'boss' });
    expect(await rows('select count(*)::int as n from v_users where domain_uuid = $1', [created.domainUuid])).toEqual([{ n: 1 }]);
    expect((await provisioner.changePassword(tenantEvent(7416, { secrets: { servicePassword: 'N3w-Portal-Pass!' } }))).changed).toBe(false);
  });
});

describe('rows renamed in FusionPBX while the tenant is suspended, then unsuspend', () => {
  test('an extension renumbered on extension_edit.php and the admin renamed on user_edit.php get their own state back', async () => {
    const created = await provisioner.create(tenantEvent(7461));
    await setEnabledAsThePage(created.domainUuid, '102', false);
    await provisioner.suspend(tenantEvent(7461));
    await fx.pool.query("update v_extensions set extension = '201', update_date = now() where domain_uuid = $1 and extension = '101'", [created.domainUuid]);
    await fx.pool.query("update v_extensions set extension = '202', update_date = now() where domain_uuid = $1 and extension = '102'", [created.domainUuid]);
    await fx.pool.query("update v_users set username = 'boss', update_date = now() where domain_uuid = $1 and username = 'owner'", [created.domainUuid]);
    // WHMCS sends the suspend again meanwhile: the first suspend's state is still what comes back.
    await provisioner.suspend(tenantEvent(7461));

    await provisioner.unsuspend(tenantEvent(7461));
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '201': 'true', '202': 'false' });
    expect(await rows('select username, user_enabled from v_users where domain_uuid = $1', [created.domainUuid])).toEqual([{ username: 'boss', user_enabled: 'true' }]);
  });

  test('an extension made while suspended (nothing remembered of it) is left as it is, even under a remembered number', async () => {
    const created = await provisioner.create(tenantEvent(7462));
    await setEnabledAsThePage(created.domainUuid, '101', false);
    await provisioner.suspend(tenantEvent(7462));
    // The operator deletes 102 and makes 102 again (enabled, as the page adds it); and deletes 101 and makes it again.
    for (const number of ['101', '102']) {
      await fx.pool.query('delete from v_voicemails where domain_uuid = $1 and voicemail_id = $2', [created.domainUuid, number]);
      await fx.pool.query('delete from v_extensions where domain_uuid = $1 and extension = $2', [created.domainUuid, number]);
      await addExtensionAsThePage(created.domainUuid, created.domainName, number);
    }
    await provisioner.unsuspend(tenantEvent(7462));
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'true', '102': 'true' });
  });

  test('a suspend memory written before the uuid maps is still read by number and username, a suspend sent again included', async () => {
    const created = await provisioner.create(tenantEvent(7463));
    await setEnabledAsThePage(created.domainUuid, '101', false);
    await provisioner.suspend(tenantEvent(7463));
    const stateRow = "domain_uuid = $1 and domain_setting_category = 'ictvoip' and domain_setting_subcategory = 'state'";
    const [{ domain_setting_value: text }] = await rows(`select domain_setting_value from v_domain_settings where ${stateRow}`, [created.domainUuid]);
    const state = JSON.parse(text);
    delete state.suspendMemory.extensionUuids;
    delete state.suspendMemory.userUuids;
    await fx.pool.query(`update v_domain_settings set domain_setting_value = $2 where ${stateRow}`, [created.domainUuid, JSON.stringify(state)]);

    await provisioner.suspend(tenantEvent(7463));
    await provisioner.unsuspend(tenantEvent(7463));
    expect(await enabledMap(created.domainUuid)).toEqual({ '100': 'true', '101': 'false', '102': 'true' });
    expect(await rows('select user_enabled from v_users where domain_uuid = $1', [created.domainUuid])).toEqual([{ user_enabled: 'true' }]);
  });
});

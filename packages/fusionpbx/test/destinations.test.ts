import { randomUUID } from 'node:crypto';
import {
  FusionpbxValidationError,
  NumberOwnedError,
  type Provisioner,
  createTenantDestination,
  destinationWriteOptions,
  normaliseNumber,
  numberPlanOf,
  routeClaim,
  writeRejectionOf,
} from '@ictvoip/fusionpbx';
import { EventValidationError, parseTenantCommand } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, provisioningSuite, refusedAtIngest, tenantEvent } from './helpers';

/**
 * Inbound numbers (issue 15) against the fixture, or FUSIONPBX_SCHEMA=fixtures/fusionpbx/schema-5.1.sql
 * / schema-5.3.sql. Every expected value below is taken from FusionPBX's PHP, not from the bridge.
 */

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
const suite = provisioningSuite('fpbx_numbers', 2000);
let is53 = true;
beforeAll(async () => {
  ({ fx, provisioner } = suite);
  // 5.1.0 has no v_destinations.destination_ringback (5.3.0 app/destinations/app_config.php added it with the ringback field).
  is53 = (await rows("select 1 from information_schema.columns where table_name = 'v_destinations' and column_name = 'destination_ringback'")).length === 1;
});

async function rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await fx.pool.query(sql, params)).rows as Record<string, unknown>[];
}
const destinationsOf = (domainUuid: string) => rows('select * from v_destinations where domain_uuid = $1 order by destination_number', [domainUuid]);
const dialplanOf = async (dialplanUuid: unknown) => (await rows('select * from v_dialplans where dialplan_uuid = $1', [dialplanUuid]))[0];
const detailsOf = (dialplanUuid: unknown) => rows('select * from v_dialplan_details where dialplan_uuid = $1 order by dialplan_detail_order', [dialplanUuid]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The columns database::save() stamps on an INSERT (5.3.0 resources/classes/database.php save(), ~line 2260). */
function expectInserted(row: Record<string, unknown>): void {
  if ('insert_date' in row) expect(row.insert_date).toBeInstanceOf(Date);
  if ('insert_user' in row) expect(row.insert_user).toBeNull();
  if ('update_date' in row) expect(row.update_date).toBeNull();
}

async function setDialplanMode(mode: 'single' | 'multiple'): Promise<void> {
  await fx.pool.query("delete from v_default_settings where default_setting_category = 'destinations' and default_setting_subcategory = 'dialplan_mode'");
  await fx.pool.query(
    `insert into v_default_settings (default_setting_uuid, default_setting_category, default_setting_subcategory, default_setting_name, default_setting_value, default_setting_enabled)
     values ($1, 'destinations', 'dialplan_mode', 'text', $2, 'true')`,
    [randomUUID(), mode],
  );
}

/**
 * dialplan_inbound_add.php (5.1.0 and 5.3.0, same code): a public v_dialplans row of the domain, a condition detail
 * (a numeric expression becomes ^(…)$, its + escaped) and no v_destinations row; a tenant admin may add one (inbound_route_add).
 * `enabled: false` is the route switched off (dialplan_enabled), `detailEnabled: false` its condition (dialplan_detail_enabled).
 */
async function addInboundRoute(
  domainUuid: string | null,
  field: string,
  expression: string,
  { enabled = true, detailEnabled = null }: { enabled?: boolean; detailEnabled?: boolean | null } = {},
): Promise<string> {
  const dialplanUuid = randomUUID();
  await fx.pool.query(
    `insert into v_dialplans (dialplan_uuid, domain_uuid, app_uuid, dialplan_name, dialplan_order, dialplan_continue, dialplan_context, dialplan_enabled)
     values ($1, $2, 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4', 'by_hand', 100, 'false', 'public', $3)`,
    [dialplanUuid, domainUuid, String(enabled)],
  );
  await fx.pool.query(
    `insert into v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group, dialplan_detail_enabled)
     values ($1, $2, $3, 'condition', $4, $5, 0, 0, $6)`,
    [randomUUID(), domainUuid, dialplanUuid, field, expression, detailEnabled],
  );
  return dialplanUuid;
}

describe(`inbound numbers (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('a create with two DIDs writes two destinations, their public dialplans and details as destination_edit.php does', async () => {
    const event = tenantEvent(8101, {}, { dids: ['+1 (555) 201-0001', '15552010002'], countryCode: '1' });
    const result = await provisioner.create(event);
    const destinations = await destinationsOf(result.domainUuid);
    expect(destinations).toHaveLength(2);
    const [first, second] = destinations;
    // destination_edit.php (5.3.0 ~lines 1052-1132, 5.1.0 ~955-1020): the columns of "build the destination array";
    // empty form fields become NULL (database::save); destination_order '100' and context 'public' are the page's defaults.
    expect(first).toMatchObject({
      domain_uuid: result.domainUuid,
      fax_uuid: null,
      user_uuid: null,
      group_uuid: null,
      destination_type: 'inbound',
      destination_number: '5552010001',
      destination_prefix: '1',
      destination_trunk_prefix: null,
      destination_area_code: null,
      destination_condition_field: null,
      // destinations->to_regex(): prefix of one digit → `\+?1?`, number in brackets.
      destination_number_regex: '^\\+?1?(5552010001)$',
      destination_caller_id_name: null,
      destination_caller_id_number: null,
      destination_cid_name_prefix: null,
      destination_context: 'public',
      destination_record: null,
      destination_hold_music: null,
      destination_distinctive_ring: null,
      destination_accountcode: null,
      destination_type_voice: null,
      destination_type_fax: null,
      destination_type_text: null,
      destination_type_emergency: null,
      destination_conditions: null,
      // "prepare the $actions array": json_encode of [{destination_app, destination_data}] (5.1 and 5.3 alike).
      destination_actions: [{ destination_app: 'transfer', destination_data: `100 XML ${result.domainName}` }],
      destination_app: null,
      destination_data: null,
      destination_order: '100',
      destination_enabled: 'true',
      destination_description: 'ictVoIP plan number',
    });
    if (is53) expect(first.destination_ringback).toBeNull();
    expect(first.destination_uuid).toMatch(UUID);
    expectInserted(first);
    expect(second).toMatchObject({ destination_number: '5552010002', destination_prefix: '1', destination_number_regex: '^\\+?1?(5552010002)$' });

    const dialplan = await dialplanOf(first.dialplan_uuid);
    // "build the dialplan array": app_uuid of inbound routes, name = format_phone(number) (no format set: the number).
    expect(dialplan).toMatchObject({
      domain_uuid: result.domainUuid,
      app_uuid: 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4',
      hostname: null,
      dialplan_context: 'public',
      dialplan_name: '5552010001',
      dialplan_number: '5552010001',
      dialplan_continue: 'false',
      dialplan_order: '100',
      dialplan_enabled: 'true',
      dialplan_description: 'ictVoIP plan number',
      dialplan_destination: null,
    });
    expectInserted(dialplan);
    // "build the xml dialplan" (5.3.0 ~lines 478-592), dialplan/destination default setting = destination_number.
    expect(dialplan.dialplan_xml).toBe(
      `<extension name="5552010001" continue="false" uuid="${first.dialplan_uuid}">\n` +
        '\t<condition field="destination_number" expression="^\\+?1?(5552010001)$">\n' +
        '\t\t<action application="export" data="call_direction=inbound" inline="true"/>\n' +
        `\t\t<action application="set" data="domain_uuid=${result.domainUuid}" inline="true"/>\n` +
        `\t\t<action application="set" data="domain_name=${result.domainName}" inline="true"/>\n` +
        `\t\t<action application="transfer" data="100 XML ${result.domainName}"/>\n` +
        '\t</condition>\n' +
        // database::save() trims every value: the page's final "\n" is not stored.
        '</extension>',
    );
    // "dialplan details": order 10 raised to 20 for the condition, +10 twice before the actions; group 0 in 5.3, '1' in 5.1.
    const details = await detailsOf(first.dialplan_uuid);
    const group = is53 ? '0' : '1';
    expect(
      details.map((row) => [
        row.dialplan_detail_tag,
        row.dialplan_detail_type,
        row.dialplan_detail_data,
        row.dialplan_detail_group,
        row.dialplan_detail_order,
        row.dialplan_detail_inline,
      ]),
    ).toEqual([
      ['condition', 'destination_number', '^\\+?1?(5552010001)$', group, '20', null],
      ['action', 'transfer', `100 XML ${result.domainName}`, group, '40', null],
    ]);
    for (const detail of details) {
      expect(detail).toMatchObject({ domain_uuid: result.domainUuid, dialplan_detail_break: null, dialplan_detail_enabled: null });
      expectInserted(detail);
    }
    // Default setting destinations/dialplan_mode is "multiple": the page deletes dialplan:public.
    expect(result.freeswitch).toContainEqual({ kind: 'cache_delete', key: 'dialplan:public' });

    // Outbound caller ID of the extensions provisioning created: the main DID, the client's company as name.
    const extensions = await rows('select extension, outbound_caller_id_name, outbound_caller_id_number from v_extensions where domain_uuid = $1 order by extension', [
      result.domainUuid,
    ]);
    expect(extensions).toEqual(['100', '101', '102'].map((extension) => ({ extension, outbound_caller_id_name: 'Customer Ltd', outbound_caller_id_number: '+15552010001' })));

    // The same event again writes nothing.
    const before = await dumpTables(fx.pool);
    expect((await provisioner.create({ ...event, eventId: randomUUID() })).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('e164 format in single dialplan mode: `+` number, no prefix, per-number cache keys', async () => {
    await setDialplanMode('single');
    try {
      const result = await provisioner.create(tenantEvent(8102, {}, { dids: '0044 20 7946 0001', countryCode: '44', numberFormat: 'e164' }));
      const [destination] = await destinationsOf(result.domainUuid);
      // to_regex(): a number starting with + becomes ^\+(digits)$ and no prefix is added.
      expect(destination).toMatchObject({ destination_number: '+442079460001', destination_prefix: null, destination_number_regex: '^\\+(442079460001)$' });
      // Single mode (destination_edit.php "clear the cache"): the + number and the numeric key.
      expect(result.freeswitch).toContainEqual({ kind: 'cache_delete', key: 'dialplan:public:+442079460001' });
      expect(result.freeswitch).not.toContainEqual({ kind: 'cache_delete', key: 'dialplan:public' });
    } finally {
      await setDialplanMode('multiple');
    }
  });

  test("ictVoIP's `domain | DID` service field and `a | b` list are the plan's numbers, main DID first", async () => {
    const command = parseTenantCommand({
      ...tenantEvent(8103),
      service: { id: 8103, username: 'owner', domain: 'ict8103.example.net | +1 555 203 0001' },
      plan: { firstExtension: 100, maxExtensions: 2, dids: '5552030002 | 5552030003' },
      customFields: { 'DIDs|Phone numbers': '5552030004' },
    });
    expect(command.service.domain).toBe('ict8103.example.net');
    // The domain field's DIDs come out of the ictVoIP formats parser without their formatting.
    expect(command.plan.dids).toEqual(['+15552030001', '5552030002', '5552030003', '5552030004']);
    const result = await provisioner.create({ ...command, plan: { ...command.plan, countryCode: '1' } });
    expect(result.domainName).toBe('ict8103.example.net');
    expect((await destinationsOf(result.domainUuid)).map((row) => row.destination_number)).toEqual(['5552030001', '5552030002', '5552030003', '5552030004']);
  });

  test('a number lives in one tenant: another tenant asking for it (in any form) is refused naming the owner, nothing written', async () => {
    const owner = await provisioner.create(tenantEvent(8104, {}, { dids: ['+15552040001'], countryCode: '1' }));
    const before = await dumpTables(fx.pool);
    const error = await provisioner.create(tenantEvent(8105, {}, { dids: ['5552040009', '(555) 204-0001'], countryCode: '1' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NumberOwnedError);
    expect((error as NumberOwnedError).code).toBe('NUMBER_TAKEN');
    expect((error as Error).message).toBe(`number +15552040001 is already an inbound destination of domain ${owner.domainName}`);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test("a number inside another tenant's block (N/X/Z pattern, area code: its regex matches it) is refused to REST and to a plan, nothing written", async () => {
    const owner = await provisioner.create(tenantEvent(8121, {}, { countryCode: '1' }));
    // destination_edit.php saving a block `555212XXXX` with prefix 1, and a number split into area code
    // and number: the row's destination_number_regex (destinations->to_regex()) is what the public context matches.
    const addAsThePage = (number: string, areaCode: string | null, regex: string) =>
      fx.pool.query(
        `insert into v_destinations (destination_uuid, domain_uuid, destination_type, destination_prefix, destination_area_code, destination_number, destination_number_regex, destination_context, destination_enabled)
         values ($1, $2, 'inbound', '1', $3, $4, $5, 'public', 'true')`,
        [randomUUID(), owner.domainUuid, areaCode, number, regex],
      );
    await addAsThePage('555212XXXX', null, '^\\+?1?(555212[0-9][0-9][0-9][0-9])$');
    await addAsThePage('2130001', '555', '(\\+?15552130001$|^5552130001$|^2130001$)');
    const tenant = await provisioner.create(tenantEvent(8122, {}, { countryCode: '1' }));
    const options = destinationWriteOptions(8122, { countryCode: '1' });
    const before = await dumpTables(fx.pool);
    for (const number of ['+1 555 212 0042', '5552130001']) {
      const error = await createTenantDestination(fx.pool, number, {}, options).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(NumberOwnedError);
      expect(writeRejectionOf(error)).toMatchObject({
        status: 409,
        code: 'NUMBER_TAKEN',
        message: expect.stringContaining(`number +1555${number.endsWith('42') ? '2120042' : '2130001'} `),
      });
    }
    const change = { ...tenantEvent(8122, {}, { countryCode: '1', dids: ['5552120043'] }), action: 'change_package' as const };
    await expect(provisioner.changePackage(change)).rejects.toThrow(`number +15552120043 is already an inbound destination of domain ${owner.domainName}`);
    expect(await dumpTables(fx.pool)).toEqual(before);
    // Numbers outside the block stay free; the owner's own pattern does not stop the owner.
    await createTenantDestination(fx.pool, '5552140001', {}, options);
    await createTenantDestination(fx.pool, '5552120077', {}, destinationWriteOptions(8121, { countryCode: '1' }));
    expect((await destinationsOf(tenant.domainUuid)).map((row) => row.destination_number)).toEqual(['5552140001']);
  });

  test('another spelling of a number is refused when FusionPBX would route one call to both destinations, allowed when no call reaches both', async () => {
    // National +1: destinations->to_regex() writes ^\\+?1?(5552150001)$, matching 5552150001, 15552150001, +5552150001 and +15552150001.
    const owner = await provisioner.create(tenantEvent(8131, {}, { dids: ['5552150001'], countryCode: '1' }));
    const national = destinationWriteOptions(8131, { countryCode: '1' });
    // Tenants whose plan names no country code: numbers stored as given (regex ^(digits)$, or ^\\+(digits)$ for a + number).
    await provisioner.create(tenantEvent(8132, {}));
    await provisioner.create(tenantEvent(8135, {}));
    const asGiven = destinationWriteOptions(8132, {});
    for (const spelling of ['+5552150001', '15552150001', '+1 555 215 0001', '555-215-0001']) {
      const error = await createTenantDestination(fx.pool, spelling, {}, asGiven).catch((caught: unknown) => caught);
      expect(writeRejectionOf(error)).toMatchObject({ status: 409, code: 'NUMBER_TAKEN' });
    }
    // The other way round: ^\\+(5552150005)$ is held first; the national regex would match +5552150005 too.
    await createTenantDestination(fx.pool, '+5552150005', {}, asGiven);
    const before = await dumpTables(fx.pool);
    const error = await createTenantDestination(fx.pool, '5552150005', {}, national).catch((caught: unknown) => caught);
    expect(writeRejectionOf(error)).toMatchObject({ status: 409, code: 'NUMBER_TAKEN' });
    // 011 is the international prefix of the +1 countries: 011 1 555 215 0001 is +15552150001, not a national 0111….
    await expect(provisioner.create(tenantEvent(8133, {}, { dids: ['011 1 555 215 0001'], countryCode: '1' }))).rejects.toThrow(
      `number +15552150001 is already an inbound destination of domain ${owner.domainName}`,
    );
    expect(await dumpTables(fx.pool)).toEqual(before);

    // Spellings no call reaches both of (FreeSWITCH gets the number one way from the carrier): ^(15552150002)$ and ^\\+(15552150002)$.
    await createTenantDestination(fx.pool, '15552150002', {}, asGiven);
    const e164 = await provisioner.create(tenantEvent(8134, {}, { dids: ['+1 555 215 0002'], countryCode: '1', numberFormat: 'e164' }));
    expect((await destinationsOf(e164.domainUuid)).map((row) => [row.destination_number, row.destination_number_regex])).toEqual([['+15552150002', '^\\+(15552150002)$']]);
    // Both orders of + and no + without a country code.
    await createTenantDestination(fx.pool, '+15552150003', {}, asGiven);
    await createTenantDestination(fx.pool, '15552150003', {}, destinationWriteOptions(8135, {}));
    await createTenantDestination(fx.pool, '15552150004', {}, asGiven);
    await createTenantDestination(fx.pool, '+15552150004', {}, destinationWriteOptions(8135, {}));
    // The national form matches both spellings: refused, whichever it meets.
    await expect(createTenantDestination(fx.pool, '5552150002', {}, national)).rejects.toBeInstanceOf(NumberOwnedError);
    await expect(createTenantDestination(fx.pool, '5552150004', {}, national)).rejects.toBeInstanceOf(NumberOwnedError);
  });

  test('011 is an international prefix only in the +1 countries', () => {
    const nanp = numberPlanOf('1', undefined);
    expect(normaliseNumber('011 1 (555) 215-0003', nanp, 'number')).toEqual({ prefix: '1', number: '5552150003', canonical: '+15552150003' });
    expect(() => normaliseNumber('011 44 20 7946 0001', nanp, 'number')).toThrow("is not a number of country code +1 (the plan's countryCode)");
    // UK 0113 (Leeds) is a national number with its trunk 0.
    expect(normaliseNumber('0113 496 0001', numberPlanOf('44', undefined), 'number')).toMatchObject({ canonical: '+441134960001' });
  });

  test("an inbound route made on FusionPBX's Inbound Routes page without a number row holds the numbers its condition names", async () => {
    const owner = await provisioner.create(tenantEvent(8141, {}, { countryCode: '1' }));
    const addRoute = (field: string, expression: string, domainUuid: string | null = owner.domainUuid) => addInboundRoute(domainUuid, field, expression);
    await addRoute('destination_number', '^(5552190001)$');
    await addRoute('destination_number', '^(\\+15552190002)$');
    // A condition on the caller, not on the number called, holds no number.
    await addRoute('caller_id_number', '^(5552190003)$');
    // A global route (no domain: the dialplan editor's "Global") and one on the SIP To user (dialplan/destination = ${sip_to_user}).
    await addRoute('destination_number', '^\\+?1?(5552190005)$', null);
    await addRoute('${sip_to_user}', '^(5552190006)$');
    const tenant = await provisioner.create(tenantEvent(8142, {}, { countryCode: '1' }));
    const options = destinationWriteOptions(8142, { countryCode: '1' });
    const before = await dumpTables(fx.pool);
    for (const number of ['5552190001', '+1 555 219 0002', '5552190006']) {
      const error = await createTenantDestination(fx.pool, number, {}, options).catch((caught: unknown) => caught);
      expect(writeRejectionOf(error)).toMatchObject({ status: 409, code: 'NUMBER_TAKEN' });
    }
    await expect(createTenantDestination(fx.pool, '5552190005', {}, options)).rejects.toThrow(
      'number +15552190005 is already an inbound destination of a global (domain-less) destination',
    );
    const change = { ...tenantEvent(8142, {}, { countryCode: '1', dids: ['5552190001'] }), action: 'change_package' as const };
    await expect(provisioner.changePackage(change)).rejects.toThrow(`number +15552190001 is already an inbound destination of domain ${owner.domainName}`);
    expect(await dumpTables(fx.pool)).toEqual(before);
    await createTenantDestination(fx.pool, '5552190003', {}, options);
    expect((await destinationsOf(tenant.domainUuid)).map((row) => row.destination_number)).toEqual(['5552190003']);
    // The route's own domain may still give the number a destination.
    await createTenantDestination(fx.pool, '5552190001', {}, destinationWriteOptions(8141, { countryCode: '1' }));
  });

  test("another tenant's inbound route switched off holds no number; one naming the number, enabled, still does", async () => {
    const other = await provisioner.create(tenantEvent(8147, {}, { countryCode: '1' }));
    // Routes naming a number, switched off (the route, or its condition): dialplan.lua and dialplan->xml() leave them out.
    await addInboundRoute(other.domainUuid, 'destination_number', '^(5552250002)$', { enabled: false });
    await addInboundRoute(other.domainUuid, '${sip_to_user}', '^(5552250003)$', { detailEnabled: false });
    // Enabled and naming its numbers (an alternation of two): still the other tenant's.
    await addInboundRoute(other.domainUuid, 'destination_number', '^(5552250008|5552250009)$');
    const tenant = await provisioner.create(tenantEvent(8148, {}, { countryCode: '1' }));
    const options = destinationWriteOptions(8148, { countryCode: '1' });
    const before = await dumpTables(fx.pool);
    for (const number of ['5552250008', '+1 555 225 0009']) {
      const error = await createTenantDestination(fx.pool, number, {}, options).catch((caught: unknown) => caught);
      expect(writeRejectionOf(error)).toMatchObject({ status: 409, code: 'NUMBER_TAKEN' });
    }
    expect(await dumpTables(fx.pool)).toEqual(before);
    await expect(createTenantDestination(fx.pool, '5552250002', {}, options)).resolves.toMatchObject({ outcome: 'created' });
    const change = { ...tenantEvent(8148, {}, { countryCode: '1', dids: ['5552250003'] }), action: 'change_package' as const };
    await expect(provisioner.changePackage(change)).resolves.toMatchObject({ changed: true });
    expect((await destinationsOf(tenant.domainUuid)).map((row) => row.destination_number)).toEqual(['5552250002', '5552250003']);
  });

  test("another tenant's catch-all inbound route (a range, even switched off) stops neither a number add nor a change_package", async () => {
    const other = await provisioner.create(tenantEvent(8143, {}, { countryCode: '1' }));
    // Catch-alls a tenant admin may type on the Inbound Routes page (advanced form), one of them switched off too.
    for (const expression of ['^(\\d+)$', '^(.*)$', '^\\+?(\\d{10,11})$', '^(555220\\d{4})$']) await addInboundRoute(other.domainUuid, 'destination_number', expression);
    await addInboundRoute(other.domainUuid, '${sip_req_user}', '^(\\d+)$', { enabled: false });
    const tenant = await provisioner.create(tenantEvent(8144, {}, { countryCode: '1', dids: ['5552200001'] }));
    const options = destinationWriteOptions(8144, { countryCode: '1' });
    await expect(createTenantDestination(fx.pool, '+1 555 220 0004', {}, options)).resolves.toMatchObject({ outcome: 'created' });
    // change_package writes the plan's numbers the catch-alls match (the one it has, and a new one).
    const change = { ...tenantEvent(8144, {}, { countryCode: '1', dids: ['5552200001', '5552200005'] }), action: 'change_package' as const };
    await expect(provisioner.changePackage(change)).resolves.toMatchObject({ changed: true });
    expect((await destinationsOf(tenant.domainUuid)).map((row) => row.destination_number)).toEqual(['5552200001', '5552200004', '5552200005']);
  });

  test('which patterns name a number (they hold it) and which range over it (a catch-all holds nothing)', () => {
    const forms = ['5552200001', '15552200001', '+5552200001', '+15552200001'];
    const named = [
      '^(5552200001)$',
      '^(\\+15552200001)$',
      '^\\+?1?(5552200001)$',
      '^(5552200001|5552200002)$',
      '^(555220000[12])$',
      // to_regex() of a number split into area code and number: its first branch is open at the front, its second names it.
      '(\\+?15552200001$|^5552200001$|^2200001$)',
    ];
    const ranges = ['^(\\d+)$', '^(.*)$', '^\\+?(\\d{10,11})$', '^(555220\\d{4})$', '^(555220000[0-9])$', '^(5552200001)', '5552200001$', '^\\+?1?(5552200001\\d*)$'];
    for (const pattern of named) expect([pattern, routeClaim(pattern, forms)]).toEqual([pattern, 'number']);
    for (const pattern of ranges) expect([pattern, routeClaim(pattern, forms)]).toEqual([pattern, 'range']);
    for (const pattern of ['^(5552200009)$', '^(caller)$', '^(', '', null]) expect([pattern, routeClaim(pattern, forms)]).toEqual([pattern, 'none']);
  });

  test('a number the tenant has is re-written by its change_package even when another domain claims it since', async () => {
    const tenant = await provisioner.create(tenantEvent(8145, {}, { countryCode: '1', dids: ['5552210001', '5552210002'] }));
    const other = await provisioner.create(tenantEvent(8146, {}, { countryCode: '1' }));
    // Another tenant's admin then types a route for the number; an operator saves a block over the other one.
    await addInboundRoute(other.domainUuid, 'destination_number', '^(5552210001)$');
    await fx.pool.query(
      `insert into v_destinations (destination_uuid, domain_uuid, destination_type, destination_prefix, destination_number, destination_number_regex, destination_context, destination_enabled)
       values ($1, $2, 'inbound', '1', '555221XXXX', '^\\+?1?(555221[0-9][0-9][0-9][0-9])$', 'public', 'true')`,
      [randomUUID(), other.domainUuid],
    );
    const change = (dids: string[]) => ({ ...tenantEvent(8145, {}, { countryCode: '1', dids, maxExtensions: 4 }), action: 'change_package' as const });
    await expect(provisioner.changePackage(change(['5552210001', '5552210002']))).resolves.toMatchObject({ changed: true });
    expect((await destinationsOf(tenant.domainUuid)).map((row) => row.destination_number)).toEqual(['5552210001', '5552210002']);
    // A new number they claim is still refused.
    await expect(provisioner.changePackage(change(['5552210001', '5552210002', '5552210003']))).rejects.toThrow(
      `number +15552210003 is already an inbound destination of domain ${other.domainName}`,
    );
  });

  test('change_package adds and removes the plan numbers; a number the tenant added itself stays', async () => {
    const created = await provisioner.create(tenantEvent(8106, {}, { dids: ['5552060001', '5552060002'], countryCode: '1' }));
    // The tenant adds a number of its own in FusionPBX (not a plan number).
    await fx.pool.query(
      "insert into v_destinations (destination_uuid, domain_uuid, destination_type, destination_number, destination_context, destination_enabled) values ($1, $2, 'inbound', '5552069999', 'public', 'true')",
      [randomUUID(), created.domainUuid],
    );
    const change = { ...tenantEvent(8106, {}, { dids: ['5552060002', '5552060003'], countryCode: '1' }), action: 'change_package' as const };
    const changed = await provisioner.changePackage(change);
    expect(changed.changed).toBe(true);
    expect((await destinationsOf(created.domainUuid)).map((row) => row.destination_number)).toEqual(['5552060002', '5552060003', '5552069999']);
    // The removed number's dialplan and details went with it (destinations->delete()).
    expect(await rows("select dialplan_number from v_dialplans where domain_uuid = $1 and dialplan_context = 'public' order by dialplan_number", [created.domainUuid])).toEqual([
      { dialplan_number: '5552060002' },
      { dialplan_number: '5552060003' },
    ]);
    expect(
      await rows(
        'select count(*)::int as n from v_dialplan_details d where d.domain_uuid = $1 and not exists (select 1 from v_dialplans p where p.dialplan_uuid = d.dialplan_uuid)',
        [created.domainUuid],
      ),
    ).toEqual([{ n: 0 }]);
    // Replayed: nothing more.
    const before = await dumpTables(fx.pool);
    expect((await provisioner.changePackage({ ...change, eventId: randomUUID() })).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
    // An event that states no numbers leaves them; an empty list removes the plan's.
    await provisioner.changePackage({ ...tenantEvent(8106, {}, { countryCode: '1' }), action: 'change_package' });
    expect(await destinationsOf(created.domainUuid)).toHaveLength(3);
    await provisioner.changePackage({ ...tenantEvent(8106, {}, { dids: [], countryCode: '1' }), action: 'change_package' });
    expect((await destinationsOf(created.domainUuid)).map((row) => row.destination_number)).toEqual(['5552069999']);
    // The plan naming the tenant's own number later does not make it the plan's: dropping it again leaves it.
    await provisioner.changePackage({ ...tenantEvent(8106, {}, { dids: ['+15552069999'], countryCode: '1' }), action: 'change_package' });
    await provisioner.changePackage({ ...tenantEvent(8106, {}, { dids: [], countryCode: '1' }), action: 'change_package' });
    expect((await destinationsOf(created.domainUuid)).map((row) => row.destination_number)).toEqual(['5552069999']);
  });

  test('suspend disables the numbers, unsuspend restores exactly what suspend found, terminate disables, purge removes', async () => {
    const created = await provisioner.create(tenantEvent(8107, {}, { dids: ['5552070001', '5552070002'], countryCode: '1' }));
    const [kept, customerOff] = await destinationsOf(created.domainUuid);
    // The tenant had switched the second number off itself.
    await fx.pool.query("update v_destinations set destination_enabled = 'false' where destination_uuid = $1", [customerOff.destination_uuid]);
    await fx.pool.query("update v_dialplans set dialplan_enabled = 'false' where dialplan_uuid = $1", [customerOff.dialplan_uuid]);

    const suspended = await provisioner.suspend({ ...tenantEvent(8107), action: 'suspend', secrets: undefined });
    const states = async () =>
      rows(
        'select d.destination_number, d.destination_enabled, p.dialplan_enabled from v_destinations d join v_dialplans p on p.dialplan_uuid = d.dialplan_uuid where d.domain_uuid = $1 order by 1',
        [created.domainUuid],
      );
    expect(await states()).toEqual([
      { destination_number: '5552070001', destination_enabled: 'false', dialplan_enabled: 'false' },
      { destination_number: '5552070002', destination_enabled: 'false', dialplan_enabled: 'false' },
    ]);
    expect(suspended.suspendMemory?.destinations).toEqual({ [kept.destination_uuid as string]: true, [customerOff.destination_uuid as string]: false });
    expect(suspended.freeswitch).toContainEqual({ kind: 'cache_delete', key: 'dialplan:public' });

    await provisioner.unsuspend({ ...tenantEvent(8107), action: 'unsuspend', secrets: undefined });
    expect(await states()).toEqual([
      { destination_number: '5552070001', destination_enabled: 'true', dialplan_enabled: 'true' },
      { destination_number: '5552070002', destination_enabled: 'false', dialplan_enabled: 'false' },
    ]);

    await provisioner.terminate({ ...tenantEvent(8107), action: 'terminate', secrets: undefined });
    expect((await states()).map((row) => row.destination_enabled)).toEqual(['false', 'false']);
    // Held by the terminated tenant until purge: another tenant cannot take it yet.
    await expect(provisioner.create(tenantEvent(8108, {}, { dids: ['5552070001'], countryCode: '1' }))).rejects.toBeInstanceOf(NumberOwnedError);
    const purged = await provisioner.purgeTenant(8107, { retentionDays: 0 });
    expect(purged.purged).toBe(true);
    expect(purged.freeswitch).toContainEqual({ kind: 'cache_delete', key: 'dialplan:public' });
    expect(await rows("select * from v_destinations where destination_number like '555207%'")).toEqual([]);
    expect(await rows("select * from v_dialplans where dialplan_number like '555207%'")).toEqual([]);
    // Now it is free.
    const next = await provisioner.create(tenantEvent(8108, {}, { dids: ['5552070001'], countryCode: '1' }));
    expect((await destinationsOf(next.domainUuid)).map((row) => row.destination_number)).toEqual(['5552070001']);
  });

  test('a plan with a ring group: the group as ring_group_edit.php writes it, the numbers ring it', async () => {
    const result = await provisioner.create(tenantEvent(8109, {}, { dids: ['5552090001'], countryCode: '1', ringGroup: '600', callerIdNamePrefix: 'Sales' }));
    const [group] = await rows('select * from v_ring_groups where domain_uuid = $1', [result.domainUuid]);
    // ring_group_edit.php (5.3.0 ~lines 358-400; 5.1.0 ~300-345) with the form's defaults (call timeout 30, enabled true).
    expect(group).toMatchObject({
      ring_group_name: 'Ring Group',
      ring_group_extension: '600',
      ring_group_greeting: null,
      ring_group_context: result.domainName,
      ring_group_call_timeout: '30',
      ring_group_strategy: 'simultaneous',
      // 5.1.0 fills the default ringback in (lines 519-521); 5.3.0's select starts blank.
      ring_group_ringback: is53 ? null : '${us-ring}',
      ring_group_forward_enabled: 'false',
      ring_group_timeout_app: null,
      ring_group_enabled: 'true',
      ring_group_description: null,
    });
    expectInserted(group);
    const members = await rows('select * from v_ring_group_destinations where ring_group_uuid = $1 order by destination_number', [group.ring_group_uuid]);
    expect(
      members.map((row) => [row.destination_number, row.destination_delay, row.destination_timeout, row.destination_enabled, row.destination_prompt, row.domain_uuid]),
    ).toEqual(['100', '101', '102'].map((number) => [number, '0', '30', true, null, result.domainUuid]));
    const groupDialplan = await dialplanOf(group.dialplan_uuid);
    expect(groupDialplan).toMatchObject({
      app_uuid: '1d61fb65-1eec-bc73-a6ee-a6203b4fe6f2',
      dialplan_context: result.domainName,
      dialplan_number: '600',
      dialplan_order: '101',
      dialplan_continue: 'false',
      dialplan_enabled: 'true',
    });
    expect(groupDialplan.dialplan_xml).toBe(
      `<extension name="Ring Group" continue="" uuid="${group.dialplan_uuid}">\n` +
        '\t<condition field="destination_number" expression="^600$">\n' +
        '\t\t<action application="ring_ready" data=""/>\n' +
        `\t\t<action application="set" data="ring_group_uuid=${group.ring_group_uuid}"/>\n` +
        '\t\t<action application="lua" data="app.lua ring_groups"/>\n' +
        '\t</condition>\n' +
        '</extension>',
    );
    expect(await detailsOf(group.dialplan_uuid)).toEqual([]);

    const [destination] = await destinationsOf(result.domainUuid);
    expect(destination).toMatchObject({
      destination_cid_name_prefix: 'Sales',
      destination_actions: [{ destination_app: 'transfer', destination_data: `600 XML ${result.domainName}` }],
    });
    const dialplan = await dialplanOf(destination.dialplan_uuid);
    // The caller-id name prefix action: inline "true" in 5.3.0, "false" in 5.1.0 (destination_edit.php, "set the caller id name prefix").
    const inline = is53 ? 'true' : 'false';
    expect(dialplan.dialplan_xml).toContain(
      `\t\t<action application="set" data="effective_caller_id_name=Sales#\${caller_id_name}" inline="${inline}"/>\n\t\t<action application="transfer" data="600 XML ${result.domainName}"/>\n`,
    );
    const details = await detailsOf(destination.dialplan_uuid);
    expect(details.map((row) => [row.dialplan_detail_type, row.dialplan_detail_data, row.dialplan_detail_order, row.dialplan_detail_inline])).toEqual([
      ['destination_number', '^\\+?1?(5552090001)$', '20', null],
      ['set', 'effective_caller_id_name=Sales#${caller_id_name}', '40', inline],
      ['transfer', `600 XML ${result.domainName}`, '50', null],
    ]);
  });

  test('crash in the middle of the create: nothing of it stays; the retried event writes it once', async () => {
    const event = tenantEvent(8110, {}, { dids: ['5552100001', '5552100002'], countryCode: '1' });
    const before = await dumpTables(fx.pool);
    // The connection dies at the destinations insert, after the dialplans and details of the same transaction.
    await fx.pool.query(`create or replace function ictvoip_test_crash() returns trigger language plpgsql as $$ begin raise exception 'server closed the connection'; end $$`);
    await fx.pool.query('create trigger ictvoip_test_crash before insert on v_destinations for each row execute function ictvoip_test_crash()');
    try {
      await expect(provisioner.create(event)).rejects.toThrow('server closed the connection');
    } finally {
      await fx.pool.query('drop trigger ictvoip_test_crash on v_destinations');
      await fx.pool.query('drop function ictvoip_test_crash()');
    }
    expect(await dumpTables(fx.pool)).toEqual(before);
    const result = await provisioner.create(event);
    expect(await destinationsOf(result.domainUuid)).toHaveLength(2);
    expect(await rows("select count(*)::int as n from v_dialplans where domain_uuid = $1 and dialplan_context = 'public'", [result.domainUuid])).toEqual([{ n: 2 }]);
  });

  test('bad numbers are refused naming the field, before anything is written', async () => {
    const before = await dumpTables(fx.pool);
    const error = await provisioner.create(tenantEvent(8111, {}, { dids: ['5552110001', '+44 20 7946 0000'], countryCode: '1' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FusionpbxValidationError);
    expect((error as FusionpbxValidationError).field).toBe('plan.dids[1]');
    expect((error as Error).message).toContain("is not a number of country code +1 (the plan's countryCode)");
    expect(await dumpTables(fx.pool)).toEqual(before);
    // At the webhook: the event itself is refused, each bad entry named.
    const refused = (() => {
      try {
        parseTenantCommand({ ...tenantEvent(8111), plan: { firstExtension: 100, dids: ['5552110001', 'call me'] } });
        return null;
      } catch (caught) {
        return caught;
      }
    })();
    expect(refused).toBeInstanceOf(EventValidationError);
    expect((refused as EventValidationError).details.map((detail) => detail.path)).toContain('plan.dids.1');
    // A country code is checked there too (the provisioner reads it as the command holds it).
    expect(refusedAtIngest(() => tenantEvent(8111, {}, { dids: ['5552110001'], countryCode: '0' }))).toEqual(['plan.countryCode']);
  });
});

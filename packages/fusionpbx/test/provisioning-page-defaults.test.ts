/**
 * What FusionPBX's own pages fill in that depends on the install: the extension page's settings
 * (domain/accountcode, voicemail/voicemail_file) and the dialplan import's per-domain PINs. The rows a
 * create writes must follow the install's settings the way extension_edit.php does, and no two tenants
 * may share a PIN or the template domain's inbound routes.
 */
import { randomUUID } from 'node:crypto';
import type { Provisioner } from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, provisioningSuite, tenantEvent } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
const suite = provisioningSuite('fpbx_page_defaults', 2000);
beforeAll(() => {
  ({ fx, provisioner } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;

async function setDefault(category: string, subcategory: string, value: string, enabled = true): Promise<void> {
  await fx.pool.query('delete from v_default_settings where default_setting_category = $1 and default_setting_subcategory = $2', [category, subcategory]);
  await fx.pool.query(
    `insert into v_default_settings (default_setting_uuid, default_setting_category, default_setting_subcategory, default_setting_name, default_setting_value,
       default_setting_order, default_setting_enabled, insert_date) values ($1, $2, $3, 'text', $4, 0, $5, now())`,
    [randomUUID(), category, subcategory, value, enabled],
  );
}

async function extensionsOf(domainUuid: string) {
  return rows(
    `select e.extension, e.accountcode, v.voicemail_file from v_extensions e join v_voicemails v on v.domain_uuid = e.domain_uuid and v.voicemail_id = e.extension
      where e.domain_uuid = $1 order by e.extension`,
    [domainUuid],
  );
}

describe(`the extension page's settings (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  afterEach(async () => {
    await fx.pool.query("delete from v_default_settings where default_setting_category = 'domain' and default_setting_subcategory = 'accountcode'");
    await setDefault('voicemail', 'voicemail_file', 'attach');
  });

  test('as shipped: the account code is the domain, recordings are attached to voicemail emails', async () => {
    const created = await provisioner.create(tenantEvent(7101));
    expect(await extensionsOf(created.domainUuid)).toEqual(['100', '101', '102'].map((extension) => ({ extension, accountcode: created.domainName, voicemail_file: 'attach' })));
  });

  test('an install that set domain/accountcode and voicemail_file gets those values; "none" is no account code, a disabled setting is none set', async () => {
    await setDefault('domain', 'accountcode', 'acme-77');
    await setDefault('voicemail', 'voicemail_file', 'link');
    const withCode = await provisioner.create(tenantEvent(7102, {}, { maxExtensions: 1 }));
    expect(await extensionsOf(withCode.domainUuid)).toEqual([{ extension: '100', accountcode: 'acme-77', voicemail_file: 'link' }]);

    await setDefault('domain', 'accountcode', 'none');
    await setDefault('voicemail', 'voicemail_file', 'attach', false);
    const withoutCode = await provisioner.create(tenantEvent(7103, {}, { maxExtensions: 1 }));
    expect(await extensionsOf(withoutCode.domainUuid)).toEqual([{ extension: '100', accountcode: null, voicemail_file: null }]);
  });

  test("the tenant's own domain setting wins over the default, for extensions a later plan adds", async () => {
    await setDefault('domain', 'accountcode', 'acme-77');
    const created = await provisioner.create(tenantEvent(7104, {}, { maxExtensions: 1 }));
    await fx.pool.query(
      `insert into v_domain_settings (domain_setting_uuid, domain_uuid, domain_setting_category, domain_setting_subcategory, domain_setting_name, domain_setting_value,
         domain_setting_order, domain_setting_enabled, insert_date) values ($1, $2, 'domain', 'accountcode', 'text', 'tenant-9', 0, true, now())`,
      [randomUUID(), created.domainUuid],
    );
    await provisioner.changePackage(tenantEvent(7104, {}, { maxExtensions: 2 }));
    expect((await extensionsOf(created.domainUuid)).map((row) => [row.extension, row.accountcode])).toEqual([
      ['100', 'acme-77'],
      ['101', 'tenant-9'],
    ]);
  });
});

describe(`the template domain's dialplans (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  const EAVESDROP_APP = 'e944af7e-8fcc-429b-a32f-0dcdce1585d8';
  const TEMPLATE_PIN = '48213377';

  beforeAll(async () => {
    const template = fx.basics.templateDomainUuid;
    const context = fx.basics.templateDomainName;
    // FusionPBX's 260_eavesdrop.xml as its import writes it for the template domain (PIN drawn for it) ...
    const eavesdrop = randomUUID();
    await fx.pool.query(
      `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_number, dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled, insert_date)
       values ($1, $2, $3, $4, 'eavesdrop', '*33[ext]', 'false', $5, 470, 'true', now())`,
      [
        template,
        eavesdrop,
        EAVESDROP_APP,
        context,
        `<extension name="eavesdrop" continue="false" uuid="${eavesdrop}">\n\t<condition field="destination_number" expression="^\\*33(\\d{2,7})$">\n\t\t<action application="answer"/>\n\t\t<action application="set" data="pin_number=${TEMPLATE_PIN}"/>\n\t\t<action application="lua" data="eavesdrop.lua $1"/>\n\t</condition>\n</extension>`,
      ],
    );
    for (const [order, tag, type, data] of [
      [10, 'condition', 'destination_number', '^\\*33(\\d{2,7})$'],
      [20, 'action', 'answer', null],
      [30, 'action', 'set', `pin_number=${TEMPLATE_PIN}`],
      [40, 'action', 'lua', 'eavesdrop.lua $1'],
    ]) {
      await fx.pool.query(
        `insert into v_dialplan_details (domain_uuid, dialplan_uuid, dialplan_detail_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_group, dialplan_detail_order, insert_date)
         values ($1, $2, $3, $4, $5, $6, 0, $7, now())`,
        [template, eavesdrop, randomUUID(), tag, type, data, order],
      );
    }
    // ... and an inbound route someone made in the template domain: one number, one tenant.
    await fx.pool.query(
      `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_number, dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled, insert_date)
       values ($1, $2, 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4', 'public', '2125550199', '2125550199', 'false', '<extension name="2125550199"/>', 100, 'true', now())`,
      [template, randomUUID()],
    );
  });

  async function pinsOf(domainUuid: string): Promise<{ xml: string[]; details: string[] }> {
    const [plan] = await rows('select dialplan_uuid, dialplan_xml from v_dialplans where domain_uuid = $1 and app_uuid = $2', [domainUuid, EAVESDROP_APP]);
    const details = await rows("select dialplan_detail_data from v_dialplan_details where dialplan_uuid = $1 and dialplan_detail_data like 'pin_number=%'", [plan.dialplan_uuid]);
    return {
      xml: [...(plan.dialplan_xml as string).matchAll(/pin_number=(\d+)/g)].map((match) => match[1]!),
      details: details.map((row) => row.dialplan_detail_data.slice('pin_number='.length)),
    };
  }

  test('each tenant gets its own PIN (same length, the same in the XML and the details), and none of the inbound routes', async () => {
    const first = await provisioner.create(tenantEvent(7201, {}, { maxExtensions: 1 }));
    const second = await provisioner.create(tenantEvent(7202, {}, { maxExtensions: 1 }));
    const pins = [await pinsOf(first.domainUuid), await pinsOf(second.domainUuid)];
    for (const { xml, details } of pins) {
      expect(xml).toHaveLength(1);
      expect(details).toEqual(xml);
      expect(xml[0]).toMatch(/^\d{8}$/);
      expect(xml[0]).not.toBe(TEMPLATE_PIN);
    }
    expect(pins[0]!.xml[0]).not.toBe(pins[1]!.xml[0]);
    expect(await rows("select domain_uuid from v_dialplans where dialplan_context = 'public' and dialplan_number = '2125550199'")).toEqual([
      { domain_uuid: fx.basics.templateDomainUuid },
    ]);
  });

  test('a repeated create keeps the PIN the tenant got (nothing copied again)', async () => {
    const before = await pinsOf((await rows("select domain_uuid from v_domains where domain_name = 't7201.pbx.example.net'"))[0].domain_uuid);
    const again = await provisioner.create(tenantEvent(7201, {}, { maxExtensions: 1 }));
    expect(await pinsOf(again.domainUuid)).toEqual(before);
  });
});

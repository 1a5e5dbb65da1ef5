import { execFileSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { EslStandin } from '@ictvoip/testkit';
import { createProvisioner, type Provisioner } from '@ictvoip/fusionpbx';
import { EslClient, applyFreeswitchSide } from '@ictvoip/freeswitch';
import { type FusionpbxTestDb, BRAND, dumpTables, provisioningSuite, tenantEvent, testOptions } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
let standin: EslStandin;
let esl: EslClient;
const cache = { method: 'memcache' as const };

const suite = provisioningSuite('fpbx_create', 2000);
beforeAll(() => {
  ({ fx, provisioner, standin, esl } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;

describe(`create (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  const serviceId = 1001;
  const domain = `t${serviceId}.pbx.example.net`;

  test('creates domain, tag, dialplans, branding, admin, extensions with voicemail and gateway', async () => {
    const result = await provisioner.create(tenantEvent(serviceId));
    expect(result.serviceProperties).toEqual({ pbxDomain: domain, adminUsername: 'owner', portalUrl: `https://${domain}/` });
    expect(result).toMatchObject({ status: 'active', generation: 1, changed: true, domainName: domain });
    expect(result.report.createdExtensions).toEqual(['100', '101', '102']);

    const [domainRow] = await rows('select * from v_domains where domain_name = $1', [domain]);
    expect(domainRow.domain_uuid).toBe(result.domainUuid);
    expect(domainRow.domain_enabled).toBe(true);
    expect(domainRow.insert_date).toBeInstanceOf(Date);
    expect(domainRow.update_date).toBeNull();

    const meta = await rows("select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'ictvoip' order by domain_setting_subcategory", [
      result.domainUuid,
    ]);
    expect(meta.map((row) => [row.domain_setting_subcategory, row.domain_setting_enabled])).toEqual([
      ['service_id', false],
      ['state', false],
    ]);
    expect(meta[1].domain_setting_value && JSON.parse(meta[1].domain_setting_value)).toMatchObject({ status: 'active', generation: 1, adminUsername: 'owner' });
    expect(meta[0].domain_setting_value).toBe(String(serviceId));

    // Dialplans: every template dialplan copied once, names/uuids substituted, the global one untouched.
    const dialplans = await rows('select * from v_dialplans where domain_uuid = $1 order by dialplan_order', [result.domainUuid]);
    expect(dialplans.map((row) => row.dialplan_name)).toEqual(fx.basics.templateDialplans.map((plan) => plan.name));
    for (const plan of dialplans) {
      expect(plan.dialplan_context).toBe(domain);
      expect(plan.dialplan_enabled).toBe('true');
      expect(plan.dialplan_xml).toContain(`uuid="${plan.dialplan_uuid}"`);
      expect(plan.dialplan_xml).toContain(domain.replace(/\./g, '\\.'));
      expect(plan.dialplan_xml).not.toContain(fx.basics.templateDomainName.replace(/\./g, '\\.'));
      expect(fx.basics.templateDialplans.map((t) => t.uuid)).not.toContain(plan.dialplan_uuid);
    }
    const details = await rows('select d.* from v_dialplan_details d join v_dialplans p using (dialplan_uuid) where p.domain_uuid = $1', [result.domainUuid]);
    const templateDetails = await rows('select * from v_dialplan_details where domain_uuid = $1', [fx.basics.templateDomainUuid]);
    expect(details).toHaveLength(templateDetails.length);
    expect(details.every((row) => row.domain_uuid === result.domainUuid && row.dialplan_detail_enabled === true)).toBe(true);
    expect(await rows('select 1 from v_dialplans where domain_uuid is null')).toHaveLength(1);

    // Branding: default merged with the plan override (title from "gold").
    const theme = await rows("select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'theme' order by domain_setting_subcategory", [
      result.domainUuid,
    ]);
    expect(theme.map((row) => [row.domain_setting_subcategory, row.domain_setting_name, row.domain_setting_value, row.domain_setting_enabled, row.domain_setting_order])).toEqual([
      ['favicon', 'text', BRAND.default[2].value, true, '0'],
      ['login_background_color', 'array', BRAND.default[3].value, true, '0'],
      ['logo', 'text', BRAND.default[0].value, true, '0'],
      ['title', 'text', BRAND.plans.gold[0].value, true, '0'],
    ]);

    // Admin user in the global admin group, bcrypt $2y$ hash, salt NULL.
    const [user] = await rows('select * from v_users where domain_uuid = $1', [result.domainUuid]);
    expect(user).toMatchObject({ username: 'owner', salt: null, user_enabled: 'true', user_type: 'default', user_email: 'owner@customer.example.com' });
    expect(user.password).toMatch(/^\$2y\$10\$/);
    expect(bcrypt.compareSync('Portal-Pass-1!', user.password.replace('$2y$', '$2b$'))).toBe(true);
    // With the contacts app's tables (the full schemas), user_edit.php's contact and its primary email.
    if ((await rows("select 1 from information_schema.tables where table_name = 'v_contacts'")).length > 0) {
      expect(user.add_date).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.000000\+0000$/);
      const contacts = await rows('select * from v_contacts where domain_uuid = $1', [result.domainUuid]);
      expect(contacts).toEqual([expect.objectContaining({ contact_uuid: user.contact_uuid, contact_type: 'user', contact_nickname: 'owner', contact_organization: null })]);
      const emails = await rows('select * from v_contact_emails where contact_uuid = $1', [user.contact_uuid]);
      expect(emails).toEqual([expect.objectContaining({ domain_uuid: result.domainUuid, email_address: 'owner@customer.example.com', email_primary: '1' })]);
    }
    const groups = await rows('select * from v_user_groups where user_uuid = $1', [user.user_uuid]);
    expect(groups).toEqual([expect.objectContaining({ group_name: 'admin', group_uuid: fx.basics.groups.admin, domain_uuid: result.domainUuid })]);

    // Extensions: checklist columns.
    const extensions = await rows('select * from v_extensions where domain_uuid = $1 order by extension', [result.domainUuid]);
    const languageColumns = (await rows("select 1 from information_schema.columns where table_name = 'v_extensions' and column_name = 'extension_language'")).length > 0;
    expect(extensions.map((row) => row.extension)).toEqual(['100', '101', '102']);
    for (const ext of extensions) {
      expect(ext).toMatchObject({
        user_context: domain,
        accountcode: domain,
        enabled: 'true',
        limit_max: '5',
        limit_destination: '!USER_BUSY',
        call_timeout: '30',
        call_screen_enabled: 'false',
        directory_visible: 'true',
        directory_exten_visible: 'true',
        // As extension_edit.php adds one: the caller ID fields start empty; 5.3's type select starts
        // blank and its language split gives dialect "us", voice "callie" (5.1 has no such columns).
        ...(languageColumns ? { extension_type: null, extension_language: null, extension_dialect: 'us', extension_voice: 'callie' } : { extension_type: 'default' }),
        effective_caller_id_name: null,
        effective_caller_id_number: null,
        number_alias: null,
        description: null,
      });
      expect(ext.password).toHaveLength(20);
      expect(ext.password).toMatch(/[0-9]/);
      expect(ext.password).toMatch(/[a-km-z]/);
      expect(ext.password).toMatch(/[A-NP-Z]/);
      expect(ext.password).toMatch(/[!^$%*?.]/);
    }
    expect(new Set(extensions.map((row) => row.password)).size).toBe(3);
    const voicemails = await rows('select * from v_voicemails where domain_uuid = $1 order by voicemail_id', [result.domainUuid]);
    expect(voicemails.map((row) => row.voicemail_id)).toEqual(['100', '101', '102']);
    for (const vm of voicemails) {
      expect(vm).toMatchObject({
        voicemail_enabled: 'true',
        // extension_edit.php's add leaves it unset (the uuid is drawn before its new-box branch).
        voicemail_tutorial: null,
        voicemail_transcription_enabled: 'false',
        voicemail_local_after_email: 'true',
        voicemail_mail_to: null,
        // The install's default setting voicemail/voicemail_file (as shipped: attach).
        voicemail_file: 'attach',
      });
      expect(vm.voicemail_password).toMatch(/^[0-9]{8}$/);
    }

    // Gateway from the plan template.
    const gateways = await rows('select * from v_gateways where domain_uuid = $1', [result.domainUuid]);
    expect(gateways).toHaveLength(1);
    expect(gateways[0]).toMatchObject({
      gateway: 'trunk',
      proxy: 'sip.carrier.example.org',
      register: 'true',
      username: 'acct-1',
      password: 'trunk-secret-1',
      expire_seconds: '800',
      retry_seconds: '30',
      context: 'public',
      profile: 'external',
      enabled: 'true',
      channels: '0',
      hostname: null,
    });

    // FreeSWITCH side: exactly these commands.
    standin.clearRecorded();
    const applied = await applyFreeswitchSide(esl, result.freeswitch, { cache });
    const gatewayProfile = gateways[0].profile;
    const expected = [
      `memcache delete dialplan:${domain}`,
      ...extensions.map((ext) => `memcache delete directory:${ext.extension}@${domain}`),
      'switchname',
      `memcache delete configuration:sofia.conf:${standin.switchname}`,
      `sofia profile ${gatewayProfile} rescan`,
    ];
    expect(standin.apiCommands).toEqual(expected);
    expect(applied.actions).toEqual(expected);
  });

  test('replaying create 3 times changes no row and yields the same commands', async () => {
    const before = await dumpTables(fx.pool);
    const first = await provisioner.create(tenantEvent(serviceId));
    for (let i = 0; i < 3; i += 1) {
      const again = await provisioner.create(tenantEvent(serviceId));
      expect(again.changed).toBe(false);
      expect(again.freeswitch).toEqual(first.freeswitch);
      expect(again.serviceProperties).toEqual(first.serviceProperties);
    }
    expect(first.changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('the admin hash verifies with PHP password_verify, also after change_password', async () => {
    const verify = (password: string, hash: string) => execFileSync('php', ['-r', 'echo password_verify($argv[1], $argv[2]) ? "yes" : "no";', password, hash]).toString();
    const [user] = await rows('select u.password from v_users u join v_domains d using (domain_uuid) where d.domain_name = $1', [domain]);
    expect(verify('Portal-Pass-1!', user.password)).toBe('yes');
    expect(verify('wrong', user.password)).toBe('no');

    const changed = await provisioner.changePassword(tenantEvent(serviceId, { secrets: { servicePassword: 'N3w-P@ss $word' } }));
    expect(changed.changed).toBe(true);
    expect(changed.freeswitch).toEqual([]);
    const [after] = await rows('select u.password, u.update_date from v_users u join v_domains d using (domain_uuid) where d.domain_name = $1', [domain]);
    expect(verify('N3w-P@ss $word', after.password)).toBe('yes');
    expect(verify('Portal-Pass-1!', after.password)).toBe('no');
    expect(after.update_date).toBeInstanceOf(Date);
    const before = await dumpTables(fx.pool);
    expect((await provisioner.changePassword(tenantEvent(serviceId, { secrets: { servicePassword: 'N3w-P@ss $word' } }))).changed).toBe(false);
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  test('two concurrent creates of the same service make one tenant', async () => {
    const [a, b] = await Promise.all([provisioner.create(tenantEvent(1002)), provisioner.create(tenantEvent(1002))]);
    expect(a.domainUuid).toBe(b.domainUuid);
    expect([a.changed, b.changed].sort()).toEqual([false, true]);
    expect(await rows("select 1 from v_domains where domain_name = 't1002.pbx.example.net'")).toHaveLength(1);
    expect(await rows('select 1 from v_extensions where domain_uuid = $1', [a.domainUuid])).toHaveLength(3);
    expect(await rows('select 1 from v_users where domain_uuid = $1', [a.domainUuid])).toHaveLength(1);
    expect(await rows('select 1 from v_gateways where domain_uuid = $1', [a.domainUuid])).toHaveLength(1);
  });

  test('initialExtensions creates only that many of the plan, leaving the rest of maxExtensions as room; change_package keeps it so', async () => {
    const created = await provisioner.create(tenantEvent(1003, {}, { maxExtensions: 3, initialExtensions: 2 }));
    expect(created.report.createdExtensions).toEqual(['100', '101']);
    expect(await rows('select extension from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid])).toEqual([{ extension: '100' }, { extension: '101' }]);
    const again = await provisioner.changePackage(tenantEvent(1003, {}, { maxExtensions: 3, initialExtensions: 2 }));
    expect(again.report.createdExtensions).toEqual([]);
    // More than the limit is the limit: never above maxExtensions.
    const capped = await provisioner.create(tenantEvent(1004, {}, { maxExtensions: 1, initialExtensions: 5 }));
    expect(capped.report.createdExtensions).toEqual(['100']);
  });

  test('a fixed portal URL (FUSIONPBX_PORTAL_URL) is what WHMCS is told, instead of the tenant domain', async () => {
    const fixed = createProvisioner({ pool: fx.pool, options: { ...testOptions(fx.basics), portalUrl: 'https://portal.example.net/' } });
    const result = await fixed.create(tenantEvent(1005));
    expect(result.serviceProperties).toEqual({ pbxDomain: 't1005.pbx.example.net', adminUsername: 'owner', portalUrl: 'https://portal.example.net/' });
  });
});

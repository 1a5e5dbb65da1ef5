import { EslStandin } from '@ictvoip/testkit';
import { FusionpbxValidationError, type Provisioner, TenantConflictError } from '@ictvoip/fusionpbx';
import { EslClient, EslCommandError, EslConnectionError, FreeswitchValidationError, applyFreeswitchSide } from '@ictvoip/freeswitch';
import { randomUUID } from 'node:crypto';
import { parseTenantCommand } from '@ictvoip/whmcs';
import { type FusionpbxTestDb, dumpTables, provisioningSuite, refusedAtIngest, tenantEvent } from './helpers';

let fx: FusionpbxTestDb;
let provisioner: Provisioner;
let standin: EslStandin;
let esl: EslClient;
const cache = { method: 'memcache' as const };

const suite = provisioningSuite('fpbx_fail', 1000);
beforeAll(() => {
  ({ fx, provisioner, standin, esl } = suite);
});

const rows = async (sql: string, params: unknown[] = []) => (await fx.pool.query(sql, params)).rows;

describe('FreeSWITCH side fails after commit', () => {
  test('crash between commit and apply: DB stays, retrying the stored steps applies them', async () => {
    const result = await provisioner.create(tenantEvent(5001));
    const committed = await dumpTables(fx.pool);
    standin.fail(/^sofia profile external rescan$/, 'profile external not running');
    standin.clearRecorded();
    await expect(applyFreeswitchSide(esl, result.freeswitch, { cache })).rejects.toBeInstanceOf(EslCommandError);
    expect(standin.apiCommands.at(-1)).toBe('sofia profile external rescan');
    expect(await dumpTables(fx.pool)).toEqual(committed);

    standin.failures.length = 0;
    standin.clearRecorded();
    const retried = await applyFreeswitchSide(esl, result.freeswitch, { cache });
    expect(retried.actions.at(-1)).toBe('sofia profile external rescan');
    expect(standin.apiCommands).toEqual(retried.actions);
    expect(await dumpTables(fx.pool)).toEqual(committed);
  });

  test('event socket down then up: apply fails with EslConnectionError, then succeeds after restart', async () => {
    const result = await provisioner.create(tenantEvent(5002));
    await standin.stop();
    const error = await applyFreeswitchSide(esl, result.freeswitch, { cache }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EslConnectionError);
    expect((error as EslConnectionError).code).toBe('ESL_CONNECTION');
    await standin.start();
    standin.clearRecorded();
    const applied = await applyFreeswitchSide(esl, result.freeswitch, { cache });
    expect(standin.apiCommands).toEqual(applied.actions);
    expect(applied.actions).toContain(`memcache delete dialplan:${result.domainName}`);
  });

  test('file-esl and file cache methods', async () => {
    const result = await provisioner.create(tenantEvent(5002));
    standin.clearRecorded();
    const viaLua = await applyFreeswitchSide(esl, result.freeswitch.filter((step) => step.kind === 'cache_delete').slice(0, 2), { cache: { method: 'file-esl' } });
    expect(viaLua.actions).toEqual([
      `lua app/servers/resources/clear_cache.lua delete dialplan.${result.domainName}`,
      `lua app/servers/resources/clear_cache.lua delete directory.100@${result.domainName}`,
    ]);
    const { mkdtemp, writeFile, readdir, rm } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/fpbx-cache-');
    await writeFile(`${dir}/directory.100@${result.domainName}`, '<xml/>');
    await writeFile(`${dir}/directory.999@other.example.com`, '<xml/>');
    const local = await applyFreeswitchSide(
      esl,
      [
        { kind: 'cache_delete', key: `directory:100@${result.domainName}` },
        { kind: 'cache_delete', key: 'directory:101@gone.example.com' },
      ],
      { cache: { method: 'file', location: dir } },
    );
    expect(local.actions).toEqual([`unlink ${dir}/directory.100@${result.domainName}`, `unlink ${dir}/directory.101@gone.example.com`]);
    expect(await readdir(dir)).toEqual(['directory.999@other.example.com']);
    await rm(dir, { recursive: true });
  });
});

describe('adopt vs conflict', () => {
  test('a domain tagged with this service is adopted; one owned by another service or by nobody is a conflict', async () => {
    const domainUuid = randomUUID();
    await fx.pool.query("insert into v_domains (domain_uuid, domain_name, domain_enabled, insert_date) values ($1, 'adopt.example.com', 'true', now())", [domainUuid]);
    await fx.pool.query(
      "insert into v_domain_settings (domain_setting_uuid, domain_uuid, domain_setting_category, domain_setting_subcategory, domain_setting_name, domain_setting_value, domain_setting_order, domain_setting_enabled) values ($1, $2, 'ictvoip', 'service_id', 'text', '6001', 0, false)",
      [randomUUID(), domainUuid],
    );
    const adopted = await provisioner.create(tenantEvent(6001, { service: { id: 6001, domain: 'Adopt.Example.COM' } }));
    expect(adopted.domainUuid).toBe(domainUuid);
    expect(adopted.domainName).toBe('adopt.example.com');
    expect(await rows('select 1 from v_extensions where domain_uuid = $1', [domainUuid])).toHaveLength(3);

    const before = await dumpTables(fx.pool);
    const conflict = await provisioner.create(tenantEvent(6002, { service: { id: 6002, domain: 'adopt.example.com' } })).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(TenantConflictError);
    expect(conflict).toMatchObject({ code: 'TENANT_CONFLICT', ownerServiceId: '6001' });
    expect(await dumpTables(fx.pool)).toEqual(before);

    await fx.pool.query("insert into v_domains (domain_uuid, domain_name, domain_enabled, insert_date) values ($1, 'manual.example.com', 'true', now())", [randomUUID()]);
    const unmanagedBefore = await dumpTables(fx.pool);
    await expect(provisioner.create(tenantEvent(6003, { service: { id: 6003, domain: 'MANUAL.example.com' } }))).rejects.toMatchObject({
      code: 'TENANT_CONFLICT',
      ownerServiceId: null,
    });
    expect(await dumpTables(fx.pool)).toEqual(unmanagedBefore);
  });

  test("a plan number used as another extension's alias is not made (reported), and the rest of the plan applies", async () => {
    const created = await provisioner.create(tenantEvent(6004));
    await fx.pool.query("update v_extensions set number_alias = '103' where domain_uuid = $1 and extension = '100'", [created.domainUuid]);
    const grown = await provisioner.changePackage(tenantEvent(6004, {}, { maxExtensions: 5 }));
    expect(grown.report).toMatchObject({ createdExtensions: ['104'], aliasedExtensions: ['103'] });
    const numbers = await fx.pool.query('select extension, number_alias from v_extensions where domain_uuid = $1 order by extension', [created.domainUuid]);
    expect(numbers.rows.map((row) => [row.extension, row.number_alias])).toEqual([
      ['100', '103'],
      ['101', null],
      ['102', null],
      ['104', null],
    ]);
  });
});

describe('bad names are rejected before anything is written', () => {
  // Ingest refuses a create without the password (below); the provisioner still refuses a command made without parseTenantCommand.
  const cases: [string, Parameters<typeof tenantEvent>[1], string][] = [['missing password', { secrets: {} }, 'secrets.servicePassword']];
  test.each(cases)('%s', async (_label, overrides, field) => {
    const before = await dumpTables(fx.pool);
    const error = await provisioner.create(tenantEvent(7001, overrides)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FusionpbxValidationError);
    expect((error as FusionpbxValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect((error as Error).message).not.toContain('Portal-Pass-1!');
    expect(await dumpTables(fx.pool)).toEqual(before);
  });

  // The provisioner's own rules (validateDomainName, validateUsername), applied at ingest: never a command.
  const refused: [string, Parameters<typeof tenantEvent>[1], string][] = [
    ['space in domain', { service: { id: 7001, domain: 'bad domain.example.com' } }, 'service.domain'],
    ['newline in domain', { service: { id: 7001, domain: 'evil.example.com\napi fsctl shutdown' } }, 'service.domain'],
    ['quote in domain', { service: { id: 7001, domain: "o'neil.example.com" } }, 'service.domain'],
    ['unicode domain', { service: { id: 7001, domain: 'tëst.example.com' } }, 'service.domain'],
    ['single-label domain', { service: { id: 7001, domain: 'localhost' } }, 'service.domain'],
    ['space in username', { service: { id: 7001, username: 'john doe' } }, 'service.username'],
    ['newline in username', { service: { id: 7001, username: 'john\nadmin' } }, 'service.username'],
    ['unicode username', { service: { id: 7001, username: 'jöhn' } }, 'service.username'],
    ['password over 72 bytes', { secrets: { servicePassword: 'ü'.repeat(37) } }, 'secrets.servicePassword'],
  ];
  test.each(refused)('%s: refused at ingest naming the field', (_label, overrides, field) => {
    expect(refusedAtIngest(() => tenantEvent(7001, overrides))).toEqual([field]);
  });

  test('what ingest refuses never becomes a command: a service id or plan limit that is not a whole number is named in the webhook answer', () => {
    // The provisioner reads these without checking them again (the event is validated once, at ingest).
    expect(refusedAtIngest(() => tenantEvent(7001, { service: { id: '7001; drop table v_domains' as unknown as number } }))).toEqual(['service.id']);
    expect(refusedAtIngest(() => tenantEvent(7002, {}, { maxExtensions: 'ten' }))).toEqual(['plan.maxExtensions']);
    const { secrets: _password, ...createWithoutPassword } = tenantEvent(7002);
    expect(refusedAtIngest(() => parseTenantCommand(createWithoutPassword))).toEqual(['secrets.servicePassword']);
    expect(refusedAtIngest(() => tenantEvent(7002, {}, { extensionNumbers: ['1', '1'] }))).toEqual(['plan.extensionNumbers']);
    expect(refusedAtIngest(() => tenantEvent(7002, {}, { ringGroup: '1 2' }))).toEqual(['plan.ringGroup']);
    // E.164 country codes have no leading zero: '01' is refused, not read as 1.
    for (const countryCode of ['01', '+01', '0044']) expect(refusedAtIngest(() => tenantEvent(7002, {}, { countryCode }))).toEqual(['plan.countryCode']);
    expect(tenantEvent(7002, {}, { countryCode: ' 44' }).plan.countryCode).toBe('44');
    expect(refusedAtIngest(() => tenantEvent(7002, {}, { callerIdNamePrefix: 'VIP\n' }))).toEqual(['plan.callerIdNamePrefix']);
    expect(refusedAtIngest(() => tenantEvent(7002, { configurableOptions: { 'maxExtensions|Extensions': '20000' } }))).toEqual(['configurableOptions.maxExtensions']);
  });

  test('bad plan values and steps with injected text are rejected', async () => {
    await expect(provisioner.create(tenantEvent(7002, {}, { gatewayTemplate: 'nope' }))).rejects.toMatchObject({ field: 'plan.gatewayTemplate' });
    standin.clearRecorded();
    await expect(
      applyFreeswitchSide(
        esl,
        [
          { kind: 'cache_delete', key: 'directory:100@ok.example.com' },
          { kind: 'flush_registration', profile: 'internal', user: '100@x.example.com reboot\n\napi fsctl shutdown' },
        ],
        { cache },
      ),
    ).rejects.toBeInstanceOf(FreeswitchValidationError);
    await expect(applyFreeswitchSide(esl, [{ kind: 'gateway_kill', profile: 'external', gatewayUuid: 'not-a-uuid' }], { cache })).rejects.toMatchObject({
      field: 'step.gatewayUuid',
    });
    await expect(applyFreeswitchSide(esl, [{ kind: 'sofia_rescan', profile: 'external rescan' }], { cache })).rejects.toMatchObject({ field: 'step.profile' });
    expect(standin.apiCommands).toEqual([]);
  });
});

import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { adoptDomain, createProvisioner } from '@ictvoip/fusionpbx';
import { adoptTenants, type AdoptLine, type AdoptOptions } from '@ictvoip/operations';
import { FusionServersRepository, migrateBridgeDatabase, ServicesRepository, syncedSinceChangeSql } from '@ictvoip/store';
import { toTenantCommand, WhmcsApiClient } from '@ictvoip/whmcs';
import { createTestDatabase, createFusionpbxTestDatabase, seedFusionpbxBasics, startWhmcsStandin, testKeyring, type TestDatabase, type WhmcsStandin } from '@ictvoip/testkit';

// `ictvoip adopt` over a FusionPBX database whose tenants were made by hand (the GUI, ictVoIP): run
// twice (the second run changes nothing), interrupted half-way (the rerun finishes the rest), with
// no tenant row of FusionPBX changed: only the bridge's two bookkeeping settings per domain appear.
const PID = 12;
const TENANTS = 100;
const CDR_FROM = new Date('2026-12-01T00:00:00Z');

let bridgeDb: TestDatabase;
let fusionDb: TestDatabase;
let bridge: Pool;
let fusion: Pool;
let whmcsStandin: WhmcsStandin;
let whmcs: WhmcsApiClient;

type Digest = Record<string, string>;
async function digest(db: Pool, except: (table: string) => string = () => ''): Promise<Digest> {
  const { rows: tables } = await db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const result: Digest = {};
  for (const { name } of tables) {
    const where = except(name);
    const { rows } = await db.query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${name}" t ${where}`,
    );
    result[name] = `${rows[0]!.n}:${rows[0]!.h}`;
  }
  return result;
}
/** FusionPBX without the bridge's bookkeeping rows: what adoption must leave exactly as it was. */
const tenantRows = () => digest(fusion, (table) => (table === 'v_domain_settings' ? "WHERE domain_setting_category IS DISTINCT FROM 'ictvoip'" : ''));

/** A tenant as the FusionPBX GUI makes it: domain, two extensions, a gateway. */
async function handMadeTenant(domain: string, enabled = 'true', gatewayUuid: string = randomUUID()): Promise<string> {
  const domainUuid = randomUUID();
  await fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled, insert_date) values ($1, $2, $3, now())', [domainUuid, domain, enabled]);
  for (const extension of ['2112', '2113']) {
    await fusion.query("insert into v_extensions (extension_uuid, domain_uuid, extension, user_context, enabled, insert_date) values ($1, $2, $3, $4, 'true', now())", [
      randomUUID(),
      domainUuid,
      extension,
      domain,
    ]);
  }
  await fusion.query("insert into v_gateways (gateway_uuid, domain_uuid, gateway, proxy, enabled) values ($1, $2, 'trunk', 'sip.provider.com', 'true')", [gatewayUuid, domainUuid]);
  return domainUuid;
}

const options = (overrides: Partial<AdoptOptions> = {}): AdoptOptions => ({ apply: true, cdrFrom: CDR_FROM, pids: [PID], server: null, ...overrides });
const deps = () => ({ pool: bridge, whmcs, fusionPool: fusion });

beforeAll(async () => {
  [bridgeDb, fusionDb] = await Promise.all([createTestDatabase('adopt_bridge'), createFusionpbxTestDatabase('adopt_fusion')]);
  bridge = new Pool({ connectionString: bridgeDb.url, max: 3 });
  fusion = new Pool({ connectionString: fusionDb.url, max: 3 });
  await migrateBridgeDatabase(bridge);
  whmcsStandin = await startWhmcsStandin();
  whmcs = new WhmcsApiClient({ url: whmcsStandin.url, identifier: whmcsStandin.identifier, secret: whmcsStandin.secret, retries: 0 });
  const client = whmcsStandin.addClient();
  for (let i = 1; i <= TENANTS; i += 1) {
    const domain = `t${i}.wat7.ictvoip.test`;
    await handMadeTenant(domain);
    // ictVoIP's Domain field: the tenant domain and its main DID.
    whmcsStandin.addService({ id: 7000 + i, clientid: client.id, pid: PID, domain: `${domain} | 519222${String(i).padStart(4, '0')}`, status: i === 50 ? 'Suspended' : 'Active' });
  }
  // What cannot be adopted, each with its reason.
  whmcsStandin.addService({ id: 7201, clientid: client.id, pid: PID, domain: 'missing.wat7.ictvoip.test | 5192229999' });
  const taken = await handMadeTenant('taken.wat7.ictvoip.test');
  await fusion.query(
    "insert into v_domain_settings (domain_setting_uuid, domain_uuid, domain_setting_category, domain_setting_subcategory, domain_setting_name, domain_setting_value, domain_setting_enabled) values ($1, $2, 'ictvoip', 'service_id', 'text', '9999', 'false')",
    [randomUUID(), taken],
  );
  whmcsStandin.addService({ id: 7202, clientid: client.id, pid: PID, domain: 'taken.wat7.ictvoip.test' });
  await handMadeTenant('old.wat7.ictvoip.test');
  whmcsStandin.addService({ id: 7203, clientid: client.id, pid: PID, domain: 'old.wat7.ictvoip.test', status: 'Terminated' });
  await handMadeTenant('off.wat7.ictvoip.test', 'false');
  whmcsStandin.addService({ id: 7204, clientid: client.id, pid: PID, domain: 'off.wat7.ictvoip.test' });
  await handMadeTenant('elsewhere.wat7.ictvoip.test');
  whmcsStandin.addService({ id: 7205, clientid: client.id, pid: PID, domain: 'elsewhere.wat7.ictvoip.test' });
  await new FusionServersRepository(bridge, testKeyring(['test1'])).add({ name: 'pbx2', databaseUrl: fusionDb.url, eslHost: '127.0.0.1', eslPort: 1, eslPassword: 'unused-here' });
  await new ServicesRepository(bridge).setDesired({ serviceId: 7205, clientId: client.id, desiredState: 'active', eventId: randomUUID(), fusionpbxServer: 'pbx2' });
  // A run that crashed after FusionPBX's commit and before the bridge's: the domain is tagged, the bridge knows nothing.
  await handMadeTenant('half.wat7.ictvoip.test');
  expect(await adoptDomain(fusion, 'half.wat7.ictvoip.test', 7206, { dryRun: false })).toMatchObject({ outcome: 'adopted' });
  whmcsStandin.addService({ id: 7206, clientid: client.id, pid: PID, domain: 'half.wat7.ictvoip.test' });
  // Another product's services are not looked at.
  whmcsStandin.addService({ id: 7301, clientid: client.id, pid: 99, domain: 't1.wat7.ictvoip.test' });
}, 120_000);

afterAll(async () => {
  await whmcsStandin?.close();
  await Promise.allSettled([bridge?.end(), fusion?.end()]);
  await Promise.allSettled([bridgeDb?.drop(), fusionDb?.drop()]);
});

describe('ictvoip adopt', () => {
  it('dry run: says what it would do, one line per service, and writes nothing anywhere', async () => {
    const before = [await digest(bridge), await digest(fusion)];
    const lines: AdoptLine[] = [];
    const summary = await adoptTenants(deps(), options({ apply: false, onProgress: (line) => void lines.push(line) }));
    expect(summary).toMatchObject({ services: TENANTS + 6, wouldAdopt: TENANTS + 1, adopted: 0, skipped: 5 });
    expect(lines).toHaveLength(TENANTS + 6);
    expect(lines[0]).toEqual({ serviceId: 7001, domain: 't1.wat7.ictvoip.test', outcome: 'would-adopt' });
    expect([await digest(bridge), await digest(fusion)]).toEqual(before);
  });

  it('an interrupted run adopts whole services only, and the next run finishes the rest', async () => {
    const fusionTenants = await tenantRows();
    let seen = 0;
    await expect(
      adoptTenants(
        deps(),
        options({
          onProgress: () => {
            seen += 1;
            if (seen === 30) throw new Error('operator pressed ^C');
          },
        }),
      ),
    ).rejects.toThrow('operator pressed ^C');
    const { rows } = await bridge.query('SELECT count(*)::int AS n FROM services WHERE adopted_at IS NOT NULL');
    expect(rows[0].n).toBe(30);

    const lines: AdoptLine[] = [];
    const summary = await adoptTenants(deps(), options({ onProgress: (line) => void lines.push(line) }));
    expect(summary).toMatchObject({ services: TENANTS + 6, adopted: TENANTS + 1 - 30 });
    expect(summary.skippedBy).toEqual({ 'already-adopted': 30, 'no-domain': 1, owned: 1, status: 1, disabled: 1, 'other-server': 1 });
    expect(lines.find((line) => line.serviceId === 7201)).toMatchObject({ outcome: 'skipped', reason: 'no FusionPBX domain missing.wat7.ictvoip.test on server default' });
    expect(lines.find((line) => line.serviceId === 7202)).toMatchObject({ reason: 'FusionPBX domain taken.wat7.ictvoip.test belongs to service 9999' });
    expect(lines.find((line) => line.serviceId === 7203)).toMatchObject({ reason: 'WHMCS status Terminated' });
    expect(lines.find((line) => line.serviceId === 7205)).toMatchObject({ reason: 'owned by FusionPBX server pbx2' });
    // The half-done one is finished: its own tag is no conflict.
    expect(lines.find((line) => line.serviceId === 7206)).toEqual({ serviceId: 7206, domain: 'half.wat7.ictvoip.test', outcome: 'adopted' });

    // No row of any tenant changed: only the bridge's bookkeeping settings were added.
    expect(await tenantRows()).toEqual(fusionTenants);
    const tags = await fusion.query("select count(*)::int as n from v_domain_settings where domain_setting_category = 'ictvoip' and domain_setting_enabled::text = 'false'");
    expect(tags.rows[0].n).toBe((TENANTS + 1) * 2 + 1);
  });

  it('records each service with its WHMCS state, its domain, a billing floor and CDR cursor at --cdr-from, and an audit row', async () => {
    const service = await new ServicesRepository(bridge).get(7007);
    expect(service).toMatchObject({ tenantDomain: 't7.wat7.ictvoip.test', desiredState: 'active', observedState: 'active', fusionpbxServer: null, cdrBillingFrom: CDR_FROM });
    expect(service!.adoptedAt).toBeInstanceOf(Date);
    expect(service!.plan).toMatchObject({ whmcsPid: PID });
    expect((await new ServicesRepository(bridge).get(7050))!.desiredState).toBe('suspended');
    const cursor = await bridge.query('SELECT domain_name, last_start_stamp FROM cdr_sync_cursors WHERE service_id = 7007');
    expect(cursor.rows[0]).toEqual({ domain_name: 't7.wat7.ictvoip.test', last_start_stamp: CDR_FROM });
    // The cursor is written in the adoption's transaction, its run time (now()) equal to the service row's write: no
    // sync has read the tenant, so it is not synced since that change (purge, credit-left and settle wait for one).
    const synced = await bridge.query(`SELECT ${syncedSinceChangeSql('s')} AS synced FROM services s WHERE s.service_id = 7007`);
    expect(synced.rows[0]).toEqual({ synced: false });
    const audit = await bridge.query("SELECT actor, detail FROM audit_log WHERE service_id = 7007 AND action = 'adopt'");
    expect(audit.rows).toEqual([{ actor: 'ictvoip-adopt', detail: expect.objectContaining({ domain: 't7.wat7.ictvoip.test', cdrFrom: CDR_FROM.toISOString() }) }]);
  });

  it("takes the domain's own admin as the tenant admin: the WHMCS service's username when the domain has that user, else admin, else a user of the admin group", async () => {
    const adminOf = async (domain: string, serviceId: number, serviceUsername?: string) => {
      const domainUuid = await handMadeTenant(domain);
      return { domainUuid, adopt: () => adoptDomain(fusion, domain, serviceId, { dryRun: false, serviceUsername }) };
    };
    const user = async (domainUuid: string, username: string, group?: string) => {
      const userUuid = randomUUID();
      await fusion.query("insert into v_users (user_uuid, domain_uuid, username, user_enabled) values ($1, $2, $3, 'true')", [userUuid, domainUuid, username]);
      if (group)
        await fusion.query('insert into v_user_groups (user_group_uuid, domain_uuid, group_name, user_uuid) values ($1, $2, $3, $4)', [randomUUID(), domainUuid, group, userUuid]);
    };
    const stateAdmin = async (domainUuid: string) =>
      JSON.parse(
        (
          await fusion.query(
            "select domain_setting_value from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'ictvoip' and domain_setting_subcategory = 'state'",
            [domainUuid],
          )
        ).rows[0].domain_setting_value,
      ).adminUsername;

    const byService = await adminOf('named.wat7.ictvoip.test', 7401, 'acme');
    await user(byService.domainUuid, 'acme');
    await user(byService.domainUuid, 'admin', 'admin');
    await byService.adopt();
    expect(await stateAdmin(byService.domainUuid)).toBe('acme');

    const byGroup = await adminOf('group.wat7.ictvoip.test', 7402, 'owner');
    await user(byGroup.domainUuid, 'frontdesk', 'user');
    await user(byGroup.domainUuid, 'legacyadmin', 'admin');
    await byGroup.adopt();
    expect(await stateAdmin(byGroup.domainUuid)).toBe('legacyadmin');

    const none = await adminOf('nobody.wat7.ictvoip.test', 7403, 'owner');
    await none.adopt();
    expect(await stateAdmin(none.domainUuid)).toBe('owner');
  });

  it('a second run changes nothing at all, and reports the drift of the adopted tenants', async () => {
    const before = [await digest(bridge), await digest(fusion)];
    const summary = await adoptTenants(deps(), options());
    expect(summary).toMatchObject({ adopted: 0, skipped: TENANTS + 6 });
    expect(summary.skippedBy['already-adopted']).toBe(TENANTS + 1);
    expect([await digest(bridge), await digest(fusion)]).toEqual(before);
    // The suspended service: WHMCS says Suspended, FusionPBX's domain is enabled.
    expect(summary.drift.some((item) => item.serviceId === 7050)).toBe(true);
    expect(summary.drift.every((item) => item.serviceId !== null && ((item.serviceId >= 7001 && item.serviceId <= 7100) || item.serviceId === 7206))).toBe(true);
  });

  it("takes over the domain's gateway named as the plan's gateway template: the first change_package after adoption rewrites it, no namesake failure", async () => {
    const basics = await seedFusionpbxBasics(fusion, 'template.wat7.ictvoip.test');
    const gateway = randomUUID();
    const domain = 'gw.wat7.ictvoip.test';
    await handMadeTenant(domain, 'true', gateway);
    whmcsStandin.addService({ id: 7501, clientid: whmcsStandin.addClient().id, pid: 13, domain });
    const gatewayTemplates = { carrier: { name: 'trunk', proxy: 'sip.reseller.example', register: true, username: 'acct-7501', password: 'trunk-secret', profile: 'external' } };
    const summary = await adoptTenants(deps(), options({ pids: [13], gatewayTemplate: 'carrier', gatewayTemplates }));
    expect(summary).toMatchObject({ adopted: 1, planGateways: 1 });

    const provisioner = createProvisioner({ pool: fusion, options: { baseDomain: 'wat7.ictvoip.test', templateDomain: basics.templateDomainName, gatewayTemplates } });
    await provisioner.changePackage(
      toTenantCommand({
        schemaVersion: 1,
        eventId: randomUUID(),
        action: 'change_package',
        occurredAt: new Date().toISOString(),
        service: { id: 7501, username: 'admin', domain },
        client: { id: 7, email: 'owner@customer.example.com' },
        plan: { maxExtensions: 2, firstExtension: 2112, extensionNumbers: ['2112', '2113'], gatewayTemplate: 'carrier' },
        configurableOptions: {},
        secrets: {},
      }),
    );
    const { rows } = await fusion.query(
      "select gateway_uuid, proxy, username from v_gateways where gateway = 'trunk' and domain_uuid = (select domain_uuid from v_domains where domain_name = $1)",
      [domain],
    );
    expect(rows).toEqual([{ gateway_uuid: gateway, proxy: 'sip.reseller.example', username: 'acct-7501' }]);
  });
});

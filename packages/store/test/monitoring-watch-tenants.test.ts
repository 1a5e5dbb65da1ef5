import type { Pool } from 'pg';
import { createTestDatabase, seededRandom, type TestDatabase } from '@ictvoip/testkit';
import { createPool, effectiveWatchScope, migrateBridgeDatabase, MonitoringWatchRepository, ServicesRepository } from '@ictvoip/store';

// activeTenantsOfServer (one query per poll) must list what the monitoring polls read before from every
// service's whole row and the tenants' watch settings: the same tenants, in the same order, with the same scope.

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('watch_tenants');
  pool = createPool(db.url, { max: 2 });
  await migrateBridgeDatabase(pool);
  await pool.query(`INSERT INTO fusionpbx_servers (name, database_url, esl_host, esl_port, esl_password) VALUES ('fs2', 'postgres://x', '127.0.0.1', 8021, 'sealed')`);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** The tenants as the polls found them before: every service, filtered, with its settings from MonitoringWatchRepository.many. */
async function composed(server: string | null) {
  const services = (await new ServicesRepository(pool).listAll()).filter(
    (service) => service.desiredState === 'active' && service.tenantDomain && service.fusionpbxServer === server,
  );
  const settings = await new MonitoringWatchRepository(pool).many(services.map((service) => service.serviceId));
  return services.map((service) => {
    const watch = settings.get(service.serviceId)!;
    return { serviceId: service.serviceId, tenantDomain: service.tenantDomain!, scope: effectiveWatchScope(watch.scopeOverride, service.plan), marked: watch.marked };
  });
}

describe('MonitoringWatchRepository.activeTenantsOfServer', () => {
  it('lists the active tenants of a server with the scope in force, as every service read in full would', async () => {
    const random = seededRandom(54);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const services = Array.from({ length: 300 }, (_, index) => ({
      service_id: 9000 - index * 7,
      // One tenant with an empty domain (the column is unique), some with none.
      tenant_domain: index === 5 ? '' : pick([`t${index}.pbx.test`, `T${index}.PBX.test`, `zoë${index}.pbx.test`, null]),
      desired_state: pick(['active', 'active', 'suspended', 'terminated']),
      fusionpbx_server: pick([null, null, 'fs2']),
      plan: pick([{}, { registrationWatch: 'marked' }, { registrationWatch: 'off' }, { registrationWatch: 'all' }, { registrationWatch: 'bogus' }, { registrationWatch: 3 }, []]),
    }));
    await pool.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, fusionpbx_server, plan)
       SELECT s.service_id, 1, s.tenant_domain, s.desired_state, s.fusionpbx_server, s.plan FROM jsonb_to_recordset($1::jsonb)
         AS s(service_id bigint, tenant_domain text, desired_state text, fusionpbx_server text, plan jsonb)`,
      [JSON.stringify(services)],
    );
    const watch = new MonitoringWatchRepository(pool);
    for (const service of services) {
      const roll = random();
      if (roll < 0.3) await watch.set(service.service_id, { scope: pick(['all', 'marked', 'off']) });
      else if (roll < 0.4) await watch.set(service.service_id, { recipients: ['https://alerts.example.test/hook'] });
      if (random() < 0.4) await watch.mark(service.service_id, pick([['101'], ['203', '102'], ['999', '100', '1000']]), true);
    }
    for (const server of [null, 'fs2', 'fs3']) {
      const expected = await composed(server);
      expect(await watch.activeTenantsOfServer(server)).toEqual(expected);
      if (server !== 'fs3') expect(expected.length).toBeGreaterThan(10);
    }
    // Every kind of tenant was there to be told apart.
    const all = await watch.activeTenantsOfServer(null);
    expect(new Set(all.map((tenant) => tenant.scope))).toEqual(new Set(['all', 'marked', 'off']));
    expect(all.some((tenant) => tenant.marked.length > 1)).toBe(true);
  });

  it('fingerprints the rows: the same key while they stay, another when any field of any row changes, the first again when undone', async () => {
    const watch = new MonitoringWatchRepository(pool);
    await pool.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, fusionpbx_server, plan) VALUES
         (20001, 1, 'fp1.pbx.test', 'active', 'fs2', '{}'), (20002, 1, 'fp2.pbx.test', 'active', 'fs2', '{"registrationWatch":"marked"}')`,
    );
    const first = await watch.activeTenantsFingerprint('fs2');
    expect(await watch.activeTenantsFingerprint('fs2')).toBe(first);
    expect(await watch.activeTenantsFingerprint(null)).not.toBe(first);
    const changes: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ['scope override', () => watch.set(20001, { scope: 'off' }), () => watch.set(20001, { scope: null })],
      ['marked extension', () => watch.mark(20002, ['101,102'], true), () => watch.mark(20002, ['101,102'], false)],
      [
        'plan watch',
        () => pool.query(`UPDATE services SET plan = '{"registrationWatch":"off"}' WHERE service_id = 20001`),
        () => pool.query(`UPDATE services SET plan = '{}' WHERE service_id = 20001`),
      ],
      [
        'state',
        () => pool.query(`UPDATE services SET desired_state = 'suspended' WHERE service_id = 20002`),
        () => pool.query(`UPDATE services SET desired_state = 'active' WHERE service_id = 20002`),
      ],
      [
        'domain',
        () => pool.query(`UPDATE services SET tenant_domain = 'fp1b.pbx.test' WHERE service_id = 20001`),
        () => pool.query(`UPDATE services SET tenant_domain = 'fp1.pbx.test' WHERE service_id = 20001`),
      ],
      [
        'server',
        () => pool.query(`UPDATE services SET fusionpbx_server = NULL WHERE service_id = 20001`),
        () => pool.query(`UPDATE services SET fusionpbx_server = 'fs2' WHERE service_id = 20001`),
      ],
    ];
    for (const [what, change, undo] of changes) {
      await change();
      expect([what, await watch.activeTenantsFingerprint('fs2')]).not.toEqual([what, first]);
      await undo();
      expect([what, await watch.activeTenantsFingerprint('fs2')]).toEqual([what, first]);
    }
    // Recipients are not in the rows the polls read: no new key.
    await watch.set(20001, { recipients: ['https://alerts.example.test/fp'] });
    expect(await watch.activeTenantsFingerprint('fs2')).toBe(first);
  });
});

import type { Pool } from 'pg';
import { createBridgeTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, DOMAIN_HOLDER_SQL, ServicesRepository } from '@ictvoip/store';

/**
 * Issue #20: a create's domain-conflict check must not scan the services table, whose size grows
 * with the install. With as many services as a large install has, the planner must answer the
 * query from the index on its exact expression, `lower(tenant_domain)`.
 */
let db: TestDatabase;
let pool: Pool;
const SERVICES = 20_000;

beforeAll(async () => {
  db = await createBridgeTestDatabase('domain_index');
  pool = createPool(db.url);
  await pool.query(
    `INSERT INTO services (service_id, client_id, tenant_domain, desired_state)
     SELECT n, n, 'Tenant' || n || '.pbx.example.net', 'active' FROM generate_series(1, $1::int) AS n`,
    [SERVICES],
  );
  await pool.query('ANALYZE services');
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('answers the domain-conflict check from the index on lower(tenant_domain), not a scan of every service', async () => {
  const { rows } = await pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${DOMAIN_HOLDER_SQL}`, ['tenant777.PBX.example.net', 1]);
  const plan = JSON.stringify(rows[0]?.['QUERY PLAN']);
  expect(plan).toContain('"Index Name":"services_tenant_domain_lower"');
  expect(plan).not.toContain('"Node Type":"Seq Scan"');
});

it('still finds the holder whatever the case, and not the service itself', async () => {
  const services = new ServicesRepository(pool);
  expect((await services.domainHolder('TENANT777.pbx.example.net', 1))?.serviceId).toBe(777);
  expect(await services.domainHolder('tenant777.pbx.example.net', 777)).toBeNull();
  expect(await services.domainConflict('tenant777.pbx.example.net', 5)).toMatch(/^domain tenant777\.pbx\.example\.net already belongs to service 777 /);
});

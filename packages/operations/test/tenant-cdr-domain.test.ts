/**
 * Which FusionPBX domain a tenant's CDR sync reads (tenantCdrDomain), against the FusionPBX schema:
 * the current domain, the one the cursor remembers when the tenant's is gone or renamed in FusionPBX,
 * a new domain after a purge. FusionPBX has no index on v_domains.domain_name, so the steady state
 * (the cursor's domain is still there) must answer by key, without the by-name scan.
 */
import { randomUUID } from 'node:crypto';
import { Pool, type QueryResult } from 'pg';
import { createFusionpbxTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { tenantCdrDomain } from '../src/cdr-reader';

/** Keeps the text of every statement the (real) pool sends; cdr-reader sends `(text, values)` only. */
function recordStatements(pool: Pool): string[] {
  const statements: string[] = [];
  const send = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<QueryResult>;
  Object.assign(pool, {
    query: (text: string, values?: unknown[]) => {
      statements.push(text);
      return send(text, values);
    },
  });
  return statements;
}

let db: TestDatabase;
let fusion: Pool;
let statements: string[];

beforeAll(async () => {
  db = await createFusionpbxTestDatabase('cdr_domain');
  fusion = new Pool({ connectionString: db.url, max: 2 });
  statements = recordStatements(fusion);
});
afterAll(async () => {
  await fusion?.end();
  await db?.drop();
});

async function addDomain(name: string): Promise<string> {
  const uuid = randomUUID();
  await fusion.query('INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, true)', [uuid, name]);
  return uuid;
}

const byNameLookups = () => statements.filter((text) => /FROM v_domains WHERE domain_name = \$1/.test(text)).length;

it('the cursor’s domain, still the tenant’s, is answered by key without looking the name up', async () => {
  const uuid = await addDomain('steady.pbx.example.net');
  const before = byNameLookups();
  await expect(tenantCdrDomain(fusion, 'steady.pbx.example.net', uuid)).resolves.toEqual({ domainUuid: uuid, restarted: false });
  expect(byNameLookups()).toBe(before);
});

it('without a cursor the domain is found by its name', async () => {
  const uuid = await addDomain('first.pbx.example.net');
  await expect(tenantCdrDomain(fusion, 'first.pbx.example.net', null)).resolves.toEqual({ domainUuid: uuid, restarted: false });
});

it('a tenant created again after a purge (the cursor names the deleted domain) reads its new domain from the start', async () => {
  const purged = randomUUID();
  const current = await addDomain('again.pbx.example.net');
  await expect(tenantCdrDomain(fusion, 'again.pbx.example.net', purged)).resolves.toEqual({ domainUuid: current, restarted: true });
});

it('the cursor’s domain renamed in FusionPBX is still the tenant’s, also when a domain was made since under the name the bridge knows', async () => {
  // The bridge never renames a domain (a service's domain is fixed): a remembered domain under another
  // name is domain_edit.php's rename, which keeps the uuid its calls carry; the namesake is someone else's.
  const renamed = await addDomain('renamed-new.pbx.example.net');
  await addDomain('renamed.pbx.example.net');
  const before = byNameLookups();
  await expect(tenantCdrDomain(fusion, 'renamed.pbx.example.net', renamed)).resolves.toEqual({ domainUuid: renamed, restarted: false });
  expect(byNameLookups()).toBe(before);
});

it('a terminated tenant whose domain is gone still reads the remembered one (late CDRs); with nothing remembered there is none', async () => {
  const gone = randomUUID();
  await expect(tenantCdrDomain(fusion, 'gone.pbx.example.net', gone)).resolves.toEqual({ domainUuid: gone, restarted: false, gone: true });
  await expect(tenantCdrDomain(fusion, 'gone.pbx.example.net', null)).resolves.toBeNull();
});

/**
 * Backend CPU of the CDR sync's keyset read of FusionPBX's v_xml_cdr, per CDR: the bench's CDRs
 * (`generator.ts`, N over TENANTS, loaded as `load-cdrs.ts` does, with FusionPBX master's
 * `(domain_uuid)` index as the benchmark creates) read tenant by tenant in pages of PAGE with each
 * variant's statement, the backend's CPU from /proc/<pid>/stat (10 ms ticks), variants interleaved
 * round by round so the machine's load hits all alike. Variants: `baseline` (the bare baseline's
 * 6 columns), `worker` (cdr-reader's read until h127: 9 columns, formatted for every row sorted, and
 * its unqualified `ORDER BY … xml_cdr_uuid` naming the select list's `xml_cdr_uuid::text`, so a text
 * sort, as the baseline's), `uuidsort` (the same, sorted by the uuid itself) and `late` (cdr-reader's
 * read now: the sort and LIMIT by the raw columns in a subquery, the 9 columns formatted for the page's rows only).
 * Every variant must read the same keys in the same order (checked).
 * N=50000, TENANTS=10, ROUNDS=3. Needs `npm run build` and a PostgreSQL at TEST_PG_ADMIN_URL.
 *   node --import tsx bench/cdr/read-cpu.ts
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createTestDatabase, loadFusionpbxSchema } from '@ictvoip/testkit';
import { generateCdrs, generateDeck } from './generator';
import { insertCdrs, type TenantRef } from './load-cdrs';

const N = Number(process.env.N ?? 50_000);
const TENANTS = Number(process.env.TENANTS ?? 10);
const PAGE = Number(process.env.PAGE ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const VARIANTS = (process.env.VARIANTS ?? 'baseline,worker,uuidsort,late').split(',');

const KEYSET = `WHERE domain_uuid = $1 AND start_stamp IS NOT NULL AND (start_stamp, xml_cdr_uuid) > ($2::timestamptz, $3::uuid)`;
const STAMP = `to_char(start_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS start_text`;
const SQL: Record<string, string> = {
  baseline: `SELECT xml_cdr_uuid::text, domain_name, ${STAMP}, direction, destination_number, billsec::text
     FROM v_xml_cdr ${KEYSET} ORDER BY start_stamp, xml_cdr_uuid LIMIT $4`,
  worker: `SELECT xml_cdr_uuid::text, domain_name, direction, leg::text, caller_destination, destination_number, ${STAMP}, billsec::text, hangup_cause
     FROM v_xml_cdr ${KEYSET} ORDER BY start_stamp, xml_cdr_uuid LIMIT $4`,
  uuidsort: `SELECT xml_cdr_uuid::text, domain_name, direction, leg::text, caller_destination, destination_number, ${STAMP}, billsec::text, hangup_cause
     FROM v_xml_cdr ${KEYSET} ORDER BY v_xml_cdr.start_stamp, v_xml_cdr.xml_cdr_uuid LIMIT $4`,
  late: `SELECT xml_cdr_uuid::text, domain_name, direction, leg::text, caller_destination, destination_number, ${STAMP}, billsec::text, hangup_cause
     FROM (SELECT xml_cdr_uuid, domain_name, direction, leg, caller_destination, destination_number, start_stamp, billsec, hangup_cause
             FROM v_xml_cdr ${KEYSET} ORDER BY start_stamp, xml_cdr_uuid LIMIT $4) AS page
     ORDER BY page.start_stamp, page.xml_cdr_uuid`,
};

function backendTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Reads every tenant's CDRs by keyset with `sql`; the rows' keys, to check the variants agree. */
async function readAll(pool: Pool, sql: string, tenants: readonly TenantRef[]): Promise<string[]> {
  const keys: string[] = [];
  for (const tenant of tenants) {
    let after = { stamp: '1970-01-01T00:00:00Z', uuid: '00000000-0000-0000-0000-000000000000' };
    for (;;) {
      const { rows } = await pool.query<{ xml_cdr_uuid: string; start_text: string }>(sql, [tenant.domainUuid, after.stamp, after.uuid, PAGE]);
      for (const row of rows) keys.push(`${row.start_text}/${row.xml_cdr_uuid}`);
      const last = rows[rows.length - 1];
      if (!last) break;
      after = { stamp: last.start_text, uuid: last.xml_cdr_uuid };
      if (rows.length < PAGE) break;
    }
  }
  return keys;
}

async function main(): Promise<void> {
  const db = await createTestDatabase('read_cpu');
  const pool = new Pool({ connectionString: db.url, max: 1 });
  try {
    await loadFusionpbxSchema(db.url);
    const tenants: TenantRef[] = Array.from({ length: TENANTS }, (_, i) => ({ serviceId: i + 1, domainUuid: randomUUID(), domainName: `t${i}.bench.example.com` }));
    const deck = generateDeck(200);
    let loaded = 0;
    for (const batch of generateCdrs({ count: N, tenants: TENANTS, deck, windowEndMs: Date.now() - 60_000, windowMs: 3.5 * 3600_000 })) {
      await insertCdrs(pool, tenants, batch);
      loaded += batch.length;
    }
    await pool.query('CREATE INDEX v_xml_cdr_domain_uuid_fkey ON v_xml_cdr (domain_uuid)');
    await pool.query('VACUUM ANALYZE v_xml_cdr');
    const client = await pool.connect();
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    client.release();
    process.stdout.write(`${loaded} CDRs, ${TENANTS} tenants, pages of ${PAGE}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
    const results: Record<string, number[]> = {};
    let reference: string | null = null;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const variant of VARIANTS) {
        const before = backendTicks(pid);
        const keys = await readAll(pool, SQL[variant]!, tenants);
        (results[variant] ??= []).push(((backendTicks(pid) - before) * 10_000) / keys.length);
        const joined = keys.join('\n');
        if (reference === null) reference = joined;
        else if (joined !== reference) throw new Error(`${variant} read other rows than ${VARIANTS[0]}`);
      }
    }
    for (const v of VARIANTS) process.stdout.write(`${v.padEnd(10)} ${results[v]!.map((x) => x.toFixed(1)).join(' ')} µs backend CPU/CDR\n`);
    process.stdout.write(`load after ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
  } finally {
    await pool.end();
    await db.drop();
  }
}

void main();

/**
 * Backend CPU of the CDR sync's page write, per charge: the bench's CDRs rated as the worker rates
 * them (`generator.ts`, `rateInOrder`), written with `writeChargePage` in pages of PAGE into a scratch
 * bridge database (all migrations), the backend's CPU read from /proc/<pid>/stat. VARIANTS (comma
 * separated) are schema edits applied to the scratch table before their rounds, interleaved round by
 * round so the machine's load hits all alike: `base` (as migrated, `writeChargePage`), `nofk` (no foreign
 * keys, for reference only), `nocheck` (no period CHECK, reference), `noregex` (the period CHECK
 * without its regular expression), `conflict` / `plain` (the insert alone, see STATEMENTS). N=100000, ROUNDS=4.
 * Needs `npm run build` and a PostgreSQL at TEST_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 *   node --import tsx bench/cdr/write-cpu.ts
 */
import { readFileSync } from 'node:fs';
import { Client, Pool, type PoolClient } from 'pg';
import { rateInOrder } from '@ictvoip/operations';
import { chargeInsertParameters, migrateBridgeDatabase, writeChargePage, type NewCharge } from '@ictvoip/store';
import { benchRating, benchSources } from './rating-fixture';

const N = Number(process.env.N ?? 100_000);
const PAGE = Number(process.env.PAGE ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const VARIANTS = (process.env.VARIANTS ?? 'base,noregex').split(',');
const ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Schema edits per variant, applied inside the scratch database's own copy of the table. */
const EDITS: Record<string, string> = {
  base: '',
  nofk: 'ALTER TABLE cdr_charges DROP CONSTRAINT cdr_charges_batch_id_fkey; ALTER TABLE cdr_charges DROP CONSTRAINT cdr_charges_prepaid_invoice_fkey;',
  nocheck: 'ALTER TABLE cdr_charges DROP CONSTRAINT cdr_charges_period_check;',
  noregex: `ALTER TABLE cdr_charges DROP CONSTRAINT cdr_charges_period_check;
    ALTER TABLE cdr_charges ADD CONSTRAINT cdr_charges_period_check CHECK (translate(period, '0123456789', '0000000000') IN ('0000-00', '0000-00-00')
      AND substr(period, 6, 2) COLLATE "C" BETWEEN '01' AND '12' AND (octet_length(period) = 7 OR substr(period, 9, 2) COLLATE "C" BETWEEN '02' AND '31'));`,
};

const INSERT = `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, destination, billsec, billable_seconds,
       included_seconds, amount, currency, status, reason, deck_id, deck_revision, period)
     SELECT * FROM unnest($1::cdr_charge_row[]) AS p`;
/**
 * Statement variants (no cursor upsert): the insert alone with its ON CONFLICT, and without (a reference:
 * it would fail a page holding a charged CDR). A `WHERE NOT EXISTS` anti-join instead of ON CONFLICT was
 * tried and is not here: planned on the empty table, the named statement hash-anti-joined the whole
 * table for every page and did not finish.
 */
const STATEMENTS: Record<string, string> = {
  conflict: `${INSERT} ON CONFLICT (xml_cdr_uuid) DO NOTHING`,
  plain: INSERT,
};

function backendTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function main(): Promise<void> {
  const admin = new Client({ connectionString: ADMIN });
  await admin.connect();
  const dbs = VARIANTS.map((v) => `write_cpu_${process.pid}_${v}`);
  const clients: PoolClient[] = [];
  const pools: Pool[] = [];
  try {
    for (let i = 0; i < VARIANTS.length; i += 1) {
      await admin.query(`CREATE DATABASE ${dbs[i]}`);
      const url = new URL(ADMIN);
      url.pathname = `/${dbs[i]}`;
      const pool = new Pool({ connectionString: url.toString(), max: 1 });
      pools.push(pool);
      await migrateBridgeDatabase(pool);
      const client = await pool.connect();
      if (EDITS[VARIANTS[i]!]) await client.query(EDITS[VARIANTS[i]!]!);
      clients.push(client);
    }
    const all = benchSources(N);
    const serviceRating = benchRating();
    const pages: NewCharge[][] = [];
    for (let i = 0; i < all.length; i += PAGE) pages.push(await rateInOrder(serviceRating, all.slice(i, i + PAGE), async () => 0));
    const mix: Record<string, number> = {};
    for (const page of pages) for (const c of page) mix[c.status] = (mix[c.status] ?? 0) + 1;
    process.stdout.write(`${N} charges in pages of ${PAGE}: ${JSON.stringify(mix)}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
    const results: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let i = 0; i < VARIANTS.length; i += 1) {
        const client = clients[i]!;
        await client.query('TRUNCATE cdr_charges, cdr_sync_cursors');
        await client.query('VACUUM ANALYZE cdr_charges');
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pid = rows[0]!.pid;
        const before = backendTicks(pid);
        const sql = STATEMENTS[VARIANTS[i]!];
        for (const charges of pages) {
          if (sql) {
            await client.query({ name: VARIANTS[i]!, text: sql, values: chargeInsertParameters(charges) });
            continue;
          }
          const last = charges[charges.length - 1]!;
          await writeChargePage(client, {
            charges,
            onlyIfNoneCharged: false,
            cursor: { serviceId: 1, domainUuid: '00000000-0000-4000-8000-000000000001', domainName: 'bench.example.com', startStamp: last.startStamp, xmlCdrUuid: last.xmlCdrUuid },
          });
        }
        const us = ((backendTicks(pid) - before) * 10_000) / N;
        (results[VARIANTS[i]!] ??= []).push(us);
      }
    }
    for (const v of VARIANTS) process.stdout.write(`${v.padEnd(10)} ${results[v]!.map((x) => x.toFixed(1)).join(' ')} µs backend CPU/charge\n`);
    process.stdout.write(`load after ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
  } finally {
    for (const c of clients) c.release();
    for (const p of pools) await p.end();
    for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.end();
  }
}

void main();

/**
 * The billing close's listing alone (servicesToBill, servicesToBillPerService), on a table of the size
 * a busy install has at a month's close: SERVICES services (every other one prepaid) with CALLS
 * unbilled rated calls each (a fifth of them of the month before), a quarter of the prepaid ones with
 * their closing invoice made. Prints each listing's wall time (RUNS runs) and then its EXPLAIN
 * (ANALYZE, BUFFERS). The data is made once per database: pass the same DB to re-measure, or a scratch
 * one (created when missing). Compare commits by running it from each, each on its own database
 * (migrations differ). Needs a PostgreSQL at TEST_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 *   DB=close_listing_a SERVICES=10000 CALLS=50 node --import tsx bench/billing/close-listing.ts
 */
import { Client, Pool } from 'pg';
import { migrateBridgeDatabase, servicesToBill, servicesToBillPerService, type ServicesToBillOptions } from '@ictvoip/store';

const ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env.DB ?? 'ictvoip_close_listing';
const SERVICES = Number(process.env.SERVICES ?? 10_000);
const CALLS = Number(process.env.CALLS ?? 50);
const RUNS = Number(process.env.RUNS ?? 3);
const PERIOD = '2026-11';

async function ensureDatabase(): Promise<string> {
  const admin = new Client({ connectionString: ADMIN });
  await admin.connect();
  try {
    const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]);
    if (rows.length === 0) await admin.query(`CREATE DATABASE ${DB.replace(/[^a-z0-9_]/g, '_')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN);
  url.pathname = `/${DB}`;
  return url.toString();
}

async function fill(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM cdr_charges');
  if (rows[0]!.n > 0) return;
  await pool.query(
    `INSERT INTO services (service_id, client_id, desired_state, plan)
     SELECT g, g, 'active', CASE WHEN g % 2 = 0 THEN '{"billingMode":"prepaid"}'::jsonb ELSE '{}'::jsonb END FROM generate_series(1, $1) g`,
    [SERVICES],
  );
  await pool.query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
     SELECT gen_random_uuid(), s, 't' || s || '.example', now(), 'outbound', 60, 60, ((i * 7919 + s) % 90000 + 100) / 1000000.0, 'USD', 'rated',
            CASE WHEN i % 5 = 0 THEN '2026-10' ELSE $3 END
     FROM generate_series(1, $1) s, generate_series(1, $2) i`,
    [SERVICES, CALLS, PERIOD],
  );
  await pool.query(
    `INSERT INTO prepaid_invoices (invoice_key, service_id, client_id, day, state, total, line_amount, call_count, billed_seconds, currency, description, token, whmcs_invoice_id, closing_period)
     SELECT 'pp-' || g || '-close-' || $2, g, g, '2026-12-01', 'paid', 1, 1, 1, 60, 'USD', 'closing', 'token-' || g, g, $2 FROM generate_series(4, $1, 4) g`,
    [SERVICES, PERIOD],
  );
  for (const table of ['cdr_charges', 'services', 'prepaid_invoices']) await pool.query(`VACUUM ANALYZE ${table}`);
}

/** The plan of the next query `pool` runs (its rows are not returned to the caller). */
function explainNext(pool: Pool, label: string): void {
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<{ rows: Record<string, string>[] }>;
  const patched = pool as unknown as { query: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }> };
  patched.query = async (text, values) => {
    patched.query = query;
    const { rows } = await query(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values);
    console.log(`--- ${label}\n${rows.map((row) => row['QUERY PLAN']).join('\n')}`);
    return { rows: [] };
  };
}

async function main(): Promise<void> {
  const pool = new Pool({ connectionString: await ensureDatabase(), max: 2 });
  try {
    await migrateBridgeDatabase(pool);
    await fill(pool);
    const options: ServicesToBillOptions = { verify: true, finalBillDueBefore: new Date(), prepaidInvoices: true };
    const closing = new Map<number, string>(Array.from({ length: SERVICES }, (_, i) => [i + 1, PERIOD]));
    for (let run = 1; run <= RUNS; run += 1) {
      const t0 = performance.now();
      const calendar = await servicesToBill(pool, PERIOD, options);
      const t1 = performance.now();
      const perService = await servicesToBillPerService(pool, closing, options);
      const t2 = performance.now();
      console.log(`run ${run}: calendar ${calendar.length} listed in ${(t1 - t0).toFixed(0)} ms; per-service ${perService.length} listed in ${(t2 - t1).toFixed(0)} ms`);
    }
    explainNext(pool, 'calendar (servicesToBill)');
    await servicesToBill(pool, PERIOD, options);
    explainNext(pool, 'per-service (servicesToBillPerService)');
    await servicesToBillPerService(pool, closing, options);
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * The bare CDR-sync baseline (child process, so its peak RSS is its own): for every tenant, the
 * same keyset read of v_xml_cdr by (start_stamp, xml_cdr_uuid) and page size as the worker, and
 * an unnest INSERT of each page into a charges-shaped table (one statement, its own transaction), with the
 * same number of tenants in parallel. No rating, no lock, no cursor, no allowance lookups.
 * env: FUSION_URL, TARGET_URL, PAGE_SIZE, LANES, DOMAINS (JSON [[domainUuid, domainName], ...]).
 * Prints {rows, ms, peakRssMiB, cpuMs} (cpuMs: this process's user + system CPU over the timed copy).
 */
import { Pool } from 'pg';
import { elapsedMs } from '../lib/stats';

interface Row {
  xml_cdr_uuid: string;
  domain_name: string | null;
  start_text: string;
  direction: string | null;
  destination_number: string | null;
  billsec: string | null;
}

const fusion = new Pool({ connectionString: process.env.FUSION_URL, max: 10 });
const target = new Pool({ connectionString: process.env.TARGET_URL, max: 10 });
const pageSize = Number(process.env.PAGE_SIZE ?? 500);
const lanes = Number(process.env.LANES ?? 8);
const domains = JSON.parse(process.env.DOMAINS ?? '[]') as [string, string][];

async function syncDomain(domainUuid: string): Promise<number> {
  let after = { stamp: '1970-01-01T00:00:00Z', uuid: '00000000-0000-0000-0000-000000000000' };
  let total = 0;
  for (;;) {
    const { rows } = await fusion.query<Row>(
      `SELECT xml_cdr_uuid::text, domain_name, to_char(start_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS start_text,
              direction, destination_number, billsec::text
         FROM v_xml_cdr WHERE domain_uuid = $1 AND start_stamp IS NOT NULL AND (start_stamp, xml_cdr_uuid) > ($2::timestamptz, $3::uuid)
        ORDER BY start_stamp, xml_cdr_uuid LIMIT $4`,
      [domainUuid, after.stamp, after.uuid, pageSize],
    );
    if (rows.length === 0) break;
    // One statement is its own transaction: no BEGIN/COMMIT round trips (the worker's page write is one statement too).
    await target.query(
      `INSERT INTO baseline_charges (xml_cdr_uuid, domain_name, start_stamp, direction, destination, billsec)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int[]) ON CONFLICT (xml_cdr_uuid) DO NOTHING`,
      [
        rows.map((r) => r.xml_cdr_uuid),
        rows.map((r) => r.domain_name),
        rows.map((r) => r.start_text),
        rows.map((r) => r.direction),
        rows.map((r) => r.destination_number),
        rows.map((r) => Math.trunc(Number(r.billsec ?? 0))),
      ],
    );
    total += rows.length;
    const last = rows[rows.length - 1];
    after = { stamp: last.start_text, uuid: last.xml_cdr_uuid };
    if (rows.length < pageSize) break;
  }
  return total;
}

async function main(): Promise<void> {
  await target.query(`CREATE TABLE IF NOT EXISTS baseline_charges (xml_cdr_uuid uuid PRIMARY KEY, domain_name text, start_stamp timestamptz,
    direction text, destination text, billsec int)`);
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let next = 0;
  let rows = 0;
  const lane = async () => {
    while (next < domains.length) {
      const [uuid] = domains[next];
      next += 1;
      // Not `rows += await …`: that reads `rows` before the await and loses the other lanes' counts.
      const copied = await syncDomain(uuid);
      rows += copied;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const ms = elapsedMs(start);
  const used = process.cpuUsage(cpu);
  await Promise.all([fusion.end(), target.end()]);
  process.stdout.write(`${JSON.stringify({ rows, ms, peakRssMiB: process.resourceUsage().maxRSS / 1024, cpuMs: (used.user + used.system) / 1000 })}\n`);
}

void main();

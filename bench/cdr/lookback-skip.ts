/**
 * The look-back read's skip list (issue #20, h133): one tenant with CHARGED CDRs charged already
 * inside the window and LATE uncharged ones interleaved with the first part of them (spread over
 * the first LATE_SPAN of the charged), read by keyset in pages of PAGE as the CDR sync reads a
 * window with a cursor, two ways:
 *   `all`:   every read sends every charged uuid still ahead (LookBackSkip.after before h133);
 *   `slice`: the first read sends all of them, later ones the slice up to a bound key (twice what
 *            the page before covered, at least PAGE) and stop there; a short bounded read goes on
 *            from its bound with the rest (LookBackSkip.window after h133).
 * The loops are written out here (the worker's class is private), with cdr-reader's statements.
 * Reported per variant: reads, uuids sent, backend CPU (/proc/<pid>/stat, 10 ms ticks), this
 * process's CPU (building the lists, pg encoding them, parsing the rows) and wall time; both must
 * read the same late CDRs (checked). INDEX=keyset adds (domain_uuid, start_stamp, xml_cdr_uuid);
 * the default is FusionPBX master's (domain_uuid) only.
 * CHARGED=20000 LATE=10000 LATE_SPAN=0.5 PAGE=500 ROUNDS=3. Needs `npm run build` and a PostgreSQL at TEST_PG_ADMIN_URL.
 *   node --import tsx bench/cdr/lookback-skip.ts
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createTestDatabase, loadFusionpbxSchema } from '@ictvoip/testkit';
import { NIL_UUID, readCdrsAfter, type CdrPosition } from '@ictvoip/operations';

const CHARGED = Number(process.env.CHARGED ?? 20_000);
const LATE = Number(process.env.LATE ?? 10_000);
const LATE_SPAN = Number(process.env.LATE_SPAN ?? 0.5);
const PAGE = Number(process.env.PAGE ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const INDEX = process.env.INDEX ?? 'domain';
const WINDOW_S = 4 * 3600;

function backendTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const atOrBefore = (a: CdrPosition, b: CdrPosition) => a.startStamp < b.startStamp || (a.startStamp === b.startStamp && a.xmlCdrUuid <= b.xmlCdrUuid);

interface Skip {
  window(position: CdrPosition): { ids: string[]; upTo: CdrPosition | null };
  fullPage(to: CdrPosition): void;
  shortRead(): void;
}

/** Before h133: every charged uuid whose stamp is not before the last page's (a new array each read). */
function allAhead(charged: readonly CdrPosition[]): Skip {
  let next = 0;
  return {
    window(position) {
      if (position.xmlCdrUuid !== NIL_UUID) while (next < charged.length && charged[next]!.startStamp < position.startStamp) next += 1;
      const ids: string[] = [];
      for (let index = next; index < charged.length; index += 1) ids.push(charged[index]!.xmlCdrUuid);
      return { ids, upTo: null };
    },
    fullPage() {},
    shortRead() {},
  };
}

/** After h133 (LookBackSkip in sync-tenant.ts). */
function slices(charged: readonly CdrPosition[]): Skip {
  const ids = charged.map((position) => position.xmlCdrUuid);
  let next = 0;
  let span = Number.POSITIVE_INFINITY;
  const passTo = (position: CdrPosition) => {
    while (next < charged.length && atOrBefore(charged[next]!, position)) next += 1;
  };
  return {
    window(position) {
      passTo(position);
      const end = next + span;
      if (end >= charged.length) return { ids: ids.slice(next), upTo: null };
      return { ids: ids.slice(next, end), upTo: charged[end - 1]! };
    },
    fullPage(to) {
      const before = next;
      passTo(to);
      span = Math.max(PAGE, 2 * (next - before));
    },
    shortRead() {
      span = Number.POSITIVE_INFINITY;
    },
  };
}

async function readWindow(pool: Pool, domainUuid: string, from: CdrPosition, skip: Skip): Promise<{ keys: string[]; reads: number; sent: number }> {
  let position = from;
  const keys: string[] = [];
  let reads = 0;
  let sent = 0;
  for (;;) {
    const { ids, upTo } = skip.window(position);
    reads += 1;
    sent += ids.length;
    const rows = await readCdrsAfter(pool, domainUuid, 'bench.example.com', position, PAGE, ids, upTo);
    for (const row of rows) keys.push(`${row.startStampText}/${row.cdr.xmlCdrUuid}`);
    const last = rows[rows.length - 1];
    if (last) position = { startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid };
    if (rows.length < PAGE) {
      if (!upTo) break;
      position = upTo;
      skip.shortRead();
    } else skip.fullPage(position);
  }
  return { keys, reads, sent };
}

async function insertAt(pool: Pool, domainUuid: string, seconds: readonly number[], base: number): Promise<void> {
  await pool.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
     SELECT gen_random_uuid(), $1, 'bench.example.com', 'outbound', 'a', '12125550100', '12125550100', to_timestamp($2::float8 + s), 60, 'NORMAL_CLEARING'
     FROM unnest($3::float8[]) AS s`,
    [domainUuid, base, seconds],
  );
}

async function main(): Promise<void> {
  const db = await createTestDatabase('lookback_skip');
  const pool = new Pool({ connectionString: db.url, max: 1 });
  try {
    await loadFusionpbxSchema(db.url);
    const domainUuid = randomUUID();
    const base = Math.floor(Date.now() / 1000) - WINDOW_S;
    const step = (WINDOW_S - 60) / CHARGED;
    await insertAt(
      pool,
      domainUuid,
      Array.from({ length: CHARGED }, (_, i) => 30 + i * step + 0.000123),
      base,
    );
    const { rows } = await pool.query<{ s: string; u: string }>(
      `SELECT to_char(start_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS s, xml_cdr_uuid::text AS u FROM v_xml_cdr ORDER BY start_stamp, xml_cdr_uuid`,
    );
    const charged = rows.map((row) => ({ startStamp: row.s, xmlCdrUuid: row.u }));
    const lateStep = (CHARGED * LATE_SPAN * step) / Math.max(1, LATE);
    await insertAt(
      pool,
      domainUuid,
      Array.from({ length: LATE }, (_, i) => 30 + i * lateStep + 0.000456),
      base,
    );
    await pool.query('CREATE INDEX ON v_xml_cdr (domain_uuid)');
    if (INDEX === 'keyset') await pool.query('CREATE INDEX ON v_xml_cdr (domain_uuid, start_stamp, xml_cdr_uuid)');
    await pool.query('VACUUM ANALYZE v_xml_cdr');
    const client = await pool.connect();
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    client.release();
    const from = { startStamp: new Date(base * 1000).toISOString(), xmlCdrUuid: NIL_UUID };
    process.stdout.write(
      `${CHARGED} charged + ${LATE} late CDRs (in the first ${LATE_SPAN} of the charged), pages of ${PAGE}, index ${INDEX}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`,
    );
    const variants: Record<string, (charged: readonly CdrPosition[]) => Skip> = { all: allAhead, slice: slices };
    let reference: string | null = null;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, make] of Object.entries(variants)) {
        const ticks = backendTicks(pid);
        const cpu = process.cpuUsage();
        const started = process.hrtime.bigint();
        const result = await readWindow(pool, domainUuid, from, make(charged));
        const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
        const own = process.cpuUsage(cpu);
        const backendMs = (backendTicks(pid) - ticks) * 10;
        const joined = result.keys.join('\n');
        if (result.keys.length !== LATE) throw new Error(`${name} read ${result.keys.length} CDRs, expected ${LATE}`);
        if (reference === null) reference = joined;
        else if (joined !== reference) throw new Error(`${name} read other CDRs`);
        process.stdout.write(
          `${name.padEnd(6)} reads ${String(result.reads).padStart(3)}  uuids sent ${String(result.sent).padStart(8)}  backend ${String(backendMs).padStart(5)} ms  this process ${((own.user + own.system) / 1000).toFixed(0).padStart(5)} ms  wall ${wallMs.toFixed(0).padStart(5)} ms\n`,
        );
      }
    }
    process.stdout.write(`load after ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
  } finally {
    await pool.end();
    await db.drop();
  }
}

void main();

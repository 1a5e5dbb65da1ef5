import type { Pool } from 'pg';
import type { RatingCdr } from '@ictvoip/rating';
import { cdrDayDigests, cdrDayDigestSql, type CdrDayDigest } from '@ictvoip/store';

/** Keyset position in v_xml_cdr: exact start_stamp text (microseconds kept, never a JS Date) + uuid. */
export interface CdrPosition {
  startStamp: string;
  xmlCdrUuid: string;
}

/** A v_xml_cdr row with what rating needs; `startStampText` is the exact key, `cdr.startStamp` a Date for rating. */
export interface SourceCdr {
  startStampText: string;
  cdr: RatingCdr;
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

interface CdrRow {
  xml_cdr_uuid: string;
  domain_name: string | null;
  direction: string | null;
  leg: string | null;
  caller_destination: string | null;
  destination_number: string | null;
  start_text: string;
  billsec: string | null;
  hangup_cause: string | null;
}

const COLUMNS = `xml_cdr_uuid::text, domain_name, direction, leg::text, caller_destination, destination_number,
  to_char(start_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS start_text, billsec::text, hangup_cause`;

/** The same columns unformatted: what a page's subquery sorts and cuts before COLUMNS formats them. */
const RAW_COLUMNS = 'xml_cdr_uuid, domain_name, direction, leg, caller_destination, destination_number, start_stamp, billsec, hangup_cause';

/**
 * A keyset page: the sort and LIMIT over the raw columns, the text formatting (to_char, the casts)
 * only for the page's rows. Without an index on (domain_uuid, start_stamp, xml_cdr_uuid) each page
 * sorts all the tenant's rows after the position, and PostgreSQL evaluates the select list below the
 * sort, for every one of them: about 3 µs of backend CPU per CDR at 5,000 CDRs per tenant
 * (bench/cdr/read-cpu.ts). Both sorts are by the uuid itself, as the keyset's WHERE compares it: the
 * outer ORDER BY names the subquery's columns (qualified), since an unqualified `xml_cdr_uuid` is
 * the select list's `xml_cdr_uuid::text`, a text sort (the database's collation) as the read had
 * before. For canonical uuids the two orders agree; sorting the uuid is cheaper and cannot disagree.
 */
function pageSql(where: string, limit: string): string {
  return `SELECT ${COLUMNS} FROM (SELECT ${RAW_COLUMNS} FROM v_xml_cdr
     ${where}
     ORDER BY start_stamp, xml_cdr_uuid LIMIT ${limit}) AS v_xml_cdr
     ORDER BY v_xml_cdr.start_stamp, v_xml_cdr.xml_cdr_uuid`;
}

/** pg gives numeric as text; only a plain whole number is a billsec (anything else makes the CDR INVALID_CDR, i.e. unrated). */
function wholeSeconds(text: string | null): number {
  if (text === null) return 0;
  // The usual text, plain digits: read without a regular expression (no match array per CDR). 15 digits are exact in a number.
  if (isPlainDigits(text)) return Number(text);
  const match = /^(\d+)(?:\.0+)?$/.exec(text.trim());
  return match ? Number.parseInt(match[1] as string, 10) : Number.NaN;
}

function isPlainDigits(text: string): boolean {
  if (text.length === 0 || text.length > 15) return false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

function toSource(row: CdrRow, domainName: string): SourceCdr {
  return {
    startStampText: row.start_text,
    cdr: {
      xmlCdrUuid: row.xml_cdr_uuid,
      direction: row.direction ?? '',
      // Rows imported without a leg come from installs that do not log b-legs (the default): a-legs.
      leg: (row.leg ?? 'a').trim() || 'a',
      callerDestination: row.caller_destination,
      destinationNumber: row.destination_number,
      startStamp: new Date(row.start_text),
      billsec: wholeSeconds(row.billsec),
      hangupCause: row.hangup_cause,
      domainName: row.domain_name ?? domainName,
    },
  };
}

/**
 * The tenant's CDRs strictly after `after` in (start_stamp, xml_cdr_uuid) order, all legs. The
 * tuple comparison is what makes paging lossless when many CDRs share one start_stamp. The uuids in
 * `skip` are left out (and the LIMIT counts only the rows sent). With `upTo`, only CDRs at or
 * before that key are read: the caller's `skip` then needs to list only the charged CDRs up to it
 * (a look-back sends each page the slice of the charged list its range covers, not all of it).
 */
export async function readCdrsAfter(
  fusion: Pool,
  domainUuid: string,
  domainName: string,
  after: CdrPosition,
  limit: number,
  skip: readonly string[] = [],
  upTo: CdrPosition | null = null,
): Promise<SourceCdr[]> {
  const keyset = [domainUuid, after.startStamp, after.xmlCdrUuid, limit];
  const { rows } = await (upTo
    ? fusion.query<CdrRow>(READ_BETWEEN_SKIPPING_SQL, [...keyset, skip, upTo.startStamp, upTo.xmlCdrUuid])
    : fusion.query<CdrRow>(skip.length === 0 ? READ_AFTER_SQL : READ_AFTER_SKIPPING_SQL, skip.length === 0 ? keyset : [...keyset, skip]));
  return rows.map((row) => toSource(row, domainName));
}

const KEYSET_AFTER = 'domain_uuid = $1 AND start_stamp IS NOT NULL AND (start_stamp, xml_cdr_uuid) > ($2::timestamptz, $3::uuid)';
const NOT_CHARGED = 'NOT EXISTS (SELECT 1 FROM unnest($5::uuid[]) AS charged(id) WHERE charged.id = v_xml_cdr.xml_cdr_uuid)';

const READ_AFTER_SQL = pageSql(`WHERE ${KEYSET_AFTER}`, '$4');

/**
 * The same, without the uuids in $5 (CDRs the bridge charged already): a look-back re-read then
 * sends only the late rows. An anti-join on the unnested list (a hash, whatever PostgreSQL's
 * version) rather than `<> ALL`, which older versions compare element by element.
 */
const READ_AFTER_SKIPPING_SQL = pageSql(`WHERE ${KEYSET_AFTER}\n       AND ${NOT_CHARGED}`, '$4');

/** The same, only up to the key ($6, $7) inclusive: $5 then lists the charged uuids up to that key. */
const READ_BETWEEN_SKIPPING_SQL = pageSql(`WHERE ${KEYSET_AFTER} AND (start_stamp, xml_cdr_uuid) <= ($6::timestamptz, $7::uuid)\n       AND ${NOT_CHARGED}`, '$4');

/**
 * The tenant's CDRs that started before `before` (at or after `since`) and ended at or after it: calls
 * longer than the look-back window. FreeSWITCH writes a CDR at hangup and FusionPBX stores it keyed
 * by the call's start, so such a call's row appears after the keyset read has moved past its start.
 * Only calls in progress across `before` match (as many as the tenant had at once), so there is no
 * LIMIT: the ones charged already come back too until the window passes their end.
 */
export async function readLongCallsBefore(fusion: Pool, domainUuid: string, domainName: string, before: string, since: string): Promise<SourceCdr[]> {
  const { rows } = await fusion.query<CdrRow>(READ_LONG_CALLS_SQL, [domainUuid, before, since]);
  return rows.map((row) => toSource(row, domainName));
}

const READ_LONG_CALLS_SQL = `SELECT ${COLUMNS} FROM v_xml_cdr
     WHERE domain_uuid = $1 AND start_stamp >= $3::timestamptz AND start_stamp < $2::timestamptz AND end_stamp >= $2::timestamptz
     ORDER BY start_stamp, xml_cdr_uuid`;

/** Which of a tenant's CDRs `readLateImports` reads: stored since `insertedSince`, started in [`since`, `before`). */
export interface LateImportWindow {
  insertedSince: string;
  since: string;
  before: string;
}

/**
 * The tenant's CDRs FusionPBX stored since `window.insertedSince` whose call started before the
 * look-back window (`window.before`), strictly after `after` in keyset order: files its importer
 * took in late (a backlog, an outage, files an operator moved back from `xml_cdr/failed/`, where
 * a failed insert leaves them and nothing retries them). FusionPBX's database class sets
 * `insert_date = now()` on every insert (5.1 and 5.3), so that is when the row appeared. Only
 * with an index on `insert_date` (see hasInsertDateIndex): without one this is a scan of the
 * tenant's history.
 */
export async function readLateImports(fusion: Pool, domainUuid: string, domainName: string, window: LateImportWindow, after: CdrPosition, limit: number): Promise<SourceCdr[]> {
  const { rows } = await fusion.query<CdrRow>(READ_LATE_SQL, [domainUuid, window.insertedSince, window.since, window.before, after.startStamp, after.xmlCdrUuid, limit]);
  return rows.map((row) => toSource(row, domainName));
}

const READ_LATE_SQL = pageSql(
  `WHERE domain_uuid = $1 AND insert_date >= $2::timestamptz AND start_stamp >= $3::timestamptz AND start_stamp < $4::timestamptz
       AND (start_stamp, xml_cdr_uuid) > ($5::timestamptz, $6::uuid)`,
  '$7',
);

/**
 * Whether `v_xml_cdr` has a valid index that finds a tenant's rows by `insert_date`: on
 * `(insert_date …)` or `(domain_uuid, insert_date …)`. FusionPBX 5.1 and 5.3 create neither.
 */
export async function hasInsertDateIndex(fusion: Pool): Promise<boolean> {
  const { rows } = await fusion.query<{ found: boolean }>(INSERT_DATE_INDEX_SQL);
  return rows[0]?.found === true;
}

const INSERT_DATE_INDEX_SQL = `SELECT EXISTS (
  SELECT 1 FROM pg_index i
    JOIN pg_attribute a0 ON a0.attrelid = i.indrelid AND a0.attnum = i.indkey[0]
    LEFT JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[1]
  WHERE i.indrelid = to_regclass('v_xml_cdr') AND i.indisvalid AND i.indpred IS NULL
    AND (a0.attname = 'insert_date' OR (a0.attname = 'domain_uuid' AND a1.attname = 'insert_date'))
) AS found`;

/** Specific CDRs (re-rating). Missing uuids (purged from FusionPBX) are simply absent. */
export async function readCdrsByUuid(fusion: Pool, uuids: readonly string[], domainName: string): Promise<Map<string, SourceCdr>> {
  if (uuids.length === 0) return new Map();
  const { rows } = await fusion.query<CdrRow>(`SELECT ${COLUMNS} FROM v_xml_cdr WHERE xml_cdr_uuid = ANY($1::uuid[])`, [uuids]);
  return new Map(rows.map((row) => [row.xml_cdr_uuid, toSource(row, domainName)]));
}

export async function findDomainUuid(fusion: Pool, domainName: string): Promise<string | null> {
  const { rows } = await fusion.query<{ domain_uuid: string }>('SELECT domain_uuid::text FROM v_domains WHERE domain_name = $1 LIMIT 1', [domainName]);
  return rows[0]?.domain_uuid ?? null;
}

async function domainExists(fusion: Pool, domainUuid: string): Promise<boolean> {
  const { rows } = await fusion.query('SELECT 1 FROM v_domains WHERE domain_uuid = $1', [domainUuid]);
  return rows.length > 0;
}

/** Whether FusionPBX's v_xml_cdr holds this CDR (a look-up by its primary key). */
export async function cdrExists(fusion: Pool, xmlCdrUuid: string): Promise<boolean> {
  const { rows } = await fusion.query('SELECT 1 FROM v_xml_cdr WHERE xml_cdr_uuid = $1', [xmlCdrUuid]);
  return rows.length > 0;
}

/** The domain whose CDRs a tenant's sync reads; `restarted` when its cursor named another one. */
export interface TenantCdrDomain {
  domainUuid: string;
  /** the cursor names a domain that is not the tenant's current one: nothing it says applies to this one */
  restarted: boolean;
  /** the remembered domain, found neither by its uuid nor by the tenant's name: its calls are read by the uuid they carry */
  gone?: true;
}

/**
 * The domain the cursor remembers while it exists, whatever its name, else the tenant's current
 * domain by name, else the remembered one (a terminated tenant's domain may be gone while its late
 * CDRs are still billed). A remembered domain still there is the tenant's own even under another
 * name: the bridge never renames domains, so that is domain_edit.php's rename (its calls keep the
 * uuid FreeSWITCH stamps on them), and a domain since made under the old name is someone else's,
 * whose calls are not this tenant's to bill. A current domain other than a remembered one that is
 * gone is the service created again after a purge whose cursor survived (a crash between the
 * FusionPBX purge and the cursor delete): the old domain's CDRs were all synced before the purge,
 * the new one's never. A cursor naming the nil uuid remembers no domain: a sync run found none
 * (recordCdrSyncRun), so it read nothing and its position is where a run without a cursor starts.
 */
export async function tenantCdrDomain(fusion: Pool, domainName: string, cursorDomain: string | null): Promise<TenantCdrDomain | null> {
  const remembered = cursorDomain === NIL_UUID ? null : cursorDomain;
  // v_domains has no index on domain_name in FusionPBX's schema: a lookup by name is a scan of every
  // domain, every sync of every tenant. The remembered domain answers by key.
  if (remembered && (await domainExists(fusion, remembered))) return { domainUuid: remembered, restarted: false };
  const current = await findDomainUuid(fusion, domainName);
  if (!current) return remembered ? { domainUuid: remembered, restarted: false, gone: true } : null;
  return { domainUuid: current, restarted: remembered !== null && remembered !== current };
}

/**
 * The keys only (start_stamp text, uuid) of the tenant's CDRs strictly after `after`, in keyset
 * order: what a count of a range's CDRs by charged or not needs, without the columns rating reads.
 */
export async function readCdrKeysAfter(fusion: Pool, domainUuid: string, after: CdrPosition, limit: number): Promise<CdrPosition[]> {
  const { rows } = await fusion.query<{ stamp: string; id: string }>(READ_KEYS_AFTER_SQL, [domainUuid, after.startStamp, after.xmlCdrUuid, limit]);
  return rows.map((row) => ({ startStamp: row.stamp, xmlCdrUuid: row.id }));
}

const READ_KEYS_AFTER_SQL = `SELECT to_char(start_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS stamp, xml_cdr_uuid::text AS id
     FROM (SELECT start_stamp, xml_cdr_uuid FROM v_xml_cdr WHERE ${KEYSET_AFTER} ORDER BY start_stamp, xml_cdr_uuid LIMIT $4) AS v_xml_cdr
     ORDER BY v_xml_cdr.start_stamp, v_xml_cdr.xml_cdr_uuid`;

/** CDRs after a position (the backlog of a tenant), counted in FusionPBX's database. */
export async function countCdrsAfter(fusion: Pool, domainUuid: string, after: CdrPosition): Promise<number> {
  const { rows } = await fusion.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM v_xml_cdr WHERE domain_uuid = $1 AND start_stamp IS NOT NULL AND (start_stamp, xml_cdr_uuid) > ($2::timestamptz, $3::uuid)`,
    [domainUuid, after.startStamp, after.xmlCdrUuid],
  );
  return Number.parseInt(rows[0]?.n ?? '0', 10);
}

/**
 * A tenant's CDRs per UTC day (`YYYY-MM-DD`) of the calls that started in [from, to): the rows the
 * sync charges (every leg, a start stamp), counted and their uuids' hashes summed as the bridge sums
 * its charges' (cdrDayDigestSql). One grouped statement over the range, which the (domain_uuid,
 * start_stamp) index the README recommends reads as a range.
 */
export async function cdrDigestsByDay(fusion: Pool, domainUuid: string, from: Date, to: Date): Promise<Map<string, CdrDayDigest>> {
  const { rows } = await fusion.query<{ day: string; n: string; uuid_sum: string }>(
    `SELECT ${cdrDayDigestSql('start_stamp', 'xml_cdr_uuid')} FROM v_xml_cdr
     WHERE domain_uuid = $1 AND start_stamp >= $2 AND start_stamp < $3 GROUP BY 1`,
    [domainUuid, from, to],
  );
  return cdrDayDigests(rows);
}

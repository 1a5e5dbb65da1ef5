import type { Pool } from 'pg';

/**
 * Tenant CDRs from v_xml_cdr, newest first, with keyset pagination on (start_stamp, xml_cdr_uuid):
 * stable when many calls share a timestamp, and new calls (newer) never shift later pages. Like
 * xml_cdr.php, only rows with the tenant's domain_uuid are visible and the a-leg is the default.
 * Rows without start_stamp are not listed (they cannot be placed in time).
 */

export interface CdrFilter {
  domainUuid: string;
  from?: Date;
  to?: Date;
  direction?: 'inbound' | 'outbound' | 'local';
  /** Extension number of the tenant (matched through v_xml_cdr.extension_uuid). */
  extension?: string;
  destination?: string;
  /** Digits (and `+*#`) found anywhere in the caller or the dialled number: the customer's "search by number". */
  number?: string;
  hangupCause?: string;
  answeredOnly?: boolean;
  leg?: 'a' | 'b' | 'all';
}

/** Position after the last row returned (exact start_stamp text from PostgreSQL, not a JS Date). */
export interface CdrKey {
  startStamp: string;
  uuid: string;
}

export interface CdrRecord {
  uuid: string;
  direction: string | null;
  leg: string | null;
  callerIdName: string | null;
  callerIdNumber: string | null;
  destinationNumber: string | null;
  extension: string | null;
  startStamp: string;
  answerStamp: string | null;
  endStamp: string | null;
  duration: number | null;
  billsec: number | null;
  hangupCause: string | null;
  sipHangupDisposition: string | null;
  accountcode: string | null;
}

interface CdrRow {
  xml_cdr_uuid: string;
  direction: string | null;
  leg: string | null;
  caller_id_name: string | null;
  caller_id_number: string | null;
  destination_number: string | null;
  extension: string | null;
  start_key: string;
  start_iso: string;
  answer_iso: string | null;
  end_iso: string | null;
  duration: string | null;
  billsec: string | null;
  hangup_cause: string | null;
  sip_hangup_disposition: string | null;
  accountcode: string | null;
}

/**
 * The row's leg as the CDR sync reads it: FusionPBX imports that set none leave it NULL (or blank),
 * and those are the a-legs of installs that log no b-legs, rated and billed as such. Filters and
 * the `leg` field use this, so a billed call is listed under `a` like every other a-leg.
 */
const LEG = "coalesce(nullif(c.leg, ''), 'a')";

const ISO = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

function whereClause(filter: CdrFilter, after: CdrKey | null): { sql: string; params: unknown[] } {
  const params: unknown[] = [filter.domainUuid];
  const conditions = ['c.domain_uuid = $1', 'c.start_stamp is not null'];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  const leg = filter.leg ?? 'a';
  if (leg !== 'all') add((p) => `${LEG} = ${p}`, leg);
  if (filter.from) add((p) => `c.start_stamp >= ${p}::timestamptz`, filter.from.toISOString());
  if (filter.to) add((p) => `c.start_stamp < ${p}::timestamptz`, filter.to.toISOString());
  if (filter.direction) add((p) => `c.direction = ${p}`, filter.direction);
  if (filter.destination) add((p) => `c.destination_number = ${p}`, filter.destination);
  if (filter.number) add((p) => `(strpos(c.caller_id_number, ${p}) > 0 or strpos(c.destination_number, ${p}) > 0)`, filter.number);
  if (filter.hangupCause) add((p) => `c.hangup_cause = ${p}`, filter.hangupCause);
  if (filter.answeredOnly) conditions.push('c.billsec > 0');
  if (filter.extension) add((p) => `c.extension_uuid in (select extension_uuid from v_extensions where domain_uuid = $1 and extension = ${p})`, filter.extension);
  if (after) {
    params.push(after.startStamp, after.uuid);
    conditions.push(`(c.start_stamp, c.xml_cdr_uuid) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  return { sql: conditions.join(' and '), params };
}

function toNumber(value: string | null): number | null {
  return value === null ? null : Number(value);
}

function toRecord(row: CdrRow): CdrRecord {
  return {
    uuid: row.xml_cdr_uuid,
    direction: row.direction,
    leg: row.leg,
    callerIdName: row.caller_id_name,
    callerIdNumber: row.caller_id_number,
    destinationNumber: row.destination_number,
    extension: row.extension,
    startStamp: row.start_iso,
    answerStamp: row.answer_iso,
    endStamp: row.end_iso,
    duration: toNumber(row.duration),
    billsec: toNumber(row.billsec),
    hangupCause: row.hangup_cause,
    sipHangupDisposition: row.sip_hangup_disposition,
    accountcode: row.accountcode,
  };
}

/**
 * One page of at most `limit` CDRs after `after`; `next` is null on the last page. The inner query
 * sorts bare rows; text formatting happens only for the page (FusionPBX ships no index on v_xml_cdr,
 * so each page is a scan: an index on (domain_uuid, start_stamp, xml_cdr_uuid) makes it a range read).
 */
export async function readCdrPage(pool: Pool, filter: CdrFilter, after: CdrKey | null, limit: number): Promise<{ records: CdrRecord[]; next: CdrKey | null }> {
  const { sql, params } = whereClause(filter, after);
  params.push(limit + 1);
  const { rows } = await pool.query<CdrRow>(
    `select c.xml_cdr_uuid::text, c.direction, ${LEG}::text as leg, c.caller_id_name, c.caller_id_number, c.destination_number,
            e.extension, c.start_stamp::text as start_key, ${ISO('c.start_stamp')} as start_iso,
            ${ISO('c.answer_stamp')} as answer_iso, ${ISO('c.end_stamp')} as end_iso,
            c.duration::text, c.billsec::text, c.hangup_cause, c.sip_hangup_disposition, c.accountcode
       from (select * from v_xml_cdr c where ${sql} order by c.start_stamp desc, c.xml_cdr_uuid desc limit $${params.length}) c
       left join v_extensions e on e.extension_uuid = c.extension_uuid and e.domain_uuid = c.domain_uuid
      order by c.start_stamp desc, c.xml_cdr_uuid desc`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next = rows.length > limit && last ? { startStamp: last.start_key, uuid: last.xml_cdr_uuid } : null;
  return { records: page.map(toRecord), next };
}

/** Every matching CDR in pages of `batchSize`: memory stays bounded by one batch whatever the total. */
export async function* iterateCdrs(pool: Pool, filter: CdrFilter, batchSize = 1000): AsyncGenerator<CdrRecord[]> {
  let after: CdrKey | null = null;
  for (;;) {
    const { records, next } = await readCdrPage(pool, filter, after, batchSize);
    if (records.length > 0) yield records;
    if (!next) return;
    after = next;
  }
}

import type { Pool, PoolClient } from 'pg';
import { purgedServiceSql, terminatedAtSql } from './services-repository';

export type ChargeStatus = 'rated' | 'unrated' | 'not_billable';

/** One rated (or deliberately not rated) CDR. Amounts are decimal strings, never JS numbers. */
export interface NewCharge {
  xmlCdrUuid: string;
  serviceId: number;
  domainName: string;
  /** exact PostgreSQL text of v_xml_cdr.start_stamp (microseconds kept) */
  startStamp: string;
  direction: string;
  /** E.164 when the number could be normalised, else the dialled text */
  destination: string | null;
  billsec: number;
  billableSeconds: number;
  includedSeconds: number;
  /** decimal string with 6 places; only for `rated` (the table refuses an amount on anything else) */
  amount: string | null;
  currency: string | null;
  status: ChargeStatus;
  reason: string | null;
  deckId: number | null;
  deckRevision: number | null;
  period: string;
}

export interface StoredCharge extends NewCharge {
  batchId: string | null;
  /** the prepaid invoice (credit control) the charge is billed on; never set together with batchId */
  prepaidInvoice: string | null;
  ratedAt: Date;
}

/** Keyset position of a tenant's CDR sync. */
export interface CdrSyncCursor {
  serviceId: number;
  domainUuid: string;
  domainName: string;
  /** exact text of the last start_stamp read forward */
  lastStartStamp: string;
  lastXmlCdrUuid: string;
  chargesTotal: number;
  lastRunAt: Date;
  lastRunInserted: number;
}

const STAMP_TEXT = `to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** SQL expression giving a timestamptz column as exact UTC text (microseconds kept). */
export function exactStampSql(column: string): string {
  return STAMP_TEXT.replace('%s', column);
}

/** The uuids among `uuids` that already have a charge (any status). */
export async function existingChargeIds(db: Pool | PoolClient, uuids: readonly string[]): Promise<Set<string>> {
  if (uuids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>('SELECT xml_cdr_uuid::text AS id FROM cdr_charges WHERE xml_cdr_uuid = ANY($1::uuid[])', [uuids]);
  return new Set(rows.map((row) => row.id));
}

/** A charged CDR's keyset position (exact start_stamp text, uuid). */
export interface ChargedPosition {
  startStamp: string;
  xmlCdrUuid: string;
}

/**
 * The service's charged CDRs from `fromStamp` on, in keyset order (start_stamp, uuid): what a look-back
 * re-read may skip. Only the given periods are searched (the (service_id, period, start_stamp) index):
 * a charge under another label is merely not skipped, and its re-insert does nothing.
 */
export async function chargedPositionsSince(db: Pool | PoolClient, serviceId: number, periods: readonly string[], fromStamp: string): Promise<ChargedPosition[]> {
  if (periods.length === 0) return [];
  const { rows } = await db.query<{ stamp: string; id: string }>(
    `SELECT ${exactStampSql('start_stamp')} AS stamp, xml_cdr_uuid::text AS id FROM cdr_charges
     WHERE service_id = $1 AND period = ANY($2::text[]) AND start_stamp >= $3::timestamptz ORDER BY start_stamp, xml_cdr_uuid`,
    [serviceId, periods, fromStamp],
  );
  return rows.map((row) => ({ startStamp: row.stamp, xmlCdrUuid: row.id }));
}

/**
 * The charges' rows from $1, an array of cdr_charge_row (migration 020) whose fields are the columns in
 * this order; a caller may add a WHERE before the conflict clause. One array of rows, not one array per
 * column: `unnest` of sixteen arrays materialises each in its own tuplestore, sixteen tuples per charge.
 */
const CHARGE_ROWS_SQL = `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, destination, billsec, billable_seconds,
       included_seconds, amount, currency, status, reason, deck_id, deck_revision, period)
     SELECT * FROM unnest($1::cdr_charge_row[])`;
const CHARGE_CONFLICT_SQL = 'ON CONFLICT (xml_cdr_uuid) DO NOTHING';
const INSERT_CHARGES_SQL = `${CHARGE_ROWS_SQL}\n     ${CHARGE_CONFLICT_SQL}`;

/** How each field of a cdr_charge_row is written into its record literal. */
type ColumnKind = 'text' | 'int';

/** The fields of NewCharge in the order of cdr_charge_row's fields, with their literal kind. */
const CHARGE_FIELDS: readonly (readonly [keyof NewCharge, ColumnKind])[] = [
  ['xmlCdrUuid', 'text'],
  ['serviceId', 'int'],
  ['domainName', 'text'],
  ['startStamp', 'text'],
  ['direction', 'text'],
  ['destination', 'text'],
  ['billsec', 'int'],
  ['billableSeconds', 'int'],
  ['includedSeconds', 'int'],
  ['amount', 'text'],
  ['currency', 'text'],
  ['status', 'text'],
  ['reason', 'text'],
  ['deckId', 'int'],
  ['deckRevision', 'int'],
  ['period', 'text'],
];

export class ChargeValueError extends Error {
  readonly code = 'CHARGE_VALUE_INVALID';
}

/** What a record field must be quoted for (and '' too, or it reads as NULL); a uuid, stamp, amount or plain name needs none. */
const NEEDS_QUOTES = /[,()"\\\s]/;
const ESCAPED = /["\\]/g;

/**
 * A text field of a record literal that is itself an element of an array literal. Plain text goes
 * as it is (bytes on the wire and parsing are per charge); anything else the record quotes, escaping
 * `"` and `\`, and the array element escapes the record's quotes and backslashes once more.
 */
function textField(value: string): string {
  if (value !== '' && !NEEDS_QUOTES.test(value)) return value;
  return `"${value.replace(ESCAPED, '\\$&')}"`.replace(ESCAPED, '\\$&');
}

/** One field of the record literal: NULL is an empty field (an empty text is quoted, so '' stays ''). */
function field(value: unknown, kind: ColumnKind, name: string): string {
  if (value === null || value === undefined) return '';
  if (kind === 'int') {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ChargeValueError(`${name} must be a whole number, got ${String(value)}`);
    return String(value);
  }
  if (typeof value !== 'string') throw new ChargeValueError(`${name} must be text, got ${typeof value}`);
  return textField(value);
}

/**
 * The insert's one parameter: an array literal of cdr_charge_row records, written here in one pass.
 * pg's generic array encoder ran two regular expressions over every element (about 7 % of the CDR
 * sync's CPU); uuids, stamps, amounts and numbers need neither, and the text is the same.
 */
export function chargeInsertParameters(charges: readonly NewCharge[]): string[] {
  let literal = '{';
  for (let i = 0; i < charges.length; i += 1) {
    const charge = charges[i] as NewCharge;
    literal += i > 0 ? ',"(' : '"(';
    for (let f = 0; f < CHARGE_FIELDS.length; f += 1) {
      const [name, kind] = CHARGE_FIELDS[f]!;
      if (f > 0) literal += ',';
      literal += field(charge[name], kind, name);
    }
    literal += ')"';
  }
  return [`${literal}}`];
}

/** Inserts charges; a CDR already charged is left untouched. Returns how many rows were new. */
export async function insertCharges(db: Pool | PoolClient, charges: readonly NewCharge[]): Promise<number> {
  if (charges.length === 0) return 0;
  // Named: each connection parses and plans the statement once, not once per page.
  const { rowCount } = await db.query({ name: 'cdr-charges-insert', text: INSERT_CHARGES_SQL, values: chargeInsertParameters(charges) });
  return rowCount ?? 0;
}

/** How many charges an insert added, by status (CDRs already charged are not counted). */
export interface InsertedCharges {
  inserted: number;
  rated: number;
  unrated: number;
  notBillable: number;
}

const CURSOR_MOVES = `(EXCLUDED.domain_uuid <> cdr_sync_cursors.domain_uuid
         OR (EXCLUDED.last_start_stamp, EXCLUDED.last_xml_cdr_uuid) > (cdr_sync_cursors.last_start_stamp, cdr_sync_cursors.last_xml_cdr_uuid))`;

/**
 * The cursor upsert's conflict clause: the position moves forward only (a look-back page behind it
 * keeps it), the counts add up. A position in another domain replaces it whatever its stamp: the
 * old one is a purged domain's (see tenantCdrDomain) and says nothing about the new one's calls.
 * A collection's page ($8 true: see ChargePage.collection) keeps last_run_at and last_run_inserted.
 */
const CURSOR_UPSERT = `ON CONFLICT (service_id) DO UPDATE SET
       domain_uuid = EXCLUDED.domain_uuid,
       domain_name = EXCLUDED.domain_name,
       last_start_stamp = CASE WHEN ${CURSOR_MOVES} THEN EXCLUDED.last_start_stamp ELSE cdr_sync_cursors.last_start_stamp END,
       last_xml_cdr_uuid = CASE WHEN ${CURSOR_MOVES} THEN EXCLUDED.last_xml_cdr_uuid ELSE cdr_sync_cursors.last_xml_cdr_uuid END,
       charges_total = cdr_sync_cursors.charges_total + EXCLUDED.charges_total,
       last_run_inserted = CASE WHEN $8 THEN cdr_sync_cursors.last_run_inserted ELSE EXCLUDED.last_run_inserted END,
       last_run_at = CASE WHEN $8 THEN cdr_sync_cursors.last_run_at ELSE now() END,
       updated_at = now()`;

/** Where a page's write moves the tenant's cursor to: its last CDR's keyset position. */
export interface PageCursor {
  serviceId: number;
  domainUuid: string;
  domainName: string;
  startStamp: string;
  xmlCdrUuid: string;
}

/** A page's write: its charges, and where the cursor moves to. */
export interface ChargePage {
  charges: readonly NewCharge[];
  cursor: PageCursor;
  /**
   * The page's rating assumed none of its CDRs was charged before (their included seconds counted):
   * write nothing if one was, and say so (`taken`), so the caller rates the new ones again.
   */
  onlyIfNoneCharged: boolean;
  /**
   * A backfill's page (`cdr backfill`, the per-day count check), not the incremental sync's: it does
   * not record a run (last_run_at). Purge waits for a sync after the termination (syncedSinceChangeSql)
   * and the sync reads late imports stored since its previous run: a collection covers only the
   * calls it was asked for, so it must count as neither. A cursor it creates has never run (the epoch).
   */
  collection?: boolean;
}

export interface ChargePageOutcome extends InsertedCharges {
  /** true when `onlyIfNoneCharged` found a charged CDR: nothing was written, the cursor did not move */
  taken: boolean;
}

/**
 * The charges and the cursor in ONE statement (one transaction, one round trip instead of BEGIN,
 * insert, cursor, COMMIT: on a busy machine each round trip wakes PostgreSQL and waits for it).
 * The cursor counts what was inserted and moves forward only.
 * `taken` is evaluated once (a CTE) and only when asked for ($2 false short-circuits the EXISTS).
 */
const WRITE_PAGE_SQL = `WITH taken AS (SELECT $2::boolean AND EXISTS (SELECT 1 FROM cdr_charges WHERE xml_cdr_uuid IN (SELECT page.xml_cdr_uuid FROM unnest($1::cdr_charge_row[]) AS page)) AS hit),
  inserted AS (${CHARGE_ROWS_SQL}
     WHERE NOT (SELECT hit FROM taken)
     ${CHARGE_CONFLICT_SQL} RETURNING status),
  moved AS (INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, charges_total, last_run_inserted, last_run_at)
     SELECT $3::bigint, $4::uuid, $5::text, $6::timestamptz, $7::uuid, n, n, CASE WHEN $8::boolean THEN 'epoch'::timestamptz ELSE now() END
     FROM (SELECT count(*)::int AS n FROM inserted) AS counted
     WHERE NOT (SELECT hit FROM taken)
     ${CURSOR_UPSERT}
     RETURNING 1)
  SELECT status, count(*)::int AS n FROM inserted GROUP BY status
  UNION ALL SELECT 'taken', 0 FROM taken WHERE hit
  UNION ALL SELECT 'moved', count(*)::int FROM moved`;

/**
 * Writes a page's charges (a CDR charged before is left untouched) and moves the cursor past the
 * page, atomically: a crash (or a dropped connection) leaves both or neither.
 */
export async function writeChargePage(db: Pool | PoolClient, page: ChargePage): Promise<ChargePageOutcome> {
  const { cursor } = page;
  const { rows } = await db.query<{ status: ChargeStatus | 'taken' | 'moved'; n: number }>({
    name: 'cdr-charges-write-page',
    text: WRITE_PAGE_SQL,
    values: [
      ...chargeInsertParameters(page.charges),
      page.onlyIfNoneCharged,
      cursor.serviceId,
      cursor.domainUuid,
      cursor.domainName,
      cursor.startStamp,
      cursor.xmlCdrUuid,
      page.collection === true,
    ],
  });
  const outcome: ChargePageOutcome = { taken: false, inserted: 0, rated: 0, unrated: 0, notBillable: 0 };
  for (const row of rows) {
    if (row.status === 'taken') outcome.taken = true;
    else if (row.status !== 'moved') countInserted(outcome, row.status, row.n);
  }
  return outcome;
}

function countInserted(counts: InsertedCharges, status: ChargeStatus, n: number): void {
  counts.inserted += n;
  if (status === 'rated') counts.rated += n;
  else if (status === 'unrated') counts.unrated += n;
  else counts.notBillable += n;
}

/** Included seconds already consumed by a service's calls of one period. */
export async function includedSecondsUsed(db: Pool | PoolClient, serviceId: number, period: string): Promise<number> {
  const { rows } = await db.query<{ used: string }>('SELECT COALESCE(sum(included_seconds), 0)::text AS used FROM cdr_charges WHERE service_id = $1 AND period = $2', [
    serviceId,
    period,
  ]);
  return Number.parseInt(rows[0]?.used ?? '0', 10);
}

interface CursorRow {
  service_id: string;
  domain_uuid: string;
  domain_name: string;
  last_start_stamp: string;
  last_xml_cdr_uuid: string;
  charges_total: string;
  last_run_at: Date;
  last_run_inserted: number;
}

function toCursor(row: CursorRow): CdrSyncCursor {
  return {
    serviceId: Number(row.service_id),
    domainUuid: row.domain_uuid,
    domainName: row.domain_name,
    lastStartStamp: row.last_start_stamp,
    lastXmlCdrUuid: row.last_xml_cdr_uuid,
    chargesTotal: Number(row.charges_total),
    lastRunAt: row.last_run_at,
    lastRunInserted: row.last_run_inserted,
  };
}

const CURSOR_COLUMNS = `service_id, domain_uuid::text, domain_name, ${exactStampSql('last_start_stamp')} AS last_start_stamp,
  last_xml_cdr_uuid::text, charges_total, last_run_at, last_run_inserted`;

export async function getCdrSyncCursor(db: Pool | PoolClient, serviceId: number): Promise<CdrSyncCursor | null> {
  const { rows } = await db.query<CursorRow>(`SELECT ${CURSOR_COLUMNS} FROM cdr_sync_cursors WHERE service_id = $1`, [serviceId]);
  return rows[0] ? toCursor(rows[0]) : null;
}

/**
 * SQL condition on the `cdr_charges` row aliased `alias`: a rated call not billed yet. Billed is on a
 * usage batch (postpaid) or on a prepaid invoice: a prepaid call never gets a batch_id, and its
 * invoice is taken to WHMCS, then paid, by the prepaid invoicing job from the bridge's rows alone, so
 * an invoice not yet created or paid is that job's (and WHMCS dunning's) business, not a call left
 * unbilled. Shared by purge's billing hold, the sync fan-out's settled test and the reconciler's
 * lost final bills, which must agree.
 */
export function unbilledRatedChargeSql(alias: string): string {
  return `${alias}.status = 'rated' AND ${alias}.batch_id IS NULL AND ${alias}.prepaid_invoice IS NULL`;
}

/** The service has a rated call not billed yet (unbilledRatedChargeSql) of `period` or earlier. */
export async function hasUnbilledRatedCharges(db: Pool | PoolClient, serviceId: number, period: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM cdr_charges c WHERE c.service_id = $1 AND ${unbilledRatedChargeSql('c')} AND c.period <= $2 LIMIT 1`, [serviceId, period]);
  return rows.length > 0;
}

/**
 * SQL condition on the `services` row aliased `alias`: its CDRs were read since the service last
 * changed (for a terminated one: since its termination), so no call it made is left unread. Every
 * real sync run records that it ran (last_run_at), a run that read no call included
 * (recordCdrSyncRun): so a tenant with no cursor has never been synced and is not synced here, even
 * one that never made a call (one created and terminated between two syncs may have made calls the
 * first sync has yet to read). A collection (`cdr backfill`, the per-day count check) records no run.
 * The one definition of purge's billing hold, the credit-left report, the settlement of that credit
 * and the sync fan-out's settled test, which must agree. It reads `updated_at`, not the termination
 * time (terminatedAtSql), on purpose: calls can still end after the desired state changed (until the
 * FreeSWITCH side of the teardown is applied, which writes the row), so a sync must follow the last
 * write; a later write only costs one more sync, which the fan-out makes at once (such a tenant is
 * not settled).
 */
export function syncedSinceChangeSql(alias: string): string {
  return `EXISTS (SELECT 1 FROM cdr_sync_cursors k WHERE k.service_id = ${alias}.service_id AND k.last_run_at > ${alias}.updated_at)`;
}

/** One page of a CDR sync fan-out's services (see servicesToSyncCdrs). */
export interface CdrSyncSelection {
  afterServiceId: number;
  limit: number;
  /** A tenant terminated before this (BILLING_CLOSE_DELAY_SECONDS ago: its final bill is due) may be settled. */
  settledBefore: Date;
  /** Settled tenants are included when `service_id % slots = slot`: each once every `slots` fan-outs, spread over them. */
  settledSlot: { slots: number; slot: number };
}

/**
 * The services a CDR sync fan-out enqueues, in service order: every one with a tenant domain but
 * the purged (their rows are gone and purge needed nothing left to bill). A *settled* terminated
 * tenant — terminated (terminatedAtSql: not its last write) before `settledBefore`, synced since (syncedSinceChangeSql: never synced is not) and with no
 * rated call left unbilled — only in its own slot; a late CDR that makes one unbilled brings it back
 * to every slot until billed.
 */
export async function servicesToSyncCdrs(db: Pool | PoolClient, selection: CdrSyncSelection): Promise<number[]> {
  const { rows } = await db.query<{ service_id: string }>(
    `SELECT s.service_id::text FROM services s
     WHERE s.service_id > $1 AND s.tenant_domain <> ''
       AND NOT ${purgedServiceSql('s')}
       AND (s.desired_state <> 'terminated' OR s.service_id % $4 = $5 OR ${terminatedAtSql('s')} >= $3
         OR NOT ${syncedSinceChangeSql('s')}
         OR EXISTS (SELECT 1 FROM cdr_charges u WHERE u.service_id = s.service_id AND ${unbilledRatedChargeSql('u')}))
     ORDER BY s.service_id LIMIT $2`,
    [selection.afterServiceId, selection.limit, selection.settledBefore, selection.settledSlot.slots, selection.settledSlot.slot],
  );
  return rows.map((row) => Number(row.service_id));
}

/** Forgets a purged tenant's cursor: it names the deleted domain, and a tenant created again gets a new one. Its charges stay. */
export async function dropCdrSyncCursor(db: Pool | PoolClient, serviceId: number): Promise<void> {
  await db.query('DELETE FROM cdr_sync_cursors WHERE service_id = $1', [serviceId]);
}

/** A sync run that wrote no page: where its tenant's calls were looked for (see recordCdrSyncRun). */
export interface CdrSyncRun {
  serviceId: number;
  /** the domain read; the nil uuid when FusionPBX has no domain of the tenant (nothing to read) */
  domainUuid: string;
  domainName: string;
  /** where a cursor made now stands: the service's creation, so the next run reads from where a run without a cursor reads */
  startStamp: string;
}

const NIL_CURSOR_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * Records a sync run that wrote no page (found nothing new, or no domain to read): last_run_at (lag
 * alerts; purge, the credit-left report and the fan-out wait for it, syncedSinceChangeSql) and no
 * insert. A tenant with no cursor gets one standing at `startStamp` (no CDR read: the nil uuid): "no
 * cursor" then means "never synced". An existing cursor keeps its position, unless it named another
 * domain (a purged one, or none): then the run's domain and position replace it, as a page's would.
 */
export async function recordCdrSyncRun(db: Pool | PoolClient, run: CdrSyncRun): Promise<void> {
  await db.query({
    name: 'cdr-sync-record-run',
    text: `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at, last_run_inserted)
       VALUES ($1, $2, $3, $4, $5, now(), 0)
       ON CONFLICT (service_id) DO UPDATE SET
         domain_uuid = EXCLUDED.domain_uuid,
         domain_name = EXCLUDED.domain_name,
         last_start_stamp = CASE WHEN EXCLUDED.domain_uuid <> cdr_sync_cursors.domain_uuid THEN EXCLUDED.last_start_stamp ELSE cdr_sync_cursors.last_start_stamp END,
         last_xml_cdr_uuid = CASE WHEN EXCLUDED.domain_uuid <> cdr_sync_cursors.domain_uuid THEN EXCLUDED.last_xml_cdr_uuid ELSE cdr_sync_cursors.last_xml_cdr_uuid END,
         last_run_at = now(),
         last_run_inserted = 0`,
    values: [run.serviceId, run.domainUuid, run.domainName, run.startStamp, NIL_CURSOR_UUID],
  });
}

export interface CdrSyncLag {
  serviceId: number;
  domainName: string;
  lastStartStamp: string;
  /** seconds between `now` and the newest CDR synced */
  lagSeconds: number;
  /** seconds since the last sync run for this tenant; null: never synced (a cursor a backfill or cdr.reconcile created) */
  sinceLastRunSeconds: number | null;
  chargesTotal: number;
  unratedCount: number;
}

/**
 * Lag per tenant from the bridge database alone (the backlog count needs FusionPBX's database:
 * see the worker's cdrBacklog). `serviceId` limits it to one tenant.
 */
export async function cdrSyncLag(db: Pool | PoolClient, serviceId?: number): Promise<CdrSyncLag[]> {
  const { rows } = await db.query<{ service_id: string; domain_name: string; last: string; lag: string; since: string | null; charges_total: string; unrated: string }>(
    `SELECT c.service_id, c.domain_name, ${exactStampSql('c.last_start_stamp')} AS last,
       floor(extract(epoch FROM now() - c.last_start_stamp))::text AS lag,
       CASE WHEN c.last_run_at > 'epoch'::timestamptz THEN floor(extract(epoch FROM now() - c.last_run_at))::text END AS since,
       c.charges_total,
       (SELECT count(*) FROM cdr_charges u WHERE u.service_id = c.service_id AND u.status = 'unrated')::text AS unrated
     FROM cdr_sync_cursors c WHERE $1::bigint IS NULL OR c.service_id = $1 ORDER BY c.service_id`,
    [serviceId ?? null],
  );
  return rows.map((row) => ({
    serviceId: Number(row.service_id),
    domainName: row.domain_name,
    lastStartStamp: row.last,
    lagSeconds: Number.parseInt(row.lag, 10),
    sinceLastRunSeconds: row.since === null ? null : Number.parseInt(row.since, 10),
    chargesTotal: Number(row.charges_total),
    unratedCount: Number.parseInt(row.unrated, 10),
  }));
}

interface ChargeRow {
  xml_cdr_uuid: string;
  service_id: string;
  domain_name: string;
  start_stamp: string;
  direction: string;
  destination: string | null;
  billsec: number;
  billable_seconds: number;
  included_seconds: number;
  amount: string | null;
  currency: string | null;
  status: ChargeStatus;
  reason: string | null;
  deck_id: string | null;
  deck_revision: number | null;
  period: string;
  batch_id: string | null;
  prepaid_invoice: string | null;
  rated_at: Date;
}

function toCharge(row: ChargeRow): StoredCharge {
  return {
    xmlCdrUuid: row.xml_cdr_uuid,
    serviceId: Number(row.service_id),
    domainName: row.domain_name,
    startStamp: row.start_stamp,
    direction: row.direction,
    destination: row.destination,
    billsec: row.billsec,
    billableSeconds: row.billable_seconds,
    includedSeconds: row.included_seconds,
    amount: row.amount,
    currency: row.currency === null ? null : row.currency.trim(),
    status: row.status,
    reason: row.reason,
    deckId: row.deck_id === null ? null : Number(row.deck_id),
    deckRevision: row.deck_revision,
    period: row.period,
    batchId: row.batch_id,
    prepaidInvoice: row.prepaid_invoice,
    ratedAt: row.rated_at,
  };
}

const CHARGE_COLUMNS = `xml_cdr_uuid::text, service_id, domain_name, ${exactStampSql('start_stamp')} AS start_stamp, direction, destination,
  billsec, billable_seconds, included_seconds, amount::text, currency, status, reason, deck_id, deck_revision, period, batch_id, prepaid_invoice, rated_at`;

/** A service's charges, optionally of one period or status, in call order. */
export async function listCharges(db: Pool | PoolClient, query: { serviceId: number; period?: string; status?: ChargeStatus; limit?: number }): Promise<StoredCharge[]> {
  const { rows } = await db.query<ChargeRow>(
    `SELECT ${CHARGE_COLUMNS} FROM cdr_charges
     WHERE service_id = $1 AND ($2::text IS NULL OR period = $2) AND ($3::text IS NULL OR status = $3)
     ORDER BY start_stamp, xml_cdr_uuid LIMIT $4`,
    [query.serviceId, query.period ?? null, query.status ?? null, query.limit ?? 100_000],
  );
  return rows.map(toCharge);
}

/**
 * Overwrites the rating of one charge not in a pushed batch (re-rating). A charge already on a
 * prepaid invoice (credit control) keeps the rating it was invoiced at.
 */
export async function updateChargeRating(db: Pool | PoolClient, charge: NewCharge): Promise<void> {
  await db.query(
    `UPDATE cdr_charges SET destination = $2, billable_seconds = $3, included_seconds = $4, amount = $5, currency = $6, status = $7,
       reason = $8, deck_id = $9, deck_revision = $10, rated_at = now()
     WHERE xml_cdr_uuid = $1 AND prepaid_invoice IS NULL`,
    [
      charge.xmlCdrUuid,
      charge.destination,
      charge.billableSeconds,
      charge.includedSeconds,
      charge.amount,
      charge.currency,
      charge.status,
      charge.reason,
      charge.deckId,
      charge.deckRevision,
    ],
  );
}

export interface ChargeTotals {
  rated: number;
  unrated: number;
  notBillable: number;
  /** exact decimal string (6 places) */
  ratedAmount: string;
}

/** Counts and exact rated sum of a service's charges (all periods unless one is given). */
export async function chargeTotals(db: Pool | PoolClient, serviceId: number, period?: string): Promise<ChargeTotals> {
  const { rows } = await db.query<{ rated: string; unrated: string; not_billable: string; amount: string }>(
    `SELECT count(*) FILTER (WHERE status = 'rated')::text AS rated, count(*) FILTER (WHERE status = 'unrated')::text AS unrated,
       count(*) FILTER (WHERE status = 'not_billable')::text AS not_billable, COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount
     FROM cdr_charges WHERE service_id = $1 AND ($2::text IS NULL OR period = $2)`,
    [serviceId, period ?? null],
  );
  const row = rows[0];
  return {
    rated: Number.parseInt(row?.rated ?? '0', 10),
    unrated: Number.parseInt(row?.unrated ?? '0', 10),
    notBillable: Number.parseInt(row?.not_billable ?? '0', 10),
    ratedAmount: row?.amount ?? '0.000000',
  };
}

/** A synced tenant the per-day count check (cdr.reconcile) looks at. */
export interface CdrReconcileTarget {
  serviceId: number;
  /** the newest CDR's start the sync read: the check stops a look-back window before it */
  lastStartStamp: Date;
}

/** Tenants with a sync cursor (a sync run or a collection made it), not purged, after `afterServiceId`, in service order. */
export async function servicesToReconcileCdrs(db: Pool | PoolClient, afterServiceId: number, limit: number): Promise<CdrReconcileTarget[]> {
  const { rows } = await db.query<{ service_id: string; stamp: Date }>(
    `SELECT s.service_id::text, c.last_start_stamp AS stamp FROM cdr_sync_cursors c JOIN services s USING (service_id)
     WHERE s.service_id > $1 AND s.tenant_domain <> '' AND NOT ${purgedServiceSql('s')}
     ORDER BY s.service_id LIMIT $2`,
    [afterServiceId, limit],
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), lastStartStamp: row.stamp }));
}

/**
 * What the per-day check compares of one UTC day's CDRs on each side: how many, and the exact sum of
 * a 64-bit hash of each uuid. A count alone lets a charge FusionPBX no longer holds (deleted, or
 * another domain's) hide a CDR not charged; the sum cannot cancel out (unless two sets of random
 * 64-bit values add up alike). Order-independent: no sort, one pass.
 */
export interface CdrDayDigest {
  count: number;
  /** exact decimal text (sum of signed 64-bit values, numeric in SQL: no overflow, no float) */
  uuidSum: string;
}

/**
 * The SQL select list of a CdrDayDigest grouped by UTC day, the same text in FusionPBX's database and
 * the bridge's so that both compute the same hash: md5 of the uuid's canonical text (every
 * PostgreSQL version writes it alike), its first 16 hex digits as a bigint, summed as numeric.
 */
export function cdrDayDigestSql(stampColumn: string, uuidColumn: string): string {
  return `to_char(${stampColumn} AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::text AS n,
       sum(('x' || left(md5(${uuidColumn}::text), 16))::bit(64)::bigint)::text AS uuid_sum`;
}

/** Rows of cdrDayDigestSql as a map by day. */
export function cdrDayDigests(rows: readonly { day: string; n: string; uuid_sum: string }[]): Map<string, CdrDayDigest> {
  return new Map(rows.map((row) => [row.day, { count: Number(row.n), uuidSum: row.uuid_sum }]));
}

/** A service's charges per UTC day (`YYYY-MM-DD`) of the calls that started in [from, to): one grouped count and uuid sum. */
export async function chargeDigestsByDay(db: Pool | PoolClient, serviceId: number, from: Date, to: Date): Promise<Map<string, CdrDayDigest>> {
  const { rows } = await db.query<{ day: string; n: string; uuid_sum: string }>(
    `SELECT ${cdrDayDigestSql('start_stamp', 'xml_cdr_uuid')} FROM cdr_charges
     WHERE service_id = $1 AND start_stamp >= $2 AND start_stamp < $3 GROUP BY 1`,
    [serviceId, from, to],
  );
  return cdrDayDigests(rows);
}

/** A service's charged CDRs that started in [from, to), in keyset order: what a collection of that range leaves out of its reads. */
export async function chargedPositionsBetween(db: Pool | PoolClient, serviceId: number, from: Date, to: Date): Promise<ChargedPosition[]> {
  const { rows } = await db.query<{ stamp: string; id: string }>(
    `SELECT ${exactStampSql('start_stamp')} AS stamp, xml_cdr_uuid::text AS id FROM cdr_charges
     WHERE service_id = $1 AND start_stamp >= $2 AND start_stamp < $3 ORDER BY start_stamp, xml_cdr_uuid`,
    [serviceId, from, to],
  );
  return rows.map((row) => ({ startStamp: row.stamp, xmlCdrUuid: row.id }));
}

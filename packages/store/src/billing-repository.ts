import type { Pool, PoolClient } from 'pg';
import { formatMoney, parseMoney, roundInvoiceLine } from '@ictvoip/rating';
import { labelStart, latestClosedServicePeriod, servicePeriodLabeller, servicePeriodOfDate, type CycleSegment } from './billing-cycle';
import { billingPeriodsMode, serviceCycleSegments, type BillingPeriodsMode } from './billing-cycles-repository';
import { latestClosedPeriod, periodOf } from './billing-period';
import { syncedSinceChangeSql, unbilledRatedChargeSql } from './cdr-charges-repository';
import type { AuditEntry } from './inbox-repository';
import { batchCurrenciesMixedHeldSql, pendingAdjustmentCurrenciesSql, pendingSumsByCurrencySql, releasedCallHeldSql } from './currencies-mixed';
import { prepaidCurrenciesMixedReportedSql, prepaidInvoiceLineSql } from './prepaid-invoices-repository';
import { terminatedAtSql } from './services-repository';

/**
 * Billing batches: one per service, closing period and category, with a deterministic id, so a
 * repeated close finds the batch it already made. States:
 *   open ──► pushing ──► pushed ──► verified   (WHMCS id recorded; later found on an invoice by its token)
 *     │         ├──────► unknown ──► pushed/verified (ambiguous reply; resolved by finding the token)
 *     │         └──────► failed  ──► pushing  (definite refusal: nothing reached WHMCS, safe to retry)
 *     └──► zero                              (nothing to invoice: recorded, not pushed)
 * A batch left in `pushing` by a crash is treated exactly like `unknown`: reconcile, never resend blindly.
 * The issue's names map as: pending = open (and pushing/unknown/failed while in flight), sent = pushed
 * (carries the WHMCS billable id), verified = verified.
 */
export type BatchState = 'open' | 'pushing' | 'unknown' | 'pushed' | 'verified' | 'failed' | 'zero';

/** States in which the batch is in WHMCS (or needs nothing there): never pushed again. */
export const FINAL_BATCH_STATES: readonly BatchState[] = ['pushed', 'verified', 'zero'];

/** States an operator must look at: a refusal (failed) or an outcome not yet known (unknown, pushing). */
export const ATTENTION_BATCH_STATES: readonly BatchState[] = ['failed', 'unknown', 'pushing'];

export const BILLING_CATEGORY_CALLS = 'calls';

export class BillingStoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BillingStoreError';
  }
}

/**
 * The unbilled calls and pending adjustments a bill would take are in several currencies: no WHMCS line
 * can hold them (it has one currency, the client's). Nothing was written; the push reports it once per
 * service and period (BATCH_CURRENCIES_MIXED_ACTION) until they are re-rated in one.
 */
export class BillingCurrencyMixedError extends BillingStoreError {
  readonly currencies: string[];
  constructor(
    readonly serviceId: number,
    currencies: readonly string[],
  ) {
    const sorted = [...currencies].sort();
    super('BILLING_CURRENCY_MIXED', `service ${serviceId} has unbilled charges in several currencies (${sorted.join(', ')}); re-rate with one deck`);
    this.name = 'BillingCurrencyMixedError';
    this.currencies = sorted;
  }
}

export interface BillingBatch {
  batchId: string;
  serviceId: number;
  clientId: number;
  period: string;
  category: string;
  currency: string | null;
  state: BatchState;
  /** exact sum of charges and adjustments, decimal string with 6 places */
  total: string;
  /** the invoice line: total rounded once, half-up, to 2 places */
  lineAmount: string;
  callCount: number;
  billedSeconds: number;
  adjustmentTotal: string;
  description: string;
  pushToken: string;
  whmcsBillableId: number | null;
  whmcsInvoiceId: number | null;
  whmcsInvoiceItemId: number | null;
  /** every push started (this one included while `pushing`) */
  attempts: number;
  /** WHMCS's answers refusing the item: what BILLING_MAX_ATTEMPTS caps (a push never delivered is not one) */
  refusals: number;
  lastError: string | null;
  lastErrorCode: string | null;
  pushStartedAt: Date | null;
  ambiguousAt: Date | null;
  pushedAt: Date | null;
  verifiedAt: Date | null;
  verifyCheckedAt: Date | null;
  createdAt: Date;
}

export function batchIdFor(serviceId: number, period: string): string {
  return `b-${serviceId}-${period}`;
}

/** Printed in the WHMCS line's description; reconciliation searches invoices for it. */
export function pushTokenFor(batchId: string): string {
  return `[ictvoip:${batchId}]`;
}

interface BatchRow {
  batch_id: string;
  service_id: string;
  client_id: string;
  period: string;
  category: string;
  currency: string | null;
  state: BatchState;
  total: string;
  line_amount: string;
  call_count: number;
  billed_seconds: string;
  adjustment_total: string;
  description: string;
  push_token: string;
  whmcs_billable_id: string | null;
  whmcs_invoice_id: string | null;
  whmcs_invoice_item_id: string | null;
  attempts: number;
  refusals: number;
  last_error: string | null;
  last_error_code: string | null;
  push_started_at: Date | null;
  ambiguous_at: Date | null;
  pushed_at: Date | null;
  verified_at: Date | null;
  verify_checked_at: Date | null;
  created_at: Date;
}

const optionalNumber = (value: string | null) => (value === null ? null : Number(value));

function toBatch(row: BatchRow): BillingBatch {
  return {
    batchId: row.batch_id,
    serviceId: Number(row.service_id),
    clientId: Number(row.client_id),
    period: row.period,
    category: row.category,
    currency: row.currency === null ? null : row.currency.trim(),
    state: row.state,
    total: row.total,
    lineAmount: row.line_amount,
    callCount: row.call_count,
    billedSeconds: Number(row.billed_seconds),
    adjustmentTotal: row.adjustment_total,
    description: row.description,
    pushToken: row.push_token,
    whmcsBillableId: optionalNumber(row.whmcs_billable_id),
    whmcsInvoiceId: optionalNumber(row.whmcs_invoice_id),
    whmcsInvoiceItemId: optionalNumber(row.whmcs_invoice_item_id),
    attempts: row.attempts,
    refusals: row.refusals,
    lastError: row.last_error,
    lastErrorCode: row.last_error_code,
    pushStartedAt: row.push_started_at,
    ambiguousAt: row.ambiguous_at,
    pushedAt: row.pushed_at,
    verifiedAt: row.verified_at,
    verifyCheckedAt: row.verify_checked_at,
    createdAt: row.created_at,
  };
}

const BATCH_COLUMNS = `batch_id, service_id, client_id, period, category, currency, state, total::text, line_amount::text, call_count,
  billed_seconds, adjustment_total::text, description, push_token, whmcs_billable_id, whmcs_invoice_id, whmcs_invoice_item_id, attempts,
  refusals, last_error, last_error_code, push_started_at, ambiguous_at, pushed_at, verified_at, verify_checked_at, created_at`;

export async function getBatch(db: Pool | PoolClient, batchId: string): Promise<BillingBatch | null> {
  const { rows } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM billing_batches WHERE batch_id = $1`, [batchId]);
  return rows[0] ? toBatch(rows[0]) : null;
}

export async function listBatches(db: Pool | PoolClient, query: { serviceId?: number; states?: readonly BatchState[] } = {}): Promise<BillingBatch[]> {
  const { rows } = await db.query<BatchRow>(
    `SELECT ${BATCH_COLUMNS} FROM billing_batches
     WHERE ($1::bigint IS NULL OR service_id = $1) AND ($2::text[] IS NULL OR state = ANY($2::text[]))
     ORDER BY service_id, period`,
    [query.serviceId ?? null, query.states ?? null],
  );
  return rows.map(toBatch);
}

function minutesText(seconds: number): string {
  return `${Math.ceil(seconds / 60)} min`;
}

/** Human summary + token: what the customer reads on the invoice line. */
export function describeBatch(batch: { period: string; callCount: number; billedSeconds: number; adjustmentTotal: string; currency: string | null; pushToken: string }): string {
  const adjustment = parseMoney(batch.adjustmentTotal, { allowNegative: true }) === 0n ? '' : `, adjustments ${batch.adjustmentTotal} ${batch.currency ?? ''}`.trimEnd();
  return `Calls ${batch.period}: ${batch.callCount} calls, ${minutesText(batch.billedSeconds)}${adjustment} ${batch.pushToken}`;
}

export interface CreateBatchInput {
  serviceId: number;
  clientId: number;
  /** the closing period: unbilled rated charges of this and earlier periods (late CDRs) go in */
  period: string;
  /** the service's calls are billed on prepaid invoices (credit control): the batch takes only adjustments */
  callsOnPrepaidInvoices?: boolean;
}

export interface CreateBatchOptions {
  /**
   * A NEW batch with a positive line is made straight in `pushing` (attempt 1), in the same commit
   * as its charges: that commit is the push's "pushing before WHMCS is called", one commit instead of two.
   */
  startPush?: boolean;
}

export interface MadeBatch {
  batch: BillingBatch;
  /** true when this call made the batch in `pushing`: the caller must call WHMCS (or leave it to reconciliation) */
  pushStarted: boolean;
}

/**
 * Gathers a service's unbilled rated charges (periods up to `period`) and pending adjustments into
 * a new batch (the caller holds the billing lock: nothing else changes the service's charges in
 * between). Returns the existing batch when one was already made for this period, null when there
 * is nothing to bill. Two statements: one read (existing batch and sums together), one write (the
 * batch, its charges and adjustments, atomically).
 */
export async function createBatch(client: PoolClient, input: CreateBatchInput, options: CreateBatchOptions = {}): Promise<MadeBatch | null> {
  const batchId = batchIdFor(input.serviceId, input.period);
  const pending = await existingOrPending(client, batchId, input);
  if (!pending) throw new BillingStoreError('BILLING_SUMS_MISSING', `no sums returned for ${batchId}`);
  if (pending.batch_id !== null) return { batch: toBatch(pending as BatchRow), pushStarted: false };
  return insertBatch(client, batchId, input, pending, options.startPush === true);
}

/** Whether a close finds something to bill in these sums: calls, or adjustments worth at least a cent. */
function makesBatch(sums: PendingSums): boolean {
  const callCount = Number.parseInt(sums.calls ?? '0', 10);
  const adjustmentCount = Number.parseInt(sums.adjustments ?? '0', 10);
  if (callCount === 0 && adjustmentCount === 0) return false;
  // Only sub-cent remainders pending and no calls: keep them for a period that has calls. Per currency (a bill takes
  // one currency's): two currencies' remainders under a cent each make no bill, however much they add up to.
  return callCount > 0 || sums.adjustments_worth_a_cent === true;
}

interface PendingSums {
  calls: string;
  seconds: string;
  amount: string;
  currencies: string[];
  adjustments: string;
  adjustment_amount: string;
  /** the currencies whose pending adjustments are worth a cent (pendingAdjustmentCurrenciesSql) */
  adjustment_currencies: string[];
  /** some currency's pending adjustments (or those with none) come to a cent or more once rounded */
  adjustments_worth_a_cent: boolean;
  /** the pending adjustments per currency (trimmed; null: those with none): how many, and their exact sum */
  adjustment_sums: { currency: string | null; n: number; amount: string }[];
}

type ExistingOrPending = PendingSums & (BatchRow | { [K in keyof BatchRow]: null });

/** The batch if it exists, else (same row) the unbilled rated charges up to `period` and the pending adjustments. */
async function existingOrPending(client: Pool | PoolClient, batchId: string, input: CreateBatchInput): Promise<ExistingOrPending | undefined> {
  const { rows } = await client.query<ExistingOrPending>(
    `SELECT b.*, c.calls, c.seconds, c.amount, c.currencies, a.n AS adjustments, a.amount AS adjustment_amount, a.currencies AS adjustment_currencies,
       EXISTS (SELECT 1 FROM (${pendingSumsByCurrencySql('$1')}) w WHERE round(w.amount, 2) <> 0) AS adjustments_worth_a_cent,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('currency', g.currency, 'n', g.n, 'amount', g.amount::text)), '[]')
        FROM (${pendingSumsByCurrencySql('$1')}) g) AS adjustment_sums
     FROM (SELECT count(*)::text AS calls, COALESCE(sum(billable_seconds), 0)::text AS seconds, COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount,
             COALESCE(array_agg(DISTINCT currency) FILTER (WHERE currency IS NOT NULL), '{}') AS currencies
           FROM cdr_charges hc WHERE hc.service_id = $1 AND ${unbilledRatedChargeSql('hc')} AND hc.period <= $2 AND NOT $4 AND NOT ${releasedCallHeldSql('hc')}) c
     CROSS JOIN (SELECT count(*)::text AS n, COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount,
             ARRAY(SELECT m.currency FROM (${pendingAdjustmentCurrenciesSql('$1')}) m ORDER BY 1) AS currencies
           FROM billing_adjustments WHERE service_id = $1 AND batch_id IS NULL) a
     LEFT JOIN (SELECT ${BATCH_COLUMNS} FROM billing_batches WHERE batch_id = $3) b ON true`,
    [input.serviceId, input.period, batchId, input.callsOnPrepaidInvoices === true],
  );
  return rows[0];
}

/**
 * The currency a bill is made in: that of its calls and of its pending adjustments worth a cent (none: no currency).
 * Adjustments under a cent in another currency stay pending (exact; a terminated service's settled as below one cent)
 * rather than hold the bill: such a leftover in a currency the client no longer pays in held every later bill, and no
 * re-rate can change an adjustment. Calls or adjustments worth a cent in two currencies make a bill that is refused.
 */
function billCurrency(serviceId: number, sums: PendingSums): string | null {
  const currencies = [...new Set([...(sums.currencies ?? []), ...(sums.adjustment_currencies ?? [])].map((c) => c.trim()))];
  if (currencies.length > 1) throw new BillingCurrencyMixedError(serviceId, currencies);
  return currencies[0] ?? null;
}

async function insertBatch(client: PoolClient, batchId: string, input: CreateBatchInput, sums: PendingSums, startPush: boolean): Promise<MadeBatch | null> {
  if (!makesBatch(sums)) return null;
  const callCount = Number.parseInt(sums.calls ?? '0', 10);
  const currency = billCurrency(input.serviceId, sums);
  // Only its own currency's adjustments and those with none (the UPDATE below takes the same).
  const taken = (sums.adjustment_sums ?? []).filter((group) => group.currency === null || group.currency === currency);
  const chargeSum = parseMoney(sums.amount ?? '0');
  const adjustmentSum = taken.reduce((sum, group) => sum + parseMoney(group.amount, { allowNegative: true }), 0n);
  const total = chargeSum + adjustmentSum;
  const line = roundInvoiceLine(total);
  const pushToken = pushTokenFor(batchId);
  const draft = {
    period: input.period,
    callCount,
    billedSeconds: Number.parseInt(sums.seconds ?? '0', 10),
    adjustmentTotal: formatMoney(adjustmentSum),
    currency,
    pushToken,
  };
  // Nothing to invoice (zero or a credit) is never pushed: it stays open for markBatchZero.
  const pushStarted = startPush && line > 0n;
  // One statement: the batch, its charges and its adjustments commit together (the FK checks see the new batch).
  const { rows } = await client.query<BatchRow>(
    `WITH batch AS (
       INSERT INTO billing_batches (batch_id, service_id, client_id, period, category, currency, state, total, line_amount, call_count,
         billed_seconds, adjustment_total, description, push_token, attempts, push_started_at)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $14 THEN 'pushing' ELSE 'open' END, $7, $8, $9, $10, $11, $12, $13,
         CASE WHEN $14 THEN 1 ELSE 0 END, CASE WHEN $14 THEN now() END)
       RETURNING ${BATCH_COLUMNS}
     ), charges AS (
       -- Not the calls a release holds (releasedCallHeldSql): in the currency the client no longer pays in, they wait for a
       -- re-rate, as on the prepaid path (a terminated prepaid service's last calls under a cent come here).
       UPDATE cdr_charges hc SET batch_id = $1 WHERE hc.service_id = $2 AND ${unbilledRatedChargeSql('hc')} AND hc.period <= $4 AND NOT $15
         AND NOT ${releasedCallHeldSql('hc')}
     ), adjustments AS (
       -- Its own currency's (and those with none): another currency's stay pending (billCurrency), exact, rather than sit
       -- as that money on a bill in this one.
       UPDATE billing_adjustments SET batch_id = $1 WHERE service_id = $2 AND batch_id IS NULL AND (currency IS NULL OR trim(currency) = $6::text)
     )
     SELECT * FROM batch`,
    [
      batchId,
      input.serviceId,
      input.clientId,
      input.period,
      BILLING_CATEGORY_CALLS,
      draft.currency,
      formatMoney(total),
      formatMoney(line, 2),
      callCount,
      draft.billedSeconds,
      draft.adjustmentTotal,
      describeBatch(draft),
      pushToken,
      pushStarted,
      input.callsOnPrepaidInvoices === true,
    ],
  );
  const row = rows[0];
  if (!row) throw new BillingStoreError('BILLING_BATCH_NOT_CREATED', `batch ${batchId} was not created`);
  return { batch: toBatch(row), pushStarted };
}

/**
 * open/failed → pushing (or a resend after reconciliation: unknown/pushing → pushing). Returns the
 * batch as marked (this attempt counted), or null when it was in another state.
 */
export async function markBatchPushing(db: Pool | PoolClient, batchId: string, from: readonly BatchState[]): Promise<BillingBatch | null> {
  const { rows } = await db.query<BatchRow>(
    `UPDATE billing_batches SET state = 'pushing', attempts = attempts + 1, push_started_at = now(), ambiguous_at = NULL, updated_at = now()
     WHERE batch_id = $1 AND state = ANY($2::text[])
     RETURNING ${BATCH_COLUMNS}`,
    [batchId, from],
  );
  return rows[0] ? toBatch(rows[0]) : null;
}

export interface WhmcsRecordIds {
  billableId?: number | null;
  invoiceId?: number | null;
  invoiceItemId?: number | null;
}

/**
 * Final state (pushed or zero), the remainder carried to the next batch and the audit entry, in ONE
 * statement (so one commit): the remainder (total − line) keeps billed + carried equal to rated, to
 * the micro-unit. The audit entry is written with the state change or not at all.
 */
async function finalise(db: Pool | PoolClient, batch: BillingBatch, state: 'pushed' | 'zero', ids: WhmcsRecordIds, audit?: AuditEntry): Promise<void> {
  const billed = state === 'pushed' ? parseMoney(batch.lineAmount, { allowNegative: true }) : 0n;
  const remainder = parseMoney(batch.total, { allowNegative: true }) - billed;
  await db.query(
    `WITH done AS (
       UPDATE billing_batches SET state = $2, whmcs_billable_id = COALESCE($3, whmcs_billable_id), whmcs_invoice_id = COALESCE($4, whmcs_invoice_id),
         whmcs_invoice_item_id = COALESCE($5, whmcs_invoice_item_id), pushed_at = CASE WHEN $2 = 'pushed' THEN now() END,
         last_error = NULL, last_error_code = NULL, updated_at = now()
       WHERE batch_id = $1 AND state NOT IN ('pushed', 'verified', 'zero')
       RETURNING batch_id
     ), carry AS (
       INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, source_period, source_batch_id, description)
       SELECT 'carry-' || done.batch_id, $6::bigint, $7::text, $8::numeric, $9::text, $10::text, done.batch_id, $11::text FROM done WHERE $12::boolean
       ON CONFLICT (adjustment_id) DO NOTHING
     ), audit AS (
       INSERT INTO audit_log (actor, action, service_id, detail) SELECT $13::text, $14::text, $15::bigint, $16::jsonb WHERE $13::text IS NOT NULL
     )
     SELECT count(*)::int AS n FROM done`,
    [
      batch.batchId,
      state,
      ids.billableId ?? null,
      ids.invoiceId ?? null,
      ids.invoiceItemId ?? null,
      batch.serviceId,
      state === 'pushed' ? 'rounding' : 'carry',
      formatMoney(remainder),
      batch.currency,
      batch.period,
      state === 'pushed' ? `rounding remainder of ${batch.batchId}` : `not invoiced (${batch.total}), carried from ${batch.batchId}`,
      remainder !== 0n,
      audit?.actor ?? null,
      audit?.action ?? null,
      audit?.serviceId ?? null,
      JSON.stringify(audit?.detail ?? {}),
    ],
  );
}

/** → pushed with the WHMCS ids; `audit` (billing.pushed / billing.reconciled) commits with it. */
export function markBatchPushed(db: Pool | PoolClient, batch: BillingBatch, ids: WhmcsRecordIds, audit?: AuditEntry): Promise<void> {
  return finalise(db, batch, 'pushed', ids, audit);
}

export function markBatchZero(db: Pool | PoolClient, batch: BillingBatch): Promise<void> {
  return finalise(db, batch, 'zero', {});
}

export interface WhmcsInvoiceLine {
  invoiceId: number;
  invoiceItemId: number;
}

/** pushed → verified: the line was found on a WHMCS invoice by the batch's token. False if not pushed. */
export async function markBatchVerified(db: Pool | PoolClient, batchId: string, line: WhmcsInvoiceLine): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE billing_batches SET state = 'verified', whmcs_invoice_id = $2, whmcs_invoice_item_id = $3, verified_at = now(),
       verify_checked_at = now(), updated_at = now()
     WHERE batch_id = $1 AND state = 'pushed'`,
    [batchId, line.invoiceId, line.invoiceItemId],
  );
  return rowCount === 1;
}

/** A verification found nothing (not invoiced yet) or a mismatch: remember when, to space the next check. */
export async function markBatchVerifyChecked(db: Pool | PoolClient, batchId: string): Promise<void> {
  await db.query(`UPDATE billing_batches SET verify_checked_at = now(), updated_at = now() WHERE batch_id = $1 AND state = 'pushed'`, [batchId]);
}

/**
 * Batches an operator must look at (the CLI prints them): refused (`failed`, with the WHMCS code in
 * lastErrorCode), outcome unknown, or left `pushing` by a crash. Oldest first.
 */
export async function listBatchesNeedingAttention(db: Pool | PoolClient, query: { serviceId?: number } = {}): Promise<BillingBatch[]> {
  const { rows } = await db.query<BatchRow>(
    `SELECT ${BATCH_COLUMNS} FROM billing_batches
     WHERE state = ANY($1::text[]) AND ($2::bigint IS NULL OR service_id = $2)
     ORDER BY updated_at, batch_id`,
    [ATTENTION_BATCH_STATES, query.serviceId ?? null],
  );
  return rows.map(toBatch);
}

/** The push may have reached WHMCS: only reconciliation may decide what happens next. */
export async function markBatchUnknown(db: Pool | PoolClient, batchId: string, code: string, message: string): Promise<void> {
  await db.query(
    `UPDATE billing_batches SET state = 'unknown', ambiguous_at = COALESCE(ambiguous_at, push_started_at, now()), last_error = $2, last_error_code = $3, updated_at = now()
     WHERE batch_id = $1 AND state IN ('pushing', 'unknown')`,
    [batchId, message.slice(0, 2000), code],
  );
}

/**
 * WHMCS definitely did not take the item: it refused it (`refused`, counted in `refusals`), or nothing
 * was delivered. Returns the batch's refusals so far (this one included), or null when it was in another state.
 */
export async function markBatchFailed(db: Pool | PoolClient, batchId: string, code: string, message: string, refused: boolean): Promise<number | null> {
  const { rows } = await db.query<{ refusals: number }>(
    `UPDATE billing_batches SET state = 'failed', last_error = $2, last_error_code = $3, refusals = refusals + CASE WHEN $4 THEN 1 ELSE 0 END, updated_at = now()
     WHERE batch_id = $1 AND state IN ('pushing', 'open', 'failed')
     RETURNING refusals`,
    [batchId, message.slice(0, 2000), code, refused],
  );
  return rows[0]?.refusals ?? null;
}

/**
 * Undo a batch that never reached WHMCS (open or failed): its charges and adjustments are
 * released for re-rating; the next close makes it again with the same id. Refused otherwise.
 */
export async function dissolveBatch(client: PoolClient, batchId: string): Promise<boolean> {
  const { rows } = await client.query<{ state: BatchState }>('SELECT state FROM billing_batches WHERE batch_id = $1 FOR UPDATE', [batchId]);
  const state = rows[0]?.state;
  if (state === undefined) return false;
  if (state !== 'open' && state !== 'failed') {
    throw new BillingStoreError('BATCH_NOT_DISSOLVABLE', `batch ${batchId} is ${state}: it may be in WHMCS and cannot be undone`);
  }
  await client.query('UPDATE cdr_charges SET batch_id = NULL WHERE batch_id = $1', [batchId]);
  await client.query('UPDATE billing_adjustments SET batch_id = NULL WHERE batch_id = $1', [batchId]);
  await client.query('DELETE FROM billing_batches WHERE batch_id = $1', [batchId]);
  return true;
}

/** The audit action of a terminated service's credit that no bill can take (see recordCreditsLeft). */
export const CREDIT_LEFT_ACTION = 'billing.credit_left';
/** The audit action of `ictvoip billing settle`: that credit settled in WHMCS by an operator. */
export const CREDIT_SETTLED_ACTION = 'billing.credit_settled';
/** A credit is one from half a cent on (a sub-cent remainder is no one's to refund), in micro-units. */
export const CREDIT_LEFT_MICRO = 5_000n;
const CREDIT_LEFT_SQL = '-0.005';

/** One currency's credit (a service left with credits in two currencies has two). */
export interface CreditLeft {
  serviceId: number;
  clientId: number;
  /** what the client is owed in `currency`, exact decimal (negative: a credit) */
  credit: string;
  currency: string | null;
  /** the service's latest bill, the one that carried the credit or after which it came (null: none was made) */
  batchId: string | null;
  period: string | null;
}

/**
 * Terminated services whose pending adjustments come to a credit that is final: its calls are all
 * read (synced since the termination) and billed. A bill is never negative and a terminated service
 * makes no more calls, so no bill takes it: it stays pending (never billed, no close makes a bill of
 * it) until an operator settles it in WHMCS and records that (settleCreditLeft).
 */
function finalCreditsSql(where: string): string {
  return finalPendingSql('credit', (credit) => `${credit} <= ${CREDIT_LEFT_SQL}`, where);
}

/**
 * Terminated services whose calls are all read (synced since the termination) and billed, one row per currency whose
 * pending adjustments' sum (named `sum`, with its `currency`, pendingSumsByCurrencySql) meets `test`: what no bill will
 * ever take, for finalCreditsSql and belowCentLeftSql. Per currency, as a bill takes them: summed across currencies, a
 * credit in one and a debt in another cancelled (a credit hidden, or a non-final one looking settled).
 */
function finalPendingSql(sum: 'credit' | 'amount', test: (sum: string) => string, where: string): string {
  return `SELECT s.service_id, s.client_id, l.amount AS ${sum}, l.currency
     FROM services s
     CROSS JOIN LATERAL (${pendingSumsByCurrencySql('s.service_id')}) l
     WHERE s.desired_state = 'terminated' AND ${test('l.amount')} AND ${where}
       AND NOT EXISTS (SELECT 1 FROM cdr_charges c WHERE c.service_id = s.service_id AND ${unbilledRatedChargeSql('c')})
       AND ${syncedSinceChangeSql('s')}`;
}

/**
 * Records (audit `billing.credit_left`, with the service's latest bill) each such credit once per
 * amount and currency: `serviceId` for one service (after its bill), else every terminated service terminated before
 * `changedBefore` (its final bill due). Returns the credits recorded now, for the ALERT log.
 */
export async function recordCreditsLeft(db: Pool | PoolClient, scope: { serviceId: number } | { changedBefore: Date }): Promise<CreditLeft[]> {
  const one = 'serviceId' in scope;
  const { rows } = await db.query<{ service_id: string; detail: { clientId: number; credit: string; currency: string | null; batchId: string | null; period: string | null } }>(
    `WITH credits AS (${finalCreditsSql(one ? 's.service_id = $2' : `${terminatedAtSql('s')} < $2`)})
     INSERT INTO audit_log (actor, action, service_id, detail)
     SELECT 'billing', $1::text, c.service_id,
       jsonb_build_object('batchId', b.batch_id, 'clientId', c.client_id, 'period', b.period, 'credit', c.credit::text, 'currency', trim(c.currency))
     FROM credits c
     LEFT JOIN LATERAL (SELECT batch_id, period FROM billing_batches WHERE service_id = c.service_id ORDER BY created_at DESC, period DESC LIMIT 1) b ON true
     WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.service_id = c.service_id AND a.action = $1 AND a.detail->>'credit' = c.credit::text
                         AND a.detail->>'currency' IS NOT DISTINCT FROM c.currency
                         AND a.id > COALESCE((SELECT max(id) FROM audit_log z WHERE z.service_id = c.service_id AND z.action = $3), 0))
     RETURNING service_id::text, detail`,
    [CREDIT_LEFT_ACTION, one ? scope.serviceId : scope.changedBefore, CREDIT_SETTLED_ACTION],
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), ...row.detail }));
}

/**
 * Why a settlement is refused: not terminated, no credit left (in the currency asked), calls still to read or bill (the
 * credit is not final), or credits in several currencies and none named (CREDIT_CURRENCIES_MIXED).
 */
export class CreditSettleError extends BillingStoreError {}

export interface CreditSettlement {
  serviceId: number;
  /** the credit settled, exact decimal (negative) */
  credit: string;
  currency: string | null;
  note: string;
  adjustmentId: string;
  at: Date;
}

export interface SettleOutcome {
  /** false: nothing was left to settle, `settlement` is the one recorded before (the same command run again) */
  settled: boolean;
  settlement: CreditSettlement;
}

export interface SettleRequest {
  note: string;
  actor: string;
  /**
   * The currency whose credit was settled in WHMCS. Needed only when credits are left in several currencies: each is a
   * refund of its own, so settle records one currency's at a time rather than one note for amounts that do not add up.
   */
  currency?: string;
}

const SETTLEMENT_PREFIX = 'settle-';

async function lastSettlement(db: Pool | PoolClient, serviceId: number, currency: string | undefined): Promise<CreditSettlement | null> {
  const { rows } = await db.query<{ detail: { credit: string; currency: string | null; note: string; adjustmentId: string }; at: Date }>(
    `SELECT detail, at FROM audit_log WHERE service_id = $1 AND action = $2 AND ($3::text IS NULL OR detail->>'currency' = $3) ORDER BY id DESC LIMIT 1`,
    [serviceId, CREDIT_SETTLED_ACTION, currency ?? null],
  );
  const row = rows[0];
  return row ? { serviceId, credit: row.detail.credit, currency: row.detail.currency, note: row.detail.note, adjustmentId: row.detail.adjustmentId, at: row.at } : null;
}

const moneyIn = (amount: string, currency: string | null) => `${amount}${currency === null ? '' : ` ${currency}`}`;

/**
 * Records that a terminated service's credit left (recordCreditsLeft) was settled in WHMCS by hand
 * (refunded, or moved to the client's credit balance): one adjustment of the opposite amount in its currency, so that
 * currency's pending adjustments come to zero (nothing is left to report, carry or hold the purge;
 * a late call is billed in full), and its audit entry, in one statement. Another currency's pending adjustments are left
 * as they are: credits in two currencies are settled one at a time (`settle.currency`). The caller holds the billing
 * lock. Run again with nothing left, it answers the settlement already recorded (settled: false).
 */
export async function settleCreditLeft(db: Pool | PoolClient, serviceId: number, settle: SettleRequest): Promise<SettleOutcome> {
  const { rows: found } = await db.query<{ desired_state: string }>('SELECT desired_state FROM services WHERE service_id = $1', [serviceId]);
  const service = found[0];
  if (!service) throw new CreditSettleError('SERVICE_UNKNOWN', `service ${serviceId} is not known to the bridge`);
  if (service.desired_state !== 'terminated')
    throw new CreditSettleError('NOT_TERMINATED', `service ${serviceId} is ${service.desired_state}, not terminated: its calls take its credit`);
  const { rows: sums } = await db.query<{ currency: string | null; amount: string; final: boolean }>(
    `SELECT l.currency, l.amount::text AS amount,
       EXISTS (SELECT 1 FROM (${finalCreditsSql('s.service_id = $1')}) f WHERE f.currency IS NOT DISTINCT FROM l.currency) AS final
     FROM (${pendingSumsByCurrencySql('$1')}) l ORDER BY l.currency NULLS FIRST`,
    [serviceId],
  );
  const credits = sums.filter((sum) => parseMoney(sum.amount, { allowNegative: true }) <= -CREDIT_LEFT_MICRO);
  const asked = settle.currency?.trim().toUpperCase();
  const chosen = asked === undefined ? credits : credits.filter((credit) => credit.currency !== null && credit.currency.toUpperCase() === asked);
  if (chosen.length > 1)
    throw new CreditSettleError(
      'CREDIT_CURRENCIES_MIXED',
      `service ${serviceId} has credits left in several currencies (${chosen.map((c) => moneyIn(c.amount, c.currency)).join(', ')}): settle each in WHMCS, then record each with its currency (--currency)`,
    );
  const row = chosen[0];
  if (row === undefined) {
    const before = await lastSettlement(db, serviceId, asked);
    if (before) return { settled: false, settlement: before };
    const pending = sums.length === 0 ? '0.000000' : sums.map((sum) => moneyIn(sum.amount, sum.currency)).join(', ');
    throw new CreditSettleError('NO_CREDIT_LEFT', `service ${serviceId} has no credit left${asked === undefined ? '' : ` in ${asked}`} (pending adjustments ${pending})`);
  }
  const credit = parseMoney(row.amount, { allowNegative: true });
  if (!row.final)
    throw new CreditSettleError(
      'CREDIT_NOT_FINAL',
      `service ${serviceId}'s credit ${moneyIn(formatMoney(credit), row.currency)} is not final: calls not read since the termination or not billed yet may take it (its final bill first)`,
    );
  const { rows: made } = await db.query<{ adjustment_id: string; at: Date }>(
    `WITH id AS (
       SELECT $3::text || (SELECT count(*) + 1 FROM billing_adjustments WHERE service_id = $1 AND adjustment_id LIKE $3::text || '%')::text AS adjustment_id
     ), settled AS (
       INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, description)
       SELECT id.adjustment_id, $1, 'manual', $2::numeric, $4, $5 FROM id
       RETURNING adjustment_id, created_at
     ), audit AS (
       INSERT INTO audit_log (actor, action, service_id, detail)
       SELECT $6, $7, $1, jsonb_build_object('credit', $8::text, 'currency', $4::text, 'note', $9::text, 'adjustmentId', settled.adjustment_id) FROM settled
     )
     SELECT adjustment_id, created_at AS at FROM settled`,
    [
      serviceId,
      formatMoney(-credit),
      `${SETTLEMENT_PREFIX}${serviceId}-`,
      row.currency,
      `credit ${formatMoney(credit)} settled in WHMCS: ${settle.note}`.slice(0, 500),
      settle.actor,
      CREDIT_SETTLED_ACTION,
      formatMoney(credit),
      settle.note,
    ],
  );
  const settled = made[0];
  if (!settled) throw new BillingStoreError('BILLING_SETTLEMENT_NOT_RECORDED', `the settlement of service ${serviceId} was not recorded`);
  return { settled: true, settlement: { serviceId, credit: formatMoney(credit), currency: row.currency, note: settle.note, adjustmentId: settled.adjustment_id, at: settled.at } };
}

/** The audit action of a terminated service's last sub-cent amount, settled as below one cent (settleBelowCent). */
export const BELOW_CENT_SETTLED_ACTION = 'billing.below_cent_settled';
const BELOW_CENT_PREFIX = 'below-cent-';

/** One currency's amount settled as below one cent (settleBelowCent settles each currency's). */
export interface BelowCentSettled {
  serviceId: number;
  clientId: number;
  /** what was left in `currency`, exact decimal: less than half a cent either way (a debt no invoice line can carry, or a credit no one refunds) */
  amount: string;
  currency: string | null;
  adjustmentId: string;
  /** the service's latest bill (the one that carried the amount; null: none was made) */
  batchId: string | null;
  period: string | null;
}

/**
 * Terminated services whose billing is over but for less than half a cent: every call read since the
 * termination (syncedSinceChangeSql) and billed, and the pending adjustments (the bills' carried
 * rounding remainders, a zero bill's carried calls) come, in some currency (one row per currency, finalPendingSql), to
 * an amount that rounds to 0.00 and is not zero. While a service lives such an amount rides on its next bill; a terminated one makes no more
 * calls, so no bill would ever take it (a close makes no bill of it), and nothing would say so.
 */
function belowCentLeftSql(where: string): string {
  return finalPendingSql('amount', (amount) => `${amount} <> 0 AND round(${amount}, 2) = 0`, where);
}

/** Services terminated before `terminatedBefore` (their final bill due) with such an amount left: the close's sweep. */
export async function servicesWithBelowCentLeft(db: Pool | PoolClient, terminatedBefore: Date): Promise<number[]> {
  const { rows } = await db.query<{ service_id: string }>(`SELECT DISTINCT service_id::text FROM (${belowCentLeftSql(`${terminatedAtSql('s')} < $1`)}) b ORDER BY 1`, [
    terminatedBefore,
  ]);
  return rows.map((row) => Number(row.service_id));
}

/**
 * Settles a terminated service's last sub-cent amounts (belowCentLeftSql) as below one cent, each currency's on its own:
 * an adjustment of the opposite amount in that currency (`below-cent-<service>-<n>`, so nothing is pending in it any
 * longer and a later call is billed in full) and the audit entry `billing.below_cent_settled` with the amount and the
 * service's latest bill, in one statement. Another currency's credit or debt is left as it is (credit left, settle). The
 * caller holds the billing lock. Empty when there is nothing such to settle.
 */
export async function settleBelowCent(db: Pool | PoolClient, serviceId: number): Promise<BelowCentSettled[]> {
  const { rows } = await db.query<{ detail: Omit<BelowCentSettled, 'serviceId'> }>(
    `WITH made AS (SELECT count(*) AS n FROM billing_adjustments WHERE service_id = $1 AND adjustment_id LIKE $2::text || '%'),
     below AS (SELECT b.*, $2::text || ((SELECT n FROM made) + row_number() OVER (ORDER BY b.currency NULLS FIRST))::text AS adjustment_id
               FROM (${belowCentLeftSql('s.service_id = $1')}) b),
     bill AS (SELECT batch_id, period FROM billing_batches WHERE service_id = $1 ORDER BY created_at DESC, period DESC LIMIT 1),
     settled AS (
       INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, source_batch_id, description)
       SELECT below.adjustment_id, $1, 'rounding', -below.amount, below.currency, (SELECT batch_id FROM bill),
         'below one cent (' || below.amount::text || ') left at termination: settled, no bill can take it'
       FROM below
       RETURNING adjustment_id
     ), detail AS (
       SELECT jsonb_build_object('clientId', below.client_id, 'amount', below.amount::text, 'currency', below.currency, 'adjustmentId', settled.adjustment_id,
         'batchId', (SELECT batch_id FROM bill), 'period', (SELECT period FROM bill)) AS detail
       FROM below JOIN settled ON settled.adjustment_id = below.adjustment_id
     ), audit AS (
       INSERT INTO audit_log (actor, action, service_id, detail) SELECT 'billing', $3, $1, detail FROM detail
     )
     SELECT detail FROM detail ORDER BY length(detail->>'adjustmentId'), detail->>'adjustmentId'`,
    [serviceId, `${BELOW_CENT_PREFIX}${serviceId}-`, BELOW_CENT_SETTLED_ACTION],
  );
  return rows.map((row) => ({ serviceId, ...row.detail }));
}

/**
 * Whether the service's unbilled rated calls of `period` and earlier come to less than a cent (none:
 * false): no prepaid invoice can be made of them (prepaidInvoiceLineSql). Not those a release holds (releasedCallHeldSql):
 * no invoice or bill takes them until re-rated, and summed with them (another currency) the rest was never "below".
 */
export async function unbilledCallsBelowCent(db: Pool | PoolClient, serviceId: number, period: string): Promise<boolean> {
  const { rows } = await db.query<{ below: boolean }>(
    `SELECT count(*) > 0 AND NOT ${prepaidInvoiceLineSql('COALESCE(sum(c.amount), 0)')} AS below
     FROM cdr_charges c WHERE c.service_id = $1 AND ${unbilledRatedChargeSql('c')} AND c.period <= $2 AND NOT ${releasedCallHeldSql('c')}`,
    [serviceId, period],
  );
  return rows[0]?.below === true;
}

/** What a period's bill adds to its calls, and what it comes to once made. */
export interface PeriodBill {
  /** the batch's total (its calls, those of earlier periods that came late included, and its adjustments); null before it is made */
  total: string | null;
  /**
   * Its adjustments and credits (re-rating of invoiced calls, carried cent remainders, manual credits) per currency (trimmed; null for those recorded with none), exact decimals, those summing to
   * zero left out: a bill takes only its own currency's, so a -5.00 EUR credit beside 3.00 USD pending is two lines,
   * never "-2.00". A made batch's are of its one currency.
   */
  adjustments: AdjustmentSum[];
}

/** One currency's share of a bill's adjustments. */
export interface AdjustmentSum {
  currency: string | null;
  /** exact decimal string, may be negative */
  amount: string;
}

/**
 * The period whose bill takes the adjustments pending now. Every close (BILLING_CLOSE_EVERY_SECONDS)
 * bills the closing period (ended at least BILLING_CLOSE_DELAY_SECONDS ago) and its batch takes every
 * pending adjustment: while that batch is not made (the hours after a period ends, or a service that
 * had nothing to bill until now), the closing period's bill takes them, unless the close would find
 * nothing to bill (sub-cent remainders only); once it is made, the bill of the period after it, or,
 * when that bill is made already too (a terminated service's final bill, made when it ended rather
 * than at its period's close, whose close then finds it made and takes nothing more), the first
 * period after it without a bill. `callsOnPrepaidInvoices` as the close decides it: a prepaid
 * service's calls never count then.
 */
export async function pendingAdjustmentsPeriod(
  db: Pool | PoolClient,
  serviceId: number,
  now: Date,
  billing: { timeZone: string; closeDelaySeconds: number; periods: BillingPeriodsMode | undefined; callsOnPrepaidInvoices?: boolean },
): Promise<string> {
  const { timeZone, closeDelaySeconds } = billing;
  // Calendar months are a service's periods with no recorded cycle.
  const segments = (await billingPeriodsMode(db, billing.periods)) === 'calendar' ? null : await serviceCycleSegments(db, serviceId);
  const delayed = new Date(now.getTime() - closeDelaySeconds * 1000);
  const next = segments === null ? periodOf(delayed, timeZone) : servicePeriodLabeller(segments, timeZone)(delayed);
  const closing = segments === null ? latestClosedPeriod(now, timeZone, closeDelaySeconds) : latestClosedServicePeriod(now, timeZone, closeDelaySeconds, segments);
  const pending = await existingOrPending(db, batchIdFor(serviceId, closing), { serviceId, clientId: 0, period: closing, callsOnPrepaidInvoices: billing.callsOnPrepaidInvoices });
  if (pending && pending.batch_id === null && makesBatch(pending)) return closing;
  return firstPeriodWithoutBill(db, serviceId, next, segments ?? []);
}

/**
 * A terminated service's bill for calls rated after its final bill: the first period after `period`
 * (whose bill is made) without a bill yet. A bill takes the calls of its period and earlier ones, so
 * no earlier one can take them; a terminated service has no calls of its own in that later period.
 */
export async function laterBillPeriod(db: Pool | PoolClient, serviceId: number, period: string, periods: BillingPeriodsMode | undefined): Promise<string> {
  const segments = (await billingPeriodsMode(db, periods)) === 'calendar' ? [] : await serviceCycleSegments(db, serviceId);
  const after = servicePeriodOfDate(servicePeriodOfDate(labelStart(period), segments).end, segments).label;
  return firstPeriodWithoutBill(db, serviceId, after, segments);
}

/** `from`, or the first period after it whose batch is not made yet. */
async function firstPeriodWithoutBill(db: Pool | PoolClient, serviceId: number, from: string, segments: readonly CycleSegment[]): Promise<string> {
  const { rows } = await db.query<{ period: string }>('SELECT period FROM billing_batches WHERE service_id = $1 AND period >= $2', [serviceId, from]);
  const made = new Set(rows.map((row) => row.period));
  let period = from;
  while (made.has(period)) period = servicePeriodOfDate(servicePeriodOfDate(labelStart(period), segments).end, segments).label;
  return period;
}

/**
 * A period's bill as a usage view shows it: once the period's batch is made, its adjustments and
 * total; before that, with `pending` (the period is pendingAdjustmentsPeriod), the adjustments no
 * batch has taken yet, else none. Adjustments per currency (pendingSumsByCurrencySql), never summed across them.
 */
export async function periodBill(db: Pool | PoolClient, serviceId: number, period: string, options: { pending: boolean }): Promise<PeriodBill> {
  const { rows } = await db.query<{ made: boolean; total: string | null; currency: string | null; amount: string }>(
    `SELECT true AS made, b.total::text AS total, trim(b.currency) AS currency, b.adjustment_total::numeric(18,6)::text AS amount
     FROM billing_batches b WHERE b.batch_id = $2
     UNION ALL
     SELECT false, NULL, l.currency, l.amount::text FROM (${pendingSumsByCurrencySql('$1')}) l
     WHERE $3 AND NOT EXISTS (SELECT 1 FROM billing_batches WHERE batch_id = $2)
     ORDER BY 1 DESC, 3 NULLS FIRST`,
    [serviceId, batchIdFor(serviceId, period), options.pending],
  );
  const adjustments = rows.filter((row) => parseMoney(row.amount, { allowNegative: true }) !== 0n).map((row) => ({ currency: row.currency, amount: row.amount }));
  return { total: rows[0]?.made === true ? rows[0].total : null, adjustments };
}

export interface NewAdjustment {
  adjustmentId: string;
  serviceId: number;
  kind: 'rerate' | 'manual';
  /** decimal string, may be negative (a credit) */
  amount: string;
  currency: string | null;
  sourcePeriod: string | null;
  description: string;
}

export async function insertAdjustment(db: Pool | PoolClient, adjustment: NewAdjustment): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, source_period, description)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (adjustment_id) DO NOTHING`,
    [
      adjustment.adjustmentId,
      adjustment.serviceId,
      adjustment.kind,
      formatMoney(parseMoney(adjustment.amount, { allowNegative: true })),
      adjustment.currency,
      adjustment.sourcePeriod,
      adjustment.description,
    ],
  );
  return rowCount === 1;
}

export interface StoredAdjustment {
  adjustmentId: string;
  serviceId: number;
  kind: string;
  amount: string;
  currency: string | null;
  sourcePeriod: string | null;
  sourceBatchId: string | null;
  description: string;
  batchId: string | null;
}

export async function listAdjustments(
  db: Pool | PoolClient,
  query: { serviceId?: number; pendingOnly?: boolean; sourcePeriod?: string; kind?: string } = {},
): Promise<StoredAdjustment[]> {
  const { rows } = await db.query<{
    adjustment_id: string;
    service_id: string;
    kind: string;
    amount: string;
    currency: string | null;
    source_period: string | null;
    source_batch_id: string | null;
    description: string;
    batch_id: string | null;
  }>(
    `SELECT adjustment_id, service_id, kind, amount::text, currency, source_period, source_batch_id, description, batch_id FROM billing_adjustments
     WHERE ($1::bigint IS NULL OR service_id = $1) AND (NOT $2 OR batch_id IS NULL) AND ($3::text IS NULL OR source_period = $3)
       AND ($4::text IS NULL OR kind = $4)
     ORDER BY created_at, adjustment_id`,
    [query.serviceId ?? null, query.pendingOnly === true, query.sourcePeriod ?? null, query.kind ?? null],
  );
  return rows.map((row) => ({
    adjustmentId: row.adjustment_id,
    serviceId: Number(row.service_id),
    kind: row.kind,
    amount: row.amount,
    currency: row.currency === null ? null : row.currency.trim(),
    sourcePeriod: row.source_period,
    sourceBatchId: row.source_batch_id,
    description: row.description,
    batchId: row.batch_id,
  }));
}

/** A pushed batch is looked for on WHMCS invoices at most this often (WHMCS invoices at its daily cron)... */
export const VERIFY_EVERY_HOURS = 20;
/** ...and for this long after the push; after that it stays `pushed` (listed as unverified) for an operator. */
export const VERIFY_WINDOW_DAYS = 62;

/**
 * Pending adjustments a close can bill on their own, as an SQL condition on the sums per currency of the pending
 * `billing_adjustments` rows of the service `serviceId` names: one worth a cent or more once rounded (half
 * away from zero, as roundInvoiceLine; makesBatch's test). Sub-cent remainders alone are left out: a
 * close of them makes nothing, and a terminated service keeps its final bill's remainder for good,
 * which would otherwise cost a push job at every close, forever. So is a terminated service's credit:
 * no call will come to take it, and its bill would be a zero bill carrying it on, every month, forever
 * (recordCreditsLeft reports it instead; a charge after it makes a bill that takes it).
 */
function invoiceableSumSql(serviceId: string): string {
  // Per currency (pendingSumsByCurrencySql): a bill takes one currency's, and a +5.00 EUR must not hide behind a -5.00 USD.
  const sum = 'round(v.amount, 2)';
  return `EXISTS (SELECT 1 FROM (${pendingSumsByCurrencySql(serviceId)}) v
                  WHERE ${sum} > 0 OR (${sum} < 0 AND NOT EXISTS (SELECT 1 FROM services t WHERE t.service_id = ${serviceId} AND t.desired_state = 'terminated')))`;
}

/**
 * A terminated service's final bill is due BILLING_CLOSE_DELAY_SECONDS after its termination (when its
 * desired state became `terminated`, not its last change: a later write, such as the observed state a
 * purge records, must not put the bill off): the instant before which such a termination has it due
 * now. The push (finalBillDue) and the closes that list work for it (ServicesToBillOptions.finalBillDueBefore)
 * read it on the same clock.
 */
export function finalBillDueBefore(closeDelaySeconds: number, nowMs: number = Date.now()): Date {
  return new Date(nowMs - closeDelaySeconds * 1000);
}

/** Whether `service` is terminated and its final bill due (finalBillDueBefore). */
export function finalBillDue(service: { desiredState: string; terminatedAt: Date | null }, closeDelaySeconds: number): boolean {
  return service.desiredState === 'terminated' && service.terminatedAt !== null && service.terminatedAt.getTime() <= finalBillDueBefore(closeDelaySeconds).getTime();
}

export interface ServicesToBillOptions {
  /** pushed batches due for their verification on a WHMCS invoice are listed too */
  verify?: boolean;
  /**
   * A terminated service terminated before this has its final bill due (BILLING_CLOSE_DELAY_SECONDS after
   * its termination, on the clock pushBillingBatch reads): its calls rated after its period's bill are
   * billed at once on a later bill, so it is listed for them. Unset: every terminated service is.
   */
  finalBillDueBefore?: Date;
  /**
   * A prepaid plan's calls are billed on prepaid invoices (callsOnPrepaidInvoices: the WHMCS API and the
   * prepaid cadence on): its calls are listed only while the period's closing invoice is not made, the one
   * thing a close does with them. Unset: a prepaid plan's calls are listed as a postpaid one's.
   */
  prepaidInvoices?: boolean;
}

/**
 * SQL condition: a close of `period` (SQL text) can bill the unbilled work of the service `serviceId`
 * (SQL text) names, because the period's bill is not made yet (createBatch with an existing batch takes
 * nothing). Once it is made, a call rated after it (a CDR imported late) and an adjustment recorded
 * after it wait for the next period's bill, at that period's close: listing them at every hourly close
 * until then only made push jobs that billed nothing. With `terminated` (SQL text, a timestamp
 * parameter or NULL) a terminated service whose final bill is due is still listed for its calls:
 * pushBillingBatch puts them on a later bill at once (laterBillPeriod).
 */
function billableAtCloseSql(serviceId: string, period: string, terminated?: string): string {
  const noBill = `NOT EXISTS (SELECT 1 FROM billing_batches m WHERE m.service_id = ${serviceId} AND m.period = ${period})`;
  if (terminated === undefined) return noBill;
  return `(${noBill} OR ${finalBillDueSql(serviceId, terminated)})`;
}

/** SQL condition: the service `serviceId` names is terminated and its final bill due (terminated before `terminated`, or NULL: any). */
function finalBillDueSql(serviceId: string, terminated: string): string {
  return `EXISTS (SELECT 1 FROM services t WHERE t.service_id = ${serviceId} AND t.desired_state = 'terminated' AND (${terminated}::timestamptz IS NULL OR ${terminatedAtSql('t')} <= ${terminated}::timestamptz))`;
}

/**
 * The sums callsBillableAtCloseSql reads of a service's unbilled calls `c`: all of them (`amount`), and those a prepaid
 * invoice may take (`invoiceable`, `currencies`: not the calls a released invoice held, releasedCallHeldSql).
 */
const UNBILLED_SUMS_SQL = `COALESCE(sum(c.amount), 0) AS amount, COALESCE(sum(c.amount) FILTER (WHERE NOT ${releasedCallHeldSql('c')}), 0) AS invoiceable,
  count(DISTINCT c.currency) FILTER (WHERE NOT ${releasedCallHeldSql('c')}) AS currencies`;

/**
 * SQL condition, decided once per service (not per charge row): a close of `period` can bill the
 * unbilled calls of the service that `calls` (SQL alias of a row with `service_id`, `amount`, the
 * sum of its unbilled rated calls of the period and earlier, and `currencies`, how many currencies
 * they are rated in) and `service` (its `services` row, left
 * joined: none for a call of a service the bridge does not know) name. Postpaid (or with `prepaid`
 * false: SQL text, a boolean parameter), billableAtCloseSql. A prepaid service's calls never go in a
 * batch: its close puts those of the period and earlier on the period's closing invoice
 * (invoicePrepaidClose), once; after it, a call rated late waits for the next daily prepaid invoice
 * (up to CREDIT_PREPAID_INVOICE_EVERY_SECONDS), so listing it at every hourly close only made push
 * jobs that billed nothing (and a terminated prepaid service gets no later bill). Nor is it listed
 * while those calls come to less than a cent (createPrepaidInvoice's test: the line rounded half-up,
 * which PostgreSQL's round is for a positive sum): no invoice can be made of them, and the hourly job
 * made nothing, hour after hour. They stay unbilled rated calls, carried until they add up to a cent:
 * the next daily prepaid invoice (which takes every unbilled call) or a later period's closing
 * invoice bills them with the service's next calls, its sub-cent remainder carried as a rounding
 * adjustment like every invoice's. A terminated service makes no next calls: once its final bill is
 * due, such calls are listed, and its bill takes them as a postpaid service's (a zero bill, whose
 * carried amount is then settled as below one cent, settleBelowCent).
 */
function callsBillableAtCloseSql(calls: string, service: string, period: string, terminated: string, prepaid: string): string {
  const isPrepaid = `(${prepaid} AND ${service}.plan->>'billingMode' = 'prepaid')`;
  // The closing invoice by its service and period (prepaid_invoices_closing), not by its key's format (prepaidCloseKey's alone).
  const closingInvoiceMade = `EXISTS (SELECT 1 FROM prepaid_invoices i WHERE i.service_id = ${calls}.service_id AND i.closing_period = ${period})`;
  // In several currencies no invoice can hold them: listed until that is reported for the period (once), not every hour.
  const worthACent = prepaidInvoiceLineSql(`${calls}.invoiceable`);
  const invoiceable = `${worthACent} AND (${calls}.currencies <= 1 OR NOT ${prepaidCurrenciesMixedReportedSql(`${calls}.service_id`, period)})`;
  // A terminated one's calls under a cent (its final bill due) never reach one: its bill takes them (pushBillingBatch), once.
  const belowCentFinal = `NOT ${prepaidInvoiceLineSql(`${calls}.amount`)} AND ${finalBillDueSql(`${calls}.service_id`, terminated)}`;
  // A bill held for calls in several currencies (reported once for the period) is not listed again until they are in one.
  const held = batchCurrenciesMixedHeldSql(`${calls}.service_id`, period, prepaid);
  return `((CASE WHEN ${isPrepaid} THEN (${invoiceable} AND NOT ${closingInvoiceMade}) OR (${belowCentFinal}) ELSE ${billableAtCloseSql(`${calls}.service_id`, period, terminated)} END) AND NOT ${held})`;
}

/**
 * Services with something to bill up to `period`: unbilled rated charges or pending adjustments worth a
 * cent that the period's bill can still take (callsBillableAtCloseSql, billableAtCloseSql), a batch not
 * yet final (any period) that needs pushing or reconciling, and (with `verify`) a pushed batch due for
 * its verification on a WHMCS invoice.
 */
export async function servicesToBill(db: Pool | PoolClient, period: string, options: ServicesToBillOptions = {}): Promise<{ serviceId: number; period: string }[]> {
  const { rows } = await db.query<{ service_id: string; period: string }>(
    `WITH unbilled AS (SELECT c.service_id, ${UNBILLED_SUMS_SQL} FROM cdr_charges c
                       WHERE ${unbilledRatedChargeSql('c')} AND c.period <= $1 GROUP BY c.service_id)
     SELECT u.service_id, $1::text AS period FROM unbilled u LEFT JOIN services s ON s.service_id = u.service_id
     WHERE ${callsBillableAtCloseSql('u', 's', '$1', '$5', '$6')}
     UNION
     SELECT p.service_id, $1::text FROM billing_adjustments p
     WHERE p.batch_id IS NULL AND ${billableAtCloseSql('p.service_id', '$1')} AND NOT ${batchCurrenciesMixedHeldSql('p.service_id', '$1', '$6')}
     GROUP BY p.service_id HAVING ${invoiceableSumSql('p.service_id')}
     UNION
     SELECT service_id, period FROM billing_batches WHERE state NOT IN ('pushed', 'verified', 'zero')
     UNION
     SELECT service_id, period FROM billing_batches
     WHERE $2 AND state = 'pushed' AND pushed_at > now() - make_interval(days => $3)
       AND (verify_checked_at IS NULL OR verify_checked_at < now() - make_interval(hours => $4))
     ORDER BY 1, 2`,
    [period, options.verify === true, VERIFY_WINDOW_DAYS, VERIFY_EVERY_HOURS, options.finalBillDueBefore ?? null, options.prepaidInvoices === true],
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), period: row.period }));
}

/** Services with unbilled rated charges (unbilledRatedChargeSql: a call on a prepaid invoice is billed) or pending adjustments worth a cent (any period): the candidates of a service-period close. */
export async function servicesWithUnbilledWork(db: Pool | PoolClient): Promise<number[]> {
  const { rows } = await db.query<{ service_id: string }>(
    `SELECT DISTINCT c.service_id FROM cdr_charges c WHERE ${unbilledRatedChargeSql('c')}
     UNION SELECT a.service_id FROM billing_adjustments a WHERE a.batch_id IS NULL GROUP BY a.service_id HAVING ${invoiceableSumSql('a.service_id')} ORDER BY 1`,
  );
  return rows.map((row) => Number(row.service_id));
}

/**
 * servicesToBill for service billing periods: each service has its own closing period (`closing`,
 * service → label, from its cycle). A service is listed with its label when it has unbilled rated
 * charges of that or an earlier period or pending adjustments worth a cent that the period's bill can
 * still take (callsBillableAtCloseSql, billableAtCloseSql); batches not yet final and pushed batches due for verification are
 * listed as in servicesToBill.
 */
export async function servicesToBillPerService(
  db: Pool | PoolClient,
  closing: ReadonlyMap<number, string>,
  options: ServicesToBillOptions = {},
): Promise<{ serviceId: number; period: string }[]> {
  const { rows } = await db.query<{ service_id: string; period: string }>(
    `WITH closing AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS t(service_id, period)),
     unbilled AS (SELECT k.service_id, ${UNBILLED_SUMS_SQL} FROM closing k
                  JOIN cdr_charges c ON c.service_id = k.service_id AND ${unbilledRatedChargeSql('c')} AND c.period <= k.period GROUP BY k.service_id)
     SELECT k.service_id, k.period FROM closing k LEFT JOIN unbilled u ON u.service_id = k.service_id LEFT JOIN services s ON s.service_id = k.service_id
     WHERE (u.service_id IS NOT NULL AND ${callsBillableAtCloseSql('u', 's', 'k.period', '$6', '$7')})
        OR (${invoiceableSumSql('k.service_id')}
            AND ${billableAtCloseSql('k.service_id', 'k.period')} AND NOT ${batchCurrenciesMixedHeldSql('k.service_id', 'k.period', '$7')})
     UNION
     SELECT service_id, period FROM billing_batches WHERE state NOT IN ('pushed', 'verified', 'zero')
     UNION
     SELECT service_id, period FROM billing_batches
     WHERE $3 AND state = 'pushed' AND pushed_at > now() - make_interval(days => $4)
       AND (verify_checked_at IS NULL OR verify_checked_at < now() - make_interval(hours => $5))
     ORDER BY 1, 2`,
    [
      [...closing.keys()],
      [...closing.values()],
      options.verify === true,
      VERIFY_WINDOW_DAYS,
      VERIFY_EVERY_HOURS,
      options.finalBillDueBefore ?? null,
      options.prepaidInvoices === true,
    ],
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), period: row.period }));
}

import type { Pool, PoolClient } from 'pg';
import { formatMoney, parseMoney, roundInvoiceLine } from '@ictvoip/rating';
import { unbilledRatedChargeSql } from './cdr-charges-repository';
import { currenciesMixedReportedSql, PREPAID_CURRENCIES_MIXED_ACTION, recordCurrenciesMixed, releasedCallHeldSql } from './currencies-mixed';
import { inTransaction } from './transaction';

/**
 * Prepaid usage invoices (credit control): the service's rated calls not yet billed, put on a WHMCS
 * invoice (CreateInvoice, token in the notes) and paid from the client's credit (ApplyCredit), at
 * most one per service and day. States:
 *   creating ──► created ──► paid      (invoice made, id recorded; credit applied until it is paid)
 *       └──────► unknown ──► created   (CreateInvoice outcome unknown: found by its token, or sent again when provably absent)
 *   creating/unknown ──► abandoned      (held for CURRENCY_MISMATCH and released by an operator, releasePrepaidInvoice)
 * The row, its charges and the rounding remainder (carried to the next bill) commit together before
 * WHMCS is called.
 */
export type PrepaidInvoiceState = 'creating' | 'unknown' | 'created' | 'paid' | 'abandoned';

export interface PrepaidInvoice {
  invoiceKey: string;
  serviceId: number;
  clientId: number;
  day: string;
  state: PrepaidInvoiceState;
  total: string;
  lineAmount: string;
  callCount: number;
  billedSeconds: number;
  currency: string | null;
  description: string;
  token: string;
  whmcsInvoiceId: number | null;
  creditApplied: string;
  attempts: number;
  lastError: string | null;
  updatedAt: Date;
}

interface Row {
  invoice_key: string;
  service_id: string;
  client_id: string;
  day: string;
  state: PrepaidInvoiceState;
  total: string;
  line_amount: string;
  call_count: number;
  billed_seconds: string;
  currency: string | null;
  description: string;
  token: string;
  whmcs_invoice_id: string | null;
  credit_applied: string;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
}

const COLUMNS = `invoice_key, service_id, client_id, day::text, state, total::text, line_amount::text, call_count, billed_seconds, currency, description, token,
  whmcs_invoice_id, credit_applied::text, attempts, last_error, updated_at`;

const toInvoice = (row: Row): PrepaidInvoice => ({
  invoiceKey: row.invoice_key,
  serviceId: Number(row.service_id),
  clientId: Number(row.client_id),
  day: row.day,
  state: row.state,
  total: row.total,
  lineAmount: row.line_amount,
  callCount: row.call_count,
  billedSeconds: Number(row.billed_seconds),
  currency: row.currency === null ? null : row.currency.trim(),
  description: row.description,
  token: row.token,
  whmcsInvoiceId: row.whmcs_invoice_id === null ? null : Number(row.whmcs_invoice_id),
  creditApplied: row.credit_applied,
  attempts: row.attempts,
  lastError: row.last_error,
  updatedAt: row.updated_at,
});

export function prepaidInvoiceKey(serviceId: number, day: string): string {
  return `pp-${serviceId}-${day}`;
}

/** Put in the invoice's notes and line; findInvoiceByToken looks for it. */
export function prepaidTokenFor(invoiceKey: string): string {
  return `[ictvoip:${invoiceKey}]`;
}

export async function listPrepaidInvoices(db: Pool | PoolClient, query: { serviceId?: number } = {}): Promise<PrepaidInvoice[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM prepaid_invoices WHERE ($1::bigint IS NULL OR service_id = $1) ORDER BY service_id, day`, [query.serviceId ?? null]);
  return rows.map(toInvoice);
}

/**
 * Prepaid invoices not made because their client pays in another currency than their calls (their last error says
 * CURRENCY_MISMATCH): held until an operator changes the client's currency in WHMCS. Oldest first.
 */
export async function listPrepaidInvoicesHeldForCurrency(db: Pool | PoolClient): Promise<PrepaidInvoice[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM prepaid_invoices WHERE state IN ('creating', 'unknown') AND last_error LIKE 'CURRENCY\\_MISMATCH:%' ORDER BY day, service_id`,
  );
  return rows.map(toInvoice);
}

/** An invoice still to be made or paid: neither paid nor released (abandoned). */
const OPEN_SQL = `state NOT IN ('paid', 'abandoned')`;

/** The service's oldest prepaid invoice not yet paid (it is finished before another is made). */
export async function openPrepaidInvoice(db: Pool | PoolClient, serviceId: number): Promise<PrepaidInvoice | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM prepaid_invoices WHERE service_id = $1 AND ${OPEN_SQL} ORDER BY day LIMIT 1`, [serviceId]);
  return rows[0] ? toInvoice(rows[0]) : null;
}

/** The closing invoice of a period: the calls of the period not yet on a daily invoice (see createPrepaidInvoice). */
export function prepaidCloseKey(serviceId: number, period: string): string {
  return `pp-${serviceId}-close-${period}`;
}

export interface PrepaidInvoiceInput {
  serviceId: number;
  clientId: number;
  /** the local day it is made (the daily invoice's day; a closing invoice records the day of its close) */
  day: string;
  /** a period's closing invoice: only charges of this period or earlier, key `pp-<service>-close-<period>` */
  closingPeriod?: string;
}

/**
 * SQL: whether `sum` (a positive sum of unbilled rated calls) makes a prepaid invoice line, as
 * createPrepaidInvoice decides it: the line rounded half-up to the cent (roundInvoiceLine; PostgreSQL's
 * round is half-up for a positive numeric) is more than zero. The listings that make its jobs (the
 * daily prepaid run, the period close) read it, so they list no service it would make nothing of.
 */
export function prepaidInvoiceLineSql(sum: string): string {
  return `round(${sum}, 2) > 0`;
}

// A daily invoice takes every unbilled call; a closing one only those of its period and earlier ($3).
// Nor a call a released invoice held (releasedCallHeldSql): it would be held again.
const PREPAID_SCOPE_SQL = `service_id = $1 AND batch_id IS NULL AND prepaid_invoice IS NULL AND status = 'rated' AND ($3::text IS NULL OR period <= $3)
    AND NOT ${releasedCallHeldSql('cdr_charges')}`;

/** What a prepaid invoice would hold: its calls, their exact sum and its line (rounded to the cent). */
export interface PrepaidInvoiceDraft {
  invoiceKey: string;
  calls: number;
  billedSeconds: number;
  /** exact decimal, 6 places */
  total: string;
  /** the invoice line, 2 places */
  lineAmount: string;
  currency: string | null;
}

/**
 * What createPrepaidInvoice would make of the service's calls now (null: nothing — no call, a line under a cent, calls
 * in several currencies, or the key made already), read only: the close's dry run shows the same.
 */
export async function draftPrepaidInvoice(db: Pool | PoolClient, input: Pick<PrepaidInvoiceInput, 'serviceId' | 'day' | 'closingPeriod'>): Promise<PrepaidInvoiceDraft | null> {
  const closing = input.closingPeriod ?? null;
  const key = closing === null ? prepaidInvoiceKey(input.serviceId, input.day) : prepaidCloseKey(input.serviceId, closing);
  const { rows: sums } = await db.query<{ calls: string; seconds: string; amount: string; currencies: string[]; taken: boolean }>(
    `SELECT count(*)::text AS calls, COALESCE(sum(billable_seconds), 0)::text AS seconds, COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount,
       COALESCE(array_agg(DISTINCT currency) FILTER (WHERE currency IS NOT NULL), '{}') AS currencies,
       EXISTS (SELECT 1 FROM prepaid_invoices WHERE invoice_key = $2) AS taken
     FROM cdr_charges WHERE ${PREPAID_SCOPE_SQL}`,
    [input.serviceId, key, closing],
  );
  const found = sums[0];
  if (!found || found.taken || found.calls === '0' || found.currencies.length > 1) return null;
  const total = parseMoney(found.amount);
  const line = roundInvoiceLine(total);
  if (line <= 0n) return null;
  const currency = found.currencies[0];
  return {
    invoiceKey: key,
    calls: Number(found.calls),
    billedSeconds: Number(found.seconds),
    total: formatMoney(total),
    lineAmount: formatMoney(line, 2),
    currency: currency === undefined ? null : currency.trim(),
  };
}

/**
 * Makes the day's prepaid invoice (or, with `closingPeriod`, the period's closing invoice) from the
 * service's unbilled rated charges (the caller holds the service's billing lock): null when there is
 * nothing to invoice or the key already exists (draftPrepaidInvoice). The row (in `creating`, attempt 1), its charges and
 * the sub-cent remainder commit together.
 */
export async function createPrepaidInvoice(client: PoolClient, input: PrepaidInvoiceInput): Promise<PrepaidInvoice | null> {
  const closing = input.closingPeriod ?? null;
  return inTransaction(client, async () => {
    const draft = await draftPrepaidInvoice(client, input);
    if (!draft) return null;
    const key = draft.invoiceKey;
    const total = parseMoney(draft.total);
    const line = parseMoney(draft.lineAmount);
    const token = prepaidTokenFor(key);
    const minutes = Math.ceil(draft.billedSeconds / 60);
    const what = closing === null ? input.day : `${closing} (period close)`;
    const description = `Prepaid calls ${what}: ${draft.calls} calls, ${minutes} min ${token}`;
    const { rows } = await client.query<Row>(
      `INSERT INTO prepaid_invoices (invoice_key, service_id, client_id, day, state, total, line_amount, call_count, billed_seconds, currency, description, token, attempts, closing_period)
       VALUES ($1, $2, $3, $4, 'creating', $5, $6, $7, $8, $9, $10, $11, 1, $12) RETURNING ${COLUMNS}`,
      [key, input.serviceId, input.clientId, input.day, draft.total, draft.lineAmount, draft.calls, draft.billedSeconds, draft.currency, description, token, closing],
    );
    await client.query(`UPDATE cdr_charges SET prepaid_invoice = $2 WHERE ${PREPAID_SCOPE_SQL}`, [input.serviceId, key, closing]);
    const remainder = total - line;
    if (remainder !== 0n) {
      // Billed + carried = rated, to the micro-unit: the remainder rides on the service's next batch.
      await client.query(
        `INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, description) VALUES ($1, $2, 'rounding', $3, $4, $5)
         ON CONFLICT (adjustment_id) DO NOTHING`,
        [`rounding-${key}`, input.serviceId, formatMoney(remainder), draft.currency, `rounding remainder of prepaid invoice ${key}`],
      );
    }
    return toInvoice(rows[0]!);
  });
}

/**
 * SQL condition: the service `serviceId` names had its prepaid calls in several currencies reported for
 * the closing period `period` (both SQL text). The close lists such a service once per period, not at
 * every hourly close: nothing changes until the calls are re-rated with one deck.
 */
export function prepaidCurrenciesMixedReportedSql(serviceId: string, period: string): string {
  return currenciesMixedReportedSql(PREPAID_CURRENCIES_MIXED_ACTION, serviceId, period);
}

/**
 * A prepaid service's unbilled calls of `period` and earlier rated in several currencies (a deck changed
 * its currency, a plan moved to another deck's): no invoice can hold them (createPrepaidInvoice makes
 * none), so the close's invoice would fail silently, hour after hour. Recorded once per service and
 * period (audit `billing.prepaid_currencies_mixed`, with the currencies, recordCurrenciesMixed): returns
 * them when recorded now, null when there is no such mix or it was reported already. Calls a released invoice held
 * (releasedCallHeldSql) are not counted: no invoice would take them anyway (they wait to be re-rated, a different
 * hold, listCurrenciesMixedHeld's `released`), so with them the calls the closing invoice takes are not mixed.
 */
export async function reportPrepaidCurrenciesMixed(db: Pool | PoolClient, serviceId: number, period: string): Promise<string[] | null> {
  const { rows } = await db.query<{ currencies: string[] }>(
    `SELECT array_agg(DISTINCT trim(c.currency) ORDER BY trim(c.currency)) AS currencies FROM cdr_charges c
     WHERE c.service_id = $1 AND ${unbilledRatedChargeSql('c')} AND c.period <= $2 AND NOT ${releasedCallHeldSql('c')}
     HAVING count(DISTINCT trim(c.currency)) > 1`,
    [serviceId, period],
  );
  const currencies = rows[0]?.currencies;
  if (!currencies) return null;
  return (await recordCurrenciesMixed(db, PREPAID_CURRENCIES_MIXED_ACTION, serviceId, period, currencies)) ? currencies : null;
}

/** The audit action of a prepaid invoice WHMCS cannot take: its client pays in another currency than its calls' (recordPrepaidCurrencyMismatch). */
export const PREPAID_CURRENCY_MISMATCH_ACTION = 'billing.prepaid_currency_mismatch';

/**
 * A prepaid invoice whose client pays in `pays` while its calls are rated in `rated`: it stays `creating` (its last error
 * says why) and every run finds the same, until an operator changes the client's currency in WHMCS. Recorded once per
 * invoice (audit billing.prepaid_currency_mismatch): true when recorded now (the caller logs it then, not at every run).
 */
export async function recordPrepaidCurrencyMismatch(
  db: Pool | PoolClient,
  invoice: { invoiceKey: string; serviceId: number; clientId: number },
  pays: string | null,
  rated: string | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO audit_log (actor, action, service_id, detail)
     SELECT 'billing', $1::text, $2, jsonb_build_object('invoiceKey', $3::text, 'clientId', $4::bigint, 'pays', $5::text, 'rated', $6::text)
     WHERE NOT EXISTS (SELECT 1 FROM audit_log x WHERE x.service_id = $2 AND x.action = $1::text AND x.detail->>'invoiceKey' = $3::text)`,
    [PREPAID_CURRENCY_MISMATCH_ACTION, invoice.serviceId, invoice.invoiceKey, invoice.clientId, pays, rated],
  );
  return rowCount === 1;
}

/** Moves an invoice on (only from `from`); returns the row as stored, or null when it was in another state. */
export async function updatePrepaidInvoice(
  db: Pool | PoolClient,
  invoiceKey: string,
  from: readonly PrepaidInvoiceState[],
  change: { state: PrepaidInvoiceState; whmcsInvoiceId?: number; creditApplied?: string; lastError?: string | null; attempt?: boolean },
): Promise<PrepaidInvoice | null> {
  const { rows } = await db.query<Row>(
    `UPDATE prepaid_invoices SET state = $3, whmcs_invoice_id = COALESCE($4, whmcs_invoice_id), credit_applied = COALESCE($5::numeric, credit_applied),
       last_error = $6, attempts = attempts + CASE WHEN $7 THEN 1 ELSE 0 END, paid_at = CASE WHEN $3 = 'paid' THEN now() ELSE paid_at END, updated_at = now()
     WHERE invoice_key = $1 AND state = ANY($2::text[]) RETURNING ${COLUMNS}`,
    [invoiceKey, from, change.state, change.whmcsInvoiceId ?? null, change.creditApplied ?? null, change.lastError?.slice(0, 2000) ?? null, change.attempt === true],
  );
  return rows[0] ? toInvoice(rows[0]) : null;
}

/**
 * Prepaid services with rated charges on no invoice or batch yet worth a cent (the line
 * createPrepaidInvoice would make, rounded half-up, as PostgreSQL's round is for a positive sum), or
 * an invoice not yet paid, whatever their state: a terminated service's last calls (synced after the
 * termination) and unfinished invoices still go to WHMCS. Calls under a cent make no invoice: they are
 * carried, unbilled, until the service's calls reach a cent, not listed at every run meanwhile. Nor are
 * calls rated in several currencies (no invoice can hold them; the period's close reports them once,
 * reportPrepaidCurrenciesMixed, and they are listed again once re-rated in one), nor calls a released invoice held.
 */
export async function servicesToInvoicePrepaid(db: Pool | PoolClient): Promise<number[]> {
  const { rows } = await db.query<{ service_id: string }>(
    `SELECT s.service_id FROM services s
     WHERE s.plan->>'billingMode' = 'prepaid'
       AND ((SELECT ${prepaidInvoiceLineSql('COALESCE(sum(c.amount), 0)')} AND count(DISTINCT c.currency) <= 1
             FROM cdr_charges c WHERE c.service_id = s.service_id AND ${unbilledRatedChargeSql('c')} AND NOT ${releasedCallHeldSql('c')})
         OR EXISTS (SELECT 1 FROM prepaid_invoices p WHERE p.service_id = s.service_id AND p.${OPEN_SQL}))
     ORDER BY 1`,
  );
  return rows.map((row) => Number(row.service_id));
}

/** The audit action of a held prepaid invoice released by an operator (releasePrepaidInvoice). */
export const PREPAID_INVOICE_RELEASED_ACTION = 'billing.prepaid_invoice_released';

/** Why a release was refused: `INVOICE_UNKNOWN`, `NOT_HELD_FOR_CURRENCY`, `RELEASE_MISMATCH`. */
export class PrepaidReleaseError extends Error {
  constructor(
    readonly code: 'INVOICE_UNKNOWN' | 'NOT_HELD_FOR_CURRENCY' | 'RELEASE_MISMATCH',
    message: string,
  ) {
    super(message);
    this.name = 'PrepaidReleaseError';
  }
}

export interface PrepaidRelease {
  /** false: it was released before (the invoice as stored then, nothing changed now) */
  released: boolean;
  invoice: PrepaidInvoice;
  /** the calls that went back to unbilled (none when released before) */
  calls: number;
  /** their sum, exact decimal */
  total: string;
  /** their billing periods (to re-rate them in), oldest first */
  periods: string[];
  /** the adjustment taking back the invoice's carried rounding remainder (null: it carried none) */
  remainderAdjustment: { adjustmentId: string; amount: string } | null;
}

/** Throws NOT_HELD_FOR_CURRENCY unless the invoice is held for its client's currency (or released already). */
export function assertReleasable(invoice: PrepaidInvoice): void {
  if (invoice.state === 'abandoned') return;
  if ((invoice.state === 'creating' || invoice.state === 'unknown') && invoice.lastError?.startsWith('CURRENCY_MISMATCH:')) return;
  throw new PrepaidReleaseError(
    'NOT_HELD_FOR_CURRENCY',
    `prepaid invoice ${invoice.invoiceKey} is ${invoice.state}${invoice.lastError ? ` (${invoice.lastError})` : ''}: only an invoice held because its client pays in another currency (CURRENCY_MISMATCH) is released`,
  );
}

/** The invoices a release names: the one of that key, or every invoice of the service held for its client's currency. */
export async function prepaidInvoicesToRelease(db: Pool | PoolClient, target: { invoiceKey: string } | { serviceId: number }): Promise<PrepaidInvoice[]> {
  if ('serviceId' in target) return (await listPrepaidInvoicesHeldForCurrency(db)).filter((invoice) => invoice.serviceId === target.serviceId);
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM prepaid_invoices WHERE invoice_key = $1`, [target.invoiceKey]);
  return rows.map(toInvoice);
}

/**
 * Releases a prepaid invoice held because its client pays in another currency than its calls (still `creating` or
 * `unknown`, its last error CURRENCY_MISMATCH): its calls go back to unbilled (held, releasedCallHeldSql, until
 * re-rated), the rounding remainder it carried is taken back by an adjustment of the opposite amount
 * (`released-<key>`), the invoice is kept as `abandoned` (its key and closing period are never made again) and the
 * audit entry `billing.prepaid_invoice_released` says so, in one commit. Nothing is lost or billed twice: each call is
 * again on no invoice and no batch, and the remainder is carried once. The caller holds the service's billing lock and
 * has made sure WHMCS has no invoice with its token (an attempt whose answer was lost may have made it). With `dryRun`
 * the same work is rolled back. Run again, it changes nothing (`released: false`).
 */
export async function releasePrepaidInvoice(client: PoolClient, invoiceKey: string, options: { actor: string; dryRun?: boolean }): Promise<PrepaidRelease> {
  await client.query('BEGIN');
  try {
    const outcome = await releaseInTransaction(client, invoiceKey, options.actor);
    await client.query(options.dryRun || !outcome.released ? 'ROLLBACK' : 'COMMIT');
    return outcome;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function releaseInTransaction(client: PoolClient, invoiceKey: string, actor: string): Promise<PrepaidRelease> {
  const { rows } = await client.query<Row>(`SELECT ${COLUMNS} FROM prepaid_invoices WHERE invoice_key = $1 FOR UPDATE`, [invoiceKey]);
  const found = rows[0];
  if (!found) throw new PrepaidReleaseError('INVOICE_UNKNOWN', `no prepaid invoice ${invoiceKey}`);
  const invoice = toInvoice(found);
  if (invoice.state === 'abandoned') return { released: false, invoice, calls: 0, total: formatMoney(0n), periods: [], remainderAdjustment: null };
  assertReleasable(invoice);
  const { rows: freed } = await client.query<{ calls: number; total: string; periods: string[] }>(
    `WITH freed AS (UPDATE cdr_charges SET prepaid_invoice = NULL WHERE prepaid_invoice = $1 RETURNING amount, period)
     SELECT count(*)::int AS calls, COALESCE(sum(amount), 0)::numeric(18,6)::text AS total,
       COALESCE(array_agg(DISTINCT period ORDER BY period), '{}') AS periods FROM freed`,
    [invoiceKey],
  );
  const calls = freed[0] ?? { calls: 0, total: '0', periods: [] };
  // The invoice's total is its calls' sum (createPrepaidInvoice); anything else and the release would not add up.
  if (parseMoney(calls.total) !== parseMoney(invoice.total) || calls.calls !== invoice.callCount)
    throw new PrepaidReleaseError(
      'RELEASE_MISMATCH',
      `prepaid invoice ${invoiceKey} holds ${calls.calls} call(s) of ${calls.total}, not its recorded ${invoice.callCount} of ${invoice.total}: nothing released`,
    );
  const { rows: taken } = await client.query<{ adjustment_id: string; amount: string }>(
    `INSERT INTO billing_adjustments (adjustment_id, service_id, kind, amount, currency, description)
     SELECT 'released-' || $1::text, service_id, 'rounding', -amount, currency, 'rounding remainder of prepaid invoice ' || $1::text || ' taken back: the invoice was released, its calls are billed again'
     FROM billing_adjustments WHERE adjustment_id = 'rounding-' || $1::text
     ON CONFLICT (adjustment_id) DO NOTHING RETURNING adjustment_id, amount::text`,
    [invoiceKey],
  );
  const remainder = taken[0] ? { adjustmentId: taken[0].adjustment_id, amount: taken[0].amount } : null;
  const { rows: updated } = await client.query<Row>(
    `UPDATE prepaid_invoices SET state = 'abandoned', released_at = now(), updated_at = now() WHERE invoice_key = $1 RETURNING ${COLUMNS}`,
    [invoiceKey],
  );
  await client.query(
    `INSERT INTO audit_log (actor, action, service_id, detail) VALUES ($1, $2, $3, jsonb_build_object('invoiceKey', $4::text, 'clientId', $5::bigint, 'calls', $6::int,
       'total', $7::text, 'currency', $8::text, 'reason', $9::text, 'remainderAdjustment', $10::text))`,
    [
      actor,
      PREPAID_INVOICE_RELEASED_ACTION,
      invoice.serviceId,
      invoiceKey,
      invoice.clientId,
      calls.calls,
      calls.total,
      invoice.currency,
      invoice.lastError,
      remainder?.adjustmentId ?? null,
    ],
  );
  return { released: true, invoice: toInvoice(updated[0]!), calls: calls.calls, total: calls.total, periods: calls.periods, remainderAdjustment: remainder };
}

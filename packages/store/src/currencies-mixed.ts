import type { Pool, PoolClient } from 'pg';
import { unbilledRatedChargeSql } from './cdr-charges-repository';

/**
 * Unbilled work rated in several currencies (a deck's currency changed, a plan moved to another deck's)
 * fits on no bill: a WHMCS invoice line has one currency, the client's. Nothing changes until an operator
 * re-rates it in one, so it is reported once per service and closing period (an audit entry of one of
 * these actions, detail `{ period, currencies }`) and the close lists the service no more for that
 * period; in one currency again, it is listed and billed as usual.
 *   prepaid: the calls of a prepaid service's closing invoice (reportPrepaidCurrenciesMixed)
 *   batch:   the calls and pending adjustments of a bill (createBatch's BillingCurrencyMixedError)
 */
export const PREPAID_CURRENCIES_MIXED_ACTION = 'billing.prepaid_currencies_mixed';
export const BATCH_CURRENCIES_MIXED_ACTION = 'billing.batch_currencies_mixed';
export type CurrenciesMixedAction = typeof PREPAID_CURRENCIES_MIXED_ACTION | typeof BATCH_CURRENCIES_MIXED_ACTION;

/** SQL condition: `action` was reported for the service `serviceId` names and the closing period `period` (both SQL text). */
export function currenciesMixedReportedSql(action: CurrenciesMixedAction, serviceId: string, period: string): string {
  return `EXISTS (SELECT 1 FROM audit_log x WHERE x.service_id = ${serviceId} AND x.action = '${action}' AND x.detail->>'period' = ${period})`;
}

/**
 * Records `action` for the service and period, unless it was already: true when recorded now (the caller
 * then says so in its log, once). The caller holds the service's billing lock.
 */
export async function recordCurrenciesMixed(
  db: Pool | PoolClient,
  action: CurrenciesMixedAction,
  serviceId: number,
  period: string,
  currencies: readonly string[],
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO audit_log (actor, action, service_id, detail)
     SELECT 'billing', $1::text, $2, jsonb_build_object('period', $3::text, 'currencies', $4::jsonb)
     WHERE NOT ${currenciesMixedReportedSql(action, '$2', '$3::text')}`,
    [action, serviceId, period, JSON.stringify([...currencies].sort())],
  );
  return rowCount === 1;
}

/**
 * SQL condition on the `cdr_charges` row aliased `alias`: a call its service's released prepaid invoice held
 * (releasePrepaidInvoice), not re-rated since (in that invoice's currency, rated before its release). It goes on no
 * prepaid invoice: its client pays in another currency, so the invoice would be held again; re-rated (in the client's
 * currency, `ictvoip rerate`) it is invoiced as usual.
 */
export function releasedCallHeldSql(alias: string): string {
  // Its own alias (rh): a caller's `r` must not be shadowed.
  return `EXISTS (SELECT 1 FROM prepaid_invoices rh WHERE ${releaseHoldsSql('rh', alias)})`;
}

/** SQL condition: the `prepaid_invoices` row aliased `invoice` is a release that holds the `cdr_charges` row aliased `charge` (releasedCallHeldSql). */
function releaseHoldsSql(invoice: string, charge: string): string {
  return `${invoice}.service_id = ${charge}.service_id AND ${invoice}.state = 'abandoned' AND ${invoice}.currency = ${charge}.currency
    AND ${charge}.rated_at <= ${invoice}.released_at`;
}

/** A call of a period held by releases (releasedCallHeldSql): the currency it is held in and the released invoices that hold it. */
export interface ReleasedHold {
  currency: string;
  invoiceKeys: string[];
}

/**
 * The service's unbilled calls of `period` that released prepaid invoices hold now (releasedCallHeldSql), by CDR uuid: what
 * a re-rate of the period takes out of that hold (it rates them after the release), so it can say which of them it left
 * in the held currency.
 */
export async function releasedHoldsOfPeriod(db: Pool | PoolClient, serviceId: number, period: string): Promise<Map<string, ReleasedHold>> {
  const { rows } = await db.query<{ uuid: string; currency: string; invoice_keys: string[] }>(
    `SELECT c.xml_cdr_uuid::text AS uuid, trim(c.currency) AS currency, array_agg(r.invoice_key ORDER BY r.invoice_key) AS invoice_keys
     FROM cdr_charges c JOIN prepaid_invoices r ON ${releaseHoldsSql('r', 'c')}
     WHERE c.service_id = $1 AND c.period = $2 AND ${unbilledRatedChargeSql('c')}
     GROUP BY c.xml_cdr_uuid, c.currency`,
    [serviceId, period],
  );
  return new Map(rows.map((row) => [row.uuid, { currency: row.currency, invoiceKeys: row.invoice_keys }]));
}

/**
 * SQL condition: the service `serviceId` names is prepaid and its calls go on prepaid invoices (`prepaid`, SQL boolean:
 * prepaid invoices are on, callsOnPrepaidInvoices), so its bill takes none of them (createBatch's callsOnPrepaidInvoices).
 */
function callsOnPrepaidInvoicesSql(serviceId: string, prepaid: string): string {
  // Its own alias (op): servicesToBill's adjustments branch passes `p.service_id`, which a `p` here shadowed (any prepaid service then counted).
  return `(${prepaid} AND EXISTS (SELECT 1 FROM services op WHERE op.service_id = ${serviceId} AND op.plan->>'billingMode' = 'prepaid'))`;
}

/**
 * SQL: the currencies (trimmed, NULL left out) of the pending adjustments of the service `serviceId` names (SQL text)
 * worth a cent once rounded (half away from zero, as an invoice line): those that make a bill's currency. A currency
 * whose pending adjustments come to less (a released prepaid invoice's lone `released-<key>` remainder, its
 * `rounding-<key>` billed before the release; the old currency's last rounding remainder after a client's currency
 * changed; a zero pair) makes none: counted, it held every later bill of the service as "several currencies", for ever
 * (re-rating cannot change adjustments). It stays pending, exact; a terminated service's is settled as below one cent.
 */
export function pendingAdjustmentCurrenciesSql(serviceId: string): string {
  // Its own alias: a caller's `a` (servicesToBill reads billing_adjustments too) must not be shadowed.
  return `SELECT trim(pa.currency) AS currency FROM billing_adjustments pa WHERE pa.service_id = ${serviceId} AND pa.batch_id IS NULL AND pa.currency IS NOT NULL
          GROUP BY trim(pa.currency) HAVING round(sum(pa.amount), 2) <> 0`;
}

/**
 * SQL: the pending adjustments of the service `serviceId` names (SQL text), summed per currency (trimmed; those with none
 * make one row of their own, currency NULL): `currency`, `amount` (numeric(18,6)), `n` (how many). A bill takes only its own currency's
 * (createBatch), so what is left, a credit, or an amount under a cent is that of one currency: a sum across currencies
 * would let a +5.00 EUR and a -5.00 USD cancel and hide a credit.
 */
export function pendingSumsByCurrencySql(serviceId: string): string {
  // Its own alias (pv): a caller's `a`/`pa` must not be shadowed.
  return `SELECT trim(pv.currency) AS currency, sum(pv.amount)::numeric(18,6) AS amount, count(*)::int AS n FROM billing_adjustments pv
          WHERE pv.service_id = ${serviceId} AND pv.batch_id IS NULL GROUP BY trim(pv.currency)`;
}

/**
 * SQL: the currencies (trimmed, NULL left out) of what a bill of the service `serviceId` names and of `period` would take
 * (createBatch's billCurrency): its calls (a prepaid service's not: they go on prepaid invoices, so its bill of adjustments
 * alone is not held for the currency of calls it never takes) and its pending adjustments worth a cent. Another currency's
 * adjustments under a cent stay pending and hold nothing.
 */
function batchCurrenciesSql(serviceId: string, period: string, prepaid: string): string {
  return `SELECT trim(c.currency) AS currency FROM cdr_charges c WHERE c.service_id = ${serviceId} AND ${unbilledRatedChargeSql('c')} AND c.period <= ${period}
            AND NOT ${callsOnPrepaidInvoicesSql(serviceId, prepaid)}
          UNION ${pendingAdjustmentCurrenciesSql(serviceId)}`;
}

/**
 * SQL condition: the bill of the service `serviceId` names and of `period` is held because what it would take
 * is in several currencies, already reported for that period: the close does not list the service for it
 * (each push would only fail the same way). Re-rated in one currency, it is listed again.
 */
export function batchCurrenciesMixedHeldSql(serviceId: string, period: string, prepaid: string): string {
  return `(${currenciesMixedReportedSql(BATCH_CURRENCIES_MIXED_ACTION, serviceId, period)}
           AND (SELECT count(DISTINCT m.currency) FROM (${batchCurrenciesSql(serviceId, period, prepaid)}) m) > 1)`;
}

export interface CurrenciesMixedHold {
  serviceId: number;
  /** the closing period it was reported for (released: the latest period of the held calls) */
  period: string;
  /**
   * prepaid: the calls a closing invoice would take are in several currencies (released calls not counted);
   * batch: what a bill would take is; released: calls of released prepaid invoices (billing prepaid-release), in the old
   * currency, that wait to be re-rated in the client's — no invoice is held for them, none is made until then
   */
  kind: 'prepaid' | 'batch' | 'released';
  /** as they are now (sorted) */
  currencies: string[];
  /** when it was reported (released: the latest release) */
  reportedAt: Date;
  /** released only: how many calls wait, their exact sum, and the released invoices they were on */
  released?: { calls: number; total: string; invoiceKeys: string[] };
}

/**
 * Bills held for work in several currencies and not fixed yet (reported, still mixed): what an operator
 * must re-rate. The latest report per service and kind; oldest first. `prepaidInvoices`: prepaid services' calls go on
 * prepaid invoices (callsOnPrepaidInvoices), not on their bills. A prepaid service's calls held after a prepaid-release
 * are listed apart (kind `released`, releasedCallHeldSql): they are held because they wait to be re-rated in the
 * client's currency, not because an invoice would hold several currencies, so they make no `prepaid` mix.
 */
export async function listCurrenciesMixedHeld(db: Pool | PoolClient, query: { serviceId?: number; prepaidInvoices?: boolean } = {}): Promise<CurrenciesMixedHold[]> {
  const prepaidCurrencies = `SELECT trim(c.currency) AS currency FROM cdr_charges c WHERE c.service_id = r.service_id AND ${unbilledRatedChargeSql('c')} AND c.period <= r.period
    AND NOT ${releasedCallHeldSql('c')}`;
  const { rows } = await db.query<{ service_id: string; period: string; kind: 'prepaid' | 'batch'; currencies: string[]; reported_at: Date }>(
    `WITH reports AS (
       SELECT DISTINCT ON (x.service_id, x.action) x.service_id, x.detail->>'period' AS period, x.at AS reported_at,
              CASE WHEN x.action = $1 THEN 'prepaid' ELSE 'batch' END AS kind
       FROM audit_log x WHERE x.action IN ($1, $2) AND x.service_id IS NOT NULL AND ($3::bigint IS NULL OR x.service_id = $3)
       ORDER BY x.service_id, x.action, x.at DESC, x.id DESC
     )
     SELECT r.service_id, r.period, r.kind, r.reported_at, now.currencies FROM reports r
     CROSS JOIN LATERAL (SELECT COALESCE(array_agg(DISTINCT m.currency ORDER BY m.currency) FILTER (WHERE m.currency IS NOT NULL), '{}') AS currencies
                         FROM (${prepaidCurrencies} AND r.kind = 'prepaid'
                               UNION SELECT b.currency FROM (${batchCurrenciesSql('r.service_id', 'r.period', '$4')}) b WHERE r.kind = 'batch') m) now
     WHERE cardinality(now.currencies) > 1
     ORDER BY r.reported_at, r.service_id`,
    [PREPAID_CURRENCIES_MIXED_ACTION, BATCH_CURRENCIES_MIXED_ACTION, query.serviceId ?? null, query.prepaidInvoices === true],
  );
  const mixed: CurrenciesMixedHold[] = rows.map((row) => ({
    serviceId: Number(row.service_id),
    period: row.period,
    kind: row.kind,
    currencies: row.currencies,
    reportedAt: row.reported_at,
  }));
  const all = [...mixed, ...(await listReleasedCallsHeld(db, query.serviceId, query.prepaidInvoices === true))];
  return all.sort((a, b) => a.reportedAt.getTime() - b.reportedAt.getTime() || a.serviceId - b.serviceId);
}

/**
 * Per service, the calls released prepaid invoices held that wait to be re-rated (releasedCallHeldSql). Only while they
 * would go on prepaid invoices (`prepaidInvoices`, the service still prepaid): else its bill takes them as any call.
 */
async function listReleasedCallsHeld(db: Pool | PoolClient, serviceId: number | undefined, prepaidInvoices: boolean): Promise<CurrenciesMixedHold[]> {
  const { rows } = await db.query<{ service_id: string; period: string; currencies: string[]; calls: number; total: string; invoice_keys: string[]; released_at: Date }>(
    `WITH held AS (
       SELECT c.service_id, c.period, trim(c.currency) AS currency, c.amount FROM cdr_charges c
       WHERE ${unbilledRatedChargeSql('c')} AND ${releasedCallHeldSql('c')} AND ($1::bigint IS NULL OR c.service_id = $1)
         AND ${callsOnPrepaidInvoicesSql('c.service_id', '$2')}
     )
     SELECT h.service_id, max(h.period) AS period, array_agg(DISTINCT h.currency ORDER BY h.currency) AS currencies, count(*)::int AS calls,
            sum(h.amount)::numeric(18,6)::text AS total, r.invoice_keys, r.released_at
     FROM held h
     CROSS JOIN LATERAL (SELECT array_agg(p.invoice_key ORDER BY p.invoice_key) AS invoice_keys, max(p.released_at) AS released_at FROM prepaid_invoices p
                         WHERE p.service_id = h.service_id
                           AND EXISTS (SELECT 1 FROM cdr_charges c WHERE ${unbilledRatedChargeSql('c')} AND ${releaseHoldsSql('p', 'c')})) r
     GROUP BY h.service_id, r.invoice_keys, r.released_at`,
    [serviceId ?? null, prepaidInvoices],
  );
  return rows.map((row) => ({
    serviceId: Number(row.service_id),
    period: row.period,
    kind: 'released',
    currencies: row.currencies,
    reportedAt: row.released_at,
    released: { calls: row.calls, total: row.total, invoiceKeys: row.invoice_keys },
  }));
}

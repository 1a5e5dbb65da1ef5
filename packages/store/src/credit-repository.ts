import type { Pool, PoolClient } from 'pg';
import { exactStampSql } from './cdr-charges-repository';
import type { AuditEntry } from './inbox-repository';

/**
 * Credit control state of one service (see migration 009). `ok` → `low` below the threshold,
 * → `zero` at or below nothing available; back to `ok` only with the threshold plus a hysteresis
 * margin, so a balance hovering around a line never flaps.
 */
export type CreditState = 'ok' | 'low' | 'zero';
export type CreditRestrictionMode = 'suspend' | 'outbound';
/** `bridge`: restricted by the bridge for credit (it may lift it); `other`: by anyone else (never lifted by the bridge). */
export type SuspendedBy = 'bridge' | 'other';
export type CreditPendingAction = 'restrict' | 'lift';
export type CreditMailKind = 'low' | 'zero';
export type CreditMailState = 'pending' | 'sending' | 'sent' | 'unknown' | 'failed';

/** The figures of one check, decimal strings with 6 places (null when WHMCS could not be read). */
export interface CreditFigures {
  credit: string | null;
  creditLimit: string | null;
  usage: string;
  available: string | null;
  threshold: string;
  currency: string | null;
}

export interface CreditStateRecord extends CreditFigures {
  serviceId: number;
  clientId: number;
  state: CreditState;
  crossing: number;
  restriction: CreditRestrictionMode | null;
  suspendedBy: SuspendedBy | null;
  pendingAction: CreditPendingAction | null;
  pendingSince: Date | null;
  /** outbound restriction: the gateways the bridge disabled (and will enable again) */
  restrictedGateways: string[];
  /** outbound restriction: the other dialplans through a kept gateway the bridge disabled (and will enable again) */
  restrictedDialplans: string[];
  /** outbound restriction: the ring-group destinations dialling a kept gateway the bridge disabled (and will enable again) */
  restrictedRingDestinations: string[];
  /** outbound restriction: the IVR menu options dialling a kept gateway the bridge disabled (and will enable again) */
  restrictedIvrOptions: string[];
  unreadableSince: Date | null;
  unreadableAlerted: boolean;
  lastError: string | null;
  lastCheckedAt: Date | null;
  /**
   * last_checked_at exactly as PostgreSQL stores it (UTC text, microseconds): what tells one recorded check
   * from the next, which a Date (milliseconds) cannot when both fall in one millisecond.
   */
  lastCheckedStamp: string | null;
  lastTransition: string | null;
  lastTransitionAt: Date | null;
}

interface CreditRow {
  service_id: string;
  client_id: string;
  state: CreditState;
  crossing: number;
  restriction: CreditRestrictionMode | null;
  suspended_by: SuspendedBy | null;
  pending_action: CreditPendingAction | null;
  pending_since: Date | null;
  restricted_gateways: string[];
  restricted_dialplans: string[];
  restricted_ring_destinations: string[];
  restricted_ivr_options: string[];
  credit: string | null;
  credit_limit: string | null;
  usage: string | null;
  available: string | null;
  threshold: string | null;
  currency: string | null;
  unreadable_since: Date | null;
  unreadable_alerted: boolean;
  last_error: string | null;
  last_checked_at: Date | null;
  last_checked_stamp: string | null;
  last_transition: string | null;
  last_transition_at: Date | null;
}

const COLUMNS = `service_id, client_id, state, crossing, restriction, suspended_by, pending_action, pending_since, restricted_gateways, restricted_dialplans, restricted_ring_destinations, restricted_ivr_options, credit::text, credit_limit::text,
  usage::text, available::text, threshold::text, currency, unreadable_since, unreadable_alerted, last_error, last_checked_at,
  ${exactStampSql('last_checked_at')} AS last_checked_stamp, last_transition, last_transition_at`;

function toRecord(row: CreditRow): CreditStateRecord {
  return {
    serviceId: Number(row.service_id),
    clientId: Number(row.client_id),
    state: row.state,
    crossing: row.crossing,
    restriction: row.restriction,
    suspendedBy: row.suspended_by,
    pendingAction: row.pending_action,
    pendingSince: row.pending_since,
    restrictedGateways: row.restricted_gateways ?? [],
    restrictedDialplans: row.restricted_dialplans ?? [],
    restrictedRingDestinations: row.restricted_ring_destinations ?? [],
    restrictedIvrOptions: row.restricted_ivr_options ?? [],
    credit: row.credit,
    creditLimit: row.credit_limit,
    usage: row.usage ?? '0.000000',
    available: row.available,
    threshold: row.threshold ?? '0.000000',
    currency: row.currency,
    unreadableSince: row.unreadable_since,
    unreadableAlerted: row.unreadable_alerted,
    lastError: row.last_error,
    lastCheckedAt: row.last_checked_at,
    lastCheckedStamp: row.last_checked_stamp,
    lastTransition: row.last_transition,
    lastTransitionAt: row.last_transition_at,
  };
}

export async function getCreditState(db: Pool | PoolClient, serviceId: number): Promise<CreditStateRecord | null> {
  const { rows } = await db.query<CreditRow>(`SELECT ${COLUMNS} FROM credit_states WHERE service_id = $1`, [serviceId]);
  return rows[0] ? toRecord(rows[0]) : null;
}

/**
 * Credit control's outbound restriction holds for the service, or is decided and about to be carried
 * out: a gateway switched on (or made) meanwhile would carry paid calls until the next check.
 */
export function outboundRestricted(credit: CreditStateRecord | null): boolean {
  return credit?.restriction === 'outbound' && (credit.suspendedBy === 'bridge' || credit.pendingAction === 'restrict');
}

/** Credit states, all or of one service, of one client (as last recorded) or of the listed services (`serviceIds`). */
export async function listCreditStates(db: Pool | PoolClient, query: { serviceId?: number; clientId?: number; serviceIds?: readonly number[] } = {}): Promise<CreditStateRecord[]> {
  const { rows } = await db.query<CreditRow>(
    `SELECT ${COLUMNS} FROM credit_states
     WHERE ($1::bigint IS NULL OR service_id = $1) AND ($2::bigint IS NULL OR client_id = $2) AND ($3::bigint[] IS NULL OR service_id = ANY($3::bigint[]))
     ORDER BY service_id`,
    [query.serviceId ?? null, query.clientId ?? null, query.serviceIds ?? null],
  );
  return rows.map(toRecord);
}

/**
 * Rated usage of a client's services not yet on a WHMCS invoice: charges in no batch, or in a batch
 * WHMCS has not invoiced yet (anything but `verified` and `zero`). Exact, 6 places.
 */
/** A client's usage not yet invoiced, and the currencies it was rated in (a deck has one). */
export interface UninvoicedUsage {
  usage: string;
  currencies: string[];
}

export async function uninvoicedUsageOfClient(db: Pool | PoolClient, clientId: number): Promise<UninvoicedUsage> {
  // Charges on a prepaid invoice count through the invoice: what of it is not yet paid from credit.
  const { rows } = await db.query<UninvoicedUsage>(
    `WITH charges AS (SELECT c.amount, c.currency
                        FROM services s
                        JOIN cdr_charges c ON c.service_id = s.service_id AND c.status = 'rated' AND c.prepaid_invoice IS NULL
                        LEFT JOIN billing_batches b ON b.batch_id = c.batch_id
                       WHERE s.client_id = $1 AND (c.batch_id IS NULL OR b.state NOT IN ('verified', 'zero'))),
          invoices AS (SELECT p.total - p.credit_applied AS amount, p.currency FROM prepaid_invoices p WHERE p.client_id = $1 AND p.state NOT IN ('paid', 'abandoned'))
     SELECT ((SELECT COALESCE(sum(amount), 0) FROM charges) + (SELECT COALESCE(sum(amount), 0) FROM invoices))::numeric(18,6)::text AS usage,
            ARRAY(SELECT DISTINCT trim(currency) FROM (SELECT currency FROM charges UNION ALL SELECT currency FROM invoices) AS rated
                   WHERE currency IS NOT NULL ORDER BY 1) AS currencies`,
    [clientId],
  );
  return rows[0] ?? { usage: '0.000000', currencies: [] };
}

/** Clients with at least one service under credit control (prepaid, or postpaid with a credit limit), not terminated. */
export async function clientsUnderCreditControl(db: Pool | PoolClient): Promise<number[]> {
  const { rows } = await db.query<{ client_id: string }>(
    `SELECT DISTINCT client_id FROM services
     WHERE desired_state <> 'terminated' AND (plan->>'billingMode' = 'prepaid' OR COALESCE(plan->>'creditLimit', '') <> '')
     ORDER BY client_id`,
  );
  return rows.map((row) => Number(row.client_id));
}

export interface CreditCheckRecord {
  serviceId: number;
  clientId: number;
  figures: CreditFigures;
  /** the state after this check */
  state: CreditState;
  /** true when the state changed: the crossing counter moves on entering low or zero */
  transition: boolean;
  restriction: CreditRestrictionMode;
  /** the action decided now (null: none; an earlier pending action is kept unless replaced) */
  pendingAction: CreditPendingAction | null;
  /** mails to queue for this crossing */
  mails: readonly { kind: CreditMailKind; template: string; customVars: Record<string, string> }[];
  unreadable: boolean;
  error: string | null;
  audit?: AuditEntry;
}

/**
 * Records one check of one service in ONE transaction on `client` (which holds the client's credit
 * lock): the state and figures, the crossing, the decided action, the mails of this crossing and
 * the audit entry of the transition. Returns the row as stored.
 */
export async function recordCreditCheck(client: PoolClient, check: CreditCheckRecord): Promise<CreditStateRecord> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<CreditRow>(
      `INSERT INTO credit_states (service_id, client_id, state, crossing, restriction, pending_action, pending_since, credit, credit_limit, usage, available,
         threshold, currency, unreadable_since, last_error, last_checked_at, last_transition, last_transition_at)
       VALUES ($1, $2, $3, CASE WHEN $4 AND $3 <> 'ok' THEN 1 ELSE 0 END, $5, $6, CASE WHEN $6::text IS NOT NULL THEN now() END, $7, $8, $9, $10, $11, $12,
         CASE WHEN $13 THEN now() END, $14, now(), CASE WHEN $4 THEN $3 END, CASE WHEN $4 THEN now() END)
       ON CONFLICT (service_id) DO UPDATE SET
         client_id = EXCLUDED.client_id,
         state = EXCLUDED.state,
         crossing = credit_states.crossing + CASE WHEN $4 AND $3 <> 'ok' THEN 1 ELSE 0 END,
         restriction = CASE WHEN $6::text = 'restrict' THEN EXCLUDED.restriction ELSE credit_states.restriction END,
         pending_action = COALESCE($6::text, credit_states.pending_action),
         pending_since = CASE WHEN $6::text IS NOT NULL THEN now() ELSE credit_states.pending_since END,
         credit = COALESCE(EXCLUDED.credit, credit_states.credit),
         credit_limit = EXCLUDED.credit_limit,
         usage = EXCLUDED.usage,
         available = COALESCE(EXCLUDED.available, credit_states.available),
         threshold = EXCLUDED.threshold,
         currency = COALESCE(EXCLUDED.currency, credit_states.currency),
         unreadable_since = CASE WHEN $13 THEN COALESCE(credit_states.unreadable_since, now()) END,
         unreadable_alerted = CASE WHEN $13 THEN credit_states.unreadable_alerted ELSE false END,
         last_error = EXCLUDED.last_error,
         last_checked_at = now(),
         last_transition = CASE WHEN $4 THEN $3 ELSE credit_states.last_transition END,
         last_transition_at = CASE WHEN $4 THEN now() ELSE credit_states.last_transition_at END,
         updated_at = now()
       RETURNING ${COLUMNS}`,
      [
        check.serviceId,
        check.clientId,
        check.state,
        check.transition,
        check.restriction,
        check.pendingAction,
        check.figures.credit,
        check.figures.creditLimit,
        check.figures.usage,
        check.figures.available,
        check.figures.threshold,
        check.figures.currency,
        check.unreadable,
        check.error?.slice(0, 2000) ?? null,
      ],
    );
    const stored = toRecord(rows[0]!);
    for (const mail of check.mails) {
      await client.query(
        `INSERT INTO credit_mails (service_id, kind, crossing, client_id, template, custom_vars) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (service_id, kind, crossing) DO NOTHING`,
        [check.serviceId, mail.kind, stored.crossing, check.clientId, mail.template, JSON.stringify(mail.customVars)],
      );
    }
    if (check.audit) {
      await client.query('INSERT INTO audit_log (actor, action, service_id, detail) VALUES ($1, $2, $3, $4)', [
        check.audit.actor,
        check.audit.action,
        check.audit.serviceId ?? check.serviceId,
        JSON.stringify({ ...check.audit.detail, crossing: stored.crossing }),
      ]);
    }
    await client.query('COMMIT');
    return stored;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The decided action is done (or found done in WHMCS): who restricts the service now, the pending
 * action cleared, and the audit entry, in one statement. Only when the pending action is still
 * `action` (a later decision is never overwritten).
 */
export async function completeCreditAction(
  db: Pool | PoolClient,
  serviceId: number,
  action: CreditPendingAction,
  suspendedBy: SuspendedBy | null,
  audit: AuditEntry,
): Promise<boolean> {
  const { rows } = await db.query<{ n: number }>(
    `WITH done AS (
       UPDATE credit_states SET suspended_by = $3, pending_action = NULL, pending_since = NULL, last_error = NULL, updated_at = now(),
         restricted_gateways = CASE WHEN $2 = 'lift' THEN '{}'::text[] ELSE restricted_gateways END,
         restricted_dialplans = CASE WHEN $2 = 'lift' THEN '{}'::text[] ELSE restricted_dialplans END,
         restricted_ring_destinations = CASE WHEN $2 = 'lift' THEN '{}'::text[] ELSE restricted_ring_destinations END,
         restricted_ivr_options = CASE WHEN $2 = 'lift' THEN '{}'::text[] ELSE restricted_ivr_options END
       WHERE service_id = $1 AND pending_action = $2
       RETURNING service_id
     ), audit AS (
       INSERT INTO audit_log (actor, action, service_id, detail) SELECT $4, $5, $1, $6::jsonb FROM done
     )
     SELECT count(*)::int AS n FROM done`,
    [serviceId, action, suspendedBy, audit.actor, audit.action, JSON.stringify(audit.detail ?? {})],
  );
  return rows[0]?.n === 1;
}

/** What an outbound restriction records before disabling it, by kind: its column in credit_states. */
const RESTRICTED_COLUMNS = {
  gateways: 'restricted_gateways',
  dialplans: 'restricted_dialplans',
  ringDestinations: 'restricted_ring_destinations',
  ivrOptions: 'restricted_ivr_options',
} as const;
export type RestrictedKind = keyof typeof RESTRICTED_COLUMNS;

/** Outbound restriction: the rows about to be disabled, added to those already recorded (before FusionPBX is written). */
export async function rememberRestricted(db: Pool | PoolClient, serviceId: number, kind: RestrictedKind, uuids: readonly string[]): Promise<string[]> {
  const column = RESTRICTED_COLUMNS[kind];
  const { rows } = await db.query<{ uuids: string[] }>(
    `UPDATE credit_states SET ${column} = ARRAY(SELECT DISTINCT unnest(${column} || $2::text[]) ORDER BY 1), updated_at = now()
     WHERE service_id = $1 RETURNING ${column} AS uuids`,
    [serviceId, uuids],
  );
  return rows[0]?.uuids ?? [];
}

/** Outbound restriction: rows the bridge enabled again while restricted (an emergency route needs them now), so the lift no longer owns them. */
export async function forgetRestricted(db: Pool | PoolClient, serviceId: number, kind: RestrictedKind, uuids: readonly string[]): Promise<string[]> {
  const column = RESTRICTED_COLUMNS[kind];
  const { rows } = await db.query<{ uuids: string[] }>(
    `UPDATE credit_states SET ${column} = ARRAY(SELECT u FROM unnest(${column}) AS u WHERE NOT (lower(u) = ANY($2::text[])) ORDER BY 1), updated_at = now()
     WHERE service_id = $1 RETURNING ${column} AS uuids`,
    [serviceId, uuids.map((uuid) => uuid.toLowerCase())],
  );
  return rows[0]?.uuids ?? [];
}

/** Outbound restriction: the gateways about to be disabled, added to those already recorded (before FusionPBX is written). */
export function rememberRestrictedGateways(db: Pool | PoolClient, serviceId: number, gatewayUuids: readonly string[]): Promise<string[]> {
  return rememberRestricted(db, serviceId, 'gateways', gatewayUuids);
}

/** An audit entry of credit control outside a state change (the outbound restriction applied again). */
export async function auditCreditAction(db: Pool | PoolClient, audit: AuditEntry): Promise<void> {
  await db.query('INSERT INTO audit_log (actor, action, service_id, detail) VALUES ($1, $2, $3, $4::jsonb)', [
    audit.actor,
    audit.action,
    audit.serviceId ?? null,
    JSON.stringify(audit.detail ?? {}),
  ]);
}

/** The pending action failed this time (it stays pending for the next check); the error is kept for the operator. */
export async function noteCreditActionError(db: Pool | PoolClient, serviceId: number, message: string): Promise<void> {
  await db.query(`UPDATE credit_states SET last_error = $2, updated_at = now() WHERE service_id = $1`, [serviceId, message.slice(0, 2000)]);
}

/**
 * WHMCS suspended or unsuspended the service itself (a module event): a suspend for any reason but
 * the bridge's own marks the service `other` (never lifted by the bridge); an unsuspend means the
 * restriction is gone, whoever made it. A suspend with the bridge's reason is its own echo.
 */
export async function noteWhmcsSuspendEvent(db: Pool | PoolClient, serviceId: number, change: { suspended: boolean; ours: boolean }): Promise<void> {
  if (change.suspended && change.ours) {
    await db.query(`UPDATE credit_states SET suspended_by = 'bridge', updated_at = now() WHERE service_id = $1 AND suspended_by IS NULL`, [serviceId]);
    return;
  }
  if (!change.suspended) {
    await db.query(
      `UPDATE credit_states SET suspended_by = NULL, pending_action = CASE WHEN pending_action = 'lift' THEN NULL ELSE pending_action END, updated_at = now()
       WHERE service_id = $1`,
      [serviceId],
    );
    return;
  }
  // Only a service under credit control gets a row (the next check reads who suspended it).
  await db.query(
    `INSERT INTO credit_states (service_id, client_id, suspended_by)
     SELECT service_id, client_id, 'other' FROM services
     WHERE service_id = $1 AND (plan->>'billingMode' = 'prepaid' OR COALESCE(plan->>'creditLimit', '') <> '')
     ON CONFLICT (service_id) DO UPDATE SET suspended_by = 'other',
       pending_action = CASE WHEN credit_states.pending_action = 'lift' THEN NULL ELSE credit_states.pending_action END, updated_at = now()`,
    [serviceId],
  );
}

/**
 * Balance unreadable for long enough: alerted once per outage (cleared by the next good read). The
 * mark, the audit entry and the alert webhook's outbox row (`credit_alerts`) commit in one
 * statement; returns the alert's id, or null when the outage was already alerted.
 */
export async function markUnreadableAlerted(db: Pool | PoolClient, serviceId: number, detail: Record<string, unknown>): Promise<number | null> {
  const { rows } = await db.query<{ id: string }>(
    `WITH marked AS (
       UPDATE credit_states SET unreadable_alerted = true WHERE service_id = $1 AND NOT unreadable_alerted RETURNING service_id, client_id
     ), audit AS (
       INSERT INTO audit_log (actor, action, service_id, detail) SELECT 'credit', 'credit.unreadable', service_id, $2::jsonb FROM marked
     )
     INSERT INTO credit_alerts (service_id, client_id, type, figures) SELECT service_id, client_id, 'credit.unreadable', $2::jsonb FROM marked RETURNING id`,
    [serviceId, JSON.stringify(detail)],
  );
  return rows[0] ? Number(rows[0].id) : null;
}

/** One credit alert (the alert webhook's outbox row). */
export interface CreditAlert {
  id: number;
  serviceId: number;
  clientId: number;
  type: 'credit.unreadable';
  at: Date;
  figures: Record<string, unknown>;
  alertSentAt: Date | null;
  lastError: string | null;
}

interface CreditAlertRow {
  id: string;
  service_id: string;
  client_id: string;
  type: 'credit.unreadable';
  at: Date;
  figures: Record<string, unknown>;
  alert_sent_at: Date | null;
  last_error: string | null;
}

const toAlert = (row: CreditAlertRow): CreditAlert => ({
  id: Number(row.id),
  serviceId: Number(row.service_id),
  clientId: Number(row.client_id),
  type: row.type,
  at: row.at,
  figures: row.figures,
  alertSentAt: row.alert_sent_at,
  lastError: row.last_error,
});

export async function getCreditAlert(db: Pool | PoolClient, id: number): Promise<CreditAlert | null> {
  const { rows } = await db.query<CreditAlertRow>('SELECT * FROM credit_alerts WHERE id = $1', [id]);
  return rows[0] ? toAlert(rows[0]) : null;
}

/** Credit alerts not yet delivered (every delivery settled), of one client or all, oldest first. */
export async function unsentCreditAlerts(db: Pool | PoolClient, query: { clientId?: number; limit?: number } = {}): Promise<CreditAlert[]> {
  const { rows } = await db.query<CreditAlertRow>('SELECT * FROM credit_alerts WHERE alert_sent_at IS NULL AND ($1::bigint IS NULL OR client_id = $1) ORDER BY id LIMIT $2', [
    query.clientId ?? null,
    query.limit ?? 100,
  ]);
  return rows.map(toAlert);
}

/** Every delivery of the alert is settled; false when it already was. */
export async function markCreditAlertSent(db: Pool | PoolClient, id: number, at: Date): Promise<boolean> {
  const { rowCount } = await db.query('UPDATE credit_alerts SET alert_sent_at = $2 WHERE id = $1 AND alert_sent_at IS NULL', [id, at]);
  return rowCount === 1;
}

export async function noteCreditAlertFailure(db: Pool | PoolClient, id: number, error: string): Promise<void> {
  await db.query('UPDATE credit_alerts SET last_error = $2 WHERE id = $1', [id, error.slice(0, 500)]);
}

export interface CreditMail {
  serviceId: number;
  kind: CreditMailKind;
  crossing: number;
  clientId: number;
  template: string;
  customVars: Record<string, string>;
  state: CreditMailState;
  lastError: string | null;
}

interface MailRow {
  service_id: string;
  kind: CreditMailKind;
  crossing: number;
  client_id: string;
  template: string;
  custom_vars: Record<string, string>;
  state: CreditMailState;
  last_error: string | null;
}

const toMail = (row: MailRow): CreditMail => ({
  serviceId: Number(row.service_id),
  kind: row.kind,
  crossing: row.crossing,
  clientId: Number(row.client_id),
  template: row.template,
  customVars: row.custom_vars,
  state: row.state,
  lastError: row.last_error,
});

export async function listCreditMails(db: Pool | PoolClient, query: { serviceId?: number; states?: readonly CreditMailState[] } = {}): Promise<CreditMail[]> {
  const { rows } = await db.query<MailRow>(
    `SELECT service_id, kind, crossing, client_id, template, custom_vars, state, last_error FROM credit_mails
     WHERE ($1::bigint IS NULL OR service_id = $1) AND ($2::text[] IS NULL OR state = ANY($2::text[])) ORDER BY service_id, crossing, kind`,
    [query.serviceId ?? null, query.states ?? null],
  );
  return rows.map(toMail);
}

/** Moves a mail from one state to another; false when it was not in `from` (someone else moved it). */
export async function moveCreditMail(
  db: Pool | PoolClient,
  mail: Pick<CreditMail, 'serviceId' | 'kind' | 'crossing'>,
  from: CreditMailState,
  to: CreditMailState,
  error?: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE credit_mails SET state = $5, last_error = $6, updated_at = now() WHERE service_id = $1 AND kind = $2 AND crossing = $3 AND state = $4`,
    [mail.serviceId, mail.kind, mail.crossing, from, to, error?.slice(0, 2000) ?? null],
  );
  return rowCount === 1;
}

export interface CreditServiceRow {
  serviceId: number;
  clientId: number;
  tenantDomain: string | null;
  /** the registered FusionPBX server (null = the default one) */
  fusionpbxServer: string | null;
  plan: Record<string, unknown>;
}

/** The client's services under credit control (prepaid, or postpaid with a credit limit), not terminated. */
export async function creditServicesOfClient(db: Pool | PoolClient, clientId: number): Promise<CreditServiceRow[]> {
  const { rows } = await db.query<{ service_id: string; client_id: string; tenant_domain: string | null; fusionpbx_server: string | null; plan: Record<string, unknown> }>(
    `SELECT service_id, client_id, tenant_domain, fusionpbx_server, plan FROM services
     WHERE client_id = $1 AND desired_state <> 'terminated' AND (plan->>'billingMode' = 'prepaid' OR COALESCE(plan->>'creditLimit', '') <> '')
     ORDER BY service_id`,
    [clientId],
  );
  return rows.map((row) => ({
    serviceId: Number(row.service_id),
    clientId: Number(row.client_id),
    tenantDomain: row.tenant_domain,
    fusionpbxServer: row.fusionpbx_server,
    plan: row.plan,
  }));
}

/** Per service under credit control (not terminated) that was checked: its state and who restricted it (the credit gauges). */
export async function creditStatesOfLiveServices(db: Pool | PoolClient): Promise<{ serviceId: number; state: CreditState; restricted: boolean }[]> {
  const { rows } = await db.query<{ service_id: string; state: CreditState; restricted: boolean }>(
    `SELECT c.service_id, c.state, c.suspended_by IS NOT NULL AS restricted FROM credit_states c JOIN services s ON s.service_id = c.service_id
     WHERE s.desired_state <> 'terminated' AND (s.plan->>'billingMode' = 'prepaid' OR COALESCE(s.plan->>'creditLimit', '') <> '') ORDER BY 1`,
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), state: row.state, restricted: row.restricted }));
}

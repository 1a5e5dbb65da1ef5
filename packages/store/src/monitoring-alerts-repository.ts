import type { Pool } from 'pg';

export type AlertKind = 'registration' | 'gateway' | 'credit';
export type AlertChannel = 'webhook' | 'email';
export type AlertDeliveryState = 'pending' | 'sending' | 'sent' | 'unknown' | 'failed';

/** Where one alert goes: the signed webhook (recipient: ALERT_WEBHOOK_URL or a tenant's URL) or the client's WHMCS e-mail (recipient `client`). */
export interface AlertTarget {
  channel: AlertChannel;
  recipient: string;
}

export interface AlertDelivery extends AlertTarget {
  id: number;
  kind: AlertKind;
  historyId: number;
  state: AlertDeliveryState;
  attempts: number;
  claimedAt: Date | null;
  sentAt: Date | null;
  lastError: string | null;
}

/** What claiming a delivery found. */
export type AlertClaim =
  /** This caller owns the send now (state `sending`, committed). */
  | { outcome: 'claimed'; delivery: AlertDelivery }
  /** Already settled (sent, unknown, failed): nothing to send. */
  | { outcome: 'settled'; delivery: AlertDelivery }
  /** Another worker claimed it within the lease: leave it to that worker. */
  | { outcome: 'in-flight'; delivery: AlertDelivery }
  /** An e-mail claimed by a worker that never marked it (killed, or timed out after sending): outcome unknown, not resent. */
  | { outcome: 'unknown'; delivery: AlertDelivery };

interface DeliveryRow {
  id: string;
  kind: AlertKind;
  history_id: string;
  channel: AlertChannel;
  recipient: string;
  state: AlertDeliveryState;
  attempts: number;
  claimed_at: Date | null;
  sent_at: Date | null;
  last_error: string | null;
}

function deliveryOf(row: DeliveryRow): AlertDelivery {
  return {
    id: Number(row.id),
    kind: row.kind,
    historyId: Number(row.history_id),
    channel: row.channel,
    recipient: row.recipient,
    state: row.state,
    attempts: row.attempts,
    claimedAt: row.claimed_at,
    sentAt: row.sent_at,
    lastError: row.last_error,
  };
}

const SETTLED: readonly AlertDeliveryState[] = ['sent', 'unknown', 'failed'];

/**
 * The alert outbox: one row per transition, channel and recipient, moved through
 * pending → sending → sent by single conditional UPDATEs, so exactly one worker holds a send at a time
 * and a settled row is never sent again. Whether an abandoned `sending` row may be sent again depends
 * on the channel: a webhook carries an idempotency key (resent), an e-mail does not (unknown).
 */
export class MonitoringAlertsRepository {
  constructor(private readonly pool: Pool) {}

  /** Creates the deliveries of one transition (idempotent: a target already planned is kept as it is); returns them all. */
  async plan(kind: AlertKind, historyId: number, targets: readonly AlertTarget[]): Promise<AlertDelivery[]> {
    if (targets.length > 0) {
      await this.pool.query(
        `INSERT INTO monitoring_alert_deliveries (kind, history_id, channel, recipient)
         SELECT $1, $2, t.channel, t.recipient FROM jsonb_to_recordset($3::jsonb) AS t(channel text, recipient text)
         ON CONFLICT (kind, history_id, channel, recipient) DO NOTHING`,
        [kind, historyId, JSON.stringify(targets)],
      );
    }
    return this.deliveries(kind, historyId);
  }

  async deliveries(kind: AlertKind, historyId: number): Promise<AlertDelivery[]> {
    const { rows } = await this.pool.query<DeliveryRow>('SELECT * FROM monitoring_alert_deliveries WHERE kind = $1 AND history_id = $2 ORDER BY id', [kind, historyId]);
    return rows.map(deliveryOf);
  }

  /**
   * Claims one delivery for sending. A `pending` row is claimed; a `sending` row older than the lease
   * (its worker died or hung) is claimed again for a webhook and becomes `unknown` for an e-mail.
   */
  async claim(id: number, now: Date, leaseMs: number): Promise<AlertClaim> {
    const staleBefore = new Date(now.getTime() - leaseMs);
    const claimed = await this.pool.query<DeliveryRow>(
      `UPDATE monitoring_alert_deliveries SET state = 'sending', claimed_at = $2, attempts = attempts + 1
        WHERE id = $1 AND (state = 'pending' OR (state = 'sending' AND channel = 'webhook' AND claimed_at < $3))
        RETURNING *`,
      [id, now, staleBefore],
    );
    if (claimed.rows[0]) return { outcome: 'claimed', delivery: deliveryOf(claimed.rows[0]) };
    const abandoned = await this.pool.query<DeliveryRow>(
      `UPDATE monitoring_alert_deliveries SET state = 'unknown', last_error = 'claimed at ' || to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' and never marked: may have been sent, not sent again'
        WHERE id = $1 AND state = 'sending' AND channel = 'email' AND claimed_at < $2
        RETURNING *`,
      [id, staleBefore],
    );
    if (abandoned.rows[0]) return { outcome: 'unknown', delivery: deliveryOf(abandoned.rows[0]) };
    const { rows } = await this.pool.query<DeliveryRow>('SELECT * FROM monitoring_alert_deliveries WHERE id = $1', [id]);
    const delivery = deliveryOf(rows[0]!);
    return { outcome: SETTLED.includes(delivery.state) ? 'settled' : 'in-flight', delivery };
  }

  /** The send succeeded. False when the row was not ours any more (it is then left as it is). */
  async markSent(id: number, at: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE monitoring_alert_deliveries SET state = 'sent', sent_at = $2, last_error = NULL WHERE id = $1 AND state = 'sending'`, [
      id,
      at,
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** The send certainly did not happen (refused, or never reached the receiver): pending again, retried. */
  async release(id: number, error: string): Promise<void> {
    await this.pool.query(`UPDATE monitoring_alert_deliveries SET state = 'pending', last_error = $2 WHERE id = $1 AND state = 'sending'`, [id, error.slice(0, 500)]);
  }

  /** Settles the row without sending (again): `unknown` (may have been sent) or `failed` (refused for good). */
  async settle(id: number, state: 'unknown' | 'failed', error: string): Promise<void> {
    await this.pool.query(`UPDATE monitoring_alert_deliveries SET state = $2, last_error = $3 WHERE id = $1 AND state = 'sending'`, [id, state, error.slice(0, 500)]);
  }

  /** Deliveries by state (for metrics and the CLI). */
  async countByState(): Promise<Record<AlertDeliveryState, number>> {
    const counts: Record<AlertDeliveryState, number> = { pending: 0, sending: 0, sent: 0, unknown: 0, failed: 0 };
    const { rows } = await this.pool.query<{ state: AlertDeliveryState; n: number }>('SELECT state, count(*)::int AS n FROM monitoring_alert_deliveries GROUP BY state');
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** Drops the deliveries of transitions older than `days` days (with their history). */
  async purge(days: number, now = new Date()): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM monitoring_alert_deliveries WHERE created_at < $1::timestamptz - make_interval(days => $2)`, [now, days]);
    return rowCount ?? 0;
  }
}

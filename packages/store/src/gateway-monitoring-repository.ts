import type { Pool } from 'pg';
import { inTransaction } from './transaction';

/** What one poll found of one gateway. */
export interface GatewayObservation {
  /** FusionPBX server name; 'default' for FUSIONPBX_DATABASE_URL / ESL_*. */
  server: string;
  serviceId: number;
  domain: string;
  gatewayUuid: string;
  gatewayName: string | null;
  /** FusionPBX's `register`: the gateway is meant to register (REGED is its healthy state). */
  register: boolean;
  /** FreeSWITCH's state (REGED, FAIL_WAIT, …), or NOT_RUNNING. */
  state: string | null;
  /** Ping status UP / DOWN. */
  status: string | null;
  failing: boolean;
  at: Date;
  downAfterSeconds: number;
}

export type GatewayTransition = 'down' | 'up';

/** Filters of a gateway history page; `beforeId` is the keyset cursor. */
export interface GatewayHistoryQuery {
  limit: number;
  beforeId?: number;
  gatewayUuid?: string;
  transition?: GatewayTransition;
  from?: Date;
  to?: Date;
}

export interface GatewayHistoryEntry {
  id: number;
  server: string;
  serviceId: number;
  domain: string;
  gatewayUuid: string;
  gatewayName: string | null;
  transition: GatewayTransition;
  at: Date;
  failingSince: Date;
  figures: Record<string, unknown>;
  alertSentAt: Date | null;
  alertAttempts: number;
}

export interface GatewayMonitorState {
  server: string;
  serviceId: number;
  domain: string;
  gatewayUuid: string;
  gatewayName: string | null;
  register: boolean;
  state: string | null;
  status: string | null;
  down: boolean;
  failingSince: Date | null;
  lastOk: Date | null;
  lastChange: Date;
  lastPolledAt: Date;
}

interface StateRow {
  server: string;
  gateway_uuid: string;
  gateway_name: string | null;
  domain: string;
  service_id: string;
  register: boolean;
  state: string | null;
  status: string | null;
  down: boolean;
  failing_since: Date | null;
  last_ok: Date | null;
  last_change: Date;
  last_polled_at: Date;
}

interface HistoryRow {
  id: string;
  server: string;
  gateway_uuid: string;
  gateway_name: string | null;
  domain: string;
  service_id: string;
  transition: GatewayTransition;
  at: Date;
  failing_since: Date;
  figures: Record<string, unknown>;
  alert_sent_at: Date | null;
  alert_attempts: number;
}

function stateOf(row: StateRow): GatewayMonitorState {
  return {
    server: row.server,
    serviceId: Number(row.service_id),
    domain: row.domain,
    gatewayUuid: row.gateway_uuid,
    gatewayName: row.gateway_name,
    register: row.register,
    state: row.state,
    status: row.status,
    down: row.down,
    failingSince: row.failing_since,
    lastOk: row.last_ok,
    lastChange: row.last_change,
    lastPolledAt: row.last_polled_at,
  };
}

function historyOf(row: HistoryRow): GatewayHistoryEntry {
  return {
    id: Number(row.id),
    server: row.server,
    serviceId: Number(row.service_id),
    domain: row.domain,
    gatewayUuid: row.gateway_uuid,
    gatewayName: row.gateway_name,
    transition: row.transition,
    at: row.at,
    failingSince: row.failing_since,
    figures: row.figures,
    alertSentAt: row.alert_sent_at,
    alertAttempts: row.alert_attempts,
  };
}

/**
 * Per-gateway monitoring state and its down/up transitions, moved under the row lock with the
 * transition recorded in the same transaction; the history's unique key (the failing episode, named
 * by its failing_since) keeps a replayed or concurrent poll from recording it twice.
 */
export class GatewayMonitoringRepository {
  constructor(private readonly pool: Pool) {}

  /** Applies one poll's observation of one gateway; returns the transition it caused, if any. */
  async observe(input: GatewayObservation): Promise<GatewayHistoryEntry | null> {
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        const key = [input.server, input.gatewayUuid];
        await client.query(
          `INSERT INTO gateway_states (server, gateway_uuid, domain, service_id, register, last_change, last_polled_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
           ON CONFLICT (server, gateway_uuid) DO NOTHING`,
          [...key, input.domain, input.serviceId, input.register, input.at],
        );
        const { rows } = await client.query<StateRow>('SELECT * FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE', key);
        const row = rows[0]!;
        // A poll older than the last one applied (a replay, a slow worker) must not move the state back.
        if (row.last_polled_at.getTime() > input.at.getTime()) return null;
        const before = stateOf(row);
        let transition: GatewayTransition | null = null;
        let episode: Date | null = null;
        let down = before.down;
        let failingSince = before.failingSince;
        let lastOk = before.lastOk;
        if (input.failing) {
          failingSince ??= input.at;
          if (!down && input.at.getTime() - failingSince.getTime() >= input.downAfterSeconds * 1000) {
            transition = 'down';
            episode = failingSince;
            down = true;
          }
        } else {
          if (down && failingSince) {
            transition = 'up';
            episode = failingSince;
          }
          down = false;
          failingSince = null;
          lastOk = input.at;
        }
        const changed = before.state !== input.state || transition !== null;
        await client.query(
          `UPDATE gateway_states SET gateway_name = $3, domain = $4, service_id = $5, register = $6, state = $7, status = $8, down = $9, failing_since = $10,
             last_ok = $11, last_change = $12, last_polled_at = $13
           WHERE server = $1 AND gateway_uuid = $2`,
          [
            ...key,
            input.gatewayName,
            input.domain,
            input.serviceId,
            input.register,
            input.state,
            input.status,
            down,
            failingSince,
            lastOk,
            changed ? input.at : before.lastChange,
            input.at,
          ],
        );
        if (!transition || !episode) return null;
        const figures = {
          state: input.state,
          status: input.status,
          previousState: before.state,
          register: input.register,
          lastOk: (lastOk ?? before.lastOk)?.toISOString() ?? null,
          failingSince: episode.toISOString(),
        };
        const inserted = await client.query<HistoryRow>(
          `INSERT INTO gateway_history (server, gateway_uuid, gateway_name, domain, service_id, transition, at, failing_since, figures)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (server, gateway_uuid, failing_since, transition) DO NOTHING RETURNING *`,
          [...key, input.gatewayName, input.domain, input.serviceId, transition, input.at, episode, JSON.stringify(figures)],
        );
        return inserted.rows[0] ? historyOf(inserted.rows[0]) : null;
      });
    } finally {
      client.release();
    }
  }

  /** Forgets the gateways of `server` this poll did not watch (removed, disabled, or their tenant no longer active). */
  async forgetUnwatched(server: string, watched: readonly string[], polledAt: Date): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM gateway_states g WHERE g.server = $1 AND g.last_polled_at <= $3 AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS w(uuid) WHERE w.uuid = g.gateway_uuid)`,
      [server, watched, polledAt],
    );
    return rowCount ?? 0;
  }

  async states(serviceId: number): Promise<GatewayMonitorState[]> {
    const { rows } = await this.pool.query<StateRow>('SELECT * FROM gateway_states WHERE service_id = $1 ORDER BY gateway_name, gateway_uuid', [serviceId]);
    return rows.map(stateOf);
  }

  /** One tenant's transitions, newest first, filtered; `beforeId` is the keyset cursor. */
  async history(serviceId: number, options: GatewayHistoryQuery): Promise<GatewayHistoryEntry[]> {
    const { rows } = await this.pool.query<HistoryRow>(
      `SELECT * FROM gateway_history
        WHERE service_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($4::text IS NULL OR gateway_uuid = $4) AND ($5::text IS NULL OR transition = $5)
          AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
        ORDER BY id DESC LIMIT $3`,
      [serviceId, options.beforeId ?? null, options.limit, options.gatewayUuid?.toLowerCase() ?? null, options.transition ?? null, options.from ?? null, options.to ?? null],
    );
    return rows.map(historyOf);
  }

  async historyEntry(id: number): Promise<GatewayHistoryEntry | null> {
    const { rows } = await this.pool.query<HistoryRow>('SELECT * FROM gateway_history WHERE id = $1', [id]);
    return rows[0] ? historyOf(rows[0]) : null;
  }

  /** Transitions whose alert was not delivered yet (the outbox), oldest first. */
  async unsentAlerts(limit = 100, since = new Date(0)): Promise<GatewayHistoryEntry[]> {
    const { rows } = await this.pool.query<HistoryRow>('SELECT * FROM gateway_history WHERE alert_sent_at IS NULL AND at >= $2 ORDER BY id LIMIT $1', [limit, since]);
    return rows.map(historyOf);
  }

  /** Marks the alert delivered; false when another delivery already did. */
  async markAlertSent(id: number, at: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE gateway_history SET alert_sent_at = $2, alert_attempts = alert_attempts + 1, alert_error = NULL WHERE id = $1 AND alert_sent_at IS NULL',
      [id, at],
    );
    return (rowCount ?? 0) > 0;
  }

  async noteAlertFailure(id: number, error: string): Promise<void> {
    await this.pool.query('UPDATE gateway_history SET alert_attempts = alert_attempts + 1, alert_error = $2 WHERE id = $1', [id, error.slice(0, 500)]);
  }

  /** Drops transitions older than `days` days. */
  async purgeHistory(days: number, now = new Date()): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM gateway_history WHERE at < $1::timestamptz - make_interval(days => $2)`, [now, days]);
    return rowCount ?? 0;
  }
}

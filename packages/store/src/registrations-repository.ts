import type { Pool, QueryResultRow } from 'pg';
import { inTransaction } from './transaction';

/** What one poll saw of one extension (the first of its registrations when it has several). */
export interface RegistrationSighting {
  profile: string | null;
  contactIp: string | null;
  contactPort: number | null;
  lanIp: string | null;
  userAgent: string | null;
  expires: string | null;
  expiresInSeconds: number | null;
}

export interface RegistrationObservation {
  /** FusionPBX server name; 'default' for FUSIONPBX_DATABASE_URL / ESL_*. */
  server: string;
  serviceId: number;
  domain: string;
  extension: string;
  /** null: the poll did not list it. */
  seen: RegistrationSighting | null;
  /** When the poll ran (the grace period is counted from the first poll that missed it). */
  at: Date;
  lostAfterSeconds: number;
  /**
   * The server's previous poll, for an extension registered until now: a steady poll does not write
   * its row, so the row's last_seen is the last change and this is when it was last seen.
   */
  lastSeenAt?: Date | null;
}

/** The poll bookkeeping of one server (registration_servers): who wrote its rows last, and when it was last polled. */
export interface RegistrationServerState {
  /** Replaced before any poll writes the server's rows; null before the first poll. */
  token: string | null;
  polledAt: Date | null;
}

export type RegistrationTransition = 'lost' | 'restored';

/** Filters of a history page; `beforeId` is the keyset cursor. */
export interface RegistrationHistoryQuery {
  limit: number;
  beforeId?: number;
  extension?: string;
  transition?: RegistrationTransition;
  /** at >= from */
  from?: Date;
  /** at < to */
  to?: Date;
}

export interface RegistrationHistoryEntry {
  id: number;
  server: string;
  serviceId: number;
  domain: string;
  extension: string;
  transition: RegistrationTransition;
  at: Date;
  missingSince: Date;
  figures: Record<string, unknown>;
  alertSentAt: Date | null;
  alertAttempts: number;
}

export interface RegistrationState {
  server: string;
  serviceId: number;
  domain: string;
  extension: string;
  registered: boolean;
  lost: boolean;
  profile: string | null;
  contactIp: string | null;
  contactPort: number | null;
  lanIp: string | null;
  userAgent: string | null;
  expires: string | null;
  expiresInSeconds: number | null;
  firstSeen: Date | null;
  lastSeen: Date | null;
  lastChange: Date;
  missingSince: Date | null;
}

interface StateRow {
  server: string;
  service_id: string;
  domain: string;
  extension: string;
  registered: boolean;
  lost: boolean;
  profile: string | null;
  contact_ip: string | null;
  contact_port: number | null;
  lan_ip: string | null;
  user_agent: string | null;
  expires: string | null;
  expires_in_seconds: number | null;
  first_seen: Date | null;
  last_seen: Date | null;
  last_change: Date;
  missing_since: Date | null;
  last_polled_at: Date;
}

interface HistoryRow {
  id: string;
  server: string;
  service_id: string;
  domain: string;
  extension: string;
  transition: RegistrationTransition;
  at: Date;
  missing_since: Date;
  figures: Record<string, unknown>;
  alert_sent_at: Date | null;
  alert_attempts: number;
}

function stateOf(row: StateRow): RegistrationState {
  return {
    server: row.server,
    serviceId: Number(row.service_id),
    domain: row.domain,
    extension: row.extension,
    registered: row.registered,
    lost: row.lost,
    profile: row.profile,
    contactIp: row.contact_ip,
    contactPort: row.contact_port,
    lanIp: row.lan_ip,
    userAgent: row.user_agent,
    expires: row.expires,
    expiresInSeconds: row.expires_in_seconds,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    lastChange: row.last_change,
    missingSince: row.missing_since,
  };
}

function historyOf(row: HistoryRow): RegistrationHistoryEntry {
  return {
    id: Number(row.id),
    server: row.server,
    serviceId: Number(row.service_id),
    domain: row.domain,
    extension: row.extension,
    transition: row.transition,
    at: row.at,
    missingSince: row.missing_since,
    figures: row.figures,
    alertSentAt: row.alert_sent_at,
    alertAttempts: row.alert_attempts,
  };
}

function figuresOf(state: Pick<RegistrationState, 'profile' | 'contactIp' | 'contactPort' | 'lanIp' | 'userAgent' | 'lastSeen'>, missingSince: Date): Record<string, unknown> {
  return {
    profile: state.profile,
    contactIp: state.contactIp,
    contactPort: state.contactPort,
    lanIp: state.lanIp,
    userAgent: state.userAgent,
    lastSeen: state.lastSeen?.toISOString() ?? null,
    missingSince: missingSince.toISOString(),
  };
}

/**
 * Per-extension registration state and its transitions. `observe` changes one extension's state
 * under its row lock and records a transition in the same transaction; the history's unique key
 * (the missing episode, named by its missing_since) keeps a replayed or concurrent poll from
 * recording it twice.
 */
export class RegistrationsRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * One statement joining a whole poll (10,000 rows) against `registrations`. PostgreSQL guesses 100
   * rows for jsonb_to_recordset / unnest and would pick a nested loop over every row of the table
   * for each of them (quadratic: minutes at 10,000 phones); hash joins are what these need.
   */
  private async bulk<T extends QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        await client.query('SET LOCAL enable_nestloop = off');
        return (await client.query<T>(sql, params)).rows;
      });
    } finally {
      client.release();
    }
  }

  /** Applies one poll's observation of one extension; returns the transition it caused, if any. */
  async observe(input: RegistrationObservation): Promise<RegistrationHistoryEntry | null> {
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        const key = [input.server, input.domain, input.extension];
        await client.query(
          `INSERT INTO registrations (server, domain, extension, service_id, last_change, last_polled_at) VALUES ($1, $2, $3, $4, $5, $5)
           ON CONFLICT (server, domain, extension) DO NOTHING`,
          [...key, input.serviceId, input.at],
        );
        const { rows } = await client.query<StateRow>('SELECT * FROM registrations WHERE server = $1 AND domain = $2 AND extension = $3 FOR UPDATE', key);
        const row = rows[0]!;
        // A poll older than the last one applied (a replay, a slow worker) must not move the state back.
        if (row.last_polled_at.getTime() > input.at.getTime()) return null;
        const state = stateOf(row);
        let transition: RegistrationTransition | null = null;
        let missingSince = state.missingSince;
        let lost = state.lost;
        let lastChange = state.lastChange;
        let episode: Date | null = null;
        if (input.seen) {
          if (state.lost && state.missingSince) {
            transition = 'restored';
            episode = state.missingSince;
          }
          if (!state.registered || state.lost) lastChange = input.at;
          missingSince = null;
          lost = false;
          const seen = input.seen;
          await client.query(
            `UPDATE registrations SET service_id = $4, registered = true, lost = false, profile = $5, contact_ip = $6, contact_port = $7, lan_ip = $8, user_agent = $9,
               expires = $10, expires_in_seconds = $11, first_seen = COALESCE(first_seen, $12), last_seen = $12, last_change = $13, missing_since = NULL, last_polled_at = $12
             WHERE server = $1 AND domain = $2 AND extension = $3`,
            [...key, input.serviceId, seen.profile, seen.contactIp, seen.contactPort, seen.lanIp, seen.userAgent, seen.expires, seen.expiresInSeconds, input.at, lastChange],
          );
        } else {
          // Never seen registered: nothing to lose.
          if (state.firstSeen && !state.lost) {
            missingSince ??= input.at;
            if (input.at.getTime() - missingSince.getTime() >= input.lostAfterSeconds * 1000) {
              transition = 'lost';
              episode = missingSince;
              lost = true;
              lastChange = input.at;
            }
          }
          if (state.registered && input.lastSeenAt && (!state.lastSeen || input.lastSeenAt > state.lastSeen)) state.lastSeen = input.lastSeenAt;
          await client.query(
            `UPDATE registrations SET service_id = $4, registered = false, lost = $5, missing_since = $6, last_change = $7, last_polled_at = $8, last_seen = $9
             WHERE server = $1 AND domain = $2 AND extension = $3`,
            [...key, input.serviceId, lost, missingSince, state.registered && !lost ? input.at : lastChange, input.at, state.lastSeen],
          );
        }
        if (!transition || !episode) return null;
        const figures = transition === 'lost' ? figuresOf(state, episode) : figuresOf({ ...input.seen!, lastSeen: input.at }, episode);
        const inserted = await client.query<HistoryRow>(
          `INSERT INTO registration_history (server, domain, extension, service_id, transition, at, missing_since, figures)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (server, domain, extension, missing_since, transition) DO NOTHING RETURNING *`,
          [...key, input.serviceId, transition, input.at, episode, JSON.stringify(figures)],
        );
        return inserted.rows[0] ? historyOf(inserted.rows[0]) : null;
      });
    } finally {
      client.release();
    }
  }

  /**
   * The common case in one statement: extensions whose observation cannot cause a transition (still
   * registered; or still not listed and never seen or already lost) only get their figures and poll
   * time. Returns the `domain|extension` keys updated; any other (a state that moved meanwhile) must go
   * through `observe`.
   */
  async observeSteady(server: string, observations: readonly Omit<RegistrationObservation, 'server' | 'lostAfterSeconds'>[], at: Date): Promise<Set<string>> {
    const present = observations.filter((entry) => entry.seen);
    const absent = observations.filter((entry) => !entry.seen);
    const done = new Set<string>();
    if (present.length > 0) {
      const rows = present.map((entry) => ({ domain: entry.domain, extension: entry.extension, service_id: entry.serviceId, ...entry.seen }));
      const updated = await this.bulk<{ domain: string; extension: string }>(
        `UPDATE registrations r SET service_id = v.service_id, profile = v."profile", contact_ip = v."contactIp", contact_port = v."contactPort", lan_ip = v."lanIp",
           user_agent = v."userAgent", expires = v."expires", expires_in_seconds = v."expiresInSeconds", last_seen = $2, last_polled_at = $2
         FROM jsonb_to_recordset($3::jsonb) AS v(domain text, extension text, service_id bigint, "profile" text, "contactIp" text, "contactPort" integer, "lanIp" text,
           "userAgent" text, "expires" text, "expiresInSeconds" integer)
         WHERE r.server = $1 AND r.domain = v.domain AND r.extension = v.extension AND r.registered AND NOT r.lost AND r.missing_since IS NULL AND r.last_polled_at <= $2
         RETURNING r.domain, r.extension`,
        [server, at, JSON.stringify(rows)],
      );
      for (const row of updated) done.add(`${row.domain}|${row.extension}`);
    }
    if (absent.length > 0) {
      const rows = absent.map((entry) => ({ domain: entry.domain, extension: entry.extension, service_id: entry.serviceId }));
      const updated = await this.bulk<{ domain: string; extension: string }>(
        `UPDATE registrations r SET service_id = v.service_id, last_polled_at = $2
         FROM jsonb_to_recordset($3::jsonb) AS v(domain text, extension text, service_id bigint)
         WHERE r.server = $1 AND r.domain = v.domain AND r.extension = v.extension AND NOT r.registered AND (r.first_seen IS NULL OR r.lost) AND r.last_polled_at <= $2
         RETURNING r.domain, r.extension`,
        [server, at, JSON.stringify(rows)],
      );
      for (const row of updated) done.add(`${row.domain}|${row.extension}`);
    }
    return done;
  }

  /**
   * Extensions seen for the first time, in one statement: a new row cannot cause a transition (it was
   * never lost), so it is written with its final state at once (registered with its figures, or not
   * registered and never seen). Returns the `domain|extension` keys inserted; a row that already
   * exists (a concurrent poll inserted it) is left to the other paths.
   */
  async observeNew(server: string, observations: readonly Omit<RegistrationObservation, 'server' | 'lostAfterSeconds'>[], at: Date): Promise<Set<string>> {
    const done = new Set<string>();
    if (observations.length === 0) return done;
    const rows = observations.map((entry) => ({ domain: entry.domain, extension: entry.extension, service_id: entry.serviceId, registered: entry.seen !== null, ...entry.seen }));
    const { rows: inserted } = await this.pool.query<{ domain: string; extension: string }>(
      `INSERT INTO registrations (server, domain, extension, service_id, registered, profile, contact_ip, contact_port, lan_ip, user_agent, expires, expires_in_seconds,
         first_seen, last_seen, last_change, last_polled_at)
       SELECT $1, v.domain, v.extension, v.service_id, v.registered, v."profile", v."contactIp", v."contactPort", v."lanIp", v."userAgent", v."expires", v."expiresInSeconds",
         CASE WHEN v.registered THEN $2::timestamptz END, CASE WHEN v.registered THEN $2::timestamptz END, $2, $2
       FROM jsonb_to_recordset($3::jsonb) AS v(domain text, extension text, service_id bigint, registered boolean, "profile" text, "contactIp" text, "contactPort" integer,
         "lanIp" text, "userAgent" text, "expires" text, "expiresInSeconds" integer)
       ON CONFLICT (server, domain, extension) DO NOTHING
       RETURNING domain, extension`,
      [server, at, JSON.stringify(rows)],
    );
    for (const row of inserted) done.add(`${row.domain}|${row.extension}`);
    return done;
  }

  /** Forgets the extensions of `server` this poll did not watch (removed, or their tenant no longer active); `watched` as `domain|extension`. */
  async forgetUnwatched(server: string, watched: readonly string[], polledAt: Date): Promise<number> {
    // An anti-join on the unnested keys (hashed), not `<> ALL(array)`, which compares every row with every key.
    const deleted = await this.bulk(
      `DELETE FROM registrations r WHERE r.server = $1 AND r.last_polled_at <= $3
         AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS w(key) WHERE w.key = r.domain || '|' || r.extension)
       RETURNING 1`,
      [server, watched, polledAt],
    );
    return deleted.length;
  }

  /** `domain|extension` → the profile it was last seen on (null: never seen), for every row of `server`: what a poll needs, without the figures. */
  async profilesOfServer(server: string): Promise<Map<string, string | null>> {
    const { rows } = await this.pool.query<{ key: string; profile: string | null }>(`SELECT domain || '|' || extension AS key, profile FROM registrations WHERE server = $1`, [
      server,
    ]);
    return new Map(rows.map((row) => [row.key, row.profile]));
  }

  /**
   * Runs `work` holding the server's poll lock (a session advisory lock on a connection of its own):
   * pollers of one server check and write its rows one at a time. The connection is closed, not
   * returned, when the unlock fails, so the lock cannot outlive the work.
   */
  async withServerLock<T>(server: string, work: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query(`SELECT pg_advisory_lock(hashtextextended('registrations:' || $1, 0))`, [server]);
      try {
        return await work();
      } finally {
        await client.query(`SELECT pg_advisory_unlock(hashtextextended('registrations:' || $1, 0))`, [server]).catch(() => {
          broken = true;
        });
      }
    } finally {
      client.release(broken);
    }
  }

  async serverState(server: string): Promise<RegistrationServerState> {
    const { rows } = await this.pool.query<{ state_token: string; polled_at: Date }>('SELECT state_token, polled_at FROM registration_servers WHERE server = $1', [server]);
    return { token: rows[0]?.state_token ?? null, polledAt: rows[0]?.polled_at ?? null };
  }

  /** Records a poll of `server` at `at` (never moving back); with `token`, the poll is about to write rows, and its token replaces the last one. */
  async markServerPolled(server: string, at: Date, token?: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO registration_servers (server, state_token, polled_at) VALUES ($1, COALESCE($3, ''), $2)
       ON CONFLICT (server) DO UPDATE SET polled_at = GREATEST(registration_servers.polled_at, EXCLUDED.polled_at),
         state_token = COALESCE($3, registration_servers.state_token)`,
      [server, at, token ?? null],
    );
  }

  /** The rows of `server` named by `keys` (`domain|extension`). */
  async statesOfKeys(server: string, keys: readonly string[]): Promise<RegistrationState[]> {
    if (keys.length === 0) return [];
    const rows = await this.bulk<StateRow>(`SELECT r.* FROM registrations r JOIN unnest($2::text[]) AS k(key) ON k.key = r.domain || '|' || r.extension WHERE r.server = $1`, [
      server,
      keys,
    ]);
    return rows.map(stateOf);
  }

  async statesOfServer(server: string): Promise<RegistrationState[]> {
    const { rows } = await this.pool.query<StateRow>('SELECT * FROM registrations WHERE server = $1', [server]);
    return rows.map(stateOf);
  }

  async states(serviceId: number): Promise<RegistrationState[]> {
    const { rows } = await this.pool.query<StateRow>('SELECT * FROM registrations WHERE service_id = $1 ORDER BY domain, extension', [serviceId]);
    return rows.map(stateOf);
  }

  /** One tenant's transitions, newest first, filtered; `beforeId` is the keyset cursor (the last id of the previous page). */
  async history(serviceId: number, options: RegistrationHistoryQuery): Promise<RegistrationHistoryEntry[]> {
    const { rows } = await this.pool.query<HistoryRow>(
      `SELECT * FROM registration_history
        WHERE service_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($4::text IS NULL OR extension = $4) AND ($5::text IS NULL OR transition = $5)
          AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
        ORDER BY id DESC LIMIT $3`,
      [serviceId, options.beforeId ?? null, options.limit, options.extension ?? null, options.transition ?? null, options.from ?? null, options.to ?? null],
    );
    return rows.map(historyOf);
  }

  /** One tenant's transitions after `afterId`, oldest first: the keyset a live follow polls with. */
  async historySince(serviceId: number, afterId: number, limit: number): Promise<RegistrationHistoryEntry[]> {
    const { rows } = await this.pool.query<HistoryRow>('SELECT * FROM registration_history WHERE service_id = $1 AND id > $2 ORDER BY id LIMIT $3', [serviceId, afterId, limit]);
    return rows.map(historyOf);
  }

  /** The newest transition id of any tenant (0 when none): where a follow starts without a backlog. */
  async lastHistoryId(): Promise<number> {
    const { rows } = await this.pool.query<{ id: string | null }>('SELECT max(id) AS id FROM registration_history');
    return Number(rows[0]?.id ?? 0);
  }

  /** The tenant's extensions currently lost (missing past the grace period), longest lost first. */
  async lost(serviceId?: number): Promise<RegistrationState[]> {
    const { rows } = await this.pool.query<StateRow>(
      'SELECT * FROM registrations WHERE lost AND ($1::bigint IS NULL OR service_id = $1) ORDER BY missing_since, domain, extension',
      [serviceId ?? null],
    );
    return rows.map(stateOf);
  }

  async historyEntry(id: number): Promise<RegistrationHistoryEntry | null> {
    const { rows } = await this.pool.query<HistoryRow>('SELECT * FROM registration_history WHERE id = $1', [id]);
    return rows[0] ? historyOf(rows[0]) : null;
  }

  /** Transitions whose alert was not delivered yet (the outbox), oldest first. */
  async unsentAlerts(limit = 100, since = new Date(0)): Promise<RegistrationHistoryEntry[]> {
    const { rows } = await this.pool.query<HistoryRow>('SELECT * FROM registration_history WHERE alert_sent_at IS NULL AND at >= $2 ORDER BY id LIMIT $1', [limit, since]);
    return rows.map(historyOf);
  }

  /** Marks the alert delivered; false when another delivery already did. */
  async markAlertSent(id: number, at: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE registration_history SET alert_sent_at = $2, alert_attempts = alert_attempts + 1, alert_error = NULL WHERE id = $1 AND alert_sent_at IS NULL',
      [id, at],
    );
    return (rowCount ?? 0) > 0;
  }

  async noteAlertFailure(id: number, error: string): Promise<void> {
    await this.pool.query('UPDATE registration_history SET alert_attempts = alert_attempts + 1, alert_error = $2 WHERE id = $1', [id, error.slice(0, 500)]);
  }

  /** Drops transitions older than `days` days. */
  async purgeHistory(days: number, now = new Date()): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM registration_history WHERE at < $1::timestamptz - make_interval(days => $2)`, [now, days]);
    return rowCount ?? 0;
  }
}

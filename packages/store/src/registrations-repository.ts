import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { lockServersOfBatch, serverKeptSql } from './fusion-server-guard';
import { inTransaction, withRegistrationsPollLock } from './transaction';

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

/** A transition an observation causes, before it is recorded. */
interface TransitionDecision {
  transition: RegistrationTransition;
  /** The missing episode (its missing_since): with the transition, the history's unique key. */
  episode: Date;
  figures: Record<string, unknown>;
}

interface PendingTransition extends TransitionDecision {
  /** The observation's position in the batch. */
  index: number;
  input: RegistrationObservation;
}

/** The row key of an observation (NUL cannot occur in a domain or an extension). */
function keyOf(input: Pick<RegistrationObservation, 'server' | 'domain' | 'extension'>): string {
  return `${input.server}\u0000${input.domain}\u0000${input.extension}`;
}

/**
 * The state machine of one extension: the row after `input`, and the transition it causes; null when
 * the observation changes nothing. Pure, so one observation or a batch apply exactly the same rules.
 */
function decideObservation(row: StateRow, input: RegistrationObservation): { row: StateRow; transition: TransitionDecision | null } | null {
  // A poll older than the last one applied (a replay, a slow worker) must not move the state back.
  if (row.last_polled_at.getTime() > input.at.getTime()) return null;
  return input.seen ? decideSeen(row, input, input.seen) : decideMissing(row, input);
}

function decideSeen(row: StateRow, input: RegistrationObservation, seen: RegistrationSighting): { row: StateRow; transition: TransitionDecision | null } {
  const episode = row.lost ? row.missing_since : null;
  const transition: TransitionDecision | null = episode ? { transition: 'restored', episode, figures: figuresOf({ ...seen, lastSeen: input.at }, episode) } : null;
  const next: StateRow = {
    ...row,
    service_id: String(input.serviceId),
    registered: true,
    lost: false,
    profile: seen.profile,
    contact_ip: seen.contactIp,
    contact_port: seen.contactPort,
    lan_ip: seen.lanIp,
    user_agent: seen.userAgent,
    expires: seen.expires,
    expires_in_seconds: seen.expiresInSeconds,
    first_seen: row.first_seen ?? input.at,
    last_seen: input.at,
    last_change: !row.registered || row.lost ? input.at : row.last_change,
    missing_since: null,
    last_polled_at: input.at,
  };
  return { row: next, transition };
}

function decideMissing(row: StateRow, input: RegistrationObservation): { row: StateRow; transition: TransitionDecision | null } {
  let missingSince = row.missing_since;
  let lost = row.lost;
  let lastChange = row.last_change;
  let episode: Date | null = null;
  // Never seen registered: nothing to lose.
  if (row.first_seen && !row.lost) {
    missingSince ??= input.at;
    if (input.at.getTime() - missingSince.getTime() >= input.lostAfterSeconds * 1000) {
      episode = missingSince;
      lost = true;
      lastChange = input.at;
    }
  }
  // A steady poll does not write a registered row: the previous poll is when it was last seen.
  const lastSeen = row.registered && input.lastSeenAt && (!row.last_seen || input.lastSeenAt > row.last_seen) ? input.lastSeenAt : row.last_seen;
  const state = { profile: row.profile, contactIp: row.contact_ip, contactPort: row.contact_port, lanIp: row.lan_ip, userAgent: row.user_agent, lastSeen };
  const transition: TransitionDecision | null = episode ? { transition: 'lost', episode, figures: figuresOf(state, episode) } : null;
  const next: StateRow = {
    ...row,
    service_id: String(input.serviceId),
    registered: false,
    lost,
    missing_since: missingSince,
    last_change: row.registered && !lost ? input.at : lastChange,
    last_polled_at: input.at,
    last_seen: lastSeen,
  };
  return { row: next, transition };
}

/**
 * The one order registration rows are locked in. The database's own collation (en_US.UTF-8 on an
 * install) orders 'fs1.pbx' before 'fs-2.pbx', where byte order puts 'fs-2.pbx' first: byte order
 * ("C", UTF-8) is the order of the UTF-8 keys lockRows sorts its inserts by, whatever the collation.
 */
const REGISTRATION_KEY_ORDER = 'r.server COLLATE "C", r.domain COLLATE "C", r.extension COLLATE "C"';

/**
 * Locks every registration row of `server` in key order, in `client`'s open transaction: what a
 * statement deleting them (the server's removal) takes first, so it waits for a poll's batch instead of
 * deadlocking with it.
 */
export async function lockRegistrationRowsOfServer(client: PoolClient, server: string): Promise<void> {
  await client.query(`SELECT 1 FROM registrations r WHERE r.server = $1 ORDER BY ${REGISTRATION_KEY_ORDER} FOR UPDATE OF r`, [server]);
}

/** A batch's rows kept vanishing between its INSERT finding them and its lock (removals of the same extensions, each time). */
export class RegistrationRowsVanishedError extends Error {
  readonly code = 'REGISTRATION_ROWS_VANISHED';
  constructor(attempts: number) {
    super(`registration rows removed while a poll locked them, ${attempts} times in a row`);
    this.name = 'RegistrationRowsVanishedError';
  }
}

const LOCK_ATTEMPTS = 5;

/**
 * Creates the rows a batch names that do not exist yet (as its first observation of each), then locks them all in key order.
 * A removal (forgetUnwatched) committed between the two statements leaves a row found but gone: the
 * batch then starts over from a savepoint, which gives back the locks taken, so they are taken in key
 * order again and the row is created anew (as the removal, then the batch, would).
 */
async function lockRows(client: PoolClient, observations: readonly RegistrationObservation[]): Promise<Map<string, StateRow>> {
  const first = new Map<string, RegistrationObservation>();
  for (const input of observations) if (!first.has(keyOf(input))) first.set(keyOf(input), input);
  // Inserted in one order by every batch, the one the rows are locked in (REGISTRATION_KEY_ORDER): two batches cannot wait on each other.
  const keys = [...first.values()]
    .map((input) => ({ input, bytes: Buffer.from(keyOf(input), 'utf8') }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ input }) => input);
  const columns = [keys.map((k) => k.server), keys.map((k) => k.domain), keys.map((k) => k.extension)];
  // Before any row: a server removed meanwhile must not get its rows back from this batch.
  await lockServersOfBatch(client, columns[0]!);
  for (let attempt = 1; attempt <= LOCK_ATTEMPTS; attempt += 1) {
    await client.query('SAVEPOINT lock_registration_rows');
    await client.query(
      `INSERT INTO registrations (server, domain, extension, service_id, last_change, last_polled_at)
       SELECT k.server, k.domain, k.extension, k.service_id, k.at, k.at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) WITH ORDINALITY AS k(server, domain, extension, service_id, at, n)
        ORDER BY k.n
       ON CONFLICT (server, domain, extension) DO NOTHING`,
      [...columns, keys.map((k) => k.serviceId), keys.map((k) => k.at)],
    );
    const { rows } = await client.query<StateRow>(
      `SELECT r.* FROM registrations r JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(server, domain, extension)
         ON r.server = k.server AND r.domain = k.domain AND r.extension = k.extension
       ORDER BY ${REGISTRATION_KEY_ORDER} FOR UPDATE OF r`,
      columns,
    );
    if (rows.length === keys.length) return new Map(rows.map((row) => [keyOf(row), row]));
    await client.query('ROLLBACK TO SAVEPOINT lock_registration_rows');
  }
  throw new RegistrationRowsVanishedError(LOCK_ATTEMPTS);
}

/** Writes the rows a batch changed in one UPDATE. */
async function writeRows(client: PoolClient, rows: readonly StateRow[]): Promise<void> {
  if (rows.length === 0) return;
  const column = <K extends keyof StateRow>(name: K): StateRow[K][] => rows.map((row) => row[name]);
  await client.query(
    `UPDATE registrations r SET service_id = v.service_id, registered = v.registered, lost = v.lost, profile = v.profile, contact_ip = v.contact_ip, contact_port = v.contact_port,
       lan_ip = v.lan_ip, user_agent = v.user_agent, expires = v.expires, expires_in_seconds = v.expires_in_seconds, first_seen = v.first_seen, last_seen = v.last_seen,
       last_change = v.last_change, missing_since = v.missing_since, last_polled_at = v.last_polled_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::boolean[], $7::text[], $8::text[], $9::integer[], $10::text[], $11::text[], $12::text[],
       $13::integer[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[])
       AS v(server, domain, extension, service_id, registered, lost, profile, contact_ip, contact_port, lan_ip, user_agent, expires, expires_in_seconds, first_seen, last_seen,
         last_change, missing_since, last_polled_at)
     WHERE r.server = v.server AND r.domain = v.domain AND r.extension = v.extension`,
    [
      column('server'),
      column('domain'),
      column('extension'),
      column('service_id'),
      column('registered'),
      column('lost'),
      column('profile'),
      column('contact_ip'),
      column('contact_port'),
      column('lan_ip'),
      column('user_agent'),
      column('expires'),
      column('expires_in_seconds'),
      column('first_seen'),
      column('last_seen'),
      column('last_change'),
      column('missing_since'),
      column('last_polled_at'),
    ],
  );
}

/** The history's unique key of a transition. */
function episodeKeyOf(entry: { server: string; domain: string; extension: string; transition: RegistrationTransition }, missingSince: Date): string {
  return `${keyOf(entry)}\u0000${entry.transition}\u0000${missingSince.getTime()}`;
}

/**
 * Records a batch's transitions in one INSERT; returns those recorded, by the observation's position. A
 * transition already recorded (a replay, a concurrent poll), or twice in the batch, is recorded once: by
 * the first, as one INSERT each would.
 */
async function insertHistory(client: PoolClient, pending: readonly PendingTransition[]): Promise<Map<number, RegistrationHistoryEntry>> {
  const byEpisode = new Map<string, PendingTransition>();
  for (const entry of pending) {
    const key = episodeKeyOf({ ...entry.input, transition: entry.transition }, entry.episode);
    if (!byEpisode.has(key)) byEpisode.set(key, entry);
  }
  const recorded = new Map<number, RegistrationHistoryEntry>();
  if (byEpisode.size === 0) return recorded;
  const rows = [...byEpisode.values()];
  const { rows: inserted } = await client.query<HistoryRow>(
    `INSERT INTO registration_history (server, domain, extension, service_id, transition, at, missing_since, figures)
     SELECT v.server, v.domain, v.extension, v.service_id, v.transition, v.at, v.missing_since, v.figures::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[])
       AS v(server, domain, extension, service_id, transition, at, missing_since, figures)
     ON CONFLICT (server, domain, extension, missing_since, transition) DO NOTHING RETURNING *`,
    [
      rows.map((entry) => entry.input.server),
      rows.map((entry) => entry.input.domain),
      rows.map((entry) => entry.input.extension),
      rows.map((entry) => entry.input.serviceId),
      rows.map((entry) => entry.transition),
      rows.map((entry) => entry.input.at),
      rows.map((entry) => entry.episode),
      rows.map((entry) => JSON.stringify(entry.figures)),
    ],
  );
  for (const row of inserted) recorded.set(byEpisode.get(episodeKeyOf(row, row.missing_since))!.index, historyOf(row));
  return recorded;
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
    return (await this.observeMany([input]))[0] ?? null;
  }

  /**
   * Applies observations in one transaction, as `observe` would one after the other, in a fixed number
   * of statements (a poll's hundred transitions were a hundred transactions: most of its CPU). Returns
   * the transition each caused (null: none), in the order given. Rows are locked in key order, so two
   * batches cannot deadlock; the history's unique key still keeps a replay from recording twice.
   */
  async observeMany(observations: readonly RegistrationObservation[]): Promise<(RegistrationHistoryEntry | null)[]> {
    return (await this.observeManyWithStates(observations)).transitions;
  }

  /**
   * observeMany, also returning each named row as the transaction left it (written, or locked and
   * left as it was): what a poll's copy of the rows needs, without reading the rows back after it.
   */
  async observeManyWithStates(observations: readonly RegistrationObservation[]): Promise<{ transitions: (RegistrationHistoryEntry | null)[]; states: RegistrationState[] }> {
    if (observations.length === 0) return { transitions: [], states: [] };
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        const rows = await lockRows(client, observations);
        const changed = new Map<string, StateRow>();
        const pending: PendingTransition[] = [];
        observations.forEach((input, index) => {
          const key = keyOf(input);
          const decision = decideObservation(changed.get(key) ?? rows.get(key)!, input);
          if (!decision) return;
          changed.set(key, decision.row);
          if (decision.transition) pending.push({ index, input, ...decision.transition });
        });
        await writeRows(client, [...changed.values()]);
        const recorded = await insertHistory(client, pending);
        const transitions: (RegistrationHistoryEntry | null)[] = observations.map(() => null);
        for (const [index, entry] of recorded) transitions[index] = entry;
        const states = [...rows].map(([key, row]) => stateOf(changed.get(key) ?? row));
        return { transitions, states };
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
   * exists (a concurrent poll inserted it) is left to the other paths. Nothing is inserted for a
   * server removed meanwhile (serverKeptSql).
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
       WHERE ${serverKeptSql('$1')}
       ON CONFLICT (server, domain, extension) DO NOTHING
       RETURNING domain, extension`,
      [server, at, JSON.stringify(rows)],
    );
    for (const row of inserted) done.add(`${row.domain}|${row.extension}`);
    return done;
  }

  /**
   * Forgets the extensions of `server` this poll did not watch (removed, or their tenant no longer active); `watched` as `domain|extension`.
   * Their rows are locked in key order before they go: a DELETE alone locks in the order it scans (the
   * heap's, once a server's rows are most of the table), and an overlapping poll's batch holding some of
   * them in key order would deadlock with it (the poll lock keeps polls apart only while its connection lives).
   */
  async forgetUnwatched(server: string, watched: readonly string[], polledAt: Date): Promise<number> {
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        // Hash joins, as in bulk(): an anti-join on the unnested keys, not every row against every key.
        await client.query('SET LOCAL enable_nestloop = off');
        const { rows } = await client.query<{ domain: string; extension: string }>(
          `SELECT r.domain, r.extension FROM registrations r
            WHERE r.server = $1 AND r.last_polled_at <= $3 AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS w(key) WHERE w.key = r.domain || '|' || r.extension)
            ORDER BY ${REGISTRATION_KEY_ORDER} FOR UPDATE OF r`,
          [server, watched, polledAt],
        );
        if (rows.length === 0) return 0;
        const { rowCount } = await client.query(
          `DELETE FROM registrations r USING unnest($2::text[], $3::text[]) AS k(domain, extension)
            WHERE r.server = $1 AND r.domain = k.domain AND r.extension = k.extension`,
          [server, rows.map((row) => row.domain), rows.map((row) => row.extension)],
        );
        return rowCount ?? 0;
      });
    } finally {
      client.release();
    }
  }

  /** `domain|extension` → the profile it was last seen on (null: never seen), for every row of `server`: what a poll needs, without the figures. */
  async profilesOfServer(server: string): Promise<Map<string, string | null>> {
    const { rows } = await this.pool.query<{ key: string; profile: string | null }>(`SELECT domain || '|' || extension AS key, profile FROM registrations WHERE server = $1`, [
      server,
    ]);
    return new Map(rows.map((row) => [row.key, row.profile]));
  }

  /**
   * Runs `work` holding the server's poll lock (transaction.ts, a session advisory lock on a
   * connection of its own): pollers of one server check and write its rows one at a time.
   */
  withServerLock<T>(server: string, work: () => Promise<T>, waitMs?: number): Promise<T> {
    return withRegistrationsPollLock(this.pool, server, () => work(), waitMs);
  }

  async serverState(server: string): Promise<RegistrationServerState> {
    const { rows } = await this.pool.query<{ state_token: string; polled_at: Date }>('SELECT state_token, polled_at FROM registration_servers WHERE server = $1', [server]);
    return { token: rows[0]?.state_token ?? null, polledAt: rows[0]?.polled_at ?? null };
  }

  /** Records a poll of `server` at `at` (never moving back); with `token`, the poll is about to write rows, and its token replaces the last one. Not for a server removed meanwhile. */
  async markServerPolled(server: string, at: Date, token?: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO registration_servers (server, state_token, polled_at) SELECT $1, COALESCE($3, ''), $2 WHERE ${serverKeptSql('$1')}
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

import type { Pool, PoolClient } from 'pg';
import { lockServersOfBatch } from './fusion-server-guard';
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

/** The row key of an observation (NUL cannot occur in a server name or a uuid). */
function gatewayKeyOf(input: Pick<GatewayObservation, 'server' | 'gatewayUuid'>): string {
  return `${input.server}\u0000${input.gatewayUuid}`;
}

/** A transition an observation causes, before it is recorded. */
interface GatewayTransitionDecision {
  transition: GatewayTransition;
  /** The failing episode (its failing_since): with the transition, the history's unique key. */
  episode: Date;
  figures: Record<string, unknown>;
}

interface PendingGatewayTransition extends GatewayTransitionDecision {
  /** The observation's position in the batch. */
  index: number;
  input: GatewayObservation;
}

/**
 * The state machine of one gateway: the row after `input`, and the transition it causes; null when
 * the observation is older than the row's last poll. Pure, so one observation or a batch apply the same rules.
 */
function decideGateway(row: StateRow, input: GatewayObservation): { row: StateRow; transition: GatewayTransitionDecision | null } | null {
  // A poll older than the last one applied (a replay, a slow worker) must not move the state back.
  if (row.last_polled_at.getTime() > input.at.getTime()) return null;
  let transition: GatewayTransition | null = null;
  let episode: Date | null = null;
  let down = row.down;
  let failingSince = row.failing_since;
  let lastOk = row.last_ok;
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
  const next: StateRow = {
    ...row,
    gateway_name: input.gatewayName,
    domain: input.domain,
    service_id: String(input.serviceId),
    register: input.register,
    state: input.state,
    status: input.status,
    down,
    failing_since: failingSince,
    last_ok: lastOk,
    last_change: row.state !== input.state || transition !== null ? input.at : row.last_change,
    last_polled_at: input.at,
  };
  if (!transition || !episode) return { row: next, transition: null };
  const figures = {
    state: input.state,
    status: input.status,
    previousState: row.state,
    register: input.register,
    lastOk: lastOk?.toISOString() ?? null,
    failingSince: episode.toISOString(),
  };
  return { row: next, transition: { transition, episode, figures } };
}

/** Whether two versions of a row hold the same values (timestamps by their instant). */
function sameGatewayRow(a: StateRow, b: StateRow): boolean {
  return (Object.keys(a) as (keyof StateRow)[]).every((name) => {
    const [x, y] = [a[name], b[name]];
    return x instanceof Date && y instanceof Date ? x.getTime() === y.getTime() : x === y;
  });
}

/** A batch's rows kept vanishing between its INSERT finding them and its lock (removals of the same gateways, each time). */
export class GatewayRowsVanishedError extends Error {
  readonly code = 'GATEWAY_ROWS_VANISHED';
  constructor(attempts: number) {
    super(`gateway rows removed while a poll locked them, ${attempts} times in a row`);
    this.name = 'GatewayRowsVanishedError';
  }
}

const LOCK_ATTEMPTS = 5;

/**
 * The one order gateway rows are locked in. The database's own collation (en_US.UTF-8 on an install)
 * orders 'fs1' before 'fs-2', where the batch's insert order puts 'fs-2' first: byte order ("C", UTF-8)
 * is the order of the UTF-8 keys lockGatewayRows sorts its inserts by, whatever the collation.
 */
const GATEWAY_KEY_ORDER = 'g.server COLLATE "C", g.gateway_uuid COLLATE "C"';

/**
 * Locks every gateway row of `server` in key order, in `client`'s open transaction: what a statement
 * deleting them (the server's removal) takes first, so it waits for a poll's batch instead of
 * deadlocking with it.
 */
export async function lockGatewayRowsOfServer(client: PoolClient, server: string): Promise<void> {
  await client.query(`SELECT 1 FROM gateway_states g WHERE g.server = $1 ORDER BY ${GATEWAY_KEY_ORDER} FOR UPDATE OF g`, [server]);
}

/**
 * Creates the rows a batch names that do not exist yet (as its first observation of each), then locks them all in key order.
 * A removal (forgetUnwatched) committed between the two statements leaves a row found but gone: the
 * batch then starts over from a savepoint, which gives back the locks taken, so they are taken in key
 * order again and the row is created anew (as the removal, then the batch, would).
 */
async function lockGatewayRows(client: PoolClient, observations: readonly GatewayObservation[]): Promise<Map<string, StateRow>> {
  const first = new Map<string, GatewayObservation>();
  for (const input of observations) if (!first.has(gatewayKeyOf(input))) first.set(gatewayKeyOf(input), input);
  // Inserted in one order by every batch, the one the rows are locked in (GATEWAY_KEY_ORDER): two batches cannot wait on each other.
  const keys = [...first.values()]
    .map((input) => ({ input, bytes: Buffer.from(gatewayKeyOf(input), 'utf8') }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ input }) => input);
  const columns = [keys.map((k) => k.server), keys.map((k) => k.gatewayUuid)];
  // Before any row: a server removed meanwhile must not get its rows back from this batch.
  await lockServersOfBatch(client, columns[0]!);
  for (let attempt = 1; attempt <= LOCK_ATTEMPTS; attempt += 1) {
    await client.query('SAVEPOINT lock_gateway_rows');
    await client.query(
      `INSERT INTO gateway_states (server, gateway_uuid, domain, service_id, register, last_change, last_polled_at)
       SELECT k.server, k.gateway_uuid, k.domain, k.service_id, k.register, k.at, k.at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::timestamptz[]) WITH ORDINALITY AS k(server, gateway_uuid, domain, service_id, register, at, n)
        ORDER BY k.n
       ON CONFLICT (server, gateway_uuid) DO NOTHING`,
      [...columns, keys.map((k) => k.domain), keys.map((k) => k.serviceId), keys.map((k) => k.register), keys.map((k) => k.at)],
    );
    const { rows } = await client.query<StateRow>(
      `SELECT g.* FROM gateway_states g JOIN unnest($1::text[], $2::text[]) AS k(server, gateway_uuid) ON g.server = k.server AND g.gateway_uuid = k.gateway_uuid
       ORDER BY ${GATEWAY_KEY_ORDER} FOR UPDATE OF g`,
      columns,
    );
    if (rows.length === keys.length) return new Map(rows.map((row) => [gatewayKeyOf({ server: row.server, gatewayUuid: row.gateway_uuid }), row]));
    await client.query('ROLLBACK TO SAVEPOINT lock_gateway_rows');
  }
  throw new GatewayRowsVanishedError(LOCK_ATTEMPTS);
}

/** Writes the rows a batch changed in one UPDATE. */
async function writeGatewayRows(client: PoolClient, rows: readonly StateRow[]): Promise<void> {
  if (rows.length === 0) return;
  const column = <K extends keyof StateRow>(name: K): StateRow[K][] => rows.map((row) => row[name]);
  await client.query(
    `UPDATE gateway_states g SET gateway_name = v.gateway_name, domain = v.domain, service_id = v.service_id, register = v.register, state = v.state, status = v.status,
       down = v.down, failing_since = v.failing_since, last_ok = v.last_ok, last_change = v.last_change, last_polled_at = v.last_polled_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[], $7::text[], $8::text[], $9::boolean[], $10::timestamptz[], $11::timestamptz[],
       $12::timestamptz[], $13::timestamptz[])
       AS v(server, gateway_uuid, gateway_name, domain, service_id, register, state, status, down, failing_since, last_ok, last_change, last_polled_at)
     WHERE g.server = v.server AND g.gateway_uuid = v.gateway_uuid`,
    [
      column('server'),
      column('gateway_uuid'),
      column('gateway_name'),
      column('domain'),
      column('service_id'),
      column('register'),
      column('state'),
      column('status'),
      column('down'),
      column('failing_since'),
      column('last_ok'),
      column('last_change'),
      column('last_polled_at'),
    ],
  );
}

/** The history's unique key of a transition. */
function gatewayEpisodeKeyOf(entry: { server: string; gatewayUuid: string; transition: GatewayTransition }, failingSince: Date): string {
  return `${gatewayKeyOf(entry)}\u0000${entry.transition}\u0000${failingSince.getTime()}`;
}

/**
 * Records a batch's transitions in one INSERT, in the batch's order; returns those recorded, by the
 * observation's position. A transition already recorded (a replay, a concurrent poll), or twice in
 * the batch, is recorded once: by the first, as one INSERT each would.
 */
async function insertGatewayHistory(client: PoolClient, pending: readonly PendingGatewayTransition[]): Promise<Map<number, GatewayHistoryEntry>> {
  const byEpisode = new Map<string, PendingGatewayTransition>();
  for (const entry of pending) {
    const key = gatewayEpisodeKeyOf({ ...entry.input, transition: entry.transition }, entry.episode);
    if (!byEpisode.has(key)) byEpisode.set(key, entry);
  }
  const recorded = new Map<number, GatewayHistoryEntry>();
  if (byEpisode.size === 0) return recorded;
  const rows = [...byEpisode.values()];
  const { rows: inserted } = await client.query<HistoryRow>(
    `INSERT INTO gateway_history (server, gateway_uuid, gateway_name, domain, service_id, transition, at, failing_since, figures)
     SELECT v.server, v.gateway_uuid, v.gateway_name, v.domain, v.service_id, v.transition, v.at, v.failing_since, v.figures::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[]) WITH ORDINALITY
         AS v(server, gateway_uuid, gateway_name, domain, service_id, transition, at, failing_since, figures, n)
      ORDER BY v.n
     ON CONFLICT (server, gateway_uuid, failing_since, transition) DO NOTHING RETURNING *`,
    [
      rows.map((entry) => entry.input.server),
      rows.map((entry) => entry.input.gatewayUuid),
      rows.map((entry) => entry.input.gatewayName),
      rows.map((entry) => entry.input.domain),
      rows.map((entry) => entry.input.serviceId),
      rows.map((entry) => entry.transition),
      rows.map((entry) => entry.input.at),
      rows.map((entry) => entry.episode),
      rows.map((entry) => JSON.stringify(entry.figures)),
    ],
  );
  for (const row of inserted) {
    const key = gatewayEpisodeKeyOf({ server: row.server, gatewayUuid: row.gateway_uuid, transition: row.transition }, row.failing_since);
    recorded.set(byEpisode.get(key)!.index, historyOf(row));
  }
  return recorded;
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
    return (await this.observeMany([input]))[0] ?? null;
  }

  /**
   * Applies a poll's observations in one transaction, as `observe` would one after the other, in a
   * fixed number of statements (one transaction of five statements per gateway made a switch restart's
   * poll take seconds). Returns the transition each caused (null: none), in the order given. Rows are
   * created and locked in key order, so two batches cannot deadlock; the history's unique key still
   * keeps a replay or a concurrent poll from recording a transition twice.
   */
  async observeMany(observations: readonly GatewayObservation[]): Promise<(GatewayHistoryEntry | null)[]> {
    if (observations.length === 0) return [];
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        const rows = await lockGatewayRows(client, observations);
        const changed = new Map<string, StateRow>();
        const pending: PendingGatewayTransition[] = [];
        observations.forEach((input, index) => {
          const key = gatewayKeyOf(input);
          const current = changed.get(key) ?? rows.get(key)!;
          const decision = decideGateway(current, input);
          if (!decision) return;
          // The same poll again (a replay at its own time) leaves the row as it is: not even a new row version.
          if (!sameGatewayRow(current, decision.row)) changed.set(key, decision.row);
          if (decision.transition) pending.push({ index, input, ...decision.transition });
        });
        await writeGatewayRows(client, [...changed.values()]);
        const recorded = await insertGatewayHistory(client, pending);
        return observations.map((_, index) => recorded.get(index) ?? null);
      });
    } finally {
      client.release();
    }
  }

  /**
   * Forgets the gateways of `server` this poll did not watch (removed, disabled, or their tenant no longer active).
   * Their rows are locked in key order before they go: a DELETE alone locks in the order it scans (the
   * heap's), and an overlapping poll's batch holding some of them in key order would deadlock with it.
   */
  async forgetUnwatched(server: string, watched: readonly string[], polledAt: Date): Promise<number> {
    const client = await this.pool.connect();
    try {
      return await inTransaction(client, async () => {
        const { rows } = await client.query<{ gateway_uuid: string }>(
          `SELECT g.gateway_uuid FROM gateway_states g
            WHERE g.server = $1 AND g.last_polled_at <= $3 AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS w(uuid) WHERE w.uuid = g.gateway_uuid)
            ORDER BY ${GATEWAY_KEY_ORDER} FOR UPDATE OF g`,
          [server, watched, polledAt],
        );
        if (rows.length === 0) return 0;
        const { rowCount } = await client.query('DELETE FROM gateway_states WHERE server = $1 AND gateway_uuid = ANY($2::text[])', [server, rows.map((row) => row.gateway_uuid)]);
        return rowCount ?? 0;
      });
    } finally {
      client.release();
    }
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

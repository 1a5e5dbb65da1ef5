/**
 * The bridge's two logs: the inbox (every event WHMCS sent and how far it got) and the audit log
 * (what the bridge did, on whose behalf). A finished event's state and its audit entry are written in
 * one transaction (inBridgeTransaction).
 */
import type { Pool, PoolClient } from 'pg';

export type InboxStatus = 'received' | 'queued' | 'running' | 'pending_apply' | 'succeeded' | 'failed';
export const FINISHED_STATUSES: readonly InboxStatus[] = ['succeeded', 'failed'];

export interface InboxEvent {
  seq: string;
  eventId: string;
  bodyHash: string;
  action: string;
  serviceId: number;
  clientId: number;
  payload: Record<string, unknown>;
  sealedSecrets: string | null;
  status: InboxStatus;
  jobId: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
  lastError: string | null;
  retryable: boolean | null;
  requestId: string | null;
  receivedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface NewInboxEvent {
  eventId: string;
  bodyHash: string;
  action: string;
  serviceId: number;
  clientId: number;
  payload: Record<string, unknown>;
  sealedSecrets: string | null;
  jobId: string;
  requestId?: string;
  /**
   * The status the row is committed with. `queued` lets a receiver that adds the job right after
   * the commit skip a second commit; a job lost in between is found by the reconciler all the same,
   * because it looks at every unfinished row, whatever its status, and asks Redis for the job.
   */
  status?: 'received' | 'queued';
}

type Queryable = Pool | PoolClient;

interface InboxRow {
  seq: string;
  event_id: string;
  body_hash: string;
  action: string;
  service_id: string;
  client_id: string;
  payload: Record<string, unknown>;
  sealed_secrets: string | null;
  status: InboxStatus;
  job_id: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
  last_error: string | null;
  retryable: boolean | null;
  request_id: string | null;
  received_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

function toEvent(row: InboxRow): InboxEvent {
  return {
    seq: row.seq,
    eventId: row.event_id,
    bodyHash: row.body_hash,
    action: row.action,
    serviceId: Number(row.service_id),
    clientId: Number(row.client_id),
    payload: row.payload,
    sealedSecrets: row.sealed_secrets,
    status: row.status,
    jobId: row.job_id,
    attempts: row.attempts,
    result: row.result,
    lastError: row.last_error,
    retryable: row.retryable,
    requestId: row.request_id,
    receivedAt: row.received_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

type InsertedRow = Pick<InboxRow, 'seq' | 'status' | 'attempts' | 'received_at' | 'updated_at'>;

/** A row just inserted: the values given plus what the database filled in (the payload as given). */
function insertedEvent(event: NewInboxEvent, row: InsertedRow): InboxEvent {
  return {
    seq: row.seq,
    eventId: event.eventId,
    bodyHash: event.bodyHash,
    action: event.action,
    serviceId: event.serviceId,
    clientId: event.clientId,
    payload: event.payload,
    sealedSecrets: event.sealedSecrets,
    status: row.status,
    jobId: event.jobId,
    attempts: row.attempts,
    result: null,
    lastError: null,
    retryable: null,
    requestId: event.requestId ?? null,
    receivedAt: row.received_at,
    updatedAt: row.updated_at,
    finishedAt: null,
  };
}

/**
 * PostgreSQL notifications sent by the statements that finish a webhook event or a REST write, so
 * the API process waiting on it (`?wait=`, a /v1 write) reads the row at once instead of on its next
 * poll. Sent by pg_notify inside the finishing statement: delivered only when that commits, and
 * never when it rolls back. The payload is the row's id alone (never a body, result or secret); the
 * row stays the truth, a notification only says "read it again now". The listener is in transaction.ts.
 */
export const FINISH_CHANNELS = {
  /** Payload: the event id of a webhook_inbox row that became succeeded or failed. */
  inbox: 'ictvoip_inbox_finished',
  /** Payload: the write id of a tenant_writes row that became succeeded, rejected or failed. */
  tenantWrites: 'ictvoip_tenant_write_finished',
} as const;

export type FinishChannel = (typeof FINISH_CHANNELS)[keyof typeof FINISH_CHANNELS];

/** An UPDATE of one event to a finished status, which notifies the event id when (and only if) it changed a row. */
function notifyingFinish(update: string): string {
  return `WITH finished AS (${update} RETURNING event_id) SELECT pg_notify('${FINISH_CHANNELS.inbox}', event_id::text) FROM finished`;
}

/** How finishWithAudit ends an event: a refusal (`failed`) is never retried. */
export type EventFinish = { status: 'succeeded'; result: Record<string, unknown> } | { status: 'failed'; error: string };

/** An event finished by its service's applied FreeSWITCH backlog: its result and its audit entry. */
export interface BacklogFinish {
  eventId: string;
  result: Record<string, unknown>;
  audit: Omit<AuditEntry, 'serviceId' | 'eventId'>;
}

export class InboxRepository {
  constructor(private readonly db: Queryable) {}

  /** Inserts the event once; a second delivery of the same event id returns the first row unchanged. */
  async record(event: NewInboxEvent): Promise<{ inserted: boolean; event: InboxEvent }> {
    // Only what the database fills in comes back: sending the payload back as text and parsing it
    // again cost both PostgreSQL and the API more than the rest of the insert's answer.
    const inserted = await this.db.query<InsertedRow>(
      `INSERT INTO webhook_inbox (event_id, body_hash, action, service_id, client_id, payload, sealed_secrets, job_id, request_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (event_id) DO NOTHING
       RETURNING seq, status, attempts, received_at, updated_at`,
      [
        event.eventId,
        event.bodyHash,
        event.action,
        event.serviceId,
        event.clientId,
        event.payload,
        event.sealedSecrets,
        event.jobId,
        event.requestId ?? null,
        event.status ?? 'received',
      ],
    );
    if (inserted.rows[0]) return { inserted: true, event: insertedEvent(event, inserted.rows[0]) };
    const existing = await this.get(event.eventId);
    if (!existing) throw new Error(`inbox row ${event.eventId} vanished after a conflicting insert`);
    return { inserted: false, event: existing };
  }

  /**
   * `record` for several events in one statement (group commit of concurrent webhooks): one INSERT of
   * every row, then one read of the rows that were already there. Results in the order given; an
   * event id twice in the list is inserted once (the later one is answered with the first row).
   */
  async recordMany(events: readonly NewInboxEvent[]): Promise<{ inserted: boolean; event: InboxEvent }[]> {
    if (events.length === 0) return [];
    const column = <T>(pick: (event: NewInboxEvent) => T) => events.map(pick);
    const inserted = await this.db.query<InsertedRow & { event_id: string }>(
      `INSERT INTO webhook_inbox (event_id, body_hash, action, service_id, client_id, payload, sealed_secrets, job_id, request_id, status)
       SELECT e, h, a, s, c, p::jsonb, x, j, r, st
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
              AS input(e, h, a, s, c, p, x, j, r, st)
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_id, seq, status, attempts, received_at, updated_at`,
      [
        column((event) => event.eventId),
        column((event) => event.bodyHash),
        column((event) => event.action),
        column((event) => event.serviceId),
        column((event) => event.clientId),
        column((event) => JSON.stringify(event.payload)),
        column((event) => event.sealedSecrets),
        column((event) => event.jobId),
        column((event) => event.requestId ?? null),
        column((event) => event.status ?? 'received'),
      ],
    );
    const fresh = new Map(inserted.rows.map((row) => [row.event_id.toLowerCase(), row]));
    const claimed = new Set<string>();
    const isFirstInsert = (event: NewInboxEvent) => {
      const key = event.eventId.toLowerCase();
      if (!fresh.has(key) || claimed.has(key)) return false;
      claimed.add(key);
      return true;
    };
    const outcomes = events.map((event) => (isFirstInsert(event) ? { inserted: true as const, event: insertedEvent(event, fresh.get(event.eventId.toLowerCase())!) } : null));
    const missing = events.filter((_, index) => outcomes[index] === null).map((event) => event.eventId);
    const existing = new Map<string, InboxEvent>();
    if (missing.length > 0) {
      const { rows } = await this.db.query<InboxRow>('SELECT * FROM webhook_inbox WHERE event_id = ANY($1::uuid[])', [missing]);
      for (const row of rows) existing.set(row.event_id.toLowerCase(), toEvent(row));
    }
    return events.map((event, index) => {
      const outcome = outcomes[index];
      if (outcome) return outcome;
      const row = existing.get(event.eventId.toLowerCase());
      if (!row) throw new Error(`inbox row ${event.eventId} vanished after a conflicting insert`);
      return { inserted: false, event: row };
    });
  }

  async get(eventId: string): Promise<InboxEvent | null> {
    const { rows } = await this.db.query<InboxRow>('SELECT * FROM webhook_inbox WHERE event_id = $1', [eventId]);
    return rows[0] ? toEvent(rows[0]) : null;
  }

  /** Moves `received` to `queued` (never backwards from a later state). */
  async markQueued(eventId: string): Promise<void> {
    await this.db.query(`UPDATE webhook_inbox SET status = 'queued', updated_at = now() WHERE event_id = $1 AND status = 'received'`, [eventId]);
  }

  /**
   * Moves `queued` back to `received` when the job could not be added, so a repeat delivery adds it.
   * updated_at is left alone: the reconciler's clock keeps running from the commit, as for a row
   * that was never marked queued.
   */
  async markNotQueued(eventId: string): Promise<void> {
    await this.db.query(`UPDATE webhook_inbox SET status = 'received' WHERE event_id = $1 AND status = 'queued'`, [eventId]);
  }

  async markRunning(eventId: string): Promise<void> {
    await this.db.query(
      `UPDATE webhook_inbox SET status = 'running', attempts = attempts + 1, updated_at = now()
       WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`,
      [eventId],
    );
  }

  /**
   * The event's FusionPBX side is committed, its FreeSWITCH side waits in the service's backlog. The
   * first time (with `outcome`) the event's answer is kept for WHMCS as a finished one would be; a
   * waiting webhook is woken like by a finish: the state WHMCS acts on is in FusionPBX already.
   */
  async markPendingApply(eventId: string, error: string, outcome?: { message: string; serviceProperties: Record<string, unknown> }): Promise<void> {
    await this.db.query(
      notifyingFinish(`UPDATE webhook_inbox SET status = 'pending_apply', last_error = $2, retryable = true, result = COALESCE($3::jsonb, result), updated_at = now()
       WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`),
      [eventId, error, outcome ?? null],
    );
  }

  async markRetrying(eventId: string, error: string): Promise<void> {
    await this.db.query(
      `UPDATE webhook_inbox SET status = 'queued', last_error = $2, retryable = true, updated_at = now()
       WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`,
      [eventId, error],
    );
  }

  /**
   * Final success; the sealed secrets are wiped because nothing needs them any more. The same statement
   * tells the waiting API (FINISH_CHANNELS), on commit only.
   */
  async markSucceeded(eventId: string, result: Record<string, unknown>): Promise<boolean> {
    const { rowCount } = await this.db.query(
      notifyingFinish(`UPDATE webhook_inbox SET status = 'succeeded', result = $2, last_error = NULL, retryable = NULL,
              sealed_secrets = NULL, updated_at = now(), finished_at = now()
       WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`),
      [eventId, result],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * An event's final state and its audit entry in one statement (one round trip, all or nothing):
   * `succeeded` with its result, or `failed` with its error, as markSucceeded / markFailed write them,
   * with the same FINISH_CHANNELS notification. The audit entry is written as the transaction of the
   * two wrote it: whether or not the row was still unfinished.
   */
  async finishWithAudit(eventId: string, finish: EventFinish, entry: AuditEntry): Promise<void> {
    const update =
      finish.status === 'succeeded'
        ? `UPDATE webhook_inbox SET status = 'succeeded', result = $2::jsonb, last_error = NULL, retryable = NULL,
                  sealed_secrets = NULL, updated_at = now(), finished_at = now()
            WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`
        : `UPDATE webhook_inbox SET status = 'failed', last_error = $2::text, retryable = false, sealed_secrets = NULL,
                  updated_at = now(), finished_at = now()
            WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`;
    await this.db.query(
      `WITH finished AS (${update} RETURNING event_id),
            audited AS (INSERT INTO audit_log (actor, action, service_id, event_id, detail) VALUES ($3, $4, $5, $6, $7) RETURNING id)
       SELECT (SELECT count(*) FROM audited) AS audited,
              (SELECT count(*) FROM (SELECT pg_notify('${FINISH_CHANNELS.inbox}', event_id::text) FROM finished) AS notified) AS notified`,
      [
        eventId,
        finish.status === 'succeeded' ? JSON.stringify(finish.result) : finish.error,
        entry.actor,
        entry.action,
        entry.serviceId ?? null,
        entry.eventId ?? null,
        JSON.stringify(entry.detail ?? {}),
      ],
    );
  }

  /**
   * A service's applied FreeSWITCH backlog: clears exactly `version` of it and finishes its waiting
   * events (status, result, an audit entry each, the FINISH_CHANNELS notification) in one statement,
   * so one round trip instead of a transaction of several, with the same all-or-nothing. Nothing is
   * finished when a later event added to the backlog meanwhile (false): its next apply finishes them.
   * An event already finished is left alone and gets no second audit entry (a replay).
   */
  async succeedClearingBacklog(serviceId: number, version: number, events: readonly BacklogFinish[]): Promise<boolean> {
    const seen = new Set<string>();
    const input = events.flatMap((event, ord) => {
      const key = event.eventId.toLowerCase();
      if (seen.has(key)) return [];
      seen.add(key);
      return [{ event_id: event.eventId, result: event.result, action: event.audit.action, actor: event.audit.actor, detail: event.audit.detail ?? {}, ord }];
    });
    const { rows } = await this.db.query<{ cleared: boolean }>(
      `WITH cleared AS (
         UPDATE services SET pending_apply = NULL, updated_at = now()
          WHERE service_id = $1 AND pending_apply IS NOT NULL AND COALESCE((pending_apply->>'version')::bigint, 1) = $2
         RETURNING service_id
       ), input AS (
         SELECT * FROM jsonb_to_recordset($3::jsonb) AS e(event_id uuid, result jsonb, action text, actor text, detail jsonb, ord int)
       ), finished AS (
         UPDATE webhook_inbox w SET status = 'succeeded', result = input.result, last_error = NULL, retryable = NULL,
                sealed_secrets = NULL, updated_at = now(), finished_at = now()
           FROM input
          WHERE w.event_id = input.event_id AND w.status NOT IN ('succeeded', 'failed') AND EXISTS (SELECT 1 FROM cleared)
         RETURNING w.event_id
       ), audited AS (
         INSERT INTO audit_log (actor, action, service_id, event_id, detail)
         SELECT input.actor, input.action, $1, input.event_id, input.detail FROM input JOIN finished USING (event_id) ORDER BY input.ord
         RETURNING id
       )
       SELECT EXISTS (SELECT 1 FROM cleared) AS cleared,
              (SELECT count(*) FROM (SELECT pg_notify('${FINISH_CHANNELS.inbox}', event_id::text) FROM finished) AS notified) AS notified,
              (SELECT count(*) FROM audited) AS audited`,
      [serviceId, version, JSON.stringify(input)],
    );
    return rows[0]?.cleared === true;
  }

  async markFailed(eventId: string, error: string, retryable: boolean): Promise<void> {
    await this.db.query(
      notifyingFinish(`UPDATE webhook_inbox SET status = 'failed', last_error = $2, retryable = $3, sealed_secrets = NULL,
              updated_at = now(), finished_at = now()
       WHERE event_id = $1 AND status NOT IN ('succeeded', 'failed')`),
      [eventId, error, retryable],
    );
  }

  /**
   * Events of one service up to and including `seq` whose database side is not done, oldest first:
   * applied in order. An event waiting only for FreeSWITCH (pending_apply) is not among them: the
   * service's backlog job finishes it, and the next events never wait for it.
   */
  async unfinishedForService(serviceId: number, uptoSeq: string): Promise<InboxEvent[]> {
    const { rows } = await this.db.query<InboxRow>(
      `SELECT * FROM webhook_inbox
       WHERE service_id = $1 AND seq <= $2 AND status NOT IN ('succeeded', 'failed', 'pending_apply')
       ORDER BY seq`,
      [serviceId, uptoSeq],
    );
    return rows.map(toEvent);
  }

  /**
   * Events whose database side is not done and not touched for `olderThanSeconds`: candidates for
   * re-enqueueing (a pending_apply event is finished by its service's FreeSWITCH backlog job).
   */
  async stale(olderThanSeconds: number, limit = 500): Promise<InboxEvent[]> {
    const { rows } = await this.db.query<InboxRow>(
      `SELECT * FROM webhook_inbox
       WHERE status NOT IN ('succeeded', 'failed', 'pending_apply') AND updated_at < now() - make_interval(secs => $1)
       ORDER BY seq LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return rows.map(toEvent);
  }

  async countByStatus(): Promise<Record<InboxStatus, number>> {
    const { rows } = await this.db.query<{ status: InboxStatus; count: string }>('SELECT status, count(*) FROM webhook_inbox GROUP BY status');
    const counts = { received: 0, queued: 0, running: 0, pending_apply: 0, succeeded: 0, failed: 0 };
    for (const row of rows) counts[row.status] = Number(row.count);
    return counts;
  }
}

export interface AuditEntry {
  actor: string;
  action: string;
  serviceId?: number | null;
  eventId?: string | null;
  detail?: Record<string, unknown>;
}

/** Append-only record of what the bridge did and on whose behalf; never holds secrets. */
export class AuditRepository {
  constructor(private readonly db: Queryable) {}

  async append(entry: AuditEntry): Promise<void> {
    await this.db.query('INSERT INTO audit_log (actor, action, service_id, event_id, detail) VALUES ($1, $2, $3, $4, $5)', [
      entry.actor,
      entry.action,
      entry.serviceId ?? null,
      entry.eventId ?? null,
      JSON.stringify(entry.detail ?? {}),
    ]);
  }

  async forService(serviceId: number, limit = 100): Promise<(AuditEntry & { at: Date })[]> {
    const { rows } = await this.db.query<{ at: Date; actor: string; action: string; service_id: string | null; event_id: string | null; detail: Record<string, unknown> }>(
      'SELECT at, actor, action, service_id, event_id, detail FROM audit_log WHERE service_id = $1 ORDER BY id DESC LIMIT $2',
      [serviceId, limit],
    );
    return rows.map((row) => ({
      at: row.at,
      actor: row.actor,
      action: row.action,
      serviceId: row.service_id === null ? null : Number(row.service_id),
      eventId: row.event_id,
      detail: row.detail,
    }));
  }
}

import type { Pool } from 'pg';
import { FINISH_CHANNELS } from './inbox-repository';

export type TenantWriteResource = 'extension' | 'gateway' | 'destination';
export type TenantWriteOperation = 'create' | 'upsert' | 'update' | 'delete';
export type TenantWriteStatus = 'queued' | 'running' | 'succeeded' | 'rejected' | 'failed';

/** Why a write did not happen, as the API will answer it (never a secret). */
export interface TenantWriteError {
  code: string;
  message: string;
  /** A field of the request body, for a 400. */
  field?: string;
  /** Seconds, for a 503. */
  retryAfter?: number;
}

export interface TenantWrite {
  writeId: string;
  serviceId: number;
  resource: TenantWriteResource;
  operation: TenantWriteOperation;
  /** The extension number or gateway uuid (a gateway create's uuid is chosen when it is queued). */
  target: string | null;
  input: Record<string, unknown>;
  sealedSecrets: string | null;
  requestId: string;
  status: TenantWriteStatus;
  attempts: number;
  preimage: Record<string, unknown> | null;
  httpStatus: number | null;
  result: Record<string, unknown> | null;
  error: TenantWriteError | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/**
 * The service id of a write of a FusionPBX server's own resources (a global gateway), which belong
 * to no tenant: WHMCS service ids start at 1, so no tenant key or tenant job ever matches it. The
 * server is the write's `input.server` (a stored server name, null for the default server).
 */
export const GLOBAL_WRITE_SERVICE_ID = 0;

export type NewTenantWrite = Pick<TenantWrite, 'writeId' | 'serviceId' | 'resource' | 'operation' | 'target' | 'input' | 'sealedSecrets' | 'requestId'>;

export type TenantWriteOutcome =
  { status: 'succeeded'; httpStatus: number; result: Record<string, unknown> } | { status: 'rejected' | 'failed'; httpStatus: number; error: TenantWriteError };

export const FINISHED_WRITE_STATUSES: readonly TenantWriteStatus[] = ['succeeded', 'rejected', 'failed'];

interface TenantWriteRow {
  write_id: string;
  service_id: string;
  resource: TenantWriteResource;
  operation: TenantWriteOperation;
  target: string | null;
  input: Record<string, unknown>;
  sealed_secrets: string | null;
  request_id: string;
  status: TenantWriteStatus;
  attempts: number;
  preimage: Record<string, unknown> | null;
  http_status: number | null;
  result: Record<string, unknown> | null;
  error: TenantWriteError | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

function toWrite(row: TenantWriteRow): TenantWrite {
  return {
    writeId: row.write_id,
    serviceId: Number(row.service_id),
    resource: row.resource,
    operation: row.operation,
    target: row.target,
    input: row.input,
    sealedSecrets: row.sealed_secrets,
    requestId: row.request_id,
    status: row.status,
    attempts: row.attempts,
    preimage: row.preimage,
    httpStatus: row.http_status,
    result: row.result,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

const UNFINISHED = `status IN ('queued', 'running')`;

/** What a global gateway write still owes its server's FreeSWITCH: its `freeswitch.apply` job, kept until FreeSWITCH took it. */
interface OwedGlobalApplyRow {
  job_id: string;
  write_id: string;
  request_id: string;
  server: string | null;
  steps: unknown[];
  since: Date;
}

const owedGlobalApply = (row: OwedGlobalApplyRow): OwedGlobalApply => ({
  jobId: row.job_id,
  writeId: row.write_id,
  requestId: row.request_id,
  server: row.server,
  steps: row.steps,
  since: row.since,
});

export interface OwedGlobalApply {
  jobId: string;
  writeId: string;
  requestId: string;
  /** The stored server name; null: the default server. */
  server: string | null;
  /** The job's steps as it was first added (its worker validates each again). */
  steps: unknown[];
  since: Date;
}

/**
 * The REST writes' own inbox: the request is committed before its job is added, the job finds it
 * here, and the answer is stored here for whichever API process waits on it.
 */
export class TenantWritesRepository {
  constructor(private readonly db: Pool) {}

  /** Inserts the write once; the same request repeated returns the first row, whatever its state. */
  async record(write: NewTenantWrite): Promise<{ inserted: boolean; write: TenantWrite }> {
    const { rows } = await this.db.query<TenantWriteRow>(
      `INSERT INTO tenant_writes (write_id, service_id, resource, operation, target, input, sealed_secrets, request_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (write_id) DO NOTHING RETURNING *`,
      [write.writeId, write.serviceId, write.resource, write.operation, write.target, write.input, write.sealedSecrets, write.requestId],
    );
    if (rows[0]) return { inserted: true, write: toWrite(rows[0]) };
    const existing = await this.get(write.writeId);
    if (!existing) throw new Error(`tenant write ${write.writeId} vanished after a conflicting insert`);
    return { inserted: false, write: existing };
  }

  async get(writeId: string): Promise<TenantWrite | null> {
    const { rows } = await this.db.query<TenantWriteRow>('SELECT * FROM tenant_writes WHERE write_id = $1', [writeId]);
    return rows[0] ? toWrite(rows[0]) : null;
  }

  /** Withdraws a write whose job could not be added: the caller was told nothing happened. */
  async withdraw(writeId: string): Promise<void> {
    await this.db.query(`DELETE FROM tenant_writes WHERE write_id = $1 AND status = 'queued' AND attempts = 0`, [writeId]);
  }

  /** Counts an attempt; null when the write is finished (a replayed job) or gone. */
  async markRunning(writeId: string): Promise<TenantWrite | null> {
    const { rows } = await this.db.query<TenantWriteRow>(
      `UPDATE tenant_writes SET status = 'running', attempts = attempts + 1, updated_at = now()
       WHERE write_id = $1 AND ${UNFINISHED} RETURNING *`,
      [writeId],
    );
    return rows[0] ? toWrite(rows[0]) : null;
  }

  /** Keeps what the first attempt found; later attempts never overwrite it. */
  async keepPreimage(writeId: string, preimage: Record<string, unknown>): Promise<void> {
    await this.db.query('UPDATE tenant_writes SET preimage = $2 WHERE write_id = $1 AND preimage IS NULL', [writeId, preimage]);
  }

  async markRetrying(writeId: string, error: string): Promise<void> {
    await this.db.query(`UPDATE tenant_writes SET status = 'queued', error = $2, updated_at = now() WHERE write_id = $1 AND ${UNFINISHED}`, [
      writeId,
      { code: 'RETRYING', message: error },
    ]);
  }

  /**
   * The final answer. A refused or failed write's secrets are wiped now; a created extension's
   * password stays sealed until the purge, so the same request repeated can show it again.
   */
  async finish(writeId: string, outcome: TenantWriteOutcome): Promise<TenantWrite | null> {
    // pg_notify in the same statement: the API waiting on this write hears of it when this commits (FINISH_CHANNELS).
    const { rows } = await this.db.query<TenantWriteRow>(
      `WITH finished AS (
         UPDATE tenant_writes SET status = $2, http_status = $3, result = $4, error = $5,
                sealed_secrets = CASE WHEN $2 = 'succeeded' THEN sealed_secrets END,
                updated_at = now(), finished_at = now()
         WHERE write_id = $1 AND ${UNFINISHED} RETURNING *)
       SELECT finished.*, pg_notify('${FINISH_CHANNELS.tenantWrites}', finished.write_id::text) AS notified FROM finished`,
      [writeId, outcome.status, outcome.httpStatus, outcome.status === 'succeeded' ? outcome.result : null, outcome.status === 'succeeded' ? null : outcome.error],
    );
    return rows[0] ? toWrite(rows[0]) : null;
  }

  /** Writes not finished and not touched for `olderThanSeconds`: their job may be gone from Redis. */
  async stale(olderThanSeconds: number, limit = 500): Promise<TenantWrite[]> {
    const { rows } = await this.db.query<TenantWriteRow>(
      `SELECT * FROM tenant_writes WHERE ${UNFINISHED} AND updated_at < now() - make_interval(secs => $1)
       ORDER BY updated_at LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return rows.map(toWrite);
  }

  /**
   * Wipes sealed passwords of writes finished more than `secretHours` ago and deletes writes
   * finished more than `keepDays` ago (the window in which a repeated request gets the same answer).
   */
  async purge(secretHours: number, keepDays: number): Promise<{ secretsWiped: number; deleted: number }> {
    const wiped = await this.db.query(`UPDATE tenant_writes SET sealed_secrets = NULL WHERE finished_at < now() - make_interval(hours => $1) AND sealed_secrets IS NOT NULL`, [
      secretHours,
    ]);
    const deleted = await this.db.query(`DELETE FROM tenant_writes WHERE finished_at < now() - make_interval(days => $1)`, [keepDays]);
    return { secretsWiped: wiped.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
  }

  /** Records (or refreshes, a replay's steps) the global apply a job is about to be added for. */
  async oweGlobalApply(owed: Omit<OwedGlobalApply, 'since'>): Promise<void> {
    await this.db.query(
      `INSERT INTO global_freeswitch_applies (job_id, write_id, request_id, server, steps) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (job_id) DO UPDATE SET steps = EXCLUDED.steps, server = EXCLUDED.server`,
      [owed.jobId, owed.writeId, owed.requestId, owed.server, JSON.stringify(owed.steps)],
    );
  }

  /** Global applies owed for `olderThanSeconds` at least, oldest first: their job may have run out of attempts. */
  async globalAppliesOwed(olderThanSeconds: number, limit = 500): Promise<OwedGlobalApply[]> {
    const { rows } = await this.db.query<OwedGlobalApplyRow>(`SELECT * FROM global_freeswitch_applies WHERE since <= now() - make_interval(secs => $1) ORDER BY since LIMIT $2`, [
      olderThanSeconds,
      limit,
    ]);
    return rows.map(owedGlobalApply);
  }

  /**
   * The global applies owed on one server (null: the default): a global gateway is every tenant's of
   * that server, so each of them waits on these as on its own backlog.
   */
  async globalAppliesOwedOn(server: string | null): Promise<{ count: number; oldestSince: Date | null }> {
    const { rows } = await this.db.query<{ count: number; oldest: Date | null }>(
      'SELECT count(*)::int AS count, min(since) AS oldest FROM global_freeswitch_applies WHERE server IS NOT DISTINCT FROM $1',
      [server],
    );
    return { count: rows[0]?.count ?? 0, oldestSince: rows[0]?.oldest ?? null };
  }

  /** The global apply still owed under job id `jobId`, else null (sent, given up, or never owed). */
  async globalApply(jobId: string): Promise<OwedGlobalApply | null> {
    const { rows } = await this.db.query<OwedGlobalApplyRow>('SELECT * FROM global_freeswitch_applies WHERE job_id = $1', [jobId]);
    return rows[0] ? owedGlobalApply(rows[0]) : null;
  }

  /** FreeSWITCH took it, or its server is gone: nothing is owed any more. */
  async forgetGlobalApply(jobId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM global_freeswitch_applies WHERE job_id = $1', [jobId]);
    return (rowCount ?? 0) > 0;
  }

  async countByStatus(): Promise<Record<TenantWriteStatus, number>> {
    const { rows } = await this.db.query<{ status: TenantWriteStatus; count: string }>('SELECT status, count(*) FROM tenant_writes GROUP BY status');
    const counts: Record<TenantWriteStatus, number> = { queued: 0, running: 0, succeeded: 0, rejected: 0, failed: 0 };
    for (const row of rows) counts[row.status] = Number(row.count);
    return counts;
  }
}

import type { Pool, PoolClient } from 'pg';

/** Polls `check` every 20 ms until it returns a value (throws after 20 s). */
export async function until<T>(what: string, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== null) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** The backend waiting on a row or transaction lock that `holder` holds, once there is one (null: none yet). */
export function blockedBy(pool: Pool, holder: number): () => Promise<number | null> {
  return async () => {
    const { rows } = await pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND $1::int = ANY(pg_blocking_pids(pid))`,
      [holder],
    );
    return rows[0]?.pid ?? null;
  };
}

/** A row lock taken by a statement of its own: `sql` a SELECT … FOR UPDATE of one row, `params` its key. */
export interface HeldRow {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** Opens a transaction on `holder` that locks `row`; returns the holder's backend pid (for blockedBy). The caller rolls back. */
export async function holdRow(holder: PoolClient, row: HeldRow): Promise<number> {
  await holder.query('BEGIN');
  const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  await holder.query(row.sql, [...row.params]);
  return pid;
}

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

/** A row lock taken by a statement of its own: `sql` a SELECT … FOR UPDATE of one row (or an INSERT of it, uncommitted), `params` its values. */
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

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error & { code?: string } };

/** `work`'s result or error, awaited later: a deadlock's error must not go unhandled meanwhile. */
export function settled<T>(work: Promise<T>): Promise<Outcome<T>> {
  return work.then(
    (value) => ({ ok: true as const, value }),
    (error: Error & { code?: string }) => ({ ok: false as const, error }),
  );
}

/** Each outcome as 'ok' or its error's code and message (what a failed expectation shows). */
export function described(outcomes: readonly (Outcome<unknown> | null)[]): string[] {
  return outcomes.map((outcome) => (outcome?.ok ? 'ok' : `${outcome?.error.code}: ${outcome?.error.message}`));
}

/** One of two overlapping writes: `waits` says what it waits for (the timeout's message), `work` starts it. */
export interface QueuedWork {
  readonly waits: string;
  readonly work: () => Promise<unknown>;
  /** Ending, instead of waiting, counts as well (a write that need not wait: whether it waits is not the point). */
  readonly mayEnd?: boolean;
}

/**
 * Two writes queued in a set order behind a row held elsewhere: `first` starts and waits for `row`, then
 * `second` starts and waits for `first`; then the row is let go. Both outcomes, in that order, once both end.
 */
export async function queuedBehindHeldRow(pool: Pool, row: HeldRow, first: QueuedWork, second: QueuedWork): Promise<Outcome<unknown>[]> {
  const holder: PoolClient = await pool.connect();
  let firstOutcome: Promise<Outcome<unknown>> | null = null;
  let secondOutcome: Promise<Outcome<unknown>> | null = null;
  try {
    const holderPid = await holdRow(holder, row);
    firstOutcome = settled(first.work());
    const firstPid = await until(first.waits, blockedBy(pool, holderPid));
    let secondEnded = false;
    secondOutcome = settled(second.work());
    void secondOutcome.then(() => (secondEnded = true));
    const waitsForFirst = blockedBy(pool, firstPid);
    await until(second.waits, second.mayEnd ? async () => (secondEnded ? true : await waitsForFirst()) : waitsForFirst);
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
  }
  return Promise.all([firstOutcome, secondOutcome]);
}

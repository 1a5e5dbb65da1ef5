import type { Pool, PoolClient } from 'pg';

// Namespace for per-service advisory locks (two-int form: namespace, service id).
const SERVICE_LOCK_NAMESPACE = 71_203;

export class LockTimeoutError extends Error {
  readonly code = 'SERVICE_LOCK_TIMEOUT';
  constructor(serviceId: number, waitedMs: number) {
    super(`service ${serviceId} is busy (lock not acquired within ${waitedMs} ms)`);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Runs `work` while holding the service's session advisory lock on a dedicated connection, so any
 * number of workers on any machines serialise per service. A crashed holder's connection drops and
 * PostgreSQL releases the lock by itself.
 */
export async function withServiceLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30000): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    const deadline = Date.now() + waitMs;
    while (!locked) {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [SERVICE_LOCK_NAMESPACE, serviceId]);
      locked = rows[0].ok;
      if (locked) break;
      if (Date.now() > deadline) throw new LockTimeoutError(serviceId, waitMs);
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(Math.random() * 50)));
    }
    return await work(client);
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1, $2)', [SERVICE_LOCK_NAMESPACE, serviceId]).catch(() => undefined);
    client.release();
  }
}

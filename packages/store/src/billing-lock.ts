import type { Pool, PoolClient } from 'pg';

// Its own namespace: CDR sync, re-rating and billing push serialise per service among themselves
// without waiting for provisioning (which holds the service lock of service-lock.ts).
const BILLING_LOCK_NAMESPACE = 71_204;

export class BillingLockTimeoutError extends Error {
  readonly code = 'BILLING_LOCK_TIMEOUT';
  constructor(serviceId: number, waitedMs: number) {
    super(`billing work for service ${serviceId} is busy (lock not acquired within ${waitedMs} ms)`);
    this.name = 'BillingLockTimeoutError';
  }
}

/**
 * Runs `work` holding the service's billing advisory lock (session level, dedicated connection), so
 * two workers never rate the same tenant's included minutes, move its cursor or push its batch at
 * once. A crashed holder's connection drops and PostgreSQL releases the lock.
 */
export async function withBillingLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [BILLING_LOCK_NAMESPACE, serviceId]);
      locked = rows[0]?.ok === true;
      if (locked) break;
      if (Date.now() > deadline) throw new BillingLockTimeoutError(serviceId, waitMs);
      await new Promise((resolve) => setTimeout(resolve, 25 + Math.floor(Math.random() * 50)));
    }
    return await work(client);
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1, $2)', [BILLING_LOCK_NAMESPACE, serviceId]).catch(() => undefined);
    client.release();
  }
}

/** BEGIN … COMMIT on `client`, ROLLBACK on any error (the error is rethrown). */
export async function inTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

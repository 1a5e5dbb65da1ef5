import { Pool, type PoolConfig } from 'pg';

/** A pg pool whose idle-client errors (server restart, network cut) are reported, not thrown. */
export function createPool(connectionString: string, options: PoolConfig = {}, onError?: (error: Error) => void): Pool {
  const pool = new Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000, ...options });
  pool.on('error', (error) => onError?.(error));
  // pg-pool listens for errors on idle clients only: a checked-out client (a held advisory lock, an
  // open transaction) that the server drops (restart: 57P01) would emit an unhandled 'error' and
  // kill the process. With this listener the next query on it fails instead (a retryable
  // "database unavailable"), and the pool discards it on release because it is no longer queryable.
  pool.on('connect', (client) => client.on('error', (error) => onError?.(error)));
  return pool;
}

/** True when an error means "the database is unreachable right now" (answer 503, retry later). */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions,
  // 53300 too many connections (the server is full: retry later, a 503, not a 500).
  if (/^(57P0[123]|08|53300$)/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message);
}

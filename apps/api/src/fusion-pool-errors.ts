import type { Pool } from 'pg';

/**
 * Marks what one FusionPBX server's pool throws with the server's name (`fusionpbxServer`), so a
 * database that does not answer is named in the 503 (and its log warning) as that server's, not as
 * the bridge database. Only the promise forms are marked (a callback is passed through untouched).
 */
export function namingFusionServer(pool: Pool, server: string): Pool {
  const mark = (error: unknown): never => {
    if (typeof error === 'object' && error !== null && Object.isExtensible(error)) (error as { fusionpbxServer?: string }).fusionpbxServer ??= server;
    throw error;
  };
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    if (typeof args[args.length - 1] === 'function') return query(...args);
    return (query(...args) as Promise<unknown>).catch(mark);
  }) as Pool['query'];
  pool.connect = ((...args: unknown[]) => {
    if (args.length > 0) return connect(...args);
    return (connect() as Promise<unknown>).catch(mark);
  }) as Pool['connect'];
  return pool;
}

/** The database a connection failure came from, as the 503 names it. */
export function unavailableDatabase(error: unknown): string {
  const server = typeof error === 'object' && error !== null ? (error as { fusionpbxServer?: unknown }).fusionpbxServer : undefined;
  return typeof server === 'string' ? `the FusionPBX database of server ${server}` : 'the bridge database';
}

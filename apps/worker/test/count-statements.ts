import type { Pool, PoolClient } from 'pg';

/** The SQL text of every statement sent on a pool's clients while `counting` is on (pool.query and connect() clients alike). */
export interface StatementLog {
  counting: boolean;
  statements: string[];
  /** The statements as one line each, for a failure message. */
  summary(): string;
}

/**
 * Counts the statements sent on every client `pool` hands out from now on: each is a round trip, and a
 * job's time follows its round trips. The client's own query runs unchanged; only its text is noted.
 */
export function countStatementsOn(pool: Pool): StatementLog {
  const log: StatementLog = {
    counting: false,
    statements: [],
    summary: () => log.statements.map((sql) => sql.replace(/\s+/g, ' ').trim().slice(0, 70)).join('\n'),
  };
  const wrapped = new WeakSet<PoolClient>();
  const wrap = (client: PoolClient | undefined) => {
    if (!client || wrapped.has(client)) return client;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (log.counting) log.statements.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
      return query(...args);
    };
    return client;
  };
  // pool.query goes through pool.connect(callback) as well: both forms hand out counted clients.
  const connect = pool.connect.bind(pool) as (callback?: (error: Error | undefined, client: PoolClient | undefined, done: unknown) => void) => unknown;
  (pool as unknown as { connect: typeof connect }).connect = (callback) => {
    if (callback) return connect((error, client, done) => callback(error, wrap(client), done));
    return (connect() as Promise<PoolClient>).then(wrap);
  };
  return log;
}

import { createServer, type Server } from 'node:net';
import { assertBridgeDatabaseMigrated, createPool, DatabaseConnectionError, migrateBridgeDatabase } from '@ictvoip/store';
import { isSettingFault } from '@ictvoip/config';

/**
 * The first query of every process (migrate at start-up, the CLI's migrated check) names DATABASE_URL
 * when the connection itself fails, never its value (which holds the password).
 */
const PASSWORD = 'Not-In-Any-Message-4711';

async function failureOf(url: string, work: (pool: ReturnType<typeof createPool>) => Promise<unknown>): Promise<unknown> {
  const pool = createPool(url, { max: 1, connectionTimeoutMillis: 3000 });
  try {
    return await work(pool).then(
      () => null,
      (error: unknown) => error,
    );
  } finally {
    await pool.end();
  }
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

it('a database that does not exist: DATABASE_URL named with what to do, a setting to fix (exit EX_CONFIG), no password', async () => {
  const error = await failureOf(`postgres://postgres:${PASSWORD}@127.0.0.1:5432/ictvoip_no_such_db_4711`, (pool) => migrateBridgeDatabase(pool));
  expect(error).toBeInstanceOf(DatabaseConnectionError);
  expect((error as Error).message).toBe('DATABASE_URL: database "ictvoip_no_such_db_4711" does not exist (create it, e.g. createdb, or correct the name)');
  expect(isSettingFault(error)).toBe(true);
});

it('a server that does not answer: DATABASE_URL named, not a setting fault (a supervisor may restart it), no password', async () => {
  const port = await closedPort();
  const error = await failureOf(`postgres://postgres:${PASSWORD}@127.0.0.1:${port}/ictvoip`, (pool) => assertBridgeDatabaseMigrated(pool));
  expect(error).toBeInstanceOf(DatabaseConnectionError);
  expect((error as Error).message).toBe(`DATABASE_URL: connect ECONNREFUSED 127.0.0.1:${port}`);
  expect((error as Error).message).not.toContain(PASSWORD);
  expect(isSettingFault(error)).toBe(false);
});

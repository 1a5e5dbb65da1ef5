import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Server used by the test suite; each test file makes its own database on it and drops it after. */
export const TEST_PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function databaseUrl(name: string): string {
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabaseOptions {
  /**
   * Commits wait for their WAL flush, as on a production server (PostgreSQL's default). The benchmarks
   * ask for it: they measure the durable path. Tests do not (see below).
   */
  durableCommits?: boolean;
}

/**
 * Creates an empty database with a unique name (commits without waiting for the WAL flush unless
 * `durableCommits`, see below); `drop()` removes it, ending stray connections.
 */
export async function createTestDatabase(label = 'test', options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 20);
  const name = `ictvoip_${safeLabel}_${randomBytes(5).toString('hex')}`;
  await withAdmin(async (client) => {
    await client.query(`CREATE DATABASE ${name}`);
    // A commit here need not wait for its WAL flush: what other sessions see is the same, only a crash of
    // the server itself could lose it, and no test of this suite crashes the shared server (the chaos
    // suite's and start.test's PostgreSQL faults use clusters of their own, with the defaults). Each flush
    // wait is an fsync, and the suite commits thousands of times: on a box with slow fsync that adds up.
    if (!options.durableCommits) await client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  });
  return {
    name,
    url: databaseUrl(name),
    drop: () => withAdmin((client) => dropDatabase(client, name)),
  };
}

const OBJECT_IN_USE = '55006';
const GRACE_MS = 2000;

/**
 * `pool.end()` resolves before its clients' sockets are closed. Terminating such a closing client
 * (WITH FORCE) makes it emit 57P01 "terminating connection due to administrator command" into a
 * pool that may have no error listener, which crashes the test file. So the plain DROP is tried
 * for a moment first; FORCE is only for connections a test really left open.
 */
async function dropDatabase(client: Client, name: string): Promise<void> {
  const deadline = Date.now() + GRACE_MS;
  for (;;) {
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== OBJECT_IN_USE) throw error;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

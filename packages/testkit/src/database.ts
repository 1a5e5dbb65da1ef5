import { createHash, randomBytes } from 'node:crypto';
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
  /** Start as a copy of this template database (see `templateDatabase`) instead of empty. */
  template?: string;
  /**
   * Order text by this ICU locale (e.g. 'en-US-u-ka-shifted', which like glibc's en_US.UTF-8 ignores
   * punctuation) instead of the test server's C.UTF-8, where byte order hides collation-dependent orders.
   */
  icuLocale?: string;
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
    await client.query(createDatabaseSql(name, options));
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

function createDatabaseSql(name: string, options: TestDatabaseOptions): string {
  if (options.icuLocale !== undefined) {
    if (!/^[A-Za-z0-9-]+$/.test(options.icuLocale)) throw new Error(`not an ICU locale: ${options.icuLocale}`);
    return `CREATE DATABASE ${name} TEMPLATE ${options.template ?? 'template0'} LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}'`;
  }
  return options.template ? `CREATE DATABASE ${name} TEMPLATE ${options.template}` : `CREATE DATABASE ${name}`;
}

const templates = new Map<string, Promise<string>>();

/**
 * The name of a template database holding what `fill` writes into an empty database, made once per
 * `key` on the test server and kept there for later runs; `key` must change whenever what `fill`
 * writes does (e.g. a hash of the SQL it runs). Copying it (`createTestDatabase(label, { template })`)
 * costs what creating an empty database costs, where loading FusionPBX's full schema again took
 * 1-1.6 s per test database and the suite makes hundreds. Nothing but `fill` ever connects to it (a
 * template with a session on it cannot be copied), and it gets its name only once filled, so a run
 * killed half-way leaves no half-made template behind.
 */
export function templateDatabase(key: string, fill: (url: string) => Promise<void>): Promise<string> {
  const name = `ictvoip_tpl_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
  let made = templates.get(name);
  if (!made) {
    made = makeTemplate(name, fill);
    templates.set(name, made);
    made.catch(() => templates.delete(name));
  }
  return made;
}

async function makeTemplate(name: string, fill: (url: string) => Promise<void>): Promise<string> {
  return withAdmin(async (client) => {
    // Test files in parallel (jest workers) ask for the same template at once: one makes it.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) return name;
      const building = `${name}_${randomBytes(4).toString('hex')}`;
      await client.query(`CREATE DATABASE ${building}`);
      try {
        await fill(databaseUrl(building));
        await client.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      } catch (error) {
        await dropDatabase(client, building);
        throw error;
      }
      return name;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
    }
  });
}

/** A new test database copied from the template `key` names (made by `fill` the first time, see `templateDatabase`). */
export async function createTemplatedTestDatabase(label: string, key: string, fill: (url: string) => Promise<void>, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return createTestDatabase(label, { ...options, template: await templateDatabase(key, fill) });
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

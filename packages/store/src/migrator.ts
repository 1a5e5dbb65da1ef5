import type { Pool } from 'pg';

export interface Migration {
  version: string;
  sql: string;
}

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  constructor(
    readonly version: string,
    cause: unknown,
  ) {
    super(`migration ${version} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'MigrationError';
  }
}

// A fixed key so every process (API, worker, CLI) serialises on the same lock.
const MIGRATION_LOCK_KEY = 482_913_771;

/**
 * Applies pending migrations, each in its own transaction, under a session advisory lock so that
 * processes starting together apply each migration exactly once. A small runner instead of a
 * framework: migrations are plain SQL kept in TypeScript, so tests and tsx load them with no file I/O.
 */
export async function migrate(pool: Pool, migrations: readonly Migration[]): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: string }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
        await client.query('COMMIT');
        applied.push(migration.version);
      } catch (error) {
        await client.query('ROLLBACK');
        throw new MigrationError(migration.version, error);
      }
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

export interface SchemaStatus {
  /** the last applied migration, null when none (or no schema_migrations table) */
  current: string | null;
  /** the last migration this code knows */
  latest: string | null;
  /** migrations this code knows that are not applied, in order */
  pending: string[];
}

/** Where the database's schema is against `migrations`. Reads only: creates nothing, not even schema_migrations. */
export async function schemaStatus(pool: Pool, migrations: readonly Migration[]): Promise<SchemaStatus> {
  const { rows: table } = await pool.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  const applied = table[0]?.present ? (await pool.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((row) => row.version) : [];
  const done = new Set(applied);
  return {
    current: applied.length ? (applied[applied.length - 1] as string) : null,
    latest: migrations.length ? (migrations[migrations.length - 1] as Migration).version : null,
    pending: migrations.filter((migration) => !done.has(migration.version)).map((migration) => migration.version),
  };
}

/** A command that only uses the schema found a database that `ictvoip migrate` has not brought up to date. */
export class SchemaNotMigratedError extends Error {
  readonly code = 'DATABASE_NOT_MIGRATED';
  constructor(readonly status: SchemaStatus) {
    super(`the bridge database is not migrated (at version ${status.current ?? 'none'}, needs ${status.latest}; ${status.pending.length} pending): run \`ictvoip migrate\``);
    this.name = 'SchemaNotMigratedError';
  }
}

/** Throws SchemaNotMigratedError unless every migration is applied; never migrates. */
export async function assertMigrated(pool: Pool, migrations: readonly Migration[]): Promise<void> {
  const status = await schemaStatus(pool, migrations);
  if (status.pending.length > 0) throw new SchemaNotMigratedError(status);
}

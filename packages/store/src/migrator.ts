import type { Pool } from 'pg';

export interface Migration {
  version: string;
  sql: string;
}

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  constructor(readonly version: string, cause: unknown) {
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

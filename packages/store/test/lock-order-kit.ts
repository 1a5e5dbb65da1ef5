import type { Pool, PoolClient } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, migrateBridgeDatabase } from '@ictvoip/store';
import { blockedBy, holdRow, until } from './lock-waits';

// What the lock-order tests (registrations, gateways) share. A batch inserts the rows it creates in byte
// order and then locks them all; a removal locks its rows too. On a database whose collation is not byte
// order (en_US.UTF-8 on an install; this test server's is C.UTF-8, so an ICU locale that ignores
// punctuation as glibc's en_US does stands in), ORDER BY without a collation would lock another order than
// the insert's.

/**
 * A bridge database of the file's own in that collation (hooks beforeAll, beforeEach, afterAll): `tables`
 * emptied before each test; `open` run once after the migration makes the repository under test. Both exist
 * once beforeAll ran.
 */
export function useCollatedDatabase<R>(prefix: string, tables: string, open: (pool: Pool) => R | Promise<R>): { readonly pool: Pool; readonly repository: R } {
  let db: TestDatabase | undefined;
  let handles: { pool: Pool; repository: R } | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix, { icuLocale: 'en-US-u-ka-shifted' });
    const pool = createPool(db.url, { max: 6 });
    await migrateBridgeDatabase(pool);
    handles = { pool, repository: await open(pool) };
  });
  afterAll(async () => {
    await handles?.pool.end();
    await db?.drop();
  });
  beforeEach(async () => {
    await started().pool.query(`TRUNCATE ${tables} RESTART IDENTITY`);
  });
  const started = (): { pool: Pool; repository: R } => {
    if (!handles) throw new Error('the collated database is used before its beforeAll ran');
    return handles;
  };
  return {
    get pool() {
      return started().pool;
    },
    get repository() {
      return started().repository;
    },
  };
}

/** The database orders `first` and `second` unlike byte order (else a lock-order test shows nothing). */
export async function expectCollationUnlikeBytes(pool: Pool, first: string, second: string): Promise<void> {
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM unnest($1::text[]) AS n(name) ORDER BY name', [[first, second]]);
  expect(rows.map((row) => row.name)).toEqual([second, first]);
  expect(Buffer.compare(Buffer.from(first), Buffer.from(second))).toBe(-1);
}

/**
 * With the row `second` held elsewhere, `work` waits for it: whether it then already holds the row `first`
 * ('locked') or not ('free'). `sql` selects one row FOR UPDATE by the params `first` and `second`; the probe
 * adds NOWAIT. `work` must end without an error once the row is let go.
 */
export async function firstRowWhileWaitingOnSecond(
  pool: Pool,
  sql: string,
  first: readonly unknown[],
  second: readonly unknown[],
  work: () => Promise<unknown>,
): Promise<'locked' | 'free'> {
  const holder: PoolClient = await pool.connect();
  const probe: PoolClient = await pool.connect();
  let pending: Promise<unknown> = Promise.resolve();
  try {
    const holderPid = await holdRow(holder, { sql, params: second });
    pending = work().catch((error: Error) => error);
    await until('the work waits for the held row', blockedBy(pool, holderPid));
    await probe.query('BEGIN');
    try {
      await probe.query(`${sql} NOWAIT`, [...first]);
      return 'free';
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') return 'locked';
      throw error;
    } finally {
      await probe.query('ROLLBACK');
    }
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
    probe.release();
    expect(await pending).not.toBeInstanceOf(Error);
  }
}

import type { Pool } from 'pg';
import { createTestDatabase, seededRandom, type TestDatabase } from '@ictvoip/testkit';
import { createPool, migrateBridgeDatabase } from '@ictvoip/store';

// A monitoring repository's observeMany must be its observe applied one by one: the same rows, history and
// returned transitions. Two databases get the same observations: one by one in the first ("one"), in random
// batches in the second ("many").

export interface BatchRepository<Input, Entry> {
  observe(input: Input): Promise<Entry | null>;
  observeMany(inputs: readonly Input[]): Promise<(Entry | null)[]>;
}

export interface Side<Repository> {
  db: TestDatabase;
  pool: Pool;
  repository: Repository;
}

/** Registers the hooks that make both sides (migrated bridge databases), empty `tables` before each test and drop them after all. */
export function twoSides<Repository>(label: string, repositoryOf: (pool: Pool) => Repository, tables: string): { one: Side<Repository>; many: Side<Repository> } {
  const sides = {} as { one: Side<Repository>; many: Side<Repository> };
  const side = async (name: string): Promise<Side<Repository>> => {
    const db = await createTestDatabase(`${label}_${name}`);
    const pool = createPool(db.url, { max: 4 });
    await migrateBridgeDatabase(pool);
    return { db, pool, repository: repositoryOf(pool) };
  };
  beforeAll(async () => {
    sides.one = await side('one');
    sides.many = await side('many');
  });
  afterAll(async () => {
    for (const { pool, db } of [sides.one, sides.many]) {
      await pool.end();
      await db.drop();
    }
  });
  beforeEach(async () => {
    for (const { pool } of [sides.one, sides.many]) await pool.query(`TRUNCATE ${tables} RESTART IDENTITY`);
  });
  return sides;
}

/** A transition without its id (a sequence value: a batch may use fewer of them). */
export function withoutId<Entry extends { id: unknown }>(entry: Entry | null): Omit<Entry, 'id'> | null {
  if (!entry) return null;
  const { id: _id, ...rest } = entry;
  return rest;
}

/** A history table's rows in insertion order, without their ids. */
export async function historyRows(pool: Pool, table: string): Promise<unknown[]> {
  return (await pool.query(`SELECT * FROM ${table} ORDER BY id`)).rows.map(({ id: _id, ...rest }: Record<string, unknown>) => rest);
}

/** `inputs` one by one on `one`, and in random batches of 1–25 (from `seed`) on `many`: both sides' returned transitions. */
export async function observeBothWays<Input, Entry>(
  one: BatchRepository<Input, Entry>,
  many: BatchRepository<Input, Entry>,
  inputs: readonly Input[],
  seed: number,
): Promise<{ sequential: (Entry | null)[]; batched: (Entry | null)[] }> {
  const sequential: (Entry | null)[] = [];
  for (const input of inputs) sequential.push(await one.observe(input));
  const batched: (Entry | null)[] = [];
  const random = seededRandom(seed * 7919);
  for (let start = 0; start < inputs.length;) {
    const size = 1 + Math.floor(random() * 25);
    batched.push(...(await many.observeMany(inputs.slice(start, start + size))));
    start += size;
  }
  return { sequential, batched };
}

/** Runs `attempt` while every INSERT into `table` (the batch's last statement) raises 'history write failed'. */
export async function withFailingHistory(pool: Pool, table: string, attempt: () => Promise<void>): Promise<void> {
  await pool.query(`CREATE FUNCTION ${table}_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'history write failed'; END $$`);
  await pool.query(`CREATE TRIGGER ${table}_fail BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_fail()`);
  try {
    await attempt();
  } finally {
    await pool.query(`DROP TRIGGER ${table}_fail ON ${table}; DROP FUNCTION ${table}_fail()`);
  }
}

import type { Pool } from 'pg';
import { createTestDatabase, seededRandom, testKeyring, type TestDatabase } from '@ictvoip/testkit';
import { createPool, FusionServersRepository, migrateBridgeDatabase } from '@ictvoip/store';

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

/** Registers the hooks that make both sides (migrated bridge databases with server fs2 registered), empty `tables` before each test and drop them after all. */
export function twoSides<Repository>(label: string, repositoryOf: (pool: Pool) => Repository, tables: string): { one: Side<Repository>; many: Side<Repository> } {
  const sides = {} as { one: Side<Repository>; many: Side<Repository> };
  const side = async (name: string): Promise<Side<Repository>> => {
    const db = await createTestDatabase(`${label}_${name}`);
    const pool = createPool(db.url, { max: 4 });
    await migrateBridgeDatabase(pool);
    // The observations' other server: registered, as a poll's server is (rows of an unregistered one are not written).
    await new FusionServersRepository(pool, testKeyring(['k1'])).add({
      name: 'fs2',
      databaseUrl: 'postgres://pbx@db.fs2.example.net:5432/fusionpbx',
      eslHost: 'fs.fs2.example.net',
      eslPort: 8021,
      eslPassword: 'Esl-Secret',
    });
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

/**
 * `count` observations made by `make` from the moment in seconds after T0 it is given, each `pick`ing from the
 * same seeded random source: mostly forward in time, some older (a replay), some at the same moment.
 */
export function randomTimeline<Input>(seed: number, count: number, make: (seconds: number, pick: <T>(items: readonly T[]) => T, random: () => number) => Input): Input[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let clock = 0;
  return Array.from({ length: count }, () => {
    clock += pick([0, 30, 60, 120, 240]);
    const seconds = random() < 0.1 ? Math.max(0, clock - pick([30, 300])) : clock;
    return make(seconds, pick, random);
  });
}

/**
 * A batch failing at its last statement writes nothing (`rowsOf` the many side is `empty`); run again, it records what
 * the one-by-one side recorded and returned. The history INSERT is the batch's last statement: its rows' UPDATE has run by then.
 */
export async function expectAtomicBatch<Input, Entry extends { id: unknown }, Rows>(
  sides: { one: Side<BatchRepository<Input, Entry>>; many: Side<BatchRepository<Input, Entry>> },
  table: string,
  batch: readonly Input[],
  rowsOf: (pool: Pool) => Promise<Rows>,
  empty: Rows,
): Promise<void> {
  const expected: (Entry | null)[] = [];
  for (const input of batch) expected.push(await sides.one.repository.observe(input));
  await withFailingHistory(sides.many.pool, table, async () => {
    await expect(sides.many.repository.observeMany(batch)).rejects.toThrow('history write failed');
    expect(await rowsOf(sides.many.pool)).toEqual(empty);
  });
  expect((await sides.many.repository.observeMany(batch)).map(withoutId)).toEqual(expected.map(withoutId));
  expect(await rowsOf(sides.many.pool)).toEqual(await rowsOf(sides.one.pool));
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

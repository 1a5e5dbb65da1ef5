import type { Pool } from 'pg';
import { createTestDatabase, seededRandom as generator, type TestDatabase } from '@ictvoip/testkit';
import { createPool, GatewayMonitoringRepository, migrateBridgeDatabase, type GatewayHistoryEntry, type GatewayObservation } from '@ictvoip/store';

// observeMany must be observe applied one by one: the same rows, history and returned transitions.
// Two databases, the same random observations: one by one in the first, in random batches in the second.

interface Side {
  db: TestDatabase;
  pool: Pool;
  repository: GatewayMonitoringRepository;
}

let one: Side;
let many: Side;

async function side(label: string): Promise<Side> {
  const db = await createTestDatabase(label);
  const pool = createPool(db.url, { max: 4 });
  await migrateBridgeDatabase(pool);
  return { db, pool, repository: new GatewayMonitoringRepository(pool) };
}

beforeAll(async () => {
  one = await side('gw_one');
  many = await side('gw_many');
});

afterAll(async () => {
  for (const { pool, db } of [one, many]) {
    await pool.end();
    await db.drop();
  }
});

beforeEach(async () => {
  for (const { pool } of [one, many]) await pool.query('TRUNCATE gateway_states, gateway_history RESTART IDENTITY');
});

const T0 = Date.parse('2026-03-02T10:00:00Z');
const UUIDS = ['0b6a0f4e-5d7c-4c1e-9a51-3f0e7d2c9b10', '5f3c2a1b-8e9d-4f7a-b6c5-d4e3f2a1b0c9', 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f'];
const STATES: [string, string | null, boolean][] = [
  ['REGED', 'UP', false],
  ['FAIL_WAIT', 'DOWN', true],
  ['TRYING', 'UP', true],
  ['NOREG', 'UP', false],
  ['NOT_RUNNING', null, true],
];

/** Random observations of a few gateways on two servers: mostly forward in time, some older (a replay), some at the same moment. */
function observations(seed: number, count: number): GatewayObservation[] {
  const random = generator(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let clock = 0;
  return Array.from({ length: count }, () => {
    clock += pick([0, 30, 60, 120, 240]);
    const seconds = random() < 0.1 ? Math.max(0, clock - pick([30, 300])) : clock;
    const [state, status, failing] = pick(STATES);
    return {
      server: pick(['default', 'fs2']),
      serviceId: pick([41, 42]),
      domain: pick(['a.pbx.test', 'b.pbx.test']),
      gatewayUuid: pick(UUIDS),
      gatewayName: pick(['carrier', 'backup', null]),
      register: random() < 0.7,
      state,
      status,
      failing,
      at: new Date(T0 + seconds * 1000),
      downAfterSeconds: pick([0, 60, 180]),
    };
  });
}

/** A transition without its id (a sequence value: a batch may use fewer of them). */
function withoutId(entry: GatewayHistoryEntry | null): Omit<GatewayHistoryEntry, 'id'> | null {
  if (!entry) return null;
  const { id: _id, ...rest } = entry;
  return rest;
}

async function rowsOf(pool: Pool): Promise<{ states: unknown[]; history: unknown[] }> {
  const states = (await pool.query('SELECT * FROM gateway_states ORDER BY server, gateway_uuid')).rows;
  const history = (await pool.query('SELECT * FROM gateway_history ORDER BY id')).rows.map(({ id: _id, ...rest }: Record<string, unknown>) => rest);
  return { states, history };
}

describe('GatewayMonitoringRepository.observeMany', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('equals observe one by one (seed %i)', async (seed) => {
    const inputs = observations(seed, 120);
    const sequential: (GatewayHistoryEntry | null)[] = [];
    for (const input of inputs) sequential.push(await one.repository.observe(input));
    const batched: (GatewayHistoryEntry | null)[] = [];
    const random = generator(seed * 7919);
    for (let start = 0; start < inputs.length;) {
      const size = 1 + Math.floor(random() * 25);
      batched.push(...(await many.repository.observeMany(inputs.slice(start, start + size))));
      start += size;
    }
    expect(batched.map(withoutId)).toEqual(sequential.map(withoutId));
    // A sequence that caused no transition proves nothing of their order and figures.
    expect(sequential.filter((entry) => entry?.transition === 'down').length).toBeGreaterThan(0);
    expect(sequential.filter((entry) => entry?.transition === 'up').length).toBeGreaterThan(0);
    expect(await rowsOf(many.pool)).toEqual(await rowsOf(one.pool));
  });

  it('a replayed batch writes nothing (not even a row version) and returns no transition', async () => {
    const batch = observations(11, 80);
    const first = await many.repository.observeMany(batch);
    expect(first.filter((entry) => entry !== null).length).toBeGreaterThan(0);
    const versions = async () => (await many.pool.query('SELECT gateway_uuid, server, xmin::text AS version FROM gateway_states ORDER BY 1, 2')).rows;
    const before = { rows: await rowsOf(many.pool), versions: await versions() };
    const replay = await many.repository.observeMany(batch);
    expect(replay.every((entry) => entry === null)).toBe(true);
    expect({ rows: await rowsOf(many.pool), versions: await versions() }).toEqual(before);
  });

  it('a transition recorded twice in one batch is returned once, for the first observation', async () => {
    const input = (failing: boolean): GatewayObservation => ({
      server: 'default',
      serviceId: 42,
      domain: 'a.pbx.test',
      gatewayUuid: UUIDS[0]!,
      gatewayName: 'carrier',
      register: true,
      state: failing ? 'FAIL_WAIT' : 'REGED',
      status: 'UP',
      failing,
      at: new Date(T0),
      downAfterSeconds: 0,
    });
    // With no grace period, down → up → down at one moment names the same episode twice.
    const result = await many.repository.observeMany([input(false), input(true), input(false), input(true)]);
    expect(result.map((entry) => entry?.transition ?? null)).toEqual([null, 'down', 'up', null]);
    expect((await many.pool.query('SELECT count(*)::int AS n FROM gateway_history')).rows[0].n).toBe(2);
  });

  it('a batch failing at its last statement writes nothing; run again, it records what it would have', async () => {
    const batch = observations(5, 120);
    const expected: (GatewayHistoryEntry | null)[] = [];
    for (const input of batch) expected.push(await one.repository.observe(input));
    // The history INSERT is the batch's last statement: its rows' UPDATE has run by then.
    await many.pool.query(`CREATE FUNCTION gateway_history_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'history write failed'; END $$`);
    await many.pool.query('CREATE TRIGGER gateway_history_fail BEFORE INSERT ON gateway_history FOR EACH ROW EXECUTE FUNCTION gateway_history_fail()');
    try {
      await expect(many.repository.observeMany(batch)).rejects.toThrow('history write failed');
      expect(await rowsOf(many.pool)).toEqual({ states: [], history: [] });
    } finally {
      await many.pool.query('DROP TRIGGER gateway_history_fail ON gateway_history; DROP FUNCTION gateway_history_fail()');
    }
    expect((await many.repository.observeMany(batch)).map(withoutId)).toEqual(expected.map(withoutId));
    expect(await rowsOf(many.pool)).toEqual(await rowsOf(one.pool));
  });

  it('an empty batch is no transaction at all', async () => {
    expect(await many.repository.observeMany([])).toEqual([]);
  });
});

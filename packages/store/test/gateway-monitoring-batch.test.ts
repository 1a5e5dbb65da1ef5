import type { Pool } from 'pg';
import { GatewayMonitoringRepository, type GatewayObservation } from '@ictvoip/store';
import { expectAtomicBatch, historyRows, observeBothWays, randomTimeline, twoSides, withoutId } from './batch-equivalence-kit';

const sides = twoSides('gw', (pool) => new GatewayMonitoringRepository(pool), 'gateway_states, gateway_history');

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
  return randomTimeline(seed, count, (seconds, pick, random) => {
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

async function rowsOf(pool: Pool): Promise<{ states: unknown[]; history: unknown[] }> {
  const states = (await pool.query('SELECT * FROM gateway_states ORDER BY server, gateway_uuid')).rows;
  const history = await historyRows(pool, 'gateway_history');
  return { states, history };
}

describe('GatewayMonitoringRepository.observeMany', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('equals observe one by one (seed %i)', async (seed) => {
    const inputs = observations(seed, 120);
    const { sequential, batched } = await observeBothWays(sides.one.repository, sides.many.repository, inputs, seed);
    expect(batched.map(withoutId)).toEqual(sequential.map(withoutId));
    // A sequence that caused no transition proves nothing of their order and figures.
    expect(sequential.filter((entry) => entry?.transition === 'down').length).toBeGreaterThan(0);
    expect(sequential.filter((entry) => entry?.transition === 'up').length).toBeGreaterThan(0);
    expect(await rowsOf(sides.many.pool)).toEqual(await rowsOf(sides.one.pool));
  });

  it('a replayed batch writes nothing (not even a row version) and returns no transition', async () => {
    const batch = observations(11, 80);
    const first = await sides.many.repository.observeMany(batch);
    expect(first.filter((entry) => entry !== null).length).toBeGreaterThan(0);
    const versions = async () => (await sides.many.pool.query('SELECT gateway_uuid, server, xmin::text AS version FROM gateway_states ORDER BY 1, 2')).rows;
    const before = { rows: await rowsOf(sides.many.pool), versions: await versions() };
    const replay = await sides.many.repository.observeMany(batch);
    expect(replay.every((entry) => entry === null)).toBe(true);
    expect({ rows: await rowsOf(sides.many.pool), versions: await versions() }).toEqual(before);
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
    const result = await sides.many.repository.observeMany([input(false), input(true), input(false), input(true)]);
    expect(result.map((entry) => entry?.transition ?? null)).toEqual([null, 'down', 'up', null]);
    expect((await sides.many.pool.query('SELECT count(*)::int AS n FROM gateway_history')).rows[0].n).toBe(2);
  });

  it('a batch failing at its last statement writes nothing; run again, it records what it would have', async () => {
    await expectAtomicBatch(sides, 'gateway_history', observations(5, 120), rowsOf, { states: [], history: [] });
  });

  it('an empty batch is no transaction at all', async () => {
    expect(await sides.many.repository.observeMany([])).toEqual([]);
  });
});

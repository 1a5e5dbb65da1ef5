import type { Pool } from 'pg';
import { RegistrationsRepository, type RegistrationObservation, type RegistrationSighting } from '@ictvoip/store';
import { expectAtomicBatch, historyRows, observeBothWays, randomTimeline, twoSides, withoutId } from './batch-equivalence-kit';

const sides = twoSides('reg', (pool) => new RegistrationsRepository(pool), 'registrations, registration_history');

const T0 = Date.parse('2026-03-02T10:00:00Z');
const SIGHTINGS: RegistrationSighting[] = [
  { profile: 'internal', contactIp: '203.0.113.7', contactPort: 5060, lanIp: '192.168.1.7', userAgent: 'Yealink SIP-T46S', expires: '2026-03-02 11:00:00', expiresInSeconds: 3600 },
  { profile: 'external', contactIp: '198.51.100.9', contactPort: 5080, lanIp: null, userAgent: 'Grandstream GXP2170', expires: '2026-03-02 10:30:00', expiresInSeconds: 1800 },
];

/** Random observations of a few extensions on two servers: mostly forward in time, some older (a replay), some at the same moment. */
function observations(seed: number, count: number): RegistrationObservation[] {
  return randomTimeline(seed, count, (seconds, pick, random) => {
    const seen = random() < 0.5 ? pick(SIGHTINGS) : null;
    return {
      server: pick(['default', 'fs2']),
      serviceId: pick([41, 42]),
      domain: pick(['a.pbx.test', 'b.pbx.test']),
      extension: pick(['101', '102', '103']),
      seen,
      at: new Date(T0 + seconds * 1000),
      lostAfterSeconds: pick([0, 60, 180]),
      lastSeenAt: !seen && random() < 0.5 ? new Date(T0 + Math.max(0, seconds - 30) * 1000) : undefined,
    };
  });
}

async function rowsOf(pool: Pool): Promise<{ registrations: unknown[]; history: unknown[] }> {
  const registrations = (await pool.query('SELECT * FROM registrations ORDER BY server, domain, extension')).rows;
  const history = await historyRows(pool, 'registration_history');
  return { registrations, history };
}

describe('RegistrationsRepository.observeMany', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('equals observe one by one (seed %i)', async (seed) => {
    const inputs = observations(seed, 120);
    const { sequential, batched } = await observeBothWays(sides.one.repository, sides.many.repository, inputs, seed);
    expect(batched.map(withoutId)).toEqual(sequential.map(withoutId));
    // A sequence that caused no transition proves nothing of their order and figures.
    expect(sequential.filter((entry) => entry?.transition === 'lost').length).toBeGreaterThan(0);
    expect(sequential.filter((entry) => entry?.transition === 'restored').length).toBeGreaterThan(0);
    expect(await rowsOf(sides.many.pool)).toEqual(await rowsOf(sides.one.pool));
  });

  it('a replayed batch writes nothing and returns no transition', async () => {
    const batch = observations(11, 80);
    const first = await sides.many.repository.observeMany(batch);
    expect(first.filter((entry) => entry !== null).length).toBeGreaterThan(0);
    const before = await rowsOf(sides.many.pool);
    const replay = await sides.many.repository.observeMany(batch);
    expect(replay.every((entry) => entry === null)).toBe(true);
    expect(await rowsOf(sides.many.pool)).toEqual(before);
  });

  it('a transition recorded twice in one batch is returned once, for the first observation', async () => {
    const at = new Date(T0);
    const input = (seen: RegistrationSighting | null): RegistrationObservation => ({
      server: 'default',
      serviceId: 42,
      domain: 'a.pbx.test',
      extension: '101',
      seen,
      at,
      lostAfterSeconds: 0,
    });
    // With no grace period, lost → restored → lost at one moment names the same episode twice.
    const result = await sides.many.repository.observeMany([input(SIGHTINGS[0]!), input(null), input(SIGHTINGS[0]!), input(null)]);
    expect(result.map((entry) => entry?.transition ?? null)).toEqual([null, 'lost', 'restored', null]);
    expect((await sides.many.pool.query('SELECT count(*)::int AS n FROM registration_history')).rows[0].n).toBe(2);
  });

  it('a batch failing at its last statement writes nothing; run again, it records what it would have', async () => {
    await expectAtomicBatch(sides, 'registration_history', observations(5, 120), rowsOf, { registrations: [], history: [] });
  });

  it('observeManyWithStates returns each named row as a read after it finds it (a poll copies them without reading them back)', async () => {
    const batch = observations(17, 150);
    for (let start = 0; start < batch.length; start += 30) {
      const slice = batch.slice(start, start + 30);
      const { transitions, states } = await sides.many.repository.observeManyWithStates(slice);
      expect(transitions.filter((entry) => entry !== null).length).toBeLessThanOrEqual(slice.length);
      const byServer = new Map<string, string[]>();
      for (const input of slice) byServer.set(input.server, [...(byServer.get(input.server) ?? []), `${input.domain}|${input.extension}`]);
      const read = (await Promise.all([...byServer].map(([server, keys]) => sides.many.repository.statesOfKeys(server, [...new Set(keys)])))).flat();
      const order = (a: { server: string; domain: string; extension: string }, b: typeof a) =>
        `${a.server}|${a.domain}|${a.extension}` < `${b.server}|${b.domain}|${b.extension}` ? -1 : 1;
      expect([...states].sort(order)).toEqual(read.sort(order));
    }
    expect(await sides.many.repository.observeManyWithStates([])).toEqual({ transitions: [], states: [] });
  });

  it('an empty batch is no transaction at all', async () => {
    expect(await sides.many.repository.observeMany([])).toEqual([]);
  });
});

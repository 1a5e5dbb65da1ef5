import type { Pool } from 'pg';
import { RegistrationsRepository, type RegistrationObservation } from '@ictvoip/store';
import { historyRows, twoSides, type Side } from './batch-equivalence-kit';
import { described, queuedBehindHeldRow, type HeldRow } from './lock-waits';

// The worker writes a server's registration rows under its poll lock, but that lock is a session lock on a
// connection of its own: when that connection drops, the poll's writes go on while another poll of the
// server takes the lock. Two polls of one server then overlap as extensions are removed: the older poll
// (its list still has them) locks its batch's rows in key order while the newer one forgets the extensions
// it no longer watches. Neither may deadlock, fail or lose a row the serial order would keep.

const sides = twoSides('regforget', (pool) => new RegistrationsRepository(pool), 'registrations, registration_history');

const T0 = Date.parse('2026-03-02T10:00:00Z');
const SERVER = 'default';
const DOMAIN = 'a.pbx.test';
// Key order X < W < Y; Y is created before X, so a scan in heap order meets Y before X.
const X = '101';
const W = '202';
const Y = '303';

function observation(extension: string, at: number, registered = true): RegistrationObservation {
  return {
    server: SERVER,
    serviceId: 42,
    domain: DOMAIN,
    extension,
    seen: registered
      ? { profile: 'internal', contactIp: '203.0.113.7', contactPort: 5060, lanIp: null, userAgent: `phone-${extension}`, expires: null, expiresInSeconds: 3600 }
      : null,
    at: new Date(at),
    lostAfterSeconds: 0,
  };
}

// The server's other phones, watched by both polls and untouched by them: as on a real server, its rows are
// most of the table, so the removal scans the table (heap order), not the primary key (key order).
const OTHERS = 300;
const watched = [`${DOMAIN}|${W}`, ...Array.from({ length: OTHERS }, (_, n) => `b.pbx.test|${1000 + n}`)];

/** The three extensions, created one by one in heap order Y, W, X (registered), then the others; the newer poll's batch (W only) has run. */
async function seed(side: Side<RegistrationsRepository>, newerAt: number): Promise<void> {
  for (const extension of [Y, W, X]) await side.repository.observe(observation(extension, T0));
  await side.pool.query(
    `INSERT INTO registrations (server, domain, extension, service_id, last_change, last_polled_at)
     SELECT $1, 'b.pbx.test', (1000 + n)::text, 43, $2, $2 FROM generate_series(0, $3 - 1) AS n`,
    [SERVER, new Date(T0), OTHERS],
  );
  await side.pool.query('ANALYZE registrations');
  await side.repository.observeMany([observation(W, newerAt)]);
}

async function stateRows(pool: Pool): Promise<unknown[]> {
  return (await pool.query('SELECT * FROM registrations ORDER BY server, domain, extension')).rows;
}

/** The row of `extension`, to hold elsewhere. */
const rowOf = (extension: string): HeldRow => ({
  sql: 'SELECT 1 FROM registrations WHERE server = $1 AND domain = $2 AND extension = $3 FOR UPDATE',
  params: [SERVER, DOMAIN, extension],
});

describe('RegistrationsRepository.forgetUnwatched beside an overlapping poll', () => {
  it.each([
    ['the older poll observed later (its rows stay)', T0 + 120_000, T0 + 60_000, [X, W, Y]],
    ['the older poll observed earlier (its rows go)', T0 + 60_000, T0 + 120_000, [W]],
  ])('forgetting extensions while the other poll locks them cannot deadlock: %s', async (_name, olderAt, newerAt, kept) => {
    // Y not listed any more: lost at once (a history row), if the row is still there.
    const olderBatch = [X, W, Y].map((extension) => observation(extension, olderAt, extension !== Y));

    // The serial order the locks impose: the older poll's batch, then the newer poll's removal.
    await seed(sides.one, newerAt);
    await sides.one.repository.observeManyWithStates(olderBatch);
    await sides.one.repository.forgetUnwatched(SERVER, watched, new Date(newerAt));

    const { pool, repository } = sides.many;
    await seed(sides.many, newerAt);
    const heap = (await pool.query<{ extension: string }>('SELECT extension FROM registrations WHERE domain = $1 ORDER BY ctid', [DOMAIN])).rows.map((row) => row.extension);
    expect(heap.filter((extension) => extension !== W)).toEqual([Y, X]);

    // W held elsewhere stops the older batch between its lock of X and its lock of Y.
    const outcomes = await queuedBehindHeldRow(
      pool,
      rowOf(W),
      { waits: 'the older batch waits for W', work: () => repository.observeManyWithStates(olderBatch) },
      // The batch holds X now: the removal waits for it (a DELETE alone would hold Y, met first in the heap).
      { waits: 'the removal waits for the older batch', work: () => repository.forgetUnwatched(SERVER, watched, new Date(newerAt)) },
    );
    expect(described(outcomes)).toEqual(['ok', 'ok']);
    expect(await stateRows(pool)).toEqual(await stateRows(sides.one.pool));
    expect((await pool.query<{ extension: string }>('SELECT extension FROM registrations ORDER BY 1')).rows.map((row) => row.extension)).toEqual(
      [...kept, ...watched.slice(1).map((key) => key.split('|')[1])].sort(),
    );
    expect(await historyRows(pool, 'registration_history')).toEqual(await historyRows(sides.one.pool, 'registration_history'));
  });

  it('an extension forgotten between the batch finding its row and locking it is created again, as the removal then the batch would', async () => {
    const newerAt = T0 + 60_000;
    const olderBatch = [observation(X, T0 + 120_000, false)];
    await seed(sides.one, newerAt);
    await sides.one.repository.forgetUnwatched(SERVER, watched, new Date(newerAt));
    await sides.one.repository.observeManyWithStates(olderBatch);

    const { pool, repository } = sides.many;
    await seed(sides.many, newerAt);
    // Y held elsewhere stops the removal after it locked X, before its DELETE.
    const outcomes = await queuedBehindHeldRow(
      pool,
      rowOf(Y),
      { waits: 'the removal waits for Y', work: () => repository.forgetUnwatched(SERVER, watched, new Date(newerAt)) },
      // The batch's INSERT finds X (locked, not deleted): it waits at its lock of X.
      { waits: 'the batch waits for the removal', work: () => repository.observeManyWithStates(olderBatch) },
    );
    expect(described(outcomes)).toEqual(['ok', 'ok']);
    expect(await stateRows(pool)).toEqual(await stateRows(sides.one.pool));
    expect((await pool.query<{ extension: string }>('SELECT extension FROM registrations ORDER BY 1')).rows.map((row) => row.extension)).toEqual(
      [X, W, ...watched.slice(1).map((key) => key.split('|')[1])].sort(),
    );
    expect(await historyRows(pool, 'registration_history')).toEqual(await historyRows(sides.one.pool, 'registration_history'));
  });
});

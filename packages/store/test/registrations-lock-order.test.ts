import type { Pool, PoolClient } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, migrateBridgeDatabase, RegistrationsRepository, type RegistrationObservation } from '@ictvoip/store';
import { blockedBy, until } from './lock-waits';

// A batch inserts the rows it creates in byte order and then locks them all; a removal locks its rows
// too. On a database whose collation is not byte order (en_US.UTF-8 on an install; this test server's is
// C.UTF-8, so an ICU locale that ignores punctuation as glibc's en_US does stands in), ORDER BY without
// a collation would lock 'fs1.pbx.test' before 'fs-2.pbx.test' while the insert order puts 'fs-2.pbx.test' first.

const T0 = Date.parse('2026-03-02T10:00:00Z');
const SERVER = 'default';
const EXTENSION = '101';
// Byte order: FIRST < SECOND ('-' is 0x2d, '1' 0x31); the database's collation: SECOND < FIRST.
const FIRST = 'fs-2.pbx.test';
const SECOND = 'fs1.pbx.test';

let db: TestDatabase;
let pool: Pool;
let repository: RegistrationsRepository;

beforeAll(async () => {
  db = await createTestDatabase('regorder', { icuLocale: 'en-US-u-ka-shifted' });
  pool = createPool(db.url, { max: 6 });
  await migrateBridgeDatabase(pool);
  repository = new RegistrationsRepository(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

beforeEach(async () => {
  await pool.query('TRUNCATE registrations, registration_history RESTART IDENTITY');
});

function observation(domain: string, at: number): RegistrationObservation {
  return {
    server: SERVER,
    serviceId: 42,
    domain,
    extension: EXTENSION,
    seen: { profile: 'internal', contactIp: '203.0.113.7', contactPort: 5060, lanIp: null, userAgent: 'phone', expires: null, expiresInSeconds: 3600 },
    at: new Date(at),
    lostAfterSeconds: 0,
  };
}

/**
 * With the row of `second` (byte order's later domain) held elsewhere, `work` waits for it: whether it
 * then already holds the row of `first`, i.e. locked in byte order ('locked'), or not ('free').
 */
async function firstRowWhileWaitingOnSecond(first: string, second: string, work: () => Promise<unknown>): Promise<string> {
  const holder: PoolClient = await pool.connect();
  const probe: PoolClient = await pool.connect();
  let pending: Promise<unknown> = Promise.resolve();
  const row = 'SELECT 1 FROM registrations WHERE server = $1 AND domain = $2 AND extension = $3 FOR UPDATE';
  try {
    await holder.query('BEGIN');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await holder.query(row, [SERVER, second, EXTENSION]);
    pending = work().catch((error: Error) => error);
    await until('the work waits for the held row', blockedBy(pool, holderPid));
    await probe.query('BEGIN');
    try {
      await probe.query(`${row} NOWAIT`, [SERVER, first, EXTENSION]);
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

describe('registration rows are inserted and locked in one order, whatever the database collation', () => {
  it('the database orders the two domains unlike byte order (else this test shows nothing)', async () => {
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM unnest($1::text[]) AS n(name) ORDER BY name', [[FIRST, SECOND]]);
    expect(rows.map((row) => row.name)).toEqual([SECOND, FIRST]);
    expect(Buffer.compare(Buffer.from(FIRST), Buffer.from(SECOND))).toBe(-1);
  });

  it('a batch locks its rows in the order it inserts them (byte order)', async () => {
    await repository.observeMany([observation(FIRST, T0), observation(SECOND, T0)]);
    const batch = [observation(SECOND, T0 + 60_000), observation(FIRST, T0 + 60_000)];
    expect(await firstRowWhileWaitingOnSecond(FIRST, SECOND, () => repository.observeMany(batch))).toBe('locked');
  });

  it('a removal locks its rows in the same order, whatever order they lie in the table', async () => {
    // Created SECOND then FIRST: a scan of the table meets SECOND first.
    await repository.observe(observation(SECOND, T0));
    await repository.observe(observation(FIRST, T0));
    const removal = () => repository.forgetUnwatched(SERVER, [], new Date(T0 + 60_000));
    expect(await firstRowWhileWaitingOnSecond(FIRST, SECOND, removal)).toBe('locked');
  });
});

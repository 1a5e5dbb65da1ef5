import { RegistrationsRepository, type RegistrationObservation } from '@ictvoip/store';
import { expectCollationUnlikeBytes, firstRowWhileWaitingOnSecond, useCollatedDatabase } from './lock-order-kit';

// Registration rows in a collation that is not byte order (see lock-order-kit.ts): ORDER BY without a
// collation would lock 'fs1.pbx.test' before 'fs-2.pbx.test' while the insert order puts 'fs-2.pbx.test' first.

const T0 = Date.parse('2026-03-02T10:00:00Z');
const SERVER = 'default';
const EXTENSION = '101';
// Byte order: FIRST < SECOND ('-' is 0x2d, '1' 0x31); the database's collation: SECOND < FIRST.
const FIRST = 'fs-2.pbx.test';
const SECOND = 'fs1.pbx.test';
const ROW = 'SELECT 1 FROM registrations WHERE server = $1 AND domain = $2 AND extension = $3 FOR UPDATE';

const db = useCollatedDatabase('regorder', 'registrations, registration_history', (pool) => new RegistrationsRepository(pool));

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

/** With the row of `second` (byte order's later domain) held elsewhere, whether `work` already holds the row of `first`. */
const firstWhileWaitingOnSecond = (first: string, second: string, work: () => Promise<unknown>) =>
  firstRowWhileWaitingOnSecond(db.pool, ROW, [SERVER, first, EXTENSION], [SERVER, second, EXTENSION], work);

describe('registration rows are inserted and locked in one order, whatever the database collation', () => {
  it('the database orders the two domains unlike byte order (else this test shows nothing)', async () => {
    await expectCollationUnlikeBytes(db.pool, FIRST, SECOND);
  });

  it('a batch locks its rows in the order it inserts them (byte order)', async () => {
    await db.repository.observeMany([observation(FIRST, T0), observation(SECOND, T0)]);
    const batch = [observation(SECOND, T0 + 60_000), observation(FIRST, T0 + 60_000)];
    expect(await firstWhileWaitingOnSecond(FIRST, SECOND, () => db.repository.observeMany(batch))).toBe('locked');
  });

  it('a removal locks its rows in the same order, whatever order they lie in the table', async () => {
    // Created SECOND then FIRST: a scan of the table meets SECOND first.
    await db.repository.observe(observation(SECOND, T0));
    await db.repository.observe(observation(FIRST, T0));
    const removal = () => db.repository.forgetUnwatched(SERVER, [], new Date(T0 + 60_000));
    expect(await firstWhileWaitingOnSecond(FIRST, SECOND, removal)).toBe('locked');
  });
});

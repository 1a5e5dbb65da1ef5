import type { Pool, PoolClient } from 'pg';
import { createTestDatabase, testKeyring, type TestDatabase } from '@ictvoip/testkit';
import { createPool, FusionServersRepository, GatewayMonitoringRepository, migrateBridgeDatabase, type GatewayObservation } from '@ictvoip/store';
import { blockedBy, until } from './lock-waits';

// A batch inserts the rows it creates in byte order and then locks them all; a removal locks its rows
// too. On a database whose collation is not byte order (en_US.UTF-8 on an install; this test server's is
// C.UTF-8, so an ICU locale that ignores punctuation as glibc's en_US does stands in), ORDER BY without
// a collation would lock 'fs1' before 'fs-2' while the insert order puts 'fs-2' first.

const T0 = Date.parse('2026-03-02T10:00:00Z');
const UUID = '1a2b3c4d-0000-4000-8000-000000000001';
// Byte order: FIRST < SECOND ('-' is 0x2d, '1' 0x31); the database's collation: SECOND < FIRST.
const FIRST = 'fs-2';
const SECOND = 'fs1';

let db: TestDatabase;
let pool: Pool;
let repository: GatewayMonitoringRepository;

beforeAll(async () => {
  db = await createTestDatabase('gworder', { icuLocale: 'en-US-u-ka-shifted' });
  pool = createPool(db.url, { max: 6 });
  await migrateBridgeDatabase(pool);
  // Registered, as a poll's servers are (rows of an unregistered one are not written).
  const registry = new FusionServersRepository(pool, testKeyring(['k1']));
  for (const name of [FIRST, SECOND])
    await registry.add({ name, databaseUrl: `postgres://pbx@db.${name}.example.net:5432/fusionpbx`, eslHost: `${name}.example.net`, eslPort: 8021, eslPassword: 'Esl-Secret' });
  repository = new GatewayMonitoringRepository(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

beforeEach(async () => {
  await pool.query('TRUNCATE gateway_states, gateway_history RESTART IDENTITY');
});

function observation(server: string, gatewayUuid: string, at: number): GatewayObservation {
  return {
    server,
    serviceId: 42,
    domain: 'a.pbx.test',
    gatewayUuid,
    gatewayName: 'gw',
    register: true,
    state: 'REGED',
    status: 'UP',
    failing: false,
    at: new Date(at),
    downAfterSeconds: 0,
  };
}

/**
 * With the row `second` (byte order's later one) held elsewhere, `work` waits for it: whether it then
 * already holds the row `first`, i.e. locked in byte order ('locked'), or not ('free').
 */
async function firstRowWhileWaitingOnSecond(first: [string, string], second: [string, string], work: () => Promise<unknown>): Promise<string> {
  const holder: PoolClient = await pool.connect();
  const probe: PoolClient = await pool.connect();
  let pending: Promise<unknown> = Promise.resolve();
  try {
    await holder.query('BEGIN');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await holder.query('SELECT 1 FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE', second);
    pending = work().catch((error: Error) => error);
    await until('the work waits for the held row', blockedBy(pool, holderPid));
    await probe.query('BEGIN');
    try {
      await probe.query('SELECT 1 FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE NOWAIT', first);
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

describe('gateway rows are inserted and locked in one order, whatever the database collation', () => {
  it('the database orders the two server names unlike byte order (else this test shows nothing)', async () => {
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM unnest($1::text[]) AS n(name) ORDER BY name', [[FIRST, SECOND]]);
    expect(rows.map((row) => row.name)).toEqual([SECOND, FIRST]);
    expect(Buffer.compare(Buffer.from(FIRST), Buffer.from(SECOND))).toBe(-1);
  });

  it('a batch locks its rows in the order it inserts them (byte order)', async () => {
    await repository.observeMany([observation(FIRST, UUID, T0), observation(SECOND, UUID, T0)]);
    const batch = [observation(SECOND, UUID, T0 + 60_000), observation(FIRST, UUID, T0 + 60_000)];
    expect(await firstRowWhileWaitingOnSecond([FIRST, UUID], [SECOND, UUID], () => repository.observeMany(batch))).toBe('locked');
  });

  it('a removal locks its rows in the same order', async () => {
    await repository.observeMany([observation('default', FIRST, T0), observation('default', SECOND, T0)]);
    const removal = () => repository.forgetUnwatched('default', [], new Date(T0 + 60_000));
    expect(await firstRowWhileWaitingOnSecond(['default', FIRST], ['default', SECOND], removal)).toBe('locked');
  });
});

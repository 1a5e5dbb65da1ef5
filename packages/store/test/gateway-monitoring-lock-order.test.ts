import { testKeyring } from '@ictvoip/testkit';
import { FusionServersRepository, GatewayMonitoringRepository } from '@ictvoip/store';
import { upGateway as observation } from './gateway-observation';
import { expectCollationUnlikeBytes, firstRowWhileWaitingOnSecond, useCollatedDatabase } from './lock-order-kit';

// Gateway rows in a collation that is not byte order (see lock-order-kit.ts): ORDER BY without a collation
// would lock 'fs1' before 'fs-2' while the insert order puts 'fs-2' first.

const T0 = Date.parse('2026-03-02T10:00:00Z');
const UUID = '1a2b3c4d-0000-4000-8000-000000000001';
// Byte order: FIRST < SECOND ('-' is 0x2d, '1' 0x31); the database's collation: SECOND < FIRST.
const FIRST = 'fs-2';
const SECOND = 'fs1';
const ROW = 'SELECT 1 FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE';

const db = useCollatedDatabase('gworder', 'gateway_states, gateway_history', async (pool) => {
  // Registered, as a poll's servers are (rows of an unregistered one are not written).
  const registry = new FusionServersRepository(pool, testKeyring(['k1']));
  for (const name of [FIRST, SECOND])
    await registry.add({ name, databaseUrl: `postgres://pbx@db.${name}.example.net:5432/fusionpbx`, eslHost: `${name}.example.net`, eslPort: 8021, eslPassword: 'Esl-Secret' });
  return new GatewayMonitoringRepository(pool);
});

describe('gateway rows are inserted and locked in one order, whatever the database collation', () => {
  it('the database orders the two server names unlike byte order (else this test shows nothing)', async () => {
    await expectCollationUnlikeBytes(db.pool, FIRST, SECOND);
  });

  it('a batch locks its rows in the order it inserts them (byte order)', async () => {
    await db.repository.observeMany([observation(FIRST, UUID, T0), observation(SECOND, UUID, T0)]);
    const batch = [observation(SECOND, UUID, T0 + 60_000), observation(FIRST, UUID, T0 + 60_000)];
    expect(await firstRowWhileWaitingOnSecond(db.pool, ROW, [FIRST, UUID], [SECOND, UUID], () => db.repository.observeMany(batch))).toBe('locked');
  });

  it('a removal locks its rows in the same order', async () => {
    await db.repository.observeMany([observation('default', FIRST, T0), observation('default', SECOND, T0)]);
    const removal = () => db.repository.forgetUnwatched('default', [], new Date(T0 + 60_000));
    expect(await firstRowWhileWaitingOnSecond(db.pool, ROW, ['default', FIRST], ['default', SECOND], removal)).toBe('locked');
  });
});

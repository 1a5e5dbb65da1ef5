import type { Pool } from 'pg';
import { GatewayMonitoringRepository, type GatewayObservation } from '@ictvoip/store';
import { historyRows, twoSides, type Side } from './batch-equivalence-kit';
import { described, queuedBehindHeldRow, type HeldRow } from './lock-waits';

// Two polls of one server overlap as gateways are removed: the older poll (its list still has them) is
// locking its batch's rows in key order while the newer one removes the gateways it no longer watches.

const sides = twoSides('gwforget', (pool) => new GatewayMonitoringRepository(pool), 'gateway_states, gateway_history');

const T0 = Date.parse('2026-03-02T10:00:00Z');
const SERVER = 'default';
// Key order X < W < Y; Y is created before X, so a scan in heap order meets Y before X.
const X = '1a2b3c4d-0000-4000-8000-000000000001';
const W = '5a2b3c4d-0000-4000-8000-000000000002';
const Y = 'ca2b3c4d-0000-4000-8000-000000000003';

function observation(gatewayUuid: string, at: number, failing = false): GatewayObservation {
  return {
    server: SERVER,
    serviceId: 42,
    domain: 'a.pbx.test',
    gatewayUuid,
    gatewayName: `gw-${gatewayUuid.slice(0, 2)}`,
    register: true,
    state: failing ? 'FAIL_WAIT' : 'REGED',
    status: 'UP',
    failing,
    at: new Date(at),
    downAfterSeconds: 0,
  };
}

/** The three gateways, created one by one in heap order Y, W, X; the newer poll's batch (W only) has run. */
async function seed(side: Side<GatewayMonitoringRepository>, newerAt: number): Promise<void> {
  for (const uuid of [Y, W, X]) await side.repository.observe(observation(uuid, T0));
  await side.repository.observeMany([observation(W, newerAt)]);
}

async function stateRows(pool: Pool): Promise<unknown[]> {
  return (await pool.query('SELECT * FROM gateway_states ORDER BY server, gateway_uuid')).rows;
}

/** The row of gateway `uuid`, to hold elsewhere. */
const rowOf = (uuid: string): HeldRow => ({ sql: 'SELECT 1 FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE', params: [SERVER, uuid] });

describe('GatewayMonitoringRepository.forgetUnwatched beside an overlapping poll', () => {
  it.each([
    ['the older poll observed later (its rows stay)', T0 + 120_000, T0 + 60_000, [X, W, Y]],
    ['the older poll observed earlier (its rows go)', T0 + 60_000, T0 + 120_000, [W]],
  ])('removing gateways while the other poll locks them cannot deadlock: %s', async (_name, olderAt, newerAt, kept) => {
    const olderBatch = [X, W, Y].map((uuid) => observation(uuid, olderAt, uuid === Y));

    // The serial order the locks impose: the older poll's batch, then the newer poll's removal.
    await seed(sides.one, newerAt);
    await sides.one.repository.observeMany(olderBatch);
    await sides.one.repository.forgetUnwatched(SERVER, [W], new Date(newerAt));

    const { pool, repository } = sides.many;
    await seed(sides.many, newerAt);
    const heap = (await pool.query<{ gateway_uuid: string }>('SELECT gateway_uuid FROM gateway_states ORDER BY ctid')).rows.map((row) => row.gateway_uuid);
    expect(heap.filter((uuid) => uuid !== W)).toEqual([Y, X]);

    // W held elsewhere stops the older batch between its lock of X and its lock of Y.
    const outcomes = await queuedBehindHeldRow(
      pool,
      rowOf(W),
      { waits: 'the older batch waits for W', work: () => repository.observeMany(olderBatch) },
      // The batch holds X now: the removal waits for it (before the fix: holding Y, which it met first).
      { waits: 'the removal waits for the older batch', work: () => repository.forgetUnwatched(SERVER, [W], new Date(newerAt)) },
    );
    expect(described(outcomes)).toEqual(['ok', 'ok']);
    expect(await stateRows(pool)).toEqual(await stateRows(sides.one.pool));
    expect((await pool.query<{ gateway_uuid: string }>('SELECT gateway_uuid FROM gateway_states ORDER BY 1')).rows.map((row) => row.gateway_uuid)).toEqual(kept);
    expect(await historyRows(pool, 'gateway_history')).toEqual(await historyRows(sides.one.pool, 'gateway_history'));
  });

  it('a gateway removed between the batch finding its row and locking it is created again, as the removal then the batch would', async () => {
    const newerAt = T0 + 60_000;
    const olderBatch = [observation(X, T0 + 120_000, true)];
    await seed(sides.one, newerAt);
    await sides.one.repository.forgetUnwatched(SERVER, [W], new Date(newerAt));
    await sides.one.repository.observeMany(olderBatch);

    const { pool, repository } = sides.many;
    await seed(sides.many, newerAt);
    // Y held elsewhere stops the removal after it locked X, before its DELETE.
    const outcomes = await queuedBehindHeldRow(
      pool,
      rowOf(Y),
      { waits: 'the removal waits for Y', work: () => repository.forgetUnwatched(SERVER, [W], new Date(newerAt)) },
      // The batch's INSERT finds X (locked, not deleted): it waits at its lock of X.
      { waits: 'the batch waits for the removal', work: () => repository.observeMany(olderBatch) },
    );
    expect(described(outcomes)).toEqual(['ok', 'ok']);
    expect(await stateRows(pool)).toEqual(await stateRows(sides.one.pool));
    expect(await historyRows(pool, 'gateway_history')).toEqual(await historyRows(sides.one.pool, 'gateway_history'));
  });
});

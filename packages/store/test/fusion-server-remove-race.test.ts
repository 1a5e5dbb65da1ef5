import type { RegistrationObservation } from '@ictvoip/store';
import { described, queuedBehindHeldRow } from './lock-waits';
import { DOMAIN, gatewayObservation as gateway, SERVER, T0, useServerRemoveDatabase } from './server-remove-kit';

// `ictvoip servers remove` deletes a server's registration and gateway rows without the poll lock: a poll of that
// server still running locks its batch's rows in key order meanwhile. The removal must wait for it, not
// deadlock with it by taking the rows in the order its DELETE scans them.

// Key order X < W < Y; Y is created before X, so a scan in heap order meets Y before X.
const [X, W, Y] = ['101', '202', '303'];
const OTHERS = 300;

const kit = useServerRemoveDatabase('fsremove');

function observation(extension: string, at: number, registered: boolean): RegistrationObservation {
  return {
    server: SERVER,
    serviceId: 42,
    domain: DOMAIN,
    extension,
    seen: registered ? { profile: 'internal', contactIp: '203.0.113.7', contactPort: 5060, lanIp: null, userAgent: 'phone', expires: null, expiresInSeconds: 3600 } : null,
    at: new Date(at),
    lostAfterSeconds: 0,
  };
}

/**
 * With `held` (between the batch's first and last row in key order) locked elsewhere, the batch stops
 * half-way; the removal must then wait for the batch, and both succeed once `held` goes.
 */
async function removeWhileBatchWaits(holdSql: string, holdParams: unknown[], startBatch: () => Promise<unknown>): Promise<string[]> {
  const outcomes = await queuedBehindHeldRow(
    kit.pool,
    { sql: holdSql, params: holdParams },
    { waits: 'the batch waits for the held row', work: startBatch },
    { waits: 'the removal waits for the batch', work: () => kit.registry.remove(SERVER) },
  );
  return described(outcomes);
}

test('removing a server while a poll of it locks its registration rows waits for the poll instead of deadlocking', async () => {
  for (const extension of [Y, W, X]) await kit.registrations.observe(observation(extension, T0, true));
  // The server's other phones: its rows are most of the table, so the DELETE scans the table (heap order).
  await kit.pool.query(
    `INSERT INTO registrations (server, domain, extension, service_id, last_change, last_polled_at)
     SELECT $1, 'b.pbx.test', (1000 + n)::text, 43, $2, $2 FROM generate_series(0, $3 - 1) AS n`,
    [SERVER, new Date(T0), OTHERS],
  );
  await kit.pool.query('ANALYZE registrations');
  const heap = (await kit.pool.query<{ extension: string }>('SELECT extension FROM registrations WHERE domain = $1 ORDER BY ctid', [DOMAIN])).rows.map((row) => row.extension);
  expect(heap).toEqual([Y, W, X]);

  // W held elsewhere stops the poll's batch between its lock of X and its lock of Y.
  const outcomes = await removeWhileBatchWaits('SELECT 1 FROM registrations WHERE server = $1 AND domain = $2 AND extension = $3 FOR UPDATE', [SERVER, DOMAIN, W], () =>
    kit.registrations.observeManyWithStates([X, W, Y].map((extension) => observation(extension, T0 + 60_000, extension !== Y))),
  );
  expect(outcomes).toEqual(['ok', 'ok']);
  // The batch committed first: the removal then took every row of the server.
  expect((await kit.pool.query('SELECT count(*)::int AS n FROM registrations WHERE server = $1', [SERVER])).rows[0].n).toBe(0);
  expect(await kit.registry.spec(SERVER)).toBeNull();
});

test('removing a server while a poll of it locks its gateway rows waits for the poll instead of deadlocking', async () => {
  const [gx, gw, gy] = ['1a2b3c4d-0000-4000-8000-000000000001', '5a2b3c4d-0000-4000-8000-000000000002', 'ca2b3c4d-0000-4000-8000-000000000003'];
  for (const uuid of [gy, gw, gx]) await kit.gateways.observe(gateway(uuid, T0));
  await kit.pool.query(
    `INSERT INTO gateway_states (server, gateway_uuid, domain, service_id, register, last_change, last_polled_at)
     SELECT $1, 'ff' || lpad(n::text, 6, '0'), 'b.pbx.test', 43, true, $2, $2 FROM generate_series(0, $3 - 1) AS n`,
    [SERVER, new Date(T0), OTHERS],
  );
  await kit.pool.query('ANALYZE gateway_states');
  const heap = (await kit.pool.query<{ gateway_uuid: string }>('SELECT gateway_uuid FROM gateway_states WHERE domain = $1 ORDER BY ctid', [DOMAIN])).rows.map(
    (row) => row.gateway_uuid,
  );
  expect(heap).toEqual([gy, gw, gx]);
  const outcomes = await removeWhileBatchWaits('SELECT 1 FROM gateway_states WHERE server = $1 AND gateway_uuid = $2 FOR UPDATE', [SERVER, gw], () =>
    kit.gateways.observeMany([gx, gw, gy].map((uuid) => gateway(uuid, T0 + 60_000))),
  );
  expect(outcomes).toEqual(['ok', 'ok']);
  expect((await kit.pool.query('SELECT count(*)::int AS n FROM gateway_states WHERE server = $1', [SERVER])).rows[0].n).toBe(0);
  expect(await kit.registry.spec(SERVER)).toBeNull();
});

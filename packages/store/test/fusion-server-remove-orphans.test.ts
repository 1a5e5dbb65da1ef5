import type { PoolClient } from 'pg';
import type { RegistrationObservation } from '@ictvoip/store';
import { blockedBy, described as describedEach, queuedBehindHeldRow, until } from './lock-waits';
import { DOMAIN, gatewayObservation as gateway, SERVER, T0, useServerRemoveDatabase } from './server-remove-kit';

// `ictvoip servers remove` deletes a server's registration and gateway rows while a poll of that server may
// still be writing (the poll lock is not the removal's). A write that commits after the removal must not
// bring rows of the removed server back: nothing would ever delete them, and status would show them.
// Each case holds an uncommitted row of the key the write creates first, so the write waits there (as a
// slow poll would) while the removal runs.

// N sorts before X: a batch creating N waits there before it touches X.
const [N, X] = ['100', '101'];
const [GN, GX] = ['0a2b3c4d-0000-4000-8000-000000000001', '1a2b3c4d-0000-4000-8000-000000000002'];

const kit = useServerRemoveDatabase('fsorphans');

function observation(extension: string, at: number): RegistrationObservation {
  return {
    server: SERVER,
    serviceId: 42,
    domain: DOMAIN,
    extension,
    seen: { profile: 'internal', contactIp: '203.0.113.7', contactPort: 5060, lanIp: null, userAgent: 'phone', expires: null, expiresInSeconds: 3600 },
    at: new Date(at),
    lostAfterSeconds: 0,
  };
}

type Outcome = { ok: true } | { ok: false; error: Error & { code?: string } };

function settled(work: Promise<unknown>): { outcome: Promise<Outcome>; done: () => boolean } {
  let finished = false;
  const outcome = work.then(
    () => ({ ok: true as const }),
    (error: Error & { code?: string }) => ({ ok: false as const, error }),
  );
  void outcome.then(() => (finished = true));
  return { outcome, done: () => finished };
}

function described(outcome: Outcome): string {
  return outcome.ok ? 'ok' : `${outcome.error.code}: ${outcome.error.message}`;
}

/** Rows of the server left anywhere a poll writes, by table. */
async function rowsLeft(): Promise<Record<string, number>> {
  const left: Record<string, number> = {};
  for (const table of ['registrations', 'registration_servers', 'gateway_states'])
    left[table] = (await kit.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE server = $1`, [SERVER])).rows[0]!.n;
  return left;
}

/**
 * `holdSql` (an uncommitted row the write creates too) makes `write` wait; the removal starts meanwhile and
 * either waits for the write or is done (as it was without the guard); the held row then goes. Returns
 * the outcomes of the write and the removal.
 */
async function removeWhileWriteWaits(holdSql: string, holdParams: unknown[], write: () => Promise<unknown>): Promise<string[]> {
  const outcomes = await queuedBehindHeldRow(
    kit.pool,
    { sql: holdSql, params: holdParams },
    { waits: 'the write waits for the held row', work: write },
    { waits: 'the removal waits for the write or is done', work: () => kit.registry.remove(SERVER), mayEnd: true },
  );
  return describedEach(outcomes);
}

const holdRegistration = `INSERT INTO registrations (server, domain, extension, service_id, last_change, last_polled_at) VALUES ($1, $2, $3, 42, now(), now())`;

test('a registration batch still running when its server is removed leaves no row of it', async () => {
  await kit.registrations.observe(observation(X, T0));
  const outcomes = await removeWhileWriteWaits(holdRegistration, [SERVER, DOMAIN, N], () =>
    kit.registrations.observeManyWithStates([observation(N, T0 + 60_000), observation(X, T0 + 60_000)]),
  );
  // The batch held the server: it committed first, then the removal took its rows too.
  expect(outcomes).toEqual(['ok', 'ok']);
  expect(await rowsLeft()).toEqual({ registrations: 0, registration_servers: 0, gateway_states: 0 });
  expect(await kit.registry.spec(SERVER)).toBeNull();
});

test("a poll's first sighting of extensions (observeNew) still running when its server is removed leaves no row of it", async () => {
  const outcomes = await removeWhileWriteWaits(holdRegistration, [SERVER, DOMAIN, N], () =>
    kit.registrations.observeNew(SERVER, [observation(N, T0), observation(X, T0)], new Date(T0)),
  );
  expect(outcomes).toEqual(['ok', 'ok']);
  expect(await rowsLeft()).toEqual({ registrations: 0, registration_servers: 0, gateway_states: 0 });
});

test("a poll's bookkeeping (markServerPolled) still running when its server is removed leaves no row of it", async () => {
  const outcomes = await removeWhileWriteWaits(`INSERT INTO registration_servers (server, state_token, polled_at) VALUES ($1, 'held', now())`, [SERVER], () =>
    kit.registrations.markServerPolled(SERVER, new Date(T0), 'token-1'),
  );
  expect(outcomes).toEqual(['ok', 'ok']);
  expect(await rowsLeft()).toEqual({ registrations: 0, registration_servers: 0, gateway_states: 0 });
});

test('a gateway batch still running when its server is removed leaves no row of it', async () => {
  await kit.gateways.observe(gateway(GX, T0));
  const outcomes = await removeWhileWriteWaits(
    `INSERT INTO gateway_states (server, gateway_uuid, domain, service_id, register, last_change, last_polled_at) VALUES ($1, $2, $3, 42, true, now(), now())`,
    [SERVER, GN, DOMAIN],
    () => kit.gateways.observeMany([gateway(GN, T0 + 60_000), gateway(GX, T0 + 60_000)]),
  );
  expect(outcomes).toEqual(['ok', 'ok']);
  expect(await rowsLeft()).toEqual({ registrations: 0, registration_servers: 0, gateway_states: 0 });
});

test('a batch that reaches a server the removal holds waits, then writes nothing and says the server is gone', async () => {
  await kit.registrations.observe(observation(X, T0));
  await kit.gateways.observe(gateway(GX, T0));
  // A session writing services stops the removal at its LOCK TABLE services, after it locked the server row.
  const holder: PoolClient = await kit.pool.connect();
  let removal: ReturnType<typeof settled> | null = null;
  let batches: ReturnType<typeof settled>[] = [];
  try {
    await holder.query('BEGIN');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await holder.query('LOCK TABLE services IN ROW EXCLUSIVE MODE');
    removal = settled(kit.registry.remove(SERVER));
    const removalPid = await until('the removal waits for the services table', blockedBy(kit.pool, holderPid));
    batches = [
      settled(kit.registrations.observeManyWithStates([observation(N, T0 + 60_000), observation(X, T0 + 60_000)])),
      settled(kit.gateways.observeMany([gateway(GN, T0 + 60_000), gateway(GX, T0 + 60_000)])),
    ];
    // Without the guard a batch does not wait: it is done instead.
    await until('both batches wait for the removal, or one is done', async () => {
      const { rows } = await kit.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND $1::int = ANY(pg_blocking_pids(pid))`,
        [removalPid],
      );
      return rows[0]!.n === 2 || batches.some((batch) => batch.done()) ? true : null;
    });
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
  }
  const outcomes = (await Promise.all([removal.outcome, ...batches.map((batch) => batch.outcome)])).map(described);
  expect(outcomes).toEqual([
    'ok',
    `FUSIONPBX_SERVER_GONE: FusionPBX server ${SERVER} was removed during the poll: its observations are not written`,
    `FUSIONPBX_SERVER_GONE: FusionPBX server ${SERVER} was removed during the poll: its observations are not written`,
  ]);
  expect(await rowsLeft()).toEqual({ registrations: 0, registration_servers: 0, gateway_states: 0 });
});

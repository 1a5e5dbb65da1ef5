import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createTestDatabase, testKeyring, type TestDatabase } from '@ictvoip/testkit';
import {
  batchIdFor,
  createBatch,
  insertAdjustment,
  pendingAdjustmentsPeriod,
  recordCycleObservation,
  servicesToBill,
  servicesToBillPerService,
  servicesWithUnbilledWork,
  InboxRepository,
  MIGRATIONS,
  SealedSecretError,
  ServicesRepository,
  createPool,
  migrate,
  migrateBridgeDatabase,
  openSecrets,
  RegistrationsRepository,
  sealSecrets,
  ServerLockTimeoutError,
  withServerLock,
  withServiceLock,
} from '@ictvoip/store';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('store');
  pool = createPool(db.url);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('migrations', () => {
  it('apply once when several processes start together', async () => {
    const pools = [createPool(db.url), createPool(db.url), createPool(db.url)];
    const results = await Promise.all(pools.map((p) => migrate(p, MIGRATIONS)));
    await Promise.all(pools.map((p) => p.end()));
    expect(results.flat()).toEqual(MIGRATIONS.map((m) => m.version));
    const { rows } = await pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrateBridgeDatabase(pool)).toEqual([]);
  });

  it('roll back a failing migration whole and name it', async () => {
    const bad = { version: '999-broken', sql: 'CREATE TABLE half_written (id int); SELECT no_such_function();' };
    await expect(migrate(pool, [...MIGRATIONS, bad])).rejects.toThrow(/999-broken/);
    const { rows } = await pool.query(`SELECT to_regclass('half_written') AS t`);
    expect(rows[0].t).toBeNull();
  });
});

describe('inbox', () => {
  const newEvent = (overrides: Partial<Parameters<InboxRepository['record']>[0]> = {}) => ({
    eventId: randomUUID(),
    bodyHash: 'h1',
    action: 'create',
    serviceId: 42,
    clientId: 7,
    payload: { hello: 'world' },
    sealedSecrets: null,
    jobId: 'job-1',
    ...overrides,
  });

  it('records an event once and returns the first row on a repeat', async () => {
    const inbox = new InboxRepository(pool);
    const event = newEvent({ requestId: 'req-1', sealedSecrets: 'v1.a.b.c', payload: { hello: 'world', nested: { n: 1, list: [1, 'two'] } } });
    const first = await inbox.record(event);
    const second = await inbox.record({ ...event, bodyHash: 'h2' });
    expect(first.inserted).toBe(true);
    expect(second.inserted).toBe(false);
    expect(second.event.bodyHash).toBe('h1');
    // The inserted event is built from the values given; it must equal the row as stored.
    expect(first.event).toEqual(second.event);
    expect(first.event).toEqual(await inbox.get(event.eventId));
  });

  it('keeps one row when the same event is recorded concurrently', async () => {
    const inbox = new InboxRepository(pool);
    const event = newEvent();
    const results = await Promise.all(Array.from({ length: 8 }, () => inbox.record(event)));
    expect(results.filter((r) => r.inserted)).toHaveLength(1);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
    expect(rows[0].n).toBe(1);
  });

  it('records a batch in one statement as record would one by one: new rows, a repeat inside the batch, a row already there', async () => {
    const inbox = new InboxRepository(pool);
    const known = newEvent({ payload: { kept: true } });
    await inbox.record(known);
    const fresh = [newEvent({ requestId: 'r1', payload: { a: [1, 'x'], b: { c: null } } }), newEvent({ sealedSecrets: 'v1.a.b.c', status: 'queued' })];
    const results = await inbox.recordMany([fresh[0], { ...known, bodyHash: 'other' }, fresh[1], { ...fresh[0], bodyHash: 'later' }]);
    expect(results.map((result) => result.inserted)).toEqual([true, false, true, false]);
    // Each inserted event equals the row as stored; repeats get the first row, whatever they carried.
    expect(results[0].event).toEqual(await inbox.get(fresh[0].eventId));
    expect(results[2].event).toEqual(await inbox.get(fresh[1].eventId));
    expect(results[1].event).toEqual(await inbox.get(known.eventId));
    expect(results[3].event).toEqual(results[0].event);
    expect(results[2].event.status).toBe('queued');
    expect(await inbox.recordMany([])).toEqual([]);
  });

  it('commits a row already queued, moves it back to received only from queued, and leaves it stale-visible', async () => {
    const inbox = new InboxRepository(pool);
    const event = newEvent({ status: 'queued' });
    const first = await inbox.record(event);
    expect(first.event.status).toBe('queued');
    // The reconciler looks at every unfinished row, queued ones included.
    expect((await inbox.stale(-60)).map((e) => e.eventId)).toContain(event.eventId);
    await inbox.markNotQueued(event.eventId);
    expect((await inbox.get(event.eventId))?.status).toBe('received');
    await inbox.markRunning(event.eventId);
    await inbox.markNotQueued(event.eventId);
    expect((await inbox.get(event.eventId))?.status).toBe('running');
  });

  it('never moves a finished event back and wipes its secrets', async () => {
    const inbox = new InboxRepository(pool);
    const event = newEvent({ sealedSecrets: 'v1.x.y.z' });
    await inbox.record(event);
    await inbox.markRunning(event.eventId);
    await inbox.markSucceeded(event.eventId, { message: 'done' });
    await inbox.markFailed(event.eventId, 'late failure', true);
    await inbox.markQueued(event.eventId);
    const row = await inbox.get(event.eventId);
    expect(row).toMatchObject({ status: 'succeeded', sealedSecrets: null, attempts: 1, result: { message: 'done' } });
  });

  it("lists a service's unfinished events in arrival order", async () => {
    const inbox = new InboxRepository(pool);
    const serviceId = 9001;
    const a = await inbox.record(newEvent({ serviceId, action: 'create' }));
    const b = await inbox.record(newEvent({ serviceId, action: 'suspend' }));
    const c = await inbox.record(newEvent({ serviceId, action: 'unsuspend' }));
    await inbox.markSucceeded(a.event.eventId, {});
    const pending = await inbox.unfinishedForService(serviceId, c.event.seq);
    expect(pending.map((e) => e.action)).toEqual(['suspend', 'unsuspend']);
    expect((await inbox.unfinishedForService(serviceId, b.event.seq)).map((e) => e.action)).toEqual(['suspend']);
  });
});

describe('services', () => {
  it('upserts desired state and bumps the generation only when asked', async () => {
    const services = new ServicesRepository(pool);
    const eventId = randomUUID();
    await services.setDesired({ serviceId: 5, clientId: 1, desiredState: 'active', plan: { maxExtensions: 3 }, eventId });
    await services.setDesired({ serviceId: 5, clientId: 1, desiredState: 'terminated', eventId });
    const again = await services.setDesired({ serviceId: 5, clientId: 1, desiredState: 'active', eventId, newGeneration: true });
    expect(again).toMatchObject({ desiredState: 'active', generation: 2, plan: { maxExtensions: 3 } });
  });
});

describe('sealed secrets', () => {
  it('round-trips with the key its id names and refuses others', () => {
    const sealed = sealSecrets({ servicePassword: 'S3cret!pass' }, testKeyring(['k']));
    expect(sealed).not.toContain('S3cret');
    expect(sealed.startsWith('v2.k.')).toBe(true);
    expect(openSecrets(sealed, testKeyring(['other', 'k']))).toEqual({ servicePassword: 'S3cret!pass' });
    expect(() => openSecrets(sealed, testKeyring(['wrong']))).toThrow(SealedSecretError);
    expect(() => openSecrets('garbage', testKeyring(['k']))).toThrow(SealedSecretError);
  });

  it('never reuses an IV, across refills of the random pool', () => {
    const sealed = Array.from({ length: 1000 }, (_, i) => sealSecrets({ servicePassword: `pass-${i}` }, testKeyring(['k'])));
    const ivs = sealed.map((value) => value.split('.')[2]!);
    expect(ivs.every((iv) => Buffer.from(iv, 'base64').length === 12)).toBe(true);
    expect(new Set(ivs).size).toBe(sealed.length);
    sealed.forEach((value, i) => expect(openSecrets(value, testKeyring(['k']))).toEqual({ servicePassword: `pass-${i}` }));
  });
});

describe('service lock', () => {
  it('serialises work on one service across connections', async () => {
    const order: string[] = [];
    let inside = 0;
    let mostInside = 0;
    // Sessions whose last statement was a try for the lock: the holder's and every waiter's that was refused.
    const sessionsThatTried = async () =>
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_try_advisory_lock%'")).rows[0]
        .n;
    const work = (name: string) =>
      withServiceLock(pool, 77, async () => {
        inside += 1;
        mostInside = Math.max(mostInside, inside);
        order.push(`${name}:start`);
        // The first holder keeps the lock until the two others have tried for it and been refused.
        if (order.length === 1) {
          const deadline = Date.now() + 5000;
          while ((await sessionsThatTried()) < 3) {
            if (Date.now() > deadline) throw new Error('the other two never tried for the lock');
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
        order.push(`${name}:end`);
        inside -= 1;
      });
    await Promise.all([work('a'), work('b'), work('c')]);
    expect(mostInside).toBe(1);
    expect(order).toHaveLength(6);
    for (let i = 0; i < order.length; i += 2) {
      expect(order[i].split(':')[0]).toBe(order[i + 1].split(':')[0]);
    }
  });

  it('lets different services run at once', async () => {
    let inside = 0;
    // Each holds its lock until all three are inside (instead of a fixed 100 ms and a peak count):
    // that can only happen when the three run at once.
    const work = (serviceId: number) =>
      withServiceLock(pool, serviceId, async () => {
        inside += 1;
        const deadline = Date.now() + 5000;
        while (inside < 3) {
          if (Date.now() > deadline) throw new Error(`only ${inside} of 3 services inside their locks at once`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      });
    await Promise.all([work(1001), work(1002), work(1003)]);
    expect(inside).toBe(3);
  });
});

describe("a FusionPBX server's locks (its global writes, its registration polls)", () => {
  type ServerLock = <T>(on: Pool, server: string, work: () => Promise<T>, waitMs: number) => Promise<T>;
  const LOCKS: [string, ServerLock][] = [
    ['global writes', (on, server, work, waitMs) => withServerLock(on, server, work, waitMs)],
    ['registration polls', (on, server, work, waitMs) => new RegistrationsRepository(on).withServerLock(server, work, waitMs)],
  ];

  /** Holds `lock` on `server` until the returned release is called; resolves once it is held. */
  async function holdLock(lock: ServerLock, server: string): Promise<{ release: () => void; done: Promise<void> }> {
    let release!: () => void;
    let held!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const entered = new Promise<void>((resolve) => (held = resolve));
    const done = lock(
      pool,
      server,
      async () => {
        held();
        await released;
      },
      30_000,
    );
    await Promise.race([entered, done]);
    return { release, done };
  }

  it.each(LOCKS)('%s: two holders of one server exclude each other, a waiter gets it once the holder is done, and another server is not held up', async (_name, lock) => {
    const holder = await holdLock(lock, 'pbx-a.example.net');
    // Refused within its wait while the holder has it: the typed error, naming the server and not the work.
    const refused = lock(pool, 'pbx-a.example.net', async () => 'ran', 150);
    await expect(refused).rejects.toBeInstanceOf(ServerLockTimeoutError);
    await expect(refused).rejects.toMatchObject({ code: 'SERVER_LOCK_TIMEOUT', message: expect.stringContaining('pbx-a.example.net') });
    await expect(lock(pool, 'pbx-b.example.net', async () => 'other server', 150)).resolves.toBe('other server');
    // A waiter on a pool of its own (its sessions told apart by application_name) has tried and been refused before the holder lets go.
    const waiterPool = createPool(db.url, { application_name: 'server-lock-waiter' });
    try {
      const order: string[] = [];
      const waiting = lock(waiterPool, 'pbx-a.example.net', async () => order.push('waiter'), 10_000);
      const deadline = Date.now() + 5000;
      const waiterTried = async () =>
        (
          await pool.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'server-lock-waiter' AND query LIKE 'SELECT pg_try_advisory_lock(hashtextextended%'",
          )
        ).rows[0]!.n;
      while ((await waiterTried()) < 1) {
        if (Date.now() > deadline) throw new Error('the waiter never tried for the lock');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      order.push('holder done');
      holder.release();
      await holder.done;
      await waiting;
      expect(order).toEqual(['holder done', 'waiter']);
    } finally {
      await waiterPool.end();
    }
  });

  it("are apart from each other: a registration poll is not held up by the same server's global write, nor the write by the poll", async () => {
    const [[, globalWrites], [, polls]] = LOCKS;
    const write = await holdLock(globalWrites!, 'pbx-a.example.net');
    await expect(polls!(pool, 'pbx-a.example.net', async () => 'polled', 150)).resolves.toBe('polled');
    write.release();
    await write.done;
    const poll = await holdLock(polls!, 'pbx-a.example.net');
    await expect(globalWrites!(pool, 'pbx-a.example.net', async () => 'written', 150)).resolves.toBe('written');
    poll.release();
    await poll.done;
  });

  it('the poll lock is the key workers of the last release take, so a mixed fleet still polls one server at a time', async () => {
    const older = await pool.connect();
    try {
      await older.query(`SELECT pg_advisory_lock(hashtextextended('registrations:' || $1, 0))`, ['pbx-c.example.net']);
      await expect(new RegistrationsRepository(pool).withServerLock('pbx-c.example.net', async () => 'ran', 150)).rejects.toThrow(/another registration poll/);
      await older.query(`SELECT pg_advisory_unlock(hashtextextended('registrations:' || $1, 0))`, ['pbx-c.example.net']);
      await expect(new RegistrationsRepository(pool).withServerLock('pbx-c.example.net', async () => 'ran', 150)).resolves.toBe('ran');
    } finally {
      older.release();
    }
  });
});

describe('the period whose bill takes the pending adjustments', () => {
  it("in the hours after a month ends, the ended month's bill (not the new month's); the next month's once that bill is made", async () => {
    const serviceId = 9100;
    const billing = { timeZone: 'UTC', closeDelaySeconds: 6 * 3600, periods: 'calendar' as const };
    const credit = (amount: string) =>
      insertAdjustment(pool, { adjustmentId: `manual-${randomUUID()}`, serviceId, kind: 'manual', amount, currency: 'EUR', sourcePeriod: null, description: 'credit' });
    const close = async (period: string) => {
      const client = await pool.connect();
      try {
        return (await createBatch(client, { serviceId, clientId: 1, period }))?.batch.batchId;
      } finally {
        client.release();
      }
    };
    await credit('-0.050000');
    expect(await close('2024-12')).toBe(batchIdFor(serviceId, '2024-12'));
    await credit('-0.070000');
    // 2 a.m. on 1 February: December is the closing period (its bill made); January's close, still to come, takes the credit.
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-02-01T02:00:00Z'), billing)).toBe('2025-01');
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-02-01T07:00:00Z'), billing)).toBe('2025-01');
    expect(await close('2025-01')).toBe(batchIdFor(serviceId, '2025-01'));
    await credit('-0.070000');
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-02-01T07:00:00Z'), billing)).toBe('2025-02');
  });

  it("a bill made before its period's close (a terminated service's final bill) takes nothing more: the first period after it without a bill takes them", async () => {
    const serviceId = 9102;
    const billing = { timeZone: 'UTC', closeDelaySeconds: 6 * 3600, periods: 'calendar' as const };
    const credit = (amount: string) =>
      insertAdjustment(pool, { adjustmentId: `manual-${randomUUID()}`, serviceId, kind: 'manual', amount, currency: 'EUR', sourcePeriod: null, description: 'credit' });
    const close = async (period: string) => {
      const client = await pool.connect();
      try {
        return (await createBatch(client, { serviceId, clientId: 1, period }))?.batch.batchId;
      } finally {
        client.release();
      }
    };
    await credit('-0.050000');
    expect(await close('2025-01')).toBe(batchIdFor(serviceId, '2025-01'));
    // Terminated on 10 February: its final bill is February's, made then.
    await credit('-0.070000');
    expect(await close('2025-02')).toBe(batchIdFor(serviceId, '2025-02'));
    // A re-rating credit recorded after it: February's close finds its bill made, March's takes it.
    await credit('-0.090000');
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-02-20T10:00:00Z'), billing)).toBe('2025-03');
    // In the hours after February ends (its close delay not over) too.
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-03-01T02:00:00Z'), billing)).toBe('2025-03');
    expect(await close('2025-03')).toBe(batchIdFor(serviceId, '2025-03'));
    await credit('-0.090000');
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-02-20T10:00:00Z'), billing)).toBe('2025-04');
  });

  it("with service billing periods, the period after the made bill is the service's next cycle period", async () => {
    const serviceId = 9103;
    const billing = { timeZone: 'UTC', closeDelaySeconds: 6 * 3600, periods: 'service' as const };
    await recordCycleObservation(pool, serviceId, { whmcsCycle: 'Quarterly', nextDueDate: '2025-03-15', source: 'whmcs' }, '2024-12-20');
    const client = await pool.connect();
    try {
      await insertAdjustment(pool, {
        adjustmentId: `manual-${randomUUID()}`,
        serviceId,
        kind: 'manual',
        amount: '-0.050000',
        currency: 'EUR',
        sourcePeriod: null,
        description: 'credit',
      });
      expect((await createBatch(client, { serviceId, clientId: 1, period: '2024-09-15' }))?.batch.batchId).toBe(batchIdFor(serviceId, '2024-09-15'));
      // The final bill of the period running 15 December – 14 March, made at the termination in January.
      await insertAdjustment(pool, {
        adjustmentId: `manual-${randomUUID()}`,
        serviceId,
        kind: 'manual',
        amount: '-0.050000',
        currency: 'EUR',
        sourcePeriod: null,
        description: 'credit',
      });
      expect((await createBatch(client, { serviceId, clientId: 1, period: '2024-12-15' }))?.batch.batchId).toBe(batchIdFor(serviceId, '2024-12-15'));
    } finally {
      client.release();
    }
    await insertAdjustment(pool, {
      adjustmentId: `manual-${randomUUID()}`,
      serviceId,
      kind: 'manual',
      amount: '-0.050000',
      currency: 'EUR',
      sourcePeriod: null,
      description: 'credit',
    });
    expect(await pendingAdjustmentsPeriod(pool, serviceId, new Date('2025-01-20T10:00:00Z'), billing)).toBe('2025-03-15');
  });

  it('a close lists a service for its pending adjustments only when they come to a cent (a sub-cent remainder alone makes no bill)', async () => {
    const [subCent, cent, credit] = [9104, 9105, 9106];
    const add = (serviceId: number, amount: string) =>
      insertAdjustment(pool, { adjustmentId: `carry-${randomUUID()}`, serviceId, kind: 'manual', amount, currency: 'EUR', sourcePeriod: null, description: 'remainder' });
    await add(subCent, '0.003000');
    await add(subCent, '-0.007000');
    await add(cent, '0.003000');
    await add(cent, '0.002000');
    await add(credit, '-0.005000');
    const listed = (rows: { serviceId: number }[]) => rows.map((row) => row.serviceId).filter((id) => [subCent, cent, credit].includes(id));
    expect(listed(await servicesToBill(pool, '2025-01'))).toEqual([cent, credit]);
    expect((await servicesWithUnbilledWork(pool)).filter((id) => [subCent, cent, credit].includes(id))).toEqual([cent, credit]);
    const closing = new Map([subCent, cent, credit].map((id) => [id, '2025-01']));
    expect(listed(await servicesToBillPerService(pool, closing))).toEqual([cent, credit]);
  });

  it("a prepaid service's calls (billed on prepaid invoices) never count: with only a sub-cent remainder pending, the close makes nothing and the remainder shows on the next period", async () => {
    const serviceId = 9101;
    const billing = { timeZone: 'UTC', closeDelaySeconds: 6 * 3600, periods: 'calendar' as const };
    await insertAdjustment(pool, {
      adjustmentId: `carry-${randomUUID()}`,
      serviceId,
      kind: 'manual',
      amount: '-0.004000',
      currency: 'EUR',
      sourcePeriod: null,
      description: 'remainder',
    });
    // A January call not yet on a daily prepaid invoice: the closing prepaid invoice takes it, never the batch.
    await pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, amount, currency, status, period)
       VALUES ($1, $2, 't9101.example', '2025-01-20T10:00:00Z', 'outbound', 60, 60, 0.120000, 'EUR', 'rated', '2025-01')`,
      [randomUUID(), serviceId],
    );
    const at = new Date('2025-02-01T07:00:00Z');
    expect(await pendingAdjustmentsPeriod(pool, serviceId, at, { ...billing, callsOnPrepaidInvoices: true })).toBe('2025-02');
    // Postpaid, the call goes in January's batch, and the remainder with it.
    expect(await pendingAdjustmentsPeriod(pool, serviceId, at, billing)).toBe('2025-01');
    const client = await pool.connect();
    try {
      expect(await createBatch(client, { serviceId, clientId: 1, period: '2025-01', callsOnPrepaidInvoices: true })).toBeNull();
    } finally {
      client.release();
    }
    expect(await pendingAdjustmentsPeriod(pool, serviceId, at, { ...billing, callsOnPrepaidInvoices: true })).toBe('2025-02');
  });
});

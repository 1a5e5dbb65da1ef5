import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { Client, type Notification, type Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import {
  createPool,
  FINISH_CHANNELS,
  FINISH_LISTENER_APPLICATION_NAME,
  FinishListener,
  FINISH_PROBE_CHANNEL,
  InboxRepository,
  migrateBridgeDatabase,
  TenantWritesRepository,
  type FinishChannel,
} from '@ictvoip/store';

let db: TestDatabase;
let pool: Pool;
/** A plain LISTEN client of the test's own: what the finishing statements actually send. */
let raw: Client;
const received: Notification[] = [];
const logLines: { level: 'info' | 'warn'; fields: Record<string, unknown>; message: string }[] = [];
const log = {
  info: (fields: Record<string, unknown>, message: string) => void logLines.push({ level: 'info', fields, message }),
  warn: (fields: Record<string, unknown>, message: string) => void logLines.push({ level: 'warn', fields, message }),
};

beforeAll(async () => {
  db = await createTestDatabase('finish');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
  raw = new Client({ connectionString: db.url });
  await raw.connect();
  raw.on('notification', (message) => void received.push(message));
  await raw.query(`LISTEN ${FINISH_CHANNELS.inbox}; LISTEN ${FINISH_CHANNELS.tenantWrites}`);
});

afterAll(async () => {
  await raw.end();
  await pool.end();
  await db.drop();
});

const inbox = () => new InboxRepository(pool);

async function queuedEvent(): Promise<string> {
  const eventId = randomUUID();
  await inbox().record({ eventId, bodyHash: 'h', action: 'create', serviceId: 42, clientId: 7, payload: {}, sealedSecrets: 'v1.a.b.c', jobId: `job-${eventId}`, status: 'queued' });
  return eventId;
}

/** Resolves with the next notification the raw client gets on `channel` for `id`. */
function nextRaw(channel: FinishChannel, id: string): Promise<Notification> {
  return new Promise((resolve) => {
    const seen = (message: Notification) => {
      if (message.channel !== channel || message.payload !== id) return;
      raw.off('notification', seen);
      resolve(message);
    };
    raw.on('notification', seen);
  });
}

/** A listener whose state changes can be awaited (no sleeps: each test waits on the event itself). */
function listenerWithStates(options: { firstRetryMs?: number } = {}) {
  const states: ('listening' | 'lost')[] = [];
  const waiting: { state: 'listening' | 'lost'; count: number; resolve: () => void }[] = [];
  const listener = new FinishListener({
    connectionString: db.url,
    log,
    ...options,
    onState: (state) => {
      states.push(state);
      for (const entry of waiting.filter((w) => states.filter((s) => s === w.state).length >= w.count)) entry.resolve();
    },
  });
  /** Resolves once the listener has been in `state` `count` times in all. */
  const reached = (state: 'listening' | 'lost', count = 1) =>
    new Promise<void>((resolve) => {
      if (states.filter((s) => s === state).length >= count) return resolve();
      waiting.push({ state, count, resolve });
    });
  return { listener, states, reached };
}

function wakeCounter(listener: FinishListener, channel: FinishChannel, id: string) {
  const wakes: number[] = [];
  let next: (() => void) | null = null;
  const unsubscribe = listener.subscribe(channel, id, () => {
    wakes.push(Date.now());
    next?.();
  });
  const woken = () => new Promise<void>((resolve) => (next = resolve));
  return { wakes, unsubscribe, woken };
}

async function terminateListener(): Promise<number> {
  const { rowCount } = await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [
    FINISH_LISTENER_APPLICATION_NAME,
  ]);
  return rowCount ?? 0;
}

describe('the finishing statements notify', () => {
  it('markSucceeded and markFailed send the event id alone, and only when they finish a row', async () => {
    const succeeded = await queuedEvent();
    const gotSucceeded = nextRaw(FINISH_CHANNELS.inbox, succeeded);
    expect(await inbox().markSucceeded(succeeded, { message: 'done', serviceProperties: { password: 'not-in-a-notification' } })).toBe(true);
    expect((await gotSucceeded).payload).toBe(succeeded);
    const failed = await queuedEvent();
    const gotFailed = nextRaw(FINISH_CHANNELS.inbox, failed);
    await inbox().markFailed(failed, 'refused', false);
    expect((await gotFailed).payload).toBe(failed);
    // Already finished: the statement changes nothing and says nothing.
    const before = received.length;
    expect(await inbox().markSucceeded(succeeded, { message: 'again' })).toBe(false);
    await inbox().markFailed(failed, 'again', true);
    const marker = await queuedEvent();
    const gotMarker = nextRaw(FINISH_CHANNELS.inbox, marker);
    await inbox().markSucceeded(marker, {});
    await gotMarker;
    expect(received.slice(before).map((message) => message.payload)).toEqual([marker]);
  });

  it('is delivered on commit, never from a transaction rolled back', async () => {
    const rolledBack = await queuedEvent();
    const committed = await queuedEvent();
    const before = received.length;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      expect(await new InboxRepository(client).markSucceeded(rolledBack, {})).toBe(true);
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await new InboxRepository(client).markSucceeded(committed, {});
      const got = nextRaw(FINISH_CHANNELS.inbox, committed);
      // A notification committed meanwhile by another connection arrives; the open transaction's does not yet.
      const marker = `marker-${randomUUID()}`;
      const gotMarker = nextRaw(FINISH_CHANNELS.inbox, marker);
      await pool.query('SELECT pg_notify($1, $2)', [FINISH_CHANNELS.inbox, marker]);
      await gotMarker;
      expect(received.slice(before).map((message) => message.payload)).toEqual([marker]);
      await client.query('COMMIT');
      await got;
      expect(received.slice(before).map((message) => message.payload)).toEqual([marker, committed]);
    } finally {
      client.release();
    }
    expect((await inbox().get(rolledBack))?.status).toBe('queued');
  });

  it('TenantWritesRepository.finish sends the write id alone and still returns the row', async () => {
    const writes = new TenantWritesRepository(pool);
    const writeId = `w-${randomUUID()}`;
    await writes.record({ writeId, serviceId: 42, resource: 'extension', operation: 'create', target: '101', input: {}, sealedSecrets: 'v1.secret', requestId: 'r1' });
    const got = nextRaw(FINISH_CHANNELS.tenantWrites, writeId);
    const finished = await writes.finish(writeId, { status: 'succeeded', httpStatus: 201, result: { outcome: 'created' } });
    expect(finished).toMatchObject({ writeId, status: 'succeeded', httpStatus: 201, result: { outcome: 'created' }, sealedSecrets: 'v1.secret' });
    expect((await got).payload).toBe(writeId);
    expect(await writes.finish(writeId, { status: 'failed', httpStatus: 503, error: { code: 'X', message: 'late' } })).toBeNull();
  });
});

describe('FinishListener', () => {
  it('wakes every waiter of the id finished, and no waiter of another id', async () => {
    const { listener, reached } = listenerWithStates();
    listener.start();
    try {
      await reached('listening');
      const [mine, other] = [await queuedEvent(), await queuedEvent()];
      const first = wakeCounter(listener, FINISH_CHANNELS.inbox, mine);
      const second = wakeCounter(listener, FINISH_CHANNELS.inbox, mine);
      const stranger = wakeCounter(listener, FINISH_CHANNELS.inbox, other);
      // The same id on the other channel is another row.
      const write = wakeCounter(listener, FINISH_CHANNELS.tenantWrites, mine);
      expect(listener.waiting).toBe(4);
      const woken = Promise.all([first.woken(), second.woken()]);
      await inbox().markSucceeded(mine, {});
      await woken;
      // The listener got the notification and fanned it out: had the other waiters been woken, it would have been in the same turn.
      expect([first.wakes.length, second.wakes.length, stranger.wakes.length, write.wakes.length]).toEqual([1, 1, 0, 0]);
      // Its own finish, later, wakes the other waiter alone.
      const strangerWoken = stranger.woken();
      await inbox().markFailed(other, 'refused', false);
      await strangerWoken;
      expect([first.wakes.length, second.wakes.length, stranger.wakes.length, write.wakes.length]).toEqual([1, 1, 1, 0]);
      for (const waiter of [first, second, stranger, write]) waiter.unsubscribe();
      expect(listener.waiting).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it('survives its connection being terminated: wakes every waiter, warns, reconnects with backoff and hears finishes again', async () => {
    const { listener, reached } = listenerWithStates({ firstRetryMs: 50 });
    listener.start();
    try {
      await reached('listening');
      const eventId = await queuedEvent();
      const waiter = wakeCounter(listener, FINISH_CHANNELS.inbox, eventId);
      const wokenByLoss = waiter.woken();
      expect(await terminateListener()).toBe(1);
      await reached('lost');
      // Woken on the loss so a waiter sleeping on the slow fallback switches to the fast poll.
      await wokenByLoss;
      expect(listener.listening).toBe(false);
      const wokenByReconnect = waiter.woken();
      await reached('listening', 2);
      // Notifications sent while it was away are gone: the reconnect wakes every waiter once more.
      await wokenByReconnect;
      expect(listener.listening).toBe(true);
      const wokenByFinish = waiter.woken();
      await inbox().markSucceeded(eventId, {});
      await wokenByFinish;
      expect(waiter.wakes).toHaveLength(3);
      waiter.unsubscribe();
      const warnings = logLines.filter((line) => line.level === 'warn').map((line) => line.message);
      expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/lost its connection/), expect.stringMatching(/reconnected/)]));
      expect(JSON.stringify(logLines)).not.toContain(db.url);
    } finally {
      await listener.close();
    }
  });

  it('keeps retrying a database it cannot reach without an unhandled error, and close() stops it', async () => {
    const lines: string[] = [];
    let warned: () => void = () => undefined;
    const firstWarning = new Promise<void>((resolve) => (warned = resolve));
    const quiet = { info: () => undefined, warn: (fields: Record<string, unknown>, message: string) => (lines.push(JSON.stringify({ fields, message })), warned()) };
    const unreachable = new FinishListener({ connectionString: 'postgres://nobody:secret-password@127.0.0.1:1/none', log: quiet, firstRetryMs: 10, maxRetryMs: 20 });
    unreachable.start();
    const unsubscribe = unreachable.subscribe(FINISH_CHANNELS.inbox, 'x', () => undefined);
    await firstWarning;
    expect(unreachable.listening).toBe(false);
    await unreachable.close();
    unsubscribe();
    expect(lines.join('\n')).toMatch(/cannot listen/);
    expect(lines.join('\n')).not.toContain('secret-password');
  });

  it('through a connection that drops notifications (as a transaction-mode pooler does) it says so and never claims to listen: waiters keep the fast poll', async () => {
    const proxy = await notificationDroppingProxy(db.url);
    const lines: string[] = [];
    let warned: () => void = () => undefined;
    const firstWarning = new Promise<void>((resolve) => (warned = resolve));
    const deafLog = {
      info: (_fields: Record<string, unknown>, message: string) => void lines.push(message),
      warn: (fields: Record<string, unknown>, message: string) => (lines.push(`${message} ${JSON.stringify(fields)}`), warned()),
    };
    const listener = new FinishListener({ connectionString: proxy.url, log: deafLog, probeTimeoutMs: 300, firstRetryMs: 60_000 });
    listener.start();
    try {
      await firstWarning;
      // The fault hit: its own probe came back from PostgreSQL and the proxy dropped it.
      expect(proxy.dropped).toContain(FINISH_PROBE_CHANNEL);
      expect(listener.listening).toBe(false);
      expect(lines.join('\n')).toMatch(/cannot listen.*transaction-mode pooler/);
      expect(lines.join('\n')).not.toMatch(/listener listening/);
    } finally {
      await listener.close();
      await proxy.close();
    }
  });
});

/**
 * A TCP stand-in between a client and PostgreSQL that forwards every protocol message except the
 * server's NotificationResponse ('A'): what a client behind PgBouncer in transaction mode gets after LISTEN.
 * `dropped` holds the channel names of the notifications it swallowed.
 */
async function notificationDroppingProxy(databaseUrl: string): Promise<{ url: string; dropped: string[]; close(): Promise<void> }> {
  const target = new URL(databaseUrl);
  const dropped: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((downstream) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(downstream).add(upstream);
    downstream.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const size = 1 + pending.readUInt32BE(1);
        if (pending.length < size) break;
        const message = pending.subarray(0, size);
        pending = pending.subarray(size);
        // NotificationResponse: 'A', length, sender pid (int32), channel (cstring), payload (cstring).
        if (message[0] === 0x41) dropped.push(message.subarray(9, message.indexOf(0, 9)).toString());
        else downstream.write(message);
      }
    });
    const closeBoth = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('close', closeBoth).on('error', closeBoth);
    upstream.on('close', closeBoth).on('error', closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as import('node:net').AddressInfo;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * PostgreSQL notifications sent by the statements that finish a webhook event or a REST write, so
 * the API process waiting on it (`?wait=`, a /v1 write) reads the row at once instead of on its next
 * poll. Sent by pg_notify inside the finishing statement: delivered only when that commits, and
 * never when it rolls back. The payload is the row's id alone (never a body, result or secret); the
 * row stays the truth, a notification only says "read it again now".
 */
import { Client } from 'pg';

export const FINISH_CHANNELS = {
  /** Payload: the event id of a webhook_inbox row that became succeeded or failed. */
  inbox: 'ictvoip_inbox_finished',
  /** Payload: the write id of a tenant_writes row that became succeeded, rejected or failed. */
  tenantWrites: 'ictvoip_tenant_write_finished',
} as const;

export type FinishChannel = (typeof FINISH_CHANNELS)[keyof typeof FINISH_CHANNELS];

/** What a waiter needs of the listener: a wake-up per id, and whether notifications arrive at all. */
export interface FinishWakeups {
  /** Calls `wake` on every notification of `id` on `channel` until the returned function is called. */
  subscribe(channel: FinishChannel, id: string, wake: () => void): () => void;
  /** True while the LISTEN connection is up: a waiter may then poll slowly, as a fallback only. */
  readonly listening: boolean;
}

export interface FinishListenerLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface FinishListenerOptions {
  connectionString: string;
  log: FinishListenerLog;
  /** 'listening' on every (re)connect, 'lost' when a listening connection drops (for a metric). */
  onState?: (state: 'listening' | 'lost') => void;
  /** The first pause before a reconnect; it doubles up to `maxRetryMs`. */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

/** How the LISTEN connection shows in pg_stat_activity (and how a test finds its backend). */
export const FINISH_LISTENER_APPLICATION_NAME = 'ictvoip-finish-listener';

/** The LISTEN connection ended without an error (the server closed it). */
export class FinishListenerEndedError extends Error {
  readonly code = 'FINISH_LISTENER_ENDED';
  constructor() {
    super('the LISTEN connection ended');
  }
}

const keyOf = (channel: string, id: string) => `${channel}:${id}`;

/**
 * ONE dedicated connection per process that LISTENs on FINISH_CHANNELS and fans each notification
 * out to the waiters of its id. Not from the pool: it is held for the life of the process. When it
 * drops (a PostgreSQL restart) every waiter is woken and polls as before; it reconnects with backoff,
 * LISTENs again and wakes every waiter once more, as notifications sent in between are lost.
 */
export class FinishListener implements FinishWakeups {
  private client: Client | null = null;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private isListening = false;
  /** Since when it has not been listening after having been (null: listening, or never yet). */
  private lostSince: number | null = null;

  constructor(private readonly options: FinishListenerOptions) {
    this.firstRetryMs = options.firstRetryMs ?? 100;
    this.maxRetryMs = options.maxRetryMs ?? 5000;
    this.retryMs = this.firstRetryMs;
  }

  get listening(): boolean {
    return this.isListening;
  }

  /** Waiters subscribed now (a request gone must leave none behind). */
  get waiting(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }

  /** Connects in the background: until it listens, waiters poll. */
  start(): void {
    this.connect();
  }

  subscribe(channel: FinishChannel, id: string, wake: () => void): () => void {
    const key = keyOf(channel, id);
    const set = this.waiters.get(key) ?? new Set();
    set.add(wake);
    this.waiters.set(key, set);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
    };
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.isListening = false;
    // Requests still waiting (a graceful shutdown lets them finish) go on by polling.
    this.wakeAll();
    await client?.end().catch(() => undefined);
  }

  private connect(): void {
    if (this.stopped) return;
    const client = new Client({
      connectionString: this.options.connectionString,
      application_name: FINISH_LISTENER_APPLICATION_NAME,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    this.client = client;
    client.on('notification', (message) => this.deliver(message.channel, message.payload ?? ''));
    // Without an 'error' listener a dropped connection (57P01 on a restart) would crash the process.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new FinishListenerEndedError()));
    void this.listen(client);
  }

  private async listen(client: Client): Promise<void> {
    try {
      await client.connect();
      await client.query(
        Object.values(FINISH_CHANNELS)
          .map((channel) => `LISTEN ${channel}`)
          .join('; '),
      );
    } catch (error) {
      return this.lost(client, error);
    }
    // Lost, superseded or closed while connecting: lost() or close() has ended it already.
    if (this.client !== client) return;
    this.isListening = true;
    this.retryMs = this.firstRetryMs;
    if (this.lostSince === null) this.options.log.info({}, 'finish listener listening: waiting answers come by notification');
    else this.options.log.warn({ downMs: Date.now() - this.lostSince }, 'finish listener reconnected: waiting answers come by notification again');
    this.lostSince = null;
    this.options.onState?.('listening');
    // A row finished while nobody listened sent its notification to no one: every waiter reads once now.
    this.wakeAll();
  }

  private lost(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = null;
    const wasListening = this.isListening;
    this.isListening = false;
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    const err = error instanceof Error ? error.message : String(error);
    if (wasListening) {
      // Only the message: never the connection string (it may carry the password).
      this.options.log.warn({ err }, 'finish listener lost its connection: waiting answers poll until it reconnects');
      this.lostSince = Date.now();
      this.options.onState?.('lost');
      // Waiters sleeping on the slow fallback switch to the fast poll now.
      this.wakeAll();
    } else if (this.retryMs === this.firstRetryMs) {
      // The first failed attempt of a series is worth a line; the retries are not.
      this.options.log.warn({ err, retryMs: this.retryMs }, 'finish listener cannot connect: waiting answers poll until it does');
      this.lostSince ??= Date.now();
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, this.maxRetryMs);
  }

  private deliver(channel: string, id: string): void {
    const set = this.waiters.get(keyOf(channel, id));
    if (set) for (const wake of [...set]) wake();
  }

  private wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }
}

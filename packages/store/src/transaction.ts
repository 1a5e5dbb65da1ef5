/**
 * The bridge database's connection handling in one place: the pool, transactions, the API's LISTEN
 * connection (FinishListener), and the advisory locks that serialise work of one service (or client)
 * across workers.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Notification, type PoolClient, Pool, type PoolConfig } from 'pg';
import { AuditRepository, FINISH_CHANNELS, InboxRepository, type FinishChannel } from './inbox-repository';
import { ServicesRepository } from './services-repository';

/** BEGIN … COMMIT on `client`, ROLLBACK on any error (the error is rethrown). */
export async function inTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

export interface TransactionRepositories {
  services: ServicesRepository;
  inbox: InboxRepository;
  audit: AuditRepository;
}

/** Runs `work` in one transaction of the bridge database: its writes (an event's state, its audit line, a backlog) land together or not at all. */
export async function inBridgeTransaction<T>(deps: { pool: Pool }, work: (repos: TransactionRepositories) => Promise<T>): Promise<T> {
  const client = await deps.pool.connect();
  try {
    return await inTransaction(client, () => work({ services: new ServicesRepository(client), inbox: new InboxRepository(client), audit: new AuditRepository(client) }));
  } finally {
    client.release();
  }
}

/** Which bridge process opens a pool (how an operator tells its connections apart in pg_stat_activity). */
export type BridgeProcessRole = 'api' | 'worker' | 'cli';

// PostgreSQL keeps NAMEDATALEN - 1 bytes of application_name and cuts the rest silently.
const APPLICATION_NAME_MAX_BYTES = 63;

/**
 * The application_name of a bridge pool: `ictvoip-<role>`, and for a FusionPBX server's pool
 * `ictvoip-<role> fs:<server>` (the operator's label for the server, never its URL), cut to what
 * PostgreSQL keeps. Pass it as `fallback_application_name`: an application_name in the URL (or
 * PGAPPNAME) still wins, as the operator chose it.
 */
export function bridgeApplicationName(role: BridgeProcessRole, fusionServer?: string): string {
  const name = fusionServer === undefined ? `ictvoip-${role}` : `ictvoip-${role} fs:${fusionServer}`;
  // Server names are ASCII (FUSION_SERVER_NAME): characters are bytes here.
  return name.slice(0, APPLICATION_NAME_MAX_BYTES);
}

/** A pg pool whose idle-client errors (server restart, network cut) are reported, not thrown. */
export function createPool(connectionString: string, options: PoolConfig = {}, onError?: (error: Error) => void): Pool {
  const pool = new Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000, ...options });
  pool.on('error', (error) => onError?.(error));
  // pg-pool listens for errors on idle clients only: a checked-out client (a held advisory lock, an
  // open transaction) that the server drops (restart: 57P01) would emit an unhandled 'error' and
  // kill the process. With this listener the next query on it fails instead (a retryable
  // "database unavailable"), and the pool discards it on release because it is no longer queryable.
  pool.on('connect', (client) => client.on('error', (error) => onError?.(error)));
  return pool;
}

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
  /** How long the connection's notification to itself may take before it counts as deaf (FINISH_PROBE_CHANNEL). */
  probeTimeoutMs?: number;
}

/**
 * The channel of the listener's notification to itself after LISTEN: through a transaction-mode pooler
 * (PgBouncer) LISTEN is accepted but hears nothing, and waiters trusting it would only get the slow poll.
 */
export const FINISH_PROBE_CHANNEL = 'ictvoip_finish_probe';

/** How the LISTEN connection shows in pg_stat_activity (and how a test finds its backend). */
export const FINISH_LISTENER_APPLICATION_NAME = 'ictvoip-finish-listener';

/** LISTEN was accepted but the connection's own notification never came back: it would hear no finish either. */
export class FinishListenerDeafError extends Error {
  readonly code = 'FINISH_LISTENER_DEAF';
  constructor(timeoutMs: number) {
    super(`the LISTEN connection heard not even its own notification within ${timeoutMs} ms (a transaction-mode pooler such as PgBouncer?)`);
  }
}

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
  private readonly probeTimeoutMs: number;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private isListening = false;
  /** Since when it has not been listening after having been (null: listening, or never yet). */
  private lostSince: number | null = null;

  constructor(private readonly options: FinishListenerOptions) {
    this.firstRetryMs = options.firstRetryMs ?? 100;
    this.maxRetryMs = options.maxRetryMs ?? 5000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 1000;
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
      await client.query([...Object.values(FINISH_CHANNELS), FINISH_PROBE_CHANNEL].map((channel) => `LISTEN ${channel}`).join('; '));
      if (!(await this.hearsItself(client))) return this.lost(client, new FinishListenerDeafError(this.probeTimeoutMs));
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

  /** Notifies itself on FINISH_PROBE_CHANNEL: true once that comes back, false after probeTimeoutMs. */
  private hearsItself(client: Client): Promise<boolean> {
    const token = randomUUID();
    return new Promise<boolean>((resolve) => {
      const heard = (message: Notification) => {
        if (message.channel === FINISH_PROBE_CHANNEL && message.payload === token) settle(true);
      };
      const timer = setTimeout(() => settle(false), this.probeTimeoutMs);
      function settle(value: boolean) {
        clearTimeout(timer);
        client.off('notification', heard);
        resolve(value);
      }
      client.on('notification', heard);
      // A failed query means a lost connection, which lost() handles through the client's 'error'/'end'.
      client.query('SELECT pg_notify($1, $2)', [FINISH_PROBE_CHANNEL, token]).catch(() => settle(false));
    });
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
      this.options.log.warn({ err, retryMs: this.retryMs }, 'finish listener cannot listen: waiting answers poll until it does');
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

/** True when an error means "the database is unreachable right now" (answer 503, retry later). */
export function isDatabaseUnavailable(error: unknown): boolean {
  // Not `instanceof Error`: a socket error made in another realm (a vm context, a test sandbox) is one too.
  if (typeof error !== 'object' || error === null) return false;
  const code = String((error as { code?: unknown }).code ?? '');
  const message = String((error as { message?: unknown }).message ?? '');
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions,
  // 53300 too many connections (the server is full: retry later, a 503, not a 500).
  if (/^(57P0[123]|08|53300$)/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

// Namespaces of the two-int advisory locks (namespace, service id). Provisioning and billing work of
// one service serialise among themselves without waiting for each other.
const SERVICE_LOCK_NAMESPACE = 71_203;
const BILLING_LOCK_NAMESPACE = 71_204;
const FREESWITCH_LOCK_NAMESPACE = 71_205;
// Keyed by the WHMCS client: credit is the client's, shared by all its services.
const CREDIT_LOCK_NAMESPACE = 71_206;
// Keyed by the service: the credit mails and WHMCS/FusionPBX action of one service, never waited for.
const CREDIT_WORK_LOCK_NAMESPACE = 71_207;
// 71_208 keyed a FusionPBX server's global writes by a hash of its name: now the text key below.

/**
 * The key of a session advisory lock: two 32-bit integers (a namespace above and an id), or a text
 * PostgreSQL hashes to one 64-bit key (`hashtextextended(text, 0)`, as the FusionPBX package keys its
 * transaction locks). PostgreSQL keeps the two forms apart: a text key never meets an (namespace, id).
 */
export type AdvisoryLockKey = { namespace: number; id: number } | { text: string };

/** The two server-wide locks, apart on purpose: a registration poll never waits for a global gateway write (and its event socket). */
const globalWritesKey = (server: string): AdvisoryLockKey => ({ text: `fusionpbx-global:${server}` });
// The text older workers hash in SQL ('registrations:' || server): the same key, so they still exclude each other.
const registrationsPollKey = (server: string): AdvisoryLockKey => ({ text: `registrations:${server}` });

function lockCall(fn: 'pg_try_advisory_lock' | 'pg_advisory_unlock', key: AdvisoryLockKey): { text: string; values: unknown[] } {
  if ('text' in key) return { text: `SELECT ${fn}(hashtextextended($1, 0)) AS ok`, values: [key.text] };
  return { text: `SELECT ${fn}($1, $2) AS ok`, values: [key.namespace, key.id] };
}

/**
 * A lock of one service's (or client's) work not acquired in time. `id` is what the lock is keyed by
 * and `waitedMs` how long the caller waited, so an answer can say what was busy without parsing the
 * message. The subclasses are the other locks of the same kind: their own code, so nobody reads a
 * busy billing or credit run as a tenant being provisioned.
 */
export class LockTimeoutError extends Error {
  readonly code: string = 'SERVICE_LOCK_TIMEOUT';
  constructor(
    readonly id: number,
    readonly waitedMs: number,
    what = 'service',
  ) {
    super(`${what} ${id} is busy (lock not acquired within ${waitedMs} ms)`);
    this.name = 'LockTimeoutError';
  }
}

/** What holds a FusionPBX server's lock: its global gateway writes, or a registration poll. */
export type ServerLockHolder = 'global-write' | 'registration-poll';

const SERVER_LOCK_HOLDERS: Record<ServerLockHolder, string> = { 'global-write': 'another global gateway write', 'registration-poll': 'another registration poll' };

export class ServerLockTimeoutError extends Error {
  readonly code = 'SERVER_LOCK_TIMEOUT';
  constructor(
    readonly server: string,
    readonly waitedMs: number,
    readonly holder: ServerLockHolder = 'global-write',
  ) {
    super(`FusionPBX server ${server} is busy with ${SERVER_LOCK_HOLDERS[holder]} (lock not acquired within ${waitedMs} ms)`);
    this.name = 'ServerLockTimeoutError';
  }
}

export class BillingLockTimeoutError extends LockTimeoutError {
  override readonly code = 'BILLING_LOCK_TIMEOUT';
  constructor(serviceId: number, waitedMs: number) {
    super(serviceId, waitedMs, 'billing work for service');
    this.name = 'BillingLockTimeoutError';
  }
}

/** The FreeSWITCH apply of one service's backlog (withFreeswitchLock). */
export class FreeswitchLockTimeoutError extends LockTimeoutError {
  override readonly code = 'FREESWITCH_LOCK_TIMEOUT';
  constructor(serviceId: number, waitedMs: number) {
    super(serviceId, waitedMs, 'FreeSWITCH apply for service');
    this.name = 'FreeswitchLockTimeoutError';
  }
}

/** The credit check of one WHMCS client (withCreditLock): keyed by the client, not a service. */
export class CreditLockTimeoutError extends LockTimeoutError {
  override readonly code = 'CREDIT_LOCK_TIMEOUT';
  constructor(clientId: number, waitedMs: number) {
    super(clientId, waitedMs, 'credit check of client');
    this.name = 'CreditLockTimeoutError';
  }
}

/**
 * The longest pause between two tries of a lock waiter (holdingAdvisoryLock sleeps 25 ms up to this).
 * A holder that releases a lock and wants it back lets a waiter in only by staying away at least this long.
 */
export const ADVISORY_LOCK_RETRY_MAX_MS = 75;

/**
 * Runs `work` when the lock is free now or within `waitMs` (tried every 25–75 ms, so a waiter never
 * blocks a connection inside PostgreSQL past its deadline); `{ ran: false }` when it never was. The
 * lock is held by a dedicated connection: a crashed holder's connection drops and PostgreSQL releases
 * it. When the unlock fails the connection is closed, not returned, so the lock cannot outlive the work.
 */
async function holdingAdvisoryLock<T>(
  pool: Pool,
  key: AdvisoryLockKey,
  waitMs: number,
  work: (client: PoolClient) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  const client = await pool.connect();
  let locked = false;
  let broken = false;
  try {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>(lockCall('pg_try_advisory_lock', key));
      locked = rows[0]?.ok === true;
      if (locked || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 25 + Math.floor(Math.random() * (ADVISORY_LOCK_RETRY_MAX_MS - 25))));
    }
    if (!locked) return { ran: false };
    return { ran: true, value: await work(client) };
  } finally {
    if (locked) {
      await client.query(lockCall('pg_advisory_unlock', key)).catch(() => {
        broken = true;
      });
    }
    client.release(broken);
  }
}

/**
 * Runs `work` holding a session advisory lock, so any number of workers on any machines serialise on
 * `key`; throws `timeoutError()` when the lock was not acquired within `waitMs`.
 */
export async function withAdvisoryLock<T>(
  pool: Pool,
  key: AdvisoryLockKey,
  work: (client: PoolClient) => Promise<T>,
  options: { waitMs: number; timeoutError: () => Error },
): Promise<T> {
  const held = await holdingAdvisoryLock(pool, key, options.waitMs, work);
  if (!held.ran) throw options.timeoutError();
  return held.value;
}

/** Provisioning of one service: webhook events, REST writes. */
export function withServiceLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, { namespace: SERVICE_LOCK_NAMESPACE, id: serviceId }, work, { waitMs, timeoutError: () => new LockTimeoutError(serviceId, waitMs) });
}

/** Writes of a FusionPBX server's global gateways: the server-wide counterpart of the service lock. */
export function withServerLock<T>(pool: Pool, server: string, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, globalWritesKey(server), work, { waitMs, timeoutError: () => new ServerLockTimeoutError(server, waitMs) });
}

/**
 * A registration poll's check and write of the server's rows (registrations-repository.ts): pollers
 * of one server, one at a time. Bounded like the others: a poll that cannot have it fails, and a
 * failed poll marks nothing lost.
 */
export function withRegistrationsPollLock<T>(pool: Pool, server: string, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, registrationsPollKey(server), work, { waitMs, timeoutError: () => new ServerLockTimeoutError(server, waitMs, 'registration-poll') });
}

/** CDR sync, re-rating and billing push of one service (included minutes, cursor, batch). */
export function withBillingLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, { namespace: BILLING_LOCK_NAMESPACE, id: serviceId }, work, { waitMs, timeoutError: () => new BillingLockTimeoutError(serviceId, waitMs) });
}

/**
 * The FreeSWITCH apply of one service's backlog. Apart from the service lock on purpose: an event
 * socket that does not answer must never hold up the database side of the service's next events.
 */
export function withFreeswitchLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, { namespace: FREESWITCH_LOCK_NAMESPACE, id: serviceId }, work, {
    waitMs,
    timeoutError: () => new FreeswitchLockTimeoutError(serviceId, waitMs),
  });
}

/** Credit control of one WHMCS client (its balance is shared by its services): one check at a time. */
export function withCreditLock<T>(pool: Pool, clientId: number, work: (client: PoolClient) => Promise<T>, waitMs = 30_000): Promise<T> {
  return withAdvisoryLock(pool, { namespace: CREDIT_LOCK_NAMESPACE, id: clientId }, work, {
    waitMs,
    timeoutError: () => new CreditLockTimeoutError(clientId, waitMs),
  });
}

/**
 * The WHMCS side of one service's credit control (its mails, ModuleSuspend/ModuleUnsuspend, the
 * outbound restriction), apart from the client's credit lock so a slow WHMCS never holds up another
 * check. Never waited for: when another worker holds it, that worker does the service's open work
 * and this call returns `{ ran: false }` at once. A crashed holder's connection drops and frees it.
 */
export function tryCreditWorkLock<T>(pool: Pool, serviceId: number, work: (client: PoolClient) => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  return holdingAdvisoryLock(pool, { namespace: CREDIT_WORK_LOCK_NAMESPACE, id: serviceId }, 0, work);
}

/** Failures of the connection itself, which the variable's value (host, port, name, credentials) decides. */
const CONNECTION_FAILURES: Record<string, string> = {
  ECONNREFUSED: '',
  ENOTFOUND: '',
  EAI_AGAIN: '',
  ETIMEDOUT: '',
  EHOSTUNREACH: '',
  '3D000': ' (create it, e.g. createdb, or correct the name)',
  '28P01': '',
  '28000': '',
};
/** No such database and refused credentials are fixed in the setting; an unreachable server may come back. */
const SETTING_CODES = new Set(['3D000', '28P01', '28000']);

/**
 * A database connection that failed, naming the variable that points at it (never its value, which
 * holds the password). `settingFault` makes the service exit EX_CONFIG instead of being restarted.
 */
export class DatabaseConnectionError extends Error {
  readonly code = 'DATABASE_UNREACHABLE';
  readonly settingFault: boolean;
  constructor(
    readonly variable: string,
    cause: Error & { code?: string },
  ) {
    super(`${variable}: ${cause.message}${CONNECTION_FAILURES[cause.code ?? ''] ?? ''}`, { cause });
    this.name = 'DatabaseConnectionError';
    this.settingFault = SETTING_CODES.has(cause.code ?? '');
  }
}

/** `work`'s connection failure, if any, as a DatabaseConnectionError naming `variable`; anything else unchanged. */
export async function namingDatabaseVariable<T>(variable: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    // Not `instanceof Error`: a socket error is made by Node's own realm (another Error under jest's vm).
    const failure = error as (Error & { code?: unknown }) | null;
    if (typeof failure?.code === 'string' && typeof failure.message === 'string' && failure.code in CONNECTION_FAILURES) {
      throw new DatabaseConnectionError(variable, failure as Error & { code: string });
    }
    throw error;
  }
}

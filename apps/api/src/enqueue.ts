/**
 * The API's side of the queue: group commit (Batcher), a bounded add to Redis (withEnqueueTimeout,
 * redisReady), and waiting on the worker's outcome in PostgreSQL (waitForRow).
 */
import { withDeadline } from '@ictvoip/config';
import type { Response } from 'express';
import type { FinishChannel, FinishWakeups } from '@ictvoip/store';
import type { ApiDeps } from './deps';

/** One item's outcome inside a batch: a batch may succeed for some items and fail for others. */
export type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Group commit without a timer: a call made while the bridge is idle runs on the next tick, alone;
 * calls that arrive while `parallel` batches are in flight wait and go together in the next one.
 * An idle bridge adds no latency; a busy one writes many webhooks per statement and round trip.
 */
export class Batcher<I, O> {
  private readonly waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<Settled<O>[]>,
    private readonly options: { maxBatch: number; parallel: number } = { maxBatch: 64, parallel: 2 },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.parallel || this.waiting.length === 0) return;
    this.scheduled = true;
    // setImmediate: requests parsed in the same turn of the event loop join one batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.runNext();
    });
  }

  private async runNext(): Promise<void> {
    if (this.inFlight >= this.options.parallel || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, this.options.maxBatch);
    this.inFlight += 1;
    try {
      const outcomes = await this.run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const outcome = outcomes[index];
        if (!outcome) entry.reject(new Error('batch returned no outcome for an item'));
        else if (outcome.ok) entry.resolve(outcome.value);
        else entry.reject(outcome.error);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.inFlight -= 1;
      this.schedule();
    }
  }
}

/** Every item settled with the same error (a batch-wide failure such as Redis being down). */
export function allFailed<O>(count: number, error: unknown): Settled<O>[] {
  return Array.from({ length: count }, () => ({ ok: false as const, error }));
}

/** BullMQ's add waits for Redis; the API answers within a bound instead of hanging on a stalled connection. */
export class EnqueueTimeoutError extends Error {
  readonly code = 'ENQUEUE_TIMEOUT';
  constructor() {
    super('Redis did not accept the job in time (connection)');
  }
}

export const ENQUEUE_TIMEOUT_MS = 3000;

/** How long an add waits for a Redis reconnect in progress before the API says Redis is down. */
export const REDIS_READY_WAIT_MS = 1000;

export function withEnqueueTimeout<T>(work: Promise<T>, ms = ENQUEUE_TIMEOUT_MS): Promise<T> {
  return withDeadline(work, ms, () => new EnqueueTimeoutError());
}

/** True when the producer connection is (or becomes, within `ms`) ready; a reconnect in progress gets a moment. */
export function redisReady(redis: ApiDeps['redis'], ms = REDIS_READY_WAIT_MS): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  if (redis.status === 'end' || redis.status === 'close') return Promise.resolve(false);
  return new Promise((resolve) => {
    const onReady = () => finish(true);
    const timer = setTimeout(() => finish(false), ms);
    function finish(ok: boolean) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    }
    redis.once('ready', onReady);
  });
}

/** A waiter's notification: the finishing statement of row `id` notifies `channel` (FINISH_CHANNELS). */
export interface RowNotification {
  wakeups: FinishWakeups;
  channel: FinishChannel;
  id: string;
  /** The pause between two reads while the listener listens (API_WAIT_FALLBACK_POLL_MS). */
  fallbackPollMs: number;
}

/** The notification of row `id` on `channel`, through this process's listener. */
export function finishNotification(deps: Pick<ApiDeps, 'finishes' | 'config'>, channel: FinishChannel, id: string): RowNotification {
  return { wakeups: deps.finishes, channel, id, fallbackPollMs: deps.config.api.waitFallbackPollMs };
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** The first pause of the poll without notifications; it doubles up to 100 ms. Default 20 ms. */
  firstDelayMs?: number;
  notification?: RowNotification;
}

/** A wake-up that may come while nobody sleeps (during a read): the next sleep then returns at once. */
class WakeLatch {
  private fired = false;
  private release: (() => void) | null = null;

  fire(): void {
    this.fired = true;
    this.release?.();
  }

  sleep(ms: number): Promise<void> {
    if (this.fired) {
      this.fired = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.release = null;
        this.fired = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.release = done;
    });
  }
}

/**
 * Reads `read()` until `done` says so, `waitMs` passes or `signal` aborts. Whoever waits on the answer
 * (WHMCS, a REST client) is waiting now: a notification of the row's finishing commit wakes it at
 * once, and it reads again (the row is the truth; works across API processes, each listening). The
 * poll stays as the fallback: slow (`fallbackPollMs`) while the listener listens, and without it
 * (no notification given, or the LISTEN connection down) pauses doubling from `firstDelayMs` to 100 ms.
 */
export async function waitForRow<T>(read: () => Promise<T | null>, done: (value: T) => boolean, waitMs: number, options: WaitOptions = {}): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  const { signal, notification } = options;
  const latch = new WakeLatch();
  const wake = () => latch.fire();
  // Subscribed before the first read: a finish committed between that read and a later subscribe would be missed.
  const unsubscribe = notification?.wakeups.subscribe(notification.channel, notification.id, wake);
  signal?.addEventListener('abort', wake);
  try {
    let delay = options.firstDelayMs ?? 20;
    let latest = await read();
    while (latest && !done(latest) && Date.now() < deadline && !signal?.aborted) {
      const pause = notification?.wakeups.listening ? notification.fallbackPollMs : delay;
      await latch.sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
      delay = Math.min(delay * 2, 100);
      if (signal?.aborted) break;
      latest = await read();
    }
    return latest;
  } finally {
    unsubscribe?.();
    signal?.removeEventListener('abort', wake);
  }
}

/** Aborted when the client goes before its answer is sent: its waiter stops reading for nobody and unsubscribes. */
export function clientGone(res: Pick<Response, 'once' | 'writableFinished' | 'closed'>): AbortSignal {
  const controller = new AbortController();
  // Gone already (while the row was being recorded or the job added): no wait at all.
  if (res.closed && !res.writableFinished) controller.abort();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

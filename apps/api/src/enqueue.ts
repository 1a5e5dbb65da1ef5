/**
 * The API's side of the queue: group commit (Batcher), a bounded add to Redis (withEnqueueTimeout,
 * redisReady), and waiting on the worker's outcome in PostgreSQL (pollUntil).
 */
import { withDeadline } from '@ictvoip/config';
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

export interface PollOptions {
  signal?: AbortSignal;
  /** The first pause; it doubles up to 100 ms. Default 20 ms. */
  firstDelayMs?: number;
}

/**
 * Reads `read()` until `done` says so or `waitMs` passes, the pause doubling from `firstDelayMs` up
 * to 100 ms: whoever waits on the answer (WHMCS, a REST client) is waiting now, and one read is one
 * indexed primary-key lookup. Works across API processes: the row is the truth.
 */
export async function pollUntil<T>(read: () => Promise<T | null>, done: (value: T) => boolean, waitMs: number, options: PollOptions = {}): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  let delay = options.firstDelayMs ?? 20;
  let latest = await read();
  while (latest && !done(latest) && Date.now() < deadline && !options.signal?.aborted) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
    latest = await read();
  }
  return latest;
}

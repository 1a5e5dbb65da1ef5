import { withDeadline } from '@ictvoip/config';
import type { ApiDeps } from './deps';

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

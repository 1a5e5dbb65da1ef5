import Redis, { type RedisOptions } from 'ioredis';

/**
 * Producers (the API) fail fast: no offline queue, one retry, short connect timeout, so a
 * webhook answers 503 at once while Redis is down instead of hanging.
 */
export function createProducerConnection(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...options,
  });
  redis.on('error', () => undefined); // reported through readiness and failed commands
  return redis;
}

/** Workers block on Redis; BullMQ requires maxRetriesPerRequest null for them. */
export function createWorkerConnection(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 500, 5000), ...options });
  redis.on('error', () => undefined);
  return redis;
}

/** True when an error means "Redis is not reachable right now". */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code)) return true;
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|MaxRetriesPerRequest|Reached the max retries|connect ETIMEDOUT|LOADING/i.test(error.message);
}

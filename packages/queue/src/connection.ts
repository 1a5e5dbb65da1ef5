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

/** What endConnection needs of a client: an ioredis one, or BullMQ's wrapper of one (a Worker's blocking client). */
export interface EndableConnection {
  readonly status: string;
  connect(): Promise<unknown>;
  disconnect(): void;
  once(event: 'end', listener: () => void): unknown;
}

/**
 * Ends a connection for good and fails the commands waiting on it, even between two reconnection
 * attempts: there ioredis's disconnect() only clears the retry timer and leaves the client
 * 'reconnecting' for ever, its queued commands pending and no 'end' emitted, so whatever awaits them
 * (BullMQ's Worker.close) waits for ever too. One more attempt, made once disconnect() has marked the
 * client as closed on purpose, ends it either way: refused, its close ends the client and fails the
 * queue; accepted (Redis is back), it is disconnected at once. Resolves on 'end'.
 */
export function endConnection(client: EndableConnection): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  const betweenAttempts = client.status === 'reconnecting';
  client.disconnect();
  if (betweenAttempts) {
    client.connect().then(
      () => client.disconnect(),
      () => undefined,
    );
  }
  return ended;
}

/** True when an error means "Redis is not reachable right now". */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code)) return true;
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|MaxRetriesPerRequest|Reached the max retries|connect ETIMEDOUT|LOADING/i.test(error.message);
}

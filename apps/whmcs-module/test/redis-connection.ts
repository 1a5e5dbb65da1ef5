import IORedis from 'ioredis';
import { TEST_REDIS_URL } from '@ictvoip/testkit';

/** A connection for the test's own BullMQ queue and worker (BullMQ wants maxRetriesPerRequest null). */
export function redisConnection(): IORedis {
  return new IORedis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
}

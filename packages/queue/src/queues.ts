import type { BackoffStrategy, DefaultJobOptions, Queue } from 'bullmq';
import type Redis from 'ioredis';
import { QUEUE_NAMES, type QueueName } from './names';
import { EVENT_STREAM_MAX_LEN, finishedJobRetention, type JobRetention } from './retention';

export interface QueueSetOptions {
  connection: Redis;
  prefix: string;
  attempts?: number;
  backoffMs?: number;
  /** What every queue keeps of finished jobs (config.redis.jobHistory); DEFAULT_JOB_RETENTION when unset. */
  retention?: JobRetention;
}

export type QueueSet = Record<QueueName, Queue>;

export function defaultJobOptions(attempts = 8, backoffMs = 2000, retention?: JobRetention): DefaultJobOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: backoffMs, jitter: 0.3 },
    // The retention is the dedupe window for custom ids; PostgreSQL's inbox is the long-term dedupe.
    ...finishedJobRetention(retention),
  };
}

/**
 * The backoff of jobs that wait for something outside the bridge to come back (the event socket):
 * doubling from the base like every job, but never past `maxMs`. A plain exponential delay grows to
 * hours by the 15th attempt, so a backlog that failed through a long outage would go on waiting
 * long after FreeSWITCH answers again; later events of the service cannot hurry it (its job is live).
 */
export const CAPPED_BACKOFF = 'capped-exponential';

/** Jitter like BullMQ's own exponential (up to 30 % shorter), so retries of many services do not arrive together. */
export function cappedBackoff(baseMs: number, maxMs: number, random: () => number = Math.random): BackoffStrategy {
  // BullMQ asks this strategy only for types it does not know itself: CAPPED_BACKOFF is the only one.
  return (attemptsMade) => {
    const delay = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), 30));
    return Math.floor(delay * (0.7 + 0.3 * random()));
  };
}

/**
 * BullMQ is loaded when queues are first made, not with this package: a CLI command that only reads
 * PostgreSQL (a dry run, a status) then skips its ~250 modules, ~0.05 s CPU of each such command's start.
 */
function bullmqQueue(): typeof Queue {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('bullmq') as typeof import('bullmq')).Queue;
}

export function createQueues(options: QueueSetOptions): QueueSet {
  const jobOptions = defaultJobOptions(options.attempts, options.backoffMs, options.retention);
  const Queue = bullmqQueue();
  const make = (name: QueueName) => {
    const queue = new Queue(name, {
      connection: options.connection,
      prefix: options.prefix,
      defaultJobOptions: jobOptions,
      // Written to the queue's meta at start-up: every BullMQ script that adds an event trims to it.
      streams: { events: { maxLen: EVENT_STREAM_MAX_LEN } },
    });
    queue.on('error', () => undefined); // surfaced by the caller's failed add / readiness probe
    return queue;
  };
  return {
    provisioning: make(QUEUE_NAMES.provisioning),
    maintenance: make(QUEUE_NAMES.maintenance),
    'cdr-sync': make(QUEUE_NAMES.cdrSync),
    billing: make(QUEUE_NAMES.billing),
    'tenant-writes': make(QUEUE_NAMES.tenantWrites),
    monitoring: make(QUEUE_NAMES.monitoring),
  };
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close().catch(() => undefined)));
}

import { Queue, type DefaultJobOptions } from 'bullmq';
import type Redis from 'ioredis';
import { QUEUE_NAMES, type QueueName } from './names';

export interface QueueSetOptions {
  connection: Redis;
  prefix: string;
  attempts?: number;
  backoffMs?: number;
}

export type QueueSet = Record<QueueName, Queue>;

export function defaultJobOptions(attempts = 8, backoffMs = 2000): DefaultJobOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: backoffMs, jitter: 0.3 },
    // The retention is the dedupe window for custom ids; PostgreSQL's inbox is the long-term dedupe.
    removeOnComplete: { age: 24 * 3600, count: 5000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}

export function createQueues(options: QueueSetOptions): QueueSet {
  const jobOptions = defaultJobOptions(options.attempts, options.backoffMs);
  const make = (name: QueueName) => {
    const queue = new Queue(name, { connection: options.connection, prefix: options.prefix, defaultJobOptions: jobOptions });
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

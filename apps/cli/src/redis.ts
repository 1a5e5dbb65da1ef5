import { closeQueues, createProducerConnection, createQueues, type QueueSet } from '@ictvoip/queue';
import type { BridgeConfig } from '@ictvoip/config';
import { CliError } from './output';

const READY_TIMEOUT_MS = 3000;

/** The queues over a connection that is ready (the producer connection has no offline queue), or a clear error. */
export async function openQueues(cfg: BridgeConfig): Promise<{ queues: QueueSet; close(): Promise<void> }> {
  const connection = createProducerConnection(cfg.redis.url);
  try {
    await new Promise<void>((resolve, reject) => {
      if (connection.status === 'ready') return resolve();
      const timer = setTimeout(
        () => reject(new CliError('REDIS_UNAVAILABLE', `Redis at ${new URL(cfg.redis.url).host} did not answer within ${READY_TIMEOUT_MS / 1000} s`)),
        READY_TIMEOUT_MS,
      );
      connection.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (error) {
    connection.disconnect();
    throw error;
  }
  const queues = createQueues({ connection, prefix: cfg.redis.queuePrefix, attempts: cfg.worker.jobAttempts, backoffMs: cfg.worker.jobBackoffMs, retention: cfg.redis.jobHistory });
  return {
    queues,
    close: async () => {
      await closeQueues(queues);
      connection.disconnect();
    },
  };
}

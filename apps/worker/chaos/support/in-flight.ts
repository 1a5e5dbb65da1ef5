import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { QUEUE_NAMES, type QueueName } from '@ictvoip/queue';
import type { ChaosBridge } from './chaos-bridge';
import type { AppProcess } from './processes';
import { finishedJob } from './worker-killer';

/** A job seen in its queue's active list while a fault hit. */
export interface ActiveJob {
  queue: QueueName;
  id: string;
  name: string;
  processedBy: string;
}

/** What became of the jobs a fault hit, once the run settled. */
export interface InFlightFate {
  /** Jobs seen in flight (each counted once). */
  hit: number;
  /** Of those: completed. */
  completed: number;
  /** Of those completed: finished by the process that held them when the fault hit. */
  finishedByHolder: number;
  /** Of those completed: started more than once (the fault made an attempt fail or stall and it ran again). */
  startedAgain: number;
  /** Jobs hit but not completed, one line each. */
  notCompleted: string[];
}

/** The BullMQ name a worker process gives itself (apps/worker: `host:pid`). */
export const workerName = (worker: AppProcess): string => `${hostname()}:${worker.pid}`;

/**
 * The jobs in flight (BullMQ active lists) when a fault that does not kill a worker hits — a
 * PostgreSQL restart, an event-socket fault, a SIGTERM — so a scenario can show the fault hit work,
 * not an idle bridge, and read afterwards that each of those jobs completed.
 */
export class InFlightJobs {
  readonly seen = new Map<string, ActiveJob>();
  private readonly connection: Redis;
  private readonly queues: Queue[];

  constructor(bridge: ChaosBridge, workQueues: readonly QueueName[] = [QUEUE_NAMES.provisioning, QUEUE_NAMES.tenantWrites]) {
    this.connection = new Redis(bridge.env.REDIS_URL, { maxRetriesPerRequest: null });
    this.queues = workQueues.map((name) => new Queue(name, { connection: this.connection, prefix: bridge.prefix }));
    this.connection.on('error', () => undefined);
    for (const queue of this.queues) queue.on('error', () => undefined);
  }

  /** The jobs active now, recorded as hit by the fault. */
  async sample(): Promise<ActiveJob[]> {
    return this.record(await this.active());
  }

  /** The jobs active now, not recorded (e.g. to pick whom a fault hits). */
  async active(): Promise<ActiveJob[]> {
    const found: ActiveJob[] = [];
    for (const queue of this.queues) {
      for (const job of await queue.getJobs(['active'])) {
        if (job?.id && job.processedBy) found.push({ queue: queue.name as QueueName, id: job.id, name: job.name, processedBy: job.processedBy });
      }
    }
    return found;
  }

  /** Records jobs as hit by the fault (each once); answers them. */
  record(jobs: ActiveJob[]): ActiveJob[] {
    for (const job of jobs) if (!this.seen.has(`${job.queue}/${job.id}`)) this.seen.set(`${job.queue}/${job.id}`, job);
    return jobs;
  }

  /** Reads from BullMQ, once the run settled, whether each job hit finished (completed) and by whom. */
  async fates(): Promise<InFlightFate> {
    const fate: InFlightFate = { hit: this.seen.size, completed: 0, finishedByHolder: 0, startedAgain: 0, notCompleted: [] };
    for (const job of this.seen.values()) {
      const queue = this.queues.find((candidate) => candidate.name === job.queue)!;
      const stored = await finishedJob(queue, job.id);
      const state = stored ? await stored.getState() : 'gone from Redis';
      if (!stored || state !== 'completed') {
        fate.notCompleted.push(`${job.queue} job ${job.id} (${job.name}) hit in flight: ${state}`);
        continue;
      }
      fate.completed += 1;
      if (stored.processedBy === job.processedBy) fate.finishedByHolder += 1;
      if (stored.attemptsStarted > 1) fate.startedAgain += 1;
    }
    return fate;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((queue) => queue.close()));
    this.connection.disconnect();
  }
}

import { hostname } from 'node:os';
import { Queue, type Job } from 'bullmq';
import Redis from 'ioredis';
import { QUEUE_NAMES, type QueueName } from '@ictvoip/queue';
import type { ChaosBridge } from './chaos-bridge';
import { processOwningPort, sleep, waitUntil, type AppProcess } from './processes';

/**
 * The stored job once it finished (or the job as it is after 15 s; undefined when gone): the run's
 * rows can be final a moment before their job is.
 */
export async function finishedJob(queue: Queue, id: string): Promise<Job | undefined> {
  return waitUntil(
    async () => {
      const found = await queue.getJob(id);
      return !found || found.finishedOn ? { found } : null;
    },
    15_000,
    `job ${id} to finish`,
  ).then(
    ({ found }) => found,
    () => queue.getJob(id),
  );
}

/** A job a killed worker held: in its queue's active list, `processedBy` the dead process. */
export interface HeldJob {
  queue: QueueName;
  id: string;
  name: string;
  /** When the process holding it died (ms). */
  killedAt: number;
}

export interface KillRecord {
  pid: number;
  /** `command`: the process that sent an event-socket command, killed before its answer; `job`: a holder of an active job. */
  kind: 'command' | 'job';
  why: string;
  /** The jobs the process held when it died: the work in flight the kill interrupted. */
  held: HeldJob[];
}

/** What BullMQ says became of the jobs the kills interrupted, once the run settled. */
export interface InterruptionReport {
  kills: number;
  /** Jobs a killed process held at its death (each counted once, even when killed twice). */
  interrupted: number;
  /**
   * Of those: run again after the kill and completed — BullMQ found it stalled and started it again
   * (stalledCounter > 0, attemptsStarted > 1), or the reconciler added it again under its id (a job
   * created after the kill) because its lock had expired first.
   */
  replayed: number;
  /**
   * Interrupted jobs not shown as run again to completion, one line each: e.g. a job whose worker was
   * killed twice is failed by BullMQ (stalled more than once); the service's next job or the
   * reconciler does its work, which the end-state checks verify.
   */
  unconfirmed: string[];
}

/** The BullMQ name a worker process gives itself (apps/worker: `host:pid`). */
const workerName = (worker: AppProcess) => `${hostname()}:${worker.pid}`;

/**
 * The jobs killed workers held (in their queue's active list, `processedBy` the dead process, until
 * their lock expires) and, once the run settled, what BullMQ says became of them. For scenarios that
 * kill workers their own way: call `recordKill` right after each `kill9()`.
 */
export class HeldJobsLog {
  readonly kills: HeldJob[][] = [];
  private readonly connection: Redis;
  private readonly queues: Queue[];

  constructor(bridge: ChaosBridge, workQueues: readonly QueueName[]) {
    this.connection = new Redis(bridge.env.REDIS_URL, { maxRetriesPerRequest: null });
    this.queues = workQueues.map((name) => new Queue(name, { connection: this.connection, prefix: bridge.prefix }));
    // A scenario may restart Redis under the log: it reconnects; the refused connects are expected, not news.
    this.connection.on('error', () => undefined);
    for (const queue of this.queues) queue.on('error', () => undefined);
  }

  async activeJobs(): Promise<{ queue: QueueName; id: string; name: string; processedBy: string }[]> {
    const found: { queue: QueueName; id: string; name: string; processedBy: string }[] = [];
    for (const queue of this.queues) {
      for (const job of await queue.getJobs(['active'])) {
        if (job?.id && job.processedBy) found.push({ queue: queue.name as QueueName, id: job.id, name: job.name, processedBy: job.processedBy });
      }
    }
    return found;
  }

  /** The jobs the just-killed process held: the work in flight its kill interrupted. */
  async recordKill(victim: AppProcess): Promise<HeldJob[]> {
    const killedAt = Date.now();
    const name = workerName(victim);
    const held = (await this.activeJobs()).filter((job) => job.processedBy === name).map(({ queue, id, name: jobName }) => ({ queue, id, name: jobName, killedAt }));
    this.kills.push(held);
    return held;
  }

  /** The interrupted jobs' fate, read from BullMQ after the run settled. */
  async interruptions(): Promise<Omit<InterruptionReport, 'kills'>> {
    const held = new Map<string, HeldJob>();
    // A job held by two killed processes counts once, from the first kill.
    for (const jobs of this.kills) for (const job of jobs) if (!held.has(`${job.queue}/${job.id}`)) held.set(`${job.queue}/${job.id}`, job);
    // Side by side: each job may take finishedJob's 15 s, which one after another added up to minutes.
    const fates = await Promise.all([...held.values()].map((job) => this.fateOf(job)));
    const unconfirmed = fates.filter((fate) => fate !== 'replayed');
    return { interrupted: held.size, replayed: fates.length - unconfirmed.length, unconfirmed };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((queue) => queue.close()));
    this.connection.disconnect();
  }

  /** `replayed` when BullMQ ran it again to completion, else a line saying what became of it. */
  private async fateOf(job: HeldJob): Promise<string> {
    const queue = this.queues.find((candidate) => candidate.name === job.queue)!;
    const stored = await finishedJob(queue, job.id);
    if (!stored) return `${job.queue} job ${job.id} (${job.name}) interrupted by a kill is gone from Redis`;
    const state = await stored.getState();
    const startedAgain = stored.stalledCounter > 0 && stored.attemptsStarted > 1;
    const addedAgain = stored.timestamp > job.killedAt;
    if ((startedAgain || addedAgain) && state === 'completed') return 'replayed';
    return (
      `${job.queue} job ${job.id} (${job.name}) interrupted by a kill: stalled ${stored.stalledCounter}, started ${stored.attemptsStarted} times, ` +
      `${addedAgain ? 'added again after the kill, ' : ''}${state}`
    );
  }
}

/**
 * kill -9 of the worker process that owns work in flight, and a new worker started after a random
 * pause. `armForNextApply` makes the next directory-cache delete (or the scenario's `applyCommand`) the
 * event socket receives kill the process that sent it, before it is answered: the job is between its FusionPBX commit and recording
 * its outcome. `killOwnerOfWorkInFlight` kills a worker holding an active job of the scenario's
 * queues. Every kill records the jobs the dead process held (still in the active list under its
 * name until their lock expires); `interruptions()` then reads from BullMQ whether each was taken
 * over and run again.
 */
export class WorkerKiller {
  readonly records: KillRecord[] = [];
  private armed = false;
  /** Kills and replacement workers under way; `idle()` waits for them before the checks and close. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly failures: Error[] = [];
  private readonly log: HeldJobsLog;

  constructor(
    private readonly bridge: ChaosBridge,
    private readonly random: () => number,
    private readonly label: string,
    workQueues: readonly QueueName[] = [QUEUE_NAMES.provisioning, QUEUE_NAMES.tenantWrites],
    /** The FreeSWITCH command an armed kill waits for: sent after the job's FusionPBX commit, before its outcome is recorded. */
    private readonly applyCommand: RegExp = /^memcache delete directory:/,
  ) {
    this.log = new HeldJobsLog(bridge, workQueues);
    bridge.esl.beforeAnswer = async (command, connection) => {
      if (!this.armed || !this.applyCommand.test(command)) return;
      const owner = processOwningPort(connection.remotePort, this.bridge.liveWorkers());
      if (!owner) return;
      this.armed = false;
      // Awaited: the command is answered only after its sender is dead, so it never gets the answer.
      await this.track(this.kill(owner, 'command', `while its "${command}" was unanswered`));
    };
  }

  get kills(): number {
    return this.records.length;
  }

  armForNextApply(): void {
    this.armed = true;
  }

  /** Disarms and waits for every kill and replacement worker still under way. */
  async idle(): Promise<void> {
    this.armed = false;
    // A kill adds its replacement's start while it finishes: wait until nothing is left.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (this.failures.length > 0) throw this.failures[0];
  }

  /** Kills a live worker that holds an active job of the work queues; false (nothing killed) when none does. */
  async killOwnerOfWorkInFlight(why: string): Promise<boolean> {
    const owners = new Set((await this.log.activeJobs()).map((entry) => entry.processedBy));
    const candidates = this.bridge.liveWorkers().filter((worker) => owners.has(workerName(worker)));
    if (candidates.length === 0) return false;
    await this.kill(candidates[Math.floor(this.random() * candidates.length)], 'job', why);
    return true;
  }

  /**
   * Up to `count` kills while `busy()` says the run's work is in flight, each after a random pause
   * in `pauseMs`: the first and about half of the others armed on the next FreeSWITCH command (the
   * next kill waits until it fired), the rest of a worker holding an active job. Never a kill once
   * the work is over, never one of a process that holds nothing.
   */
  async killWhileBusy(count: number, busy: () => Promise<boolean>, pauseMs: readonly [number, number]): Promise<void> {
    for (let done = 0; done < count;) {
      await sleep(pauseMs[0] + Math.floor(this.random() * (pauseMs[1] - pauseMs[0])));
      if (!(await busy())) break;
      if (done === 0 || this.random() < 0.5) {
        const before = this.kills;
        this.armForNextApply();
        while (this.kills === before && (await busy())) await sleep(50);
        this.armed = false;
        if (this.kills > before) done += 1;
      } else if (await this.killOwnerOfWorkInFlight('holding an active job')) done += 1;
    }
  }

  /** The interrupted jobs' fate, read from BullMQ after the run settled. */
  async interruptions(): Promise<InterruptionReport> {
    return { kills: this.kills, ...(await this.log.interruptions()) };
  }

  /** Disarms, waits for replacements, and closes the killer's Redis connection. */
  async close(): Promise<void> {
    this.bridge.esl.beforeAnswer = null;
    await this.idle().catch(() => undefined);
    await this.log.close();
  }

  private async kill(victim: AppProcess, kind: KillRecord['kind'], why: string): Promise<void> {
    await victim.kill9();
    // The dead process's jobs stay in the active list under its name until their lock expires (seconds): read them now.
    const held = await this.log.recordKill(victim);
    this.records.push({ pid: victim.pid, kind, why, held });
    process.stdout.write(`${this.label}: kill -9 worker ${victim.pid} (${why}), ${held.length} jobs in flight: ${held.map((job) => job.name).join(', ')}\n`);
    void this.track(sleep(Math.floor(this.random() * 500)).then(async () => void (await this.bridge.startWorker())));
  }

  /** Kills and replacement starts under way: `idle()` waits for them; a failure fails the run there. */
  private async track(step: Promise<void>): Promise<void> {
    this.inFlight.add(step);
    try {
      await step;
    } catch (error) {
      this.failures.push(error as Error);
    } finally {
      this.inFlight.delete(step);
    }
  }
}

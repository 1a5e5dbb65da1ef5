import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Worker } from 'bullmq';
import { deleteRedisPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from '@ictvoip/testkit';
import { loadConfig } from '@ictvoip/config';
import {
  closeQueues,
  COMPLETED_JOBS_KEPT,
  createQueues,
  createWorkerConnection,
  DEFAULT_JOB_RETENTION,
  EVENT_STREAM_MAX_LEN,
  FAILED_JOBS_KEPT,
  latestCompletedJob,
  MAINTENANCE_JOBS,
  QUEUE_NAMES,
  type JobRetention,
} from '@ictvoip/queue';

const REPO_ROOT = join(__dirname, '../../..');
/** XADD MAXLEN ~ trims whole stream nodes only: up to one node (stream-node-max-entries, 100) over. */
const STREAM_SLACK = 100;

/** Waits (on state) until the queue holds no waiting, active or delayed job. */
async function drained(counts: () => Promise<Record<string, number>>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await counts();
    if ((now.waiting ?? 0) + (now.active ?? 0) + (now.delayed ?? 0) + (now.prioritized ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(now)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Runs more jobs than each bound (some failing) through a queue set made with `retention`; returns what the maintenance queue kept. */
async function keptAfterOverflow(retention: JobRetention | undefined, bounds: JobRetention) {
  const prefix = uniqueQueuePrefix('retention');
  const connection = createWorkerConnection(TEST_REDIS_URL);
  const queues = createQueues({ connection, prefix, attempts: 1, backoffMs: 10, ...(retention ? { retention } : {}) });
  const workerConnection = createWorkerConnection(TEST_REDIS_URL);
  try {
    const queue = queues.maintenance;
    const failing = bounds.failed.count + 50;
    const completing = bounds.completed.count + 200;
    // Custom ids as the product's jobs have (a slot or an event id in each).
    const jobs = Array.from({ length: completing + failing }, (_, i) => ({ name: 'retention', data: { fail: i < failing }, opts: { jobId: `retention-${i}` } }));
    const worker = new Worker(
      QUEUE_NAMES.maintenance,
      async (job) => {
        if ((job.data as { fail: boolean }).fail) throw new Error('failing on purpose');
        return { ok: true };
      },
      { connection: workerConnection, prefix, concurrency: 20 },
    );
    worker.on('failed', () => undefined);
    try {
      for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
      await drained(() => queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), 120_000);
    } finally {
      await worker.close();
    }
    const counts = await queue.getJobCounts('completed', 'failed');
    // No job hash outlives its place in a set: hashes are the kept jobs only.
    const hashes = (await connection.keys(`${prefix}:${QUEUE_NAMES.maintenance}:retention-*`)).filter((key) => !key.endsWith(':logs'));
    const streamLength = await connection.xlen(`${prefix}:${QUEUE_NAMES.maintenance}:events`);
    return { counts, hashes: hashes.length, streamLength };
  } finally {
    await closeQueues(queues);
    workerConnection.disconnect();
    connection.disconnect();
    await deleteRedisPrefix(prefix);
  }
}

describe('Redis retention: what a queue keeps of finished work is bounded, whatever the traffic', () => {
  it('keeps at most COMPLETED_JOBS_KEPT completed jobs, FAILED_JOBS_KEPT failed ones and EVENT_STREAM_MAX_LEN stream entries by default', async () => {
    const kept = await keptAfterOverflow(undefined, DEFAULT_JOB_RETENTION);
    // Every job ran (more of each kind than its bound) and the sets were trimmed to the bounds.
    expect(kept.counts).toEqual({ completed: COMPLETED_JOBS_KEPT.count, failed: FAILED_JOBS_KEPT.count });
    expect(kept.hashes).toBe(COMPLETED_JOBS_KEPT.count + FAILED_JOBS_KEPT.count);
    // Each job adds several events; the stream stays at its bound.
    expect(kept.streamLength).toBeGreaterThanOrEqual(EVENT_STREAM_MAX_LEN);
    expect(kept.streamLength).toBeLessThanOrEqual(EVENT_STREAM_MAX_LEN + STREAM_SLACK);
  }, 180_000);

  it("keeps the operator's bounds (JOB_HISTORY_*), read from the configuration, for every job", async () => {
    const configured = loadConfig({ JOB_HISTORY_COMPLETED_COUNT: '40', JOB_HISTORY_FAILED_COUNT: '25', JOB_HISTORY_COMPLETED_AGE_SECONDS: '3600' }).redis.jobHistory;
    expect(configured).toEqual({ completed: { count: 40, age: 3600 }, failed: { count: 25, age: FAILED_JOBS_KEPT.age } });
    const kept = await keptAfterOverflow(configured, configured);
    expect(kept.counts).toEqual({ completed: 40, failed: 25 });
    expect(kept.hashes).toBe(40 + 25);
  }, 180_000);

  it('has the configuration defaults equal to DEFAULT_JOB_RETENTION', () => {
    expect(loadConfig({}).redis.jobHistory).toEqual(DEFAULT_JOB_RETENTION);
  });

  it('bounds finished jobs by age as well as count, and no job sets its own retention', () => {
    // BullMQ trims a queue's finished set with the finishing job's bounds: one caller's larger count, or a
    // count without an age, would hold the whole queue to it. Only packages/queue sets them.
    expect(COMPLETED_JOBS_KEPT.age).toBeGreaterThan(0);
    expect(FAILED_JOBS_KEPT.age).toBeGreaterThan(0);
    const own = ['packages/queue/src/retention.ts'];
    const offenders = ['apps', 'packages']
      .flatMap((dir) => sourceFiles(join(REPO_ROOT, dir)))
      .map((path) => relative(REPO_ROOT, path))
      .filter((path) => /\/src\//.test(path) && !own.includes(path))
      .filter((path) => /removeOn(Complete|Fail)\s*:/.test(readFileSync(join(REPO_ROOT, path), 'utf8')));
    expect(offenders).toEqual([]);
    // Nor adds the default retention itself: it would override the operator's JOB_HISTORY_* on the queue's default job options.
    const queueOwn = [...own, 'packages/queue/src/queues.ts', 'packages/queue/src/index.ts'];
    const byName = ['apps', 'packages']
      .flatMap((dir) => sourceFiles(join(REPO_ROOT, dir)))
      .map((path) => relative(REPO_ROOT, path))
      .filter((path) => /\/src\//.test(path) && !queueOwn.includes(path))
      .filter((path) => /FINISHED_JOB_RETENTION|finishedJobRetention|DEFAULT_JOB_RETENTION/.test(readFileSync(join(REPO_ROOT, path), 'utf8')));
    expect(byName).toEqual([]);
  });

  it('finds the last drift report behind more newer completed jobs than one page (GET /admin/drift, the WHMCS dashboard)', async () => {
    // Defaults: the reconciler finishes a maintenance job every minute, so a daily report has ~1,400 newer ones.
    const prefix = uniqueQueuePrefix('retention');
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const queues = createQueues({ connection, prefix, attempts: 1, backoffMs: 10 });
    const workerConnection = createWorkerConnection(TEST_REDIS_URL);
    const worker = new Worker(QUEUE_NAMES.maintenance, async (job) => ({ ran: job.name }), { connection: workerConnection, prefix, concurrency: 20 });
    try {
      const queue = queues.maintenance;
      await queue.add(MAINTENANCE_JOBS.driftReport, {}, { jobId: 'drift-the-report' });
      await drained(() => queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), 10_000);
      await queue.addBulk(Array.from({ length: 450 }, (_, i) => ({ name: MAINTENANCE_JOBS.reconcileInbox, data: {}, opts: { jobId: `reconcile-${i}` } })));
      await drained(() => queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), 60_000);
      expect((await latestCompletedJob(queue, MAINTENANCE_JOBS.driftReport))?.id).toBe('drift-the-report');
      expect(await latestCompletedJob(queue, MAINTENANCE_JOBS.purgeTerminated)).toBeUndefined();
    } finally {
      await worker.close();
      await closeQueues(queues);
      workerConnection.disconnect();
      connection.disconnect();
      await deleteRedisPrefix(prefix);
    }
  }, 90_000);
});

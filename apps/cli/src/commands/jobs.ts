import { Command, Option } from 'commander';
import type { Job } from 'bullmq';
import { QUEUE_NAMES, type QueueName, type QueueSet } from '@ictvoip/queue';
import { openQueues } from '../redis';
import { action, config, emit, progress, type JsonOption } from '../output';

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'] as const;
type JobState = (typeof STATES)[number];
const QUEUES = Object.values(QUEUE_NAMES) as QueueName[];

async function withQueues<T>(work: (queues: QueueSet) => Promise<T>): Promise<T> {
  const opened = await openQueues(config());
  try {
    return await work(opened.queues);
  } finally {
    await opened.close();
  }
}

function selected(queue?: string): QueueName[] {
  return queue ? [queue as QueueName] : QUEUES;
}

function describe(queue: string, state: string, job: Job) {
  return {
    queue,
    state,
    id: job.id ?? null,
    name: job.name,
    attemptsMade: job.attemptsMade,
    timestamp: new Date(job.timestamp).toISOString(),
    failedReason: job.failedReason || null,
  };
}

/** `jobs retry-failed --dry-run`: the failed jobs per queue, read only. */
async function previewRetry(options: JsonOption & { queue?: string }): Promise<void> {
  const found = await withQueues(async (queues) => {
    const jobs: ReturnType<typeof describe>[] = [];
    const wouldRetry: Record<string, number> = {};
    for (const name of selected(options.queue)) {
      const failed = await queues[name].getJobs(['failed'], 0, -1, true);
      wouldRetry[name] = failed.length;
      jobs.push(...failed.map((job) => describe(name, 'failed', job)));
    }
    return { wouldRetry, jobs };
  });
  emit(options, { dryRun: true, ...found }, () =>
    [
      ...Object.entries(found.wouldRetry).map(([name, n]) => `${name}: ${n} job(s) would be retried`),
      ...found.jobs.map((job) => `  ${job.queue} ${job.id} ${job.name} attempts ${job.attemptsMade}${job.failedReason ? ` — ${job.failedReason}` : ''}`),
      'dry run: nothing moved',
    ].join('\n'),
  );
}

interface ListOptions extends JsonOption {
  queue?: string;
  state: JobState;
  limit: string;
}

/** `ictvoip jobs list|retry-failed`: the BullMQ queues (same data as Bull Board). */
export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('job queues');
  jobs
    .command('list')
    .description('counts per queue, and the jobs in one state')
    .addOption(new Option('--queue <name>', 'one queue').choices(QUEUES))
    .addOption(new Option('--state <state>', 'jobs in this state').choices([...STATES]).default('failed'))
    .option('--limit <n>', 'at most this many jobs per queue', '20')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: ListOptions) => {
        const limit = Math.max(1, Math.min(1000, Number.parseInt(options.limit, 10) || 20));
        const result = await withQueues(async (queues) =>
          Promise.all(
            selected(options.queue).map(async (name) => {
              const queue = queues[name];
              const counts = await queue.getJobCounts(...STATES);
              const list = await queue.getJobs([options.state], 0, limit - 1, true);
              return { queue: name, counts, jobs: list.map((job) => describe(name, options.state, job)) };
            }),
          ),
        );
        emit(options, { queues: result }, () =>
          result
            .map((q) =>
              [
                `${q.queue}: ${STATES.map((state) => `${state} ${q.counts[state] ?? 0}`).join(', ')}`,
                ...q.jobs.map((job) => `  ${job.id} ${job.name} attempts ${job.attemptsMade}${job.failedReason ? ` — ${job.failedReason}` : ''}`),
              ].join('\n'),
            )
            .join('\n'),
        );
      }),
    );
  jobs
    .command('retry-failed')
    .description('move failed jobs back to waiting (each keeps its id, so a job runs at most once more)')
    .addOption(new Option('--queue <name>', 'one queue').choices(QUEUES))
    .option('--dry-run', 'list the failed jobs it would retry; move nothing')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { queue?: string; dryRun?: boolean }) => {
        if (options.dryRun) return previewRetry(options);
        const retried = await withQueues(async (queues) => {
          const counts: Record<string, number> = {};
          for (const name of selected(options.queue)) {
            const failed = await queues[name].getJobs(['failed'], 0, -1, true);
            progress(options, `${name}: retrying ${failed.length} failed job(s)`);
            let moved = 0;
            for (const job of failed) {
              // A job that left the failed state meanwhile (retried elsewhere) is skipped, not an error.
              moved += await job.retry('failed').then(
                () => 1,
                () => 0,
              );
            }
            counts[name] = moved;
          }
          return counts;
        });
        emit(options, { retried }, () =>
          Object.entries(retried)
            .map(([name, n]) => `${name}: ${n} job(s) retried`)
            .join('\n'),
        );
      }),
    );
  return jobs;
}

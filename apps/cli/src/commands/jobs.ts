import { Command, Option } from 'commander';
import type { Job } from 'bullmq';
import type { Pool } from 'pg';
import { QUEUE_NAMES, retryRefusal, type QueueName, type QueueSet, type RetryRefusal } from '@ictvoip/queue';
import { assertBridgeDatabaseMigrated, InboxRepository } from '@ictvoip/store';
import { openQueues } from '../redis';
import { action, config, emit, progress, type JsonOption } from '../output';
import { cliPool } from '../pool';

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

interface RetryLine extends ReturnType<typeof describe> {
  /** `wouldRetry` with --dry-run */
  retried?: boolean;
  wouldRetry?: boolean;
  /** why not: NOT_FAILED, EVENT_FINISHED (press the action again in WHMCS), STALE_POLL */
  code?: RetryRefusal['code'];
  reason?: string;
}

/**
 * The failed jobs per queue, each with the decision the WHMCS addon's Retry takes (retryRefusal): a
 * job that ran a finished WHMCS event, or a poll newer polls replaced, is not retried. `retry` moves
 * the others back to waiting; without it nothing moves (--dry-run).
 */
async function retryFailed(options: JsonOption & { queue?: string }, retry: boolean): Promise<{ counts: Record<string, number>; jobs: RetryLine[] }> {
  const cfg = config();
  let pool: Pool | null = null;
  // The bridge database is read only for a failed provisioning job (its WHMCS event).
  const inbox = {
    async get(eventId: string) {
      if (!pool) {
        pool = cliPool(cfg.database.url, { max: 1 });
        await assertBridgeDatabaseMigrated(pool);
      }
      return new InboxRepository(pool).get(eventId);
    },
  };
  try {
    return await withQueues(async (queues) => {
      const counts: Record<string, number> = {};
      const jobs: RetryLine[] = [];
      for (const name of selected(options.queue)) {
        const failed = await queues[name].getJobs(['failed'], 0, -1, true);
        if (retry) progress(options, `${name}: ${failed.length} failed job(s)`);
        counts[name] = 0;
        for (const job of failed) {
          let refusal: Pick<RetryRefusal, 'code' | 'message'> | null = await retryRefusal({ inbox, pollSeconds: cfg.monitoring.pollSeconds }, name, job);
          // A job that left the failed state meanwhile (retried elsewhere) is not retried twice, and is not an error.
          if (!refusal && retry)
            refusal = await job.retry('failed').then(
              () => null,
              () => ({ code: 'NOT_FAILED' as const, message: `job ${job.id ?? ''} left the failed state meanwhile: nothing to retry` }),
            );
          if (!refusal) counts[name] += 1;
          jobs.push({ ...describe(name, 'failed', job), [retry ? 'retried' : 'wouldRetry']: !refusal, ...(refusal ? { code: refusal.code, reason: refusal.message } : {}) });
        }
      }
      return { counts, jobs };
    });
  } finally {
    await (pool as Pool | null)?.end();
  }
}

function retryText(line: RetryLine, retried: string): string {
  return `  ${line.queue} ${line.id} ${line.name} attempts ${line.attemptsMade}${line.failedReason ? ` — ${line.failedReason}` : ''}: ${line.code ? `not retried: ${line.reason}` : retried}`;
}

/** `jobs retry-failed [--dry-run]`: per job retried or not and why; exit 1 when a job needs the admin in WHMCS. */
async function retryCommand(options: JsonOption & { queue?: string; dryRun?: boolean }): Promise<void> {
  const { counts, jobs } = await retryFailed(options, !options.dryRun);
  if (options.dryRun) {
    emit(options, { dryRun: true, wouldRetry: counts, jobs }, () =>
      [
        ...Object.entries(counts).map(([name, n]) => `${name}: ${n} job(s) would be retried`),
        ...jobs.map((line) => retryText(line, 'would be retried')),
        'dry run: nothing moved',
      ].join('\n'),
    );
  } else {
    emit(options, { retried: counts, jobs }, () =>
      [...Object.entries(counts).map(([name, n]) => `${name}: ${n} job(s) retried`), ...jobs.map((line) => retryText(line, 'retried'))].join('\n'),
    );
  }
  if (jobs.some((line) => line.code === 'EVENT_FINISHED')) process.exitCode = 1;
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
    .description(
      'move failed jobs back to waiting (each keeps its id, so a job runs at most once more); not one that ran a finished WHMCS event (exit 1: press the action again in WHMCS), nor a stale poll',
    )
    .addOption(new Option('--queue <name>', 'one queue').choices(QUEUES))
    .option('--dry-run', 'list the failed jobs it would retry; move nothing')
    .option('--json', 'machine-readable output')
    .action(action(retryCommand));
  return jobs;
}

import type { QueueName } from '@ictvoip/queue';
import { openQueues } from '../redis';
import { enqueueJobs, waitForJobs, waitSeconds, type EnqueueJobsOptions, type JobReport, type JobRequest } from '../enqueue';
import { config, emit, progress, type JsonOption } from '../output';

export interface EnqueueOptions extends JsonOption {
  wait?: string | boolean;
}

function reportLine(report: JobReport): string {
  const state = report.state ? ` → ${report.state}${report.failedReason ? ` (${report.failedReason})` : ''}` : '';
  const result = report.result ? ` ${JSON.stringify(report.result)}` : '';
  if (report.outcome === 'enqueued')
    return `enqueued ${report.name} ${report.id}${report.rerunOf ? ` (again: ${report.rerunOf} of the same command had finished)` : ''}${state}${result}`;
  // Not added: said plainly, with the job that is (or was) the same command's run, so --wait's result is not read as a new run's.
  return `already enqueued, not added again: the same command's job ${report.name} ${report.id} (this minute) is ${report.queuedState ?? 'queued'}${state}${result}`;
}

/**
 * Enqueues the jobs on one queue, optionally waits for them, prints what was done; a job that
 * failed or did not finish in time makes the exit code 1 (the report is still printed).
 */
export async function runJobs(
  queueName: QueueName,
  requests: readonly JobRequest[],
  options: EnqueueOptions,
  extra: Record<string, unknown> = {},
  enqueue: EnqueueJobsOptions = {},
  /** a line said after a finished job's report (text output), e.g. what its result means; null: none */
  describe: (report: JobReport) => string | null = () => null,
): Promise<JobReport[]> {
  const seconds = waitSeconds(options.wait);
  const opened = await openQueues(config());
  try {
    const queue = opened.queues[queueName];
    const jobs = await enqueueJobs(queue, requests, enqueue);
    if (seconds !== null && jobs.length > 0) progress(options, `waiting up to ${seconds} s for ${jobs.length} job(s)`);
    const problem = seconds === null ? null : await waitForJobs(queue, jobs, seconds);
    emit(options, { ...extra, queue: queueName, jobs }, () =>
      jobs.length ? jobs.map((report) => [reportLine(report), describe(report)].filter((line) => line !== null).join('\n')).join('\n') : 'nothing to do',
    );
    if (problem) {
      process.stderr.write(`ictvoip: ${problem.message}\n`);
      process.exitCode = problem.exitCode;
    }
    return jobs;
  } finally {
    await opened.close();
  }
}

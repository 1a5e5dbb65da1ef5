import type { QueueName } from '@ictvoip/queue';
import { openQueues } from '../redis';
import { enqueueJobs, waitForJobs, waitSeconds, type JobReport, type JobRequest } from '../enqueue';
import { config, emit, progress, type JsonOption } from '../output';

export interface EnqueueOptions extends JsonOption {
  wait?: string | boolean;
}

function reportLine(report: JobReport): string {
  const state = report.state ? ` → ${report.state}${report.failedReason ? ` (${report.failedReason})` : ''}` : '';
  const result = report.result ? ` ${JSON.stringify(report.result)}` : '';
  return `${report.outcome === 'enqueued' ? 'enqueued' : 'already enqueued'} ${report.name} ${report.id}${state}${result}`;
}

/**
 * Enqueues the jobs on one queue, optionally waits for them, prints what was done; a job that
 * failed or did not finish in time makes the exit code 1 (the report is still printed).
 */
export async function runJobs(queueName: QueueName, requests: readonly JobRequest[], options: EnqueueOptions, extra: Record<string, unknown> = {}): Promise<JobReport[]> {
  const seconds = waitSeconds(options.wait);
  const opened = await openQueues(config());
  try {
    const queue = opened.queues[queueName];
    const jobs = await enqueueJobs(queue, requests);
    if (seconds !== null && jobs.length > 0) progress(options, `waiting up to ${seconds} s for ${jobs.length} job(s)`);
    const problem = seconds === null ? null : await waitForJobs(queue, jobs, seconds);
    emit(options, { ...extra, queue: queueName, jobs }, () => (jobs.length ? jobs.map(reportLine).join('\n') : 'nothing to do'));
    if (problem) {
      process.stderr.write(`ictvoip: ${problem.message}\n`);
      process.exitCode = problem.exitCode;
    }
    return jobs;
  } finally {
    await opened.close();
  }
}

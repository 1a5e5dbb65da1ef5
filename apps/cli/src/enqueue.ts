import type { Job, Queue } from 'bullmq';
import { assertValidJobId, type JobName, type JobPayload } from '@ictvoip/queue';
import { CliError } from './output';

/** One job the CLI asks a worker to run: a job of the catalogue with its own payload. */
export type JobRequest<N extends JobName = JobName> = { [K in N]: { name: K; id: string; data: JobPayload<K> & Record<string, unknown> } }[N];

export type JobOutcome = 'enqueued' | 'already-enqueued';

export interface JobReport {
  id: string;
  name: string;
  data: Record<string, unknown>;
  outcome: JobOutcome;
  /** already-enqueued: the state the job of the same command was found in (waiting, active, delayed, completed, failed) */
  queuedState?: string;
  /** enqueued again: the id of the same command's job that had already finished (this one runs anew) */
  rerunOf?: string;
  /** with --wait: the final state (completed, failed) or the state when the wait ran out */
  state?: string;
  result?: unknown;
  failedReason?: string | null;
}

const POLL_MS = 100;
const FINISHED = new Set(['completed', 'failed']);

/**
 * The CLI's job ids carry the minute they were asked in: running the same command twice by
 * accident (a retried script) adds nothing while its job is queued or running (the CLI says so, with
 * the job's id), while a deliberate re-run a minute later does run; so does one within the minute
 * of a backfill or re-rating whose job already finished (EnqueueJobsOptions.rerunFinished).
 */
export function minuteSlot(now = new Date()): string {
  return `cli${now.toISOString().slice(0, 16).replace(/[-T:]/g, '')}`;
}

export interface EnqueueJobsOptions {
  /**
   * The same command's job has finished already (completed or failed): run it again under the next
   * free id (`<id>-2`, `-3`, …) instead of reporting it. For commands whose job only reads and
   * recomputes (a backfill, a re-rating): asked again, the operator wants it to run, and the old
   * job's result would read as the new run's. A job still waiting or running is never added twice.
   */
  rerunFinished?: boolean;
}

/** Adds each job under its deterministic id; an id already in the queue is reported (with its state), not added twice. */
export async function enqueueJobs(queue: Queue, requests: readonly JobRequest[], options: EnqueueJobsOptions = {}): Promise<JobReport[]> {
  const reports: JobReport[] = [];
  for (const request of requests) {
    const base = assertValidJobId(request.id);
    let id = base;
    let rerunOf: string | undefined;
    for (let again = 2; ; again += 1) {
      const existing = await queue.getJob(id);
      if (!existing) {
        // The retention comes from the queue's default job options (createQueues with config.redis.jobHistory), as for every job.
        await queue.add(request.name, request.data, { jobId: id });
        reports.push({ id, name: request.name, data: request.data, outcome: 'enqueued', ...(rerunOf ? { rerunOf } : {}) });
        break;
      }
      const queuedState = await existing.getState();
      if (!options.rerunFinished || !FINISHED.has(queuedState)) {
        reports.push({ id, name: request.name, data: request.data, outcome: 'already-enqueued', queuedState });
        break;
      }
      rerunOf = id;
      id = assertValidJobId(`${base}-${again}`);
    }
  }
  return reports;
}

async function settle(queue: Queue, id: string, deadline: number): Promise<Job | null> {
  for (;;) {
    const job = await queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    // Read again once finished: the copy above may predate the completion (no return value yet).
    if (FINISHED.has(state)) return (await queue.getJob(id)) ?? job;
    if (Date.now() >= deadline) return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Waits (polling, no extra blocking connection) until every job completed or failed for good, or
 * the time runs out; fills in state/result/failedReason. Returns what went wrong (a job failed or did
 * not finish), or null.
 */
export async function waitForJobs(queue: Queue, reports: JobReport[], seconds: number): Promise<CliError | null> {
  const deadline = Date.now() + seconds * 1000;
  for (const report of reports) {
    const job = await settle(queue, report.id, deadline);
    report.state = job ? await job.getState() : 'removed';
    report.result = job?.returnvalue ?? null;
    report.failedReason = job?.failedReason || null;
  }
  const failed = reports.filter((report) => report.state === 'failed');
  if (failed.length > 0) return new CliError('JOB_FAILED', failed.map((r) => `job ${r.id} failed: ${r.failedReason ?? 'no reason recorded'}`).join('; '));
  const pending = reports.filter((report) => report.state !== 'completed');
  if (pending.length > 0)
    return new CliError('WAIT_TIMEOUT', `${pending.length} job(s) not finished after ${seconds} s (${pending.map((r) => `${r.id}: ${r.state}`).join(', ')}); is a worker running?`);
  return null;
}

/** `--wait [seconds]`: true → a default, a number of seconds, or absent. */
export function waitSeconds(option: string | boolean | undefined): number | null {
  if (option === undefined || option === false) return null;
  if (option === true) return 300;
  if (!/^\d{1,5}$/.test(option)) throw new CliError('INVALID_ARGUMENT', '--wait must be whole seconds');
  return Number.parseInt(option, 10);
}

import type { Job, JobsOptions, Queue } from 'bullmq';

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Adds the job under its deterministic id unless a live one has it. A finished job that still
 * holds the id (its work was lost, or never found its row) is removed first: BullMQ would ignore
 * the add otherwise. Returns the state found, `missing` when there was none.
 */
export async function requeueUnlessLive(queue: Queue, name: string, data: unknown, jobId: string, options: JobsOptions = {}): Promise<{ previousState: string; added: boolean }> {
  const existing = await queue.getJob(jobId);
  const previousState = existing ? await existing.getState() : 'missing';
  if (LIVE_STATES.has(previousState)) return { previousState, added: false };
  if (existing) await existing.remove().catch(() => undefined);
  await queue.add(name, data, { ...options, jobId });
  return { previousState, added: true };
}

const COMPLETED_PAGE = 200;

/**
 * The most recently finished completed job of that name anywhere in the queue's completed history
 * (the drift report's readers: `GET /admin/drift`, the WHMCS dashboard, a starting worker's gauges),
 * read newest first a page at a time: the reconciler alone finishes a maintenance job every minute,
 * so a daily report sits behind far more than one page of them.
 */
export async function latestCompletedJob(queue: Queue, name: string): Promise<Job | undefined> {
  const total = await queue.getCompletedCount();
  for (let start = 0; start < total; start += COMPLETED_PAGE) {
    // A page may come back short when a trim runs meanwhile (getJobs leaves out jobs gone): the count ends the scan.
    const finished = (await queue.getJobs(['completed'], start, start + COMPLETED_PAGE - 1, false)).filter((job) => job.name === name);
    if (finished.length > 0) return finished.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))[0];
  }
  return undefined;
}

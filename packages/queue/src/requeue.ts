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

/**
 * The most recently finished completed job of that name among the newest 200 completed jobs of the
 * queue (the drift report's readers: `GET /admin/drift`, the WHMCS dashboard, a starting worker's gauges).
 */
export async function latestCompletedJob(queue: Queue, name: string): Promise<Job | undefined> {
  const finished = (await queue.getJobs(['completed'], 0, 200, false)).filter((job) => job.name === name);
  return finished.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))[0];
}

import type { Worker } from 'bullmq';

/**
 * `worker.close()` waits for active jobs with no timeout and can hang while Redis is unreachable,
 * so it gets a deadline; past it the worker is force-closed and unfinished jobs become stalled
 * (retried by another worker), which idempotent jobs make harmless.
 */
export async function closeWorkerWithin(worker: Worker, deadlineMs: number): Promise<'graceful' | 'forced'> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = worker.close().then(() => 'graceful' as const);
  const deadline = new Promise<'forced'>((resolve) => {
    timer = setTimeout(() => resolve('forced'), deadlineMs);
  });
  const outcome = await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  if (outcome === 'forced') await Promise.race([worker.close(true), new Promise((resolve) => setTimeout(resolve, 1000))]);
  return outcome;
}

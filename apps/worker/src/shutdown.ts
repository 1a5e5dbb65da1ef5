import type { Worker } from 'bullmq';

/**
 * One shutdown deadline shared by every step, so the process is gone within it however slow the
 * machine is: each step waits at most for what is left, and a step past it is abandoned (its
 * connection dies with the process; an unfinished job becomes stalled and is retried elsewhere).
 */
export class ShutdownBudget {
  private readonly endsAt: number;

  constructor(totalMs: number) {
    this.endsAt = Date.now() + totalMs;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Resolves true when the step finished in time, false when the budget ran out first. */
  async within(step: Promise<unknown>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.remainingMs());
    });
    const finished = step.then(
      () => true,
      () => true,
    );
    try {
      return await Promise.race([finished, outOfTime]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Time kept back from the jobs for force-closing and for closing queues, the event socket and the
 * pools: a quarter of the deadline, at most 1.5 s.
 */
export function closingReserveMs(deadlineMs: number): number {
  return Math.min(1500, Math.floor(deadlineMs / 4));
}

/**
 * `worker.close()` waits for active jobs with no timeout and can hang while Redis is unreachable,
 * so it gets `graceMs`; past it the worker is force-closed (bounded by the budget) and unfinished
 * jobs become stalled (retried by another worker), which idempotent jobs make harmless.
 */
export async function closeWorkerWithin(worker: Worker, graceMs: number, budget: ShutdownBudget): Promise<'graceful' | 'forced'> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = worker.close().then(() => 'graceful' as const);
  const deadline = new Promise<'forced'>((resolve) => {
    timer = setTimeout(() => resolve('forced'), graceMs);
  });
  const outcome = await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  if (outcome === 'forced') await budget.within(worker.close(true));
  return outcome;
}

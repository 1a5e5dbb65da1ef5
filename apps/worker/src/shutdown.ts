import type { Worker } from 'bullmq';
import { endConnection, type EndableConnection } from '@ictvoip/queue';

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
 *
 * BullMQ's `close(true)` after a pending `close()` only returns that same pending close, which waits
 * on the worker's Redis clients; while they are between two reconnection attempts their commands wait
 * for ever, and so would the lock extender and stalled checker the close is to stop (they keep an
 * embedding process alive). Ending both clients for good fails those commands and lets the close
 * finish. The main client is the connection shared by every worker: a forced close ends it for all,
 * which only comes a moment before the shutdown closes it anyway.
 */
export async function closeWorkerWithin(worker: Worker, graceMs: number, budget: ShutdownBudget): Promise<'graceful' | 'forced'> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = worker.close().then(() => 'graceful' as const);
  const deadline = new Promise<'forced'>((resolve) => {
    timer = setTimeout(() => resolve('forced'), graceMs);
  });
  const outcome = await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  if (outcome === 'graceful') return outcome;
  const closing = worker.close(true);
  await budget.within(endWorkerClients(worker));
  await budget.within(closing);
  return outcome;
}

/** Ends a worker's main and blocking Redis clients (each resolves once BullMQ has connected it, if ever). */
async function endWorkerClients(worker: Worker): Promise<void> {
  const clients: Array<Promise<EndableConnection> | undefined> = [worker.backend.client, worker.backend.blockingClient];
  await Promise.all(clients.map((client) => client?.then(endConnection, () => undefined)));
}

export interface PollOptions {
  signal?: AbortSignal;
  /** The first pause; it doubles up to 100 ms. Default 20 ms. */
  firstDelayMs?: number;
}

/**
 * Reads `read()` until `done` says so or `waitMs` passes, the pause doubling from `firstDelayMs` up
 * to 100 ms: whoever waits on the answer (WHMCS, a REST client) is waiting now, and one read is one
 * indexed primary-key lookup. Works across API processes: the row is the truth.
 */
export async function pollUntil<T>(read: () => Promise<T | null>, done: (value: T) => boolean, waitMs: number, options: PollOptions = {}): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  let delay = options.firstDelayMs ?? 20;
  let latest = await read();
  while (latest && !done(latest) && Date.now() < deadline && !options.signal?.aborted) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
    latest = await read();
  }
  return latest;
}

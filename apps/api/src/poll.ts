/**
 * Reads `read()` until `done` says so or `waitMs` passes, starting at 20 ms between reads and
 * doubling up to 100 ms: whoever waits on the answer (WHMCS, a REST client) is waiting now, and
 * one read is one indexed primary-key lookup. Works across API processes: the row is the truth.
 */
export async function pollUntil<T>(read: () => Promise<T | null>, done: (value: T) => boolean, waitMs: number, signal?: AbortSignal): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  let delay = 20;
  let latest = await read();
  while (latest && !done(latest) && Date.now() < deadline && !signal?.aborted) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
    latest = await read();
  }
  return latest;
}

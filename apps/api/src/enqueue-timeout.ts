/** BullMQ's add waits for Redis; the API answers within a bound instead of hanging on a stalled connection. */
export class EnqueueTimeoutError extends Error {
  readonly code = 'ENQUEUE_TIMEOUT';
  constructor() {
    super('Redis did not accept the job in time (connection)');
  }
}

export const ENQUEUE_TIMEOUT_MS = 3000;

export async function withEnqueueTimeout<T>(work: Promise<T>, ms = ENQUEUE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new EnqueueTimeoutError()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

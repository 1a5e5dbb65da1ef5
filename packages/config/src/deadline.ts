/**
 * Races `work` against a timer: the caller answers within `ms` with `onTimeout()`'s error instead
 * of hanging on a stalled connection. The work itself is not cancelled; its late result is dropped.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

import { perWorker } from '../../per-worker';
/**
 * Consecutive failed polls per worker, server and kind: one failed poll (a switch restarting, a
 * socket timing out once) is logged as a warning; the same poll failing again is an error. The
 * metric counts every failure either way. Kept in the worker's memory: with several workers each
 * counts the polls it ran.
 */
const countsOf = perWorker<number>();

/** Records a failed poll; answers the log level for it and how many failed in a row. */
export function pollFailed(owner: object, kind: 'registrations' | 'gateways', server: string): { level: 'warn' | 'error'; consecutiveFailures: number } {
  const key = `${kind}\u0000${server}`;
  const consecutiveFailures = (countsOf(owner).get(key) ?? 0) + 1;
  countsOf(owner).set(key, consecutiveFailures);
  return { level: consecutiveFailures > 1 ? 'error' : 'warn', consecutiveFailures };
}

export function pollSucceeded(owner: object, kind: 'registrations' | 'gateways', server: string): void {
  countsOf(owner).delete(`${kind}\u0000${server}`);
}

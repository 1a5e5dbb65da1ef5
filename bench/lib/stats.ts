import { seededRandom } from '@ictvoip/testkit';

/** Deterministic PRNG (mulberry32): the same seed gives the same data on every machine. */
export const prng = seededRandom;

/** Nearest-rank percentile of a sample (p in 0..100); NaN for an empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Milliseconds since `start` (a process.hrtime.bigint() value). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function round(value: number, places = 2): number {
  const factor = 10 ** places;
  return Math.round(value * factor) / factor;
}

import type { DatedPrefix } from '../rate-entry';

/**
 * Rates of one prefix, newest `effectiveFrom` first, so the first one in force at a time
 * wins: a newer rate supersedes an older open-ended one without the deck having to close it.
 */
export type DatedRates<T extends DatedPrefix> = readonly T[];

export function groupByPrefix<T extends DatedPrefix>(entries: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const entry of entries) {
    const group = groups.get(entry.prefix);
    if (group) group.push(entry);
    else groups.set(entry.prefix, [entry]);
  }
  for (const group of groups.values()) {
    group.sort((a, b) => b.effectiveFrom.getTime() - a.effectiveFrom.getTime());
  }
  return groups;
}

/** The rate in force at `atMs` (from inclusive, to exclusive), or undefined. */
export function effectiveAt<T extends DatedPrefix>(rates: DatedRates<T>, atMs: number): T | undefined {
  for (const rate of rates) {
    if (rate.effectiveFrom.getTime() > atMs) continue;
    if (rate.effectiveTo !== null && rate.effectiveTo.getTime() <= atMs) continue;
    return rate;
  }
  return undefined;
}

/** Longest-prefix lookup of a dated rate for an E.164 digit string. */
export interface PrefixIndex<T extends DatedPrefix> {
  readonly size: number;
  lookup(digits: string, at: Date): T | undefined;
}

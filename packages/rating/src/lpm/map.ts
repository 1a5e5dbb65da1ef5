import { effectiveAt, groupByPrefix, type PrefixIndex } from './dated';
import type { DatedPrefix } from '../rate-entry';

/** Hash map of prefix -> rates, probed with the number's prefixes from longest to shortest. */
export class MapPrefixIndex<T extends DatedPrefix> implements PrefixIndex<T> {
  private readonly byPrefix: Map<string, T[]>;
  private readonly longest: number;
  private readonly shortest: number;
  readonly size: number;

  constructor(entries: readonly T[]) {
    this.byPrefix = groupByPrefix(entries);
    let longest = 0;
    let shortest = Number.MAX_SAFE_INTEGER;
    for (const prefix of this.byPrefix.keys()) {
      longest = Math.max(longest, prefix.length);
      shortest = Math.min(shortest, prefix.length);
    }
    this.longest = longest;
    this.shortest = Math.max(1, Math.min(shortest, longest));
    this.size = this.byPrefix.size;
  }

  lookup(digits: string, at: Date): T | undefined {
    const atMs = at.getTime();
    for (let length = Math.min(this.longest, digits.length); length >= this.shortest; length--) {
      const rates = this.byPrefix.get(digits.slice(0, length));
      const rate = rates && effectiveAt(rates, atMs);
      if (rate) return rate;
    }
    return undefined;
  }
}

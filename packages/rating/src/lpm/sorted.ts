import { effectiveAt, groupByPrefix, type DatedRates, type PrefixIndex } from './dated';
import type { DatedPrefix } from '../rate-entry';

/**
 * Sorted prefixes plus, for each, the index of its longest proper prefix in the set.
 * The longest matching prefix of a number is always on the "parent chain" of the greatest
 * prefix that sorts <= the number (anything sorting between a prefix q of the number and
 * the number itself starts with q), so one binary search and a short chain walk suffice.
 */
export class SortedPrefixIndex<T extends DatedPrefix> implements PrefixIndex<T> {
  private readonly prefixes: string[];
  private readonly rates: Array<DatedRates<T>>;
  private readonly parent: Int32Array;
  readonly size: number;

  constructor(entries: readonly T[]) {
    const groups = groupByPrefix(entries);
    this.prefixes = [...groups.keys()].sort(compareStrings);
    this.rates = this.prefixes.map((prefix) => groups.get(prefix) as T[]);
    this.parent = buildParents(this.prefixes);
    this.size = this.prefixes.length;
  }

  lookup(digits: string, at: Date): T | undefined {
    const atMs = at.getTime();
    for (let i = this.greatestAtMost(digits); i >= 0; i = this.parent[i] as number) {
      const prefix = this.prefixes[i] as string;
      if (!digits.startsWith(prefix)) continue;
      const rate = effectiveAt(this.rates[i] as DatedRates<T>, atMs);
      if (rate) return rate;
    }
    return undefined;
  }

  /** Index of the greatest prefix <= digits, or -1. */
  private greatestAtMost(digits: string): number {
    let low = 0;
    let high = this.prefixes.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.prefixes[mid] as string) <= digits) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parent = nearest earlier entry that is a proper prefix; found with a stack of open prefixes. */
function buildParents(sorted: readonly string[]): Int32Array {
  const parent = new Int32Array(sorted.length).fill(-1);
  const stack: number[] = [];
  sorted.forEach((prefix, index) => {
    while (stack.length > 0 && !prefix.startsWith(sorted[stack[stack.length - 1] as number] as string)) stack.pop();
    parent[index] = stack.length > 0 ? (stack[stack.length - 1] as number) : -1;
    stack.push(index);
  });
  return parent;
}

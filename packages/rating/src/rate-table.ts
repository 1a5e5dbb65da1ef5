/**
 * One plan's priced view of a deck: its numbering plan, its markup, and a prefix index.
 * The index is the sorted-array one: it measured fastest on 2,000- and 50,000-prefix decks
 * (bench/rating/lpm.bench.ts; figures in the README).
 */
import { NumberFormatError } from './errors';
import { SortedPrefixIndex } from './lpm/sorted';
import type { PrefixIndex } from './lpm/dated';
import { applyMarkup, type Markup } from './markup';
import { e164Digits, numberNormaliser, type NumberingPlan } from './normalise';
import type { RateEntry } from './rate-entry';

export interface RateTableConfig {
  readonly entries: readonly RateEntry[];
  readonly numberingPlan: NumberingPlan;
  readonly markup?: Markup;
}

export type RateLookup =
  | { readonly kind: 'matched'; readonly e164: string; readonly rate: RateEntry }
  | { readonly kind: 'no-rate'; readonly e164: string }
  | { readonly kind: 'invalid-number'; readonly message: string };

export interface RateTable {
  readonly numberingPlan: NumberingPlan;
  readonly size: number;
  /** Normalise `dialled` and find the longest prefix whose rate is in force at `at`. */
  lookup(dialled: string, at: Date): RateLookup;
}

export function createRateTable(config: RateTableConfig): RateTable {
  const entries = config.markup ? applyMarkup(config.entries, config.markup) : [...config.entries];
  const index: PrefixIndex<RateEntry> = new SortedPrefixIndex(entries);
  const normalise = numberNormaliser(config.numberingPlan);
  return {
    numberingPlan: config.numberingPlan,
    size: index.size,
    lookup(dialled: string, at: Date): RateLookup {
      let e164: string;
      try {
        e164 = normalise(dialled);
      } catch (error) {
        if (error instanceof NumberFormatError) return { kind: 'invalid-number', message: error.message };
        throw error;
      }
      const rate = index.lookup(e164Digits(e164), at);
      return rate ? { kind: 'matched', e164, rate } : { kind: 'no-rate', e164 };
    },
  };
}

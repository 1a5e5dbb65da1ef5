import type { Micro } from './money';

/**
 * One rate of a deck, after import. Prefixes are E.164 digits without '+'.
 * Effective window: `effectiveFrom` inclusive, `effectiveTo` exclusive (null = open-ended).
 */
export interface RateEntry {
  readonly prefix: string;
  readonly destination: string;
  readonly ratePerMinute: Micro;
  readonly connectFee: Micro;
  /** Seconds charged for the first block (e.g. 60 in 60/60, 30 in 30/6). At least 1. */
  readonly initialIncrement: number;
  /** Seconds of every following block (e.g. 6 in 30/6). At least 1. */
  readonly subsequentIncrement: number;
  readonly effectiveFrom: Date;
  readonly effectiveTo: Date | null;
  /** 1-based CSV line the rate came from, for operators tracing a price. */
  readonly sourceLine?: number;
}

/** The part of a rate the prefix index needs. */
export interface DatedPrefix {
  readonly prefix: string;
  readonly effectiveFrom: Date;
  readonly effectiveTo: Date | null;
}

/**
 * Plan markup on top of a (wholesale) deck. Percent applies to both the per-minute rate and
 * the connection fee; fixed amounts are added after it. Each marked-up price is rounded once,
 * half-up, to the micro-unit, so the result is exact and reproducible.
 */
import { RatingConfigError } from './errors';
import { MoneyFormatError } from './errors';
import { parseMoney, percentOf, type Micro } from './money';
import type { RateEntry } from './rate-entry';

export interface Markup {
  /** Percentage as a decimal string, e.g. "12.5" for +12.5 %. */
  readonly percent?: string;
  /** Added to every per-minute rate, decimal string. */
  readonly fixedPerMinute?: string;
  /** Added to every connection fee, decimal string. */
  readonly fixedPerCall?: string;
}

interface ParsedMarkup {
  readonly percent: Micro;
  readonly perMinute: Micro;
  readonly perCall: Micro;
}

export function parseMarkup(markup: Markup): ParsedMarkup {
  return {
    percent: parseField(markup.percent, 'markup.percent'),
    perMinute: parseField(markup.fixedPerMinute, 'markup.fixedPerMinute'),
    perCall: parseField(markup.fixedPerCall, 'markup.fixedPerCall'),
  };
}

function parseField(value: string | undefined, field: string): Micro {
  if (value === undefined) return 0n;
  try {
    return parseMoney(value, { field });
  } catch (error) {
    if (error instanceof MoneyFormatError) throw new RatingConfigError(error.message, field);
    throw error;
  }
}

/** price + price × percent / 100 + fixed, rounded half-up to the micro-unit. */
export function markUp(price: Micro, percent: Micro, fixed: Micro): Micro {
  return price + percentOf(price, percent) + fixed;
}

export function applyMarkup(entries: readonly RateEntry[], markup: Markup): RateEntry[] {
  const parsed = parseMarkup(markup);
  return entries.map((entry) => ({
    ...entry,
    ratePerMinute: markUp(entry.ratePerMinute, parsed.percent, parsed.perMinute),
    connectFee: markUp(entry.connectFee, parsed.percent, parsed.perCall),
  }));
}

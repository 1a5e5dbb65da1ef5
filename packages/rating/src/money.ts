/**
 * Exact money on bigint micro-units (1 unit = 1_000_000 micro). No JS number ever holds an
 * amount: strings are parsed digit by digit and every division states its rounding.
 *
 * "Half-up" here means half away from zero, so a negative adjustment rounds symmetrically
 * to its positive counterpart (-0.0000005 -> -0.000001).
 */
import { MoneyFormatError } from './errors';

/** An amount in micro-units (1e-6 of the currency unit). */
export type Micro = bigint;

/**
 * An exact amount in micro-units as rating returns it: a JS number while it is a safe integer
 * (the per-call path allocates no bigint), a bigint when it would not fit. Never a fraction.
 */
export type ExactMicro = Micro | number;

export const MICRO_DECIMALS = 6;
export const MICRO_PER_UNIT: Micro = 1_000_000n;
const MAX_SAFE_MICRO = BigInt(Number.MAX_SAFE_INTEGER);
/** 10^(6 - places) for places 0..6, as bigint and number (computed once, not per call). */
const BIG_STEPS: readonly Micro[] = [1_000_000n, 100_000n, 10_000n, 1_000n, 100n, 10n, 1n];
const NUMBER_STEPS: readonly number[] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

export interface ParseMoneyOptions {
  /** Accept a leading '-' (adjustments). Default false: rates and fees are never negative. */
  readonly allowNegative?: boolean;
  /** What to do with non-zero digits past 6 decimal places: 'reject' (default) or round 'half-up'. */
  readonly rounding?: 'reject' | 'half-up';
  /** Name used in error messages, e.g. the CSV column. */
  readonly field?: string;
}

const DECIMAL_PATTERN = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Parse a plain decimal string ("12", "0.0125", "-3.5") into micro-units.
 * Rejects exponents (1e-3), NaN/Infinity, thousands separators, '+', '.5', '5.' and whitespace.
 */
export function parseMoney(text: string, options: ParseMoneyOptions = {}): Micro {
  const field = options.field ?? 'amount';
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) {
    throw new MoneyFormatError(`${field}: "${truncate(text)}" is not a plain decimal number (digits, optional '.' and fraction)`);
  }
  const [, sign, whole, fraction = ''] = match;
  if (sign === '-' && !options.allowNegative) {
    throw new MoneyFormatError(`${field}: negative amount "${truncate(text)}" is not allowed`);
  }
  // Zeros past the 6th place lose nothing ("0.01000000", as spreadsheets export a fixed format): only real digits are refused.
  if (fraction.length > MICRO_DECIMALS && options.rounding !== 'half-up' && /[1-9]/.test(fraction.slice(MICRO_DECIMALS))) {
    throw new MoneyFormatError(`${field}: "${truncate(text)}" has ${fraction.length} decimal places, at most ${MICRO_DECIMALS} allowed`);
  }
  const magnitude = fractionToMicro(whole as string, fraction);
  return sign === '-' ? -magnitude : magnitude;
}

/** Whole + fraction digits to micro-units, rounding half-up beyond 6 places. */
function fractionToMicro(whole: string, fraction: string): Micro {
  const kept = fraction.slice(0, MICRO_DECIMALS).padEnd(MICRO_DECIMALS, '0');
  const base = BigInt(whole) * MICRO_PER_UNIT + BigInt(kept);
  const firstDropped = fraction.charAt(MICRO_DECIMALS);
  return firstDropped !== '' && firstDropped >= '5' ? base + 1n : base;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Divide with rounding half away from zero. The denominator must be positive. */
export function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new MoneyFormatError('divisor must be positive');
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  const quotient = (magnitude * 2n + denominator) / (denominator * 2n);
  return negative ? -quotient : quotient;
}

/** Round a micro amount half-up to `places` decimals (0..6); the result is still in micro-units. */
export function roundHalfUp(value: Micro, places: number): Micro {
  const step = BIG_STEPS[checkedPlaces(places)] as Micro;
  return divideHalfUp(value, step) * step;
}

/** An invoice line: the exact sum rounded once, half-up, to cents. */
export function roundInvoiceLine(value: Micro): Micro {
  return roundHalfUp(value, 2);
}

/**
 * Format micro-units as a decimal string with exactly `places` decimals (default 6).
 * Throws when the value has more precision than `places`: round explicitly first.
 */
export function formatMoney(value: ExactMicro, places: number = MICRO_DECIMALS): string {
  if (typeof value === 'number') return formatMicroNumber(value, places);
  const step = BIG_STEPS[checkedPlaces(places)] as Micro;
  if (value % step !== 0n) {
    throw new MoneyFormatError(`cannot format ${value} micro with ${places} decimals without rounding; round first`);
  }
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const whole = magnitude / MICRO_PER_UNIT;
  const fraction = (magnitude % MICRO_PER_UNIT).toString().padStart(MICRO_DECIMALS, '0').slice(0, places);
  const body = places === 0 ? whole.toString() : `${whole}.${fraction}`;
  return negative ? `-${body}` : body;
}

/**
 * formatMoney for a number of micro-units, with the same output and errors, without a bigint.
 * Exact: `%` and the subtraction/division below act on safe integers and yield integers.
 */
function formatMicroNumber(value: number, places: number): string {
  if (!Number.isSafeInteger(value)) throw new MoneyFormatError(`cannot format ${value} micro: not a safe integer`);
  const step = NUMBER_STEPS[checkedPlaces(places)] as number;
  if (value % step !== 0) {
    throw new MoneyFormatError(`cannot format ${value} micro with ${places} decimals without rounding; round first`);
  }
  const magnitude = Math.abs(value);
  const micro = magnitude % 1_000_000;
  const whole = (magnitude - micro) / 1_000_000;
  const body = places === 0 ? String(whole) : `${whole}.${String(micro).padStart(MICRO_DECIMALS, '0').slice(0, places)}`;
  return value < 0 ? `-${body}` : body;
}

/** An ExactMicro as a bigint (for sums over many calls, where a number could overflow). */
export function toMicro(value: ExactMicro): Micro {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value)) throw new MoneyFormatError(`${value} is not a whole number of micro-units`);
  return BigInt(value);
}

/**
 * connectFee + ratePerMinute × seconds / 60 (rounded half-up), exact to the micro-unit: what a
 * billed call costs. Equal to `connectFee + costForSeconds(ratePerMinute, seconds)` (a property
 * test checks it against that bigint form), but in number arithmetic while that is exact:
 * - the rate and fee are taken as numbers only when 0 <= x <= MAX_SAFE_INTEGER (exact);
 * - a product or sum of non-negative safe integers rounds to a double >= 2^53 exactly when the
 *   true value is >= 2^53 (rounding is monotonic and 2^53 is a double), so `isSafeInteger` of the
 *   double result proves it exact;
 * - `p % 60` is exact for doubles, `(p - r) / 60` divides an exact multiple of 60, and half-up on a
 *   positive quotient is "+1 when the remainder is at least 30".
 * Anything outside (a negative price, a product >= 2^53) takes the bigint path.
 */
export function callCost(ratePerMinute: Micro, connectFee: Micro, seconds: number): ExactMicro {
  assertWholeSeconds(seconds);
  if (ratePerMinute >= 0n && ratePerMinute <= MAX_SAFE_MICRO && connectFee >= 0n && connectFee <= MAX_SAFE_MICRO) {
    const product = Number(ratePerMinute) * seconds;
    if (Number.isSafeInteger(product)) {
      const remainder = product % 60;
      const cost = (product - remainder) / 60 + (remainder >= 30 ? 1 : 0);
      const total = Number(connectFee) + cost;
      if (Number.isSafeInteger(total)) return total;
    }
  }
  return connectFee + costForSeconds(ratePerMinute, seconds);
}

/** Cost of `seconds` at a per-minute rate, exact to the micro-unit (half-up). */
export function costForSeconds(ratePerMinute: Micro, seconds: number): Micro {
  assertWholeSeconds(seconds);
  return divideHalfUp(ratePerMinute * BigInt(seconds), 60n);
}

/** `value` × `percent` / 100, with the percentage itself in micro-units ("12.5" -> 12_500_000n). */
export function percentOf(value: Micro, percent: Micro): Micro {
  return divideHalfUp(value * percent, 100n * MICRO_PER_UNIT);
}

export function sumMicro(values: Iterable<Micro>): Micro {
  let total = 0n;
  for (const value of values) total += value;
  return total;
}

/** The index into the step tables for `places` decimals (0..6). */
function checkedPlaces(places: number): number {
  if (!Number.isInteger(places) || places < 0 || places > MICRO_DECIMALS) {
    throw new MoneyFormatError(`decimal places must be an integer 0..${MICRO_DECIMALS}, got ${places}`);
  }
  return places;
}

function assertWholeSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new MoneyFormatError(`seconds must be a non-negative integer, got ${seconds}`);
  }
}

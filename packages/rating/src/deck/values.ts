/** Parsers for single rate deck cells. Each returns a value or throws CellError with a message. */
import { MoneyFormatError } from '../errors';
import { parseMoney, type Micro } from '../money';

export class CellError extends Error {}

export const MAX_INCREMENT_SECONDS = 3600;
const MAX_PREFIX_DIGITS = 15;

/** Prefix digits in E.164 order; a leading '+' is accepted (CGRateS writes "+49151"). */
export function parsePrefix(text: string): string {
  const digits = text.startsWith('+') ? text.slice(1) : text;
  if (digits === '') throw new CellError('prefix is empty');
  if (!/^\d+$/.test(digits)) throw new CellError(`prefix "${text}" must be digits only (optionally a leading '+')`);
  if (digits.length > MAX_PREFIX_DIGITS) throw new CellError(`prefix "${text}" is longer than ${MAX_PREFIX_DIGITS} digits`);
  if (digits.startsWith('0')) throw new CellError(`prefix "${text}" starts with 0; prefixes are E.164 (country code first), without 00`);
  return digits;
}

/**
 * A price cell: a non-negative decimal; empty means 0 only where `emptyIsZero`. Spreadsheets write
 * what a person reads, so two forms with one reading are taken as written: a currency sign or ISO
 * code of the deck's own `currency` ("$0.0125", "0.0125 USD", "€0,02" in a EUR deck), and a decimal
 * comma ("0,0125"). Forms with two readings are refused, never guessed (see decimalPoint).
 */
export function parsePrice(text: string, emptyIsZero: boolean, roundExcess: boolean, currency?: string): Micro {
  if (text === '') {
    if (emptyIsZero) return 0n;
    throw new CellError('value is empty');
  }
  const amount = decimalPoint(withoutCurrency(text, currency), text);
  try {
    return parseMoney(amount, { rounding: roundExcess ? 'half-up' : 'reject', field: 'value' });
  } catch (error) {
    if (error instanceof MoneyFormatError) throw new CellError(error.message.replace(/^value: "[^"]*"/, `"${text}"`).replace(/^value: /, ''));
    throw error;
  }
}

/**
 * The ISO codes a sign may stand for. "$" is every dollar's sign: in a CAD deck it is read as CAD
 * (the deck states the currency; the sign does not contradict it), in a EUR deck it is refused.
 */
const CURRENCY_SIGNS: Readonly<Record<string, readonly string[]>> = {
  $: ['USD', 'CAD', 'AUD', 'NZD', 'SGD', 'HKD', 'MXN'],
  US$: ['USD'],
  C$: ['CAD'],
  A$: ['AUD'],
  '€': ['EUR'],
  '£': ['GBP'],
  '¥': ['JPY', 'CNY'],
  '₹': ['INR'],
  R$: ['BRL'],
  zł: ['PLN'],
  kr: ['SEK', 'NOK', 'DKK', 'ISK'],
};

/** A sign or code before or after the digits: "$0.01", "US$ 0.01", "0.01 USD", "0,02€". */
const SIGNED = /^([^\d\s.,+-][^\d\s]*?)?\s*([+-]?[\d.,]+)\s*([^\d\s.,+-][^\d\s]*)?$/u;

/** The amount without its currency sign, when the sign is the deck's currency; else a CellError saying what to write. */
function withoutCurrency(text: string, currency: string | undefined): string {
  const signed = SIGNED.exec(text);
  const [before, amount, after] = [signed?.[1], signed?.[2], signed?.[3]];
  if (!signed || (before === undefined && after === undefined)) return text;
  if (before !== undefined && after !== undefined) throw new CellError(`"${text}" has two currency marks: write the amount alone, e.g. ${amount}`);
  const sign = (before ?? after) as string;
  const code = /^[A-Za-z]{3}$/.test(sign) ? [sign.toUpperCase()] : CURRENCY_SIGNS[sign];
  if (!code) return text; // not a currency mark: the money parser names the cell
  if (currency === undefined)
    throw new CellError(`"${text}" carries a currency mark (${sign}) and the deck's currency is not given: state the currency, or write the amount alone (${amount})`);
  if (!code.includes(currency)) {
    throw new CellError(
      `"${text}" is priced in ${code.length === 1 ? code[0] : `${sign} (${code.join(', ')})`} but the deck's currency is ${currency}: import it as a deck in that currency, or write the amount in ${currency} without the mark`,
    );
  }
  return amount as string;
}

/**
 * "0,0125" and "1,5" have one reading: a decimal comma (a thousands group has 3 digits, and none
 * follows a lone 0). "1,234" may be 1.234 or 1234, and "1.234,5" / "1,234.5" mix both separators:
 * refused with both readings named, never guessed (a rate off by 1000 is billed unseen).
 */
function decimalPoint(amount: string, text: string): string {
  if (!amount.includes(',')) return amount;
  const comma = /^(\d+),(\d+)$/.exec(amount);
  if (!comma) throw new CellError(`"${text}" has a thousands separator or several separators: write the amount with '.' as the decimal point and nothing else, e.g. 1234.5`);
  const [, whole, fraction] = comma as unknown as [string, string, string];
  if (fraction.length === 3 && /[1-9]/.test(whole)) {
    throw new CellError(`"${text}" could be ${whole}.${fraction} (decimal comma) or ${whole}${fraction} (thousands separator): write ${whole}.${fraction} or ${whole}${fraction}`);
  }
  return `${whole}.${fraction}`;
}

/** Increment in whole seconds ("6", "6s", "1m"). Empty or 0 means "use the default" (undefined). */
export function parseIncrement(text: string): number | undefined {
  if (text === '') return undefined;
  const match = /^(\d{1,5})(s|m)?$/.exec(text);
  if (!match) throw new CellError(`increment "${text}" must be whole seconds (e.g. 60, 6s, 1m)`);
  const seconds = Number.parseInt(match[1] as string, 10) * (match[2] === 'm' ? 60 : 1);
  if (seconds === 0) return undefined;
  if (seconds > MAX_INCREMENT_SECONDS) throw new CellError(`increment ${seconds}s is more than ${MAX_INCREMENT_SECONDS}s`);
  return seconds;
}

/**
 * A single increment column may write both blocks, as carriers print them: "60/6" is 60 s first,
 * then 6 s blocks (a plain "6" is both). Each half is read like parseIncrement.
 */
export function parseIncrementPair(text: string): { initial?: number; subsequent?: number } {
  const pair = /^(\S+?)\s*\/\s*(\S+)$/.exec(text);
  if (!pair) return { subsequent: parseIncrement(text) };
  const initial = parseIncrement(pair[1] as string);
  const subsequent = parseIncrement(pair[2] as string);
  if (initial === undefined || subsequent === undefined) throw new CellError(`increment "${text}": both blocks must be at least 1 second`);
  return { initial, subsequent };
}

/** Whole non-negative seconds, for informational columns such as ASTPP included seconds. */
export function parseSeconds(text: string): number {
  if (text === '') return 0;
  if (!/^\d{1,6}$/.test(text)) throw new CellError(`"${text}" must be whole seconds`);
  return Number.parseInt(text, 10);
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Dates are UTC unless they carry an offset: "2026-01-01", "2026-01-01 08:00[:00]",
 * "2026-01-01T08:00:00Z", "2026-01-01T08:00:00+02:00". Anything else is rejected, including
 * impossible dates such as 2026-02-30.
 */
export function parseDate(text: string): Date {
  const dateOnly = DATE_ONLY.exec(text);
  if (dateOnly) return checkedUtc(text, dateOnly[1], dateOnly[2], dateOnly[3], '00', '00', '00', 'Z');
  const dateTime = DATE_TIME.exec(text);
  if (dateTime) {
    const [, y, mo, d, h, mi, s = '00', zone = 'Z'] = dateTime;
    return checkedUtc(text, y, mo, d, h, mi, s, zone);
  }
  throw new CellError(`date "${text}" must be YYYY-MM-DD or ISO-8601 date-time (UTC unless an offset is given)`);
}

function checkedUtc(text: string, ...parts: Array<string | undefined>): Date {
  const [y, mo, d, h, mi, s, zone] = parts as string[];
  const wallClock = Date.UTC(toInt(y), toInt(mo) - 1, toInt(d), toInt(h), toInt(mi), toInt(s));
  const check = new Date(wallClock);
  const sameFields =
    check.getUTCFullYear() === toInt(y) &&
    check.getUTCMonth() === toInt(mo) - 1 &&
    check.getUTCDate() === toInt(d) &&
    check.getUTCHours() === toInt(h) &&
    check.getUTCMinutes() === toInt(mi) &&
    check.getUTCSeconds() === toInt(s);
  if (!sameFields) throw new CellError(`date "${text}" does not exist`);
  return new Date(wallClock - offsetMinutes(zone) * 60_000);
}

function offsetMinutes(zone: string): number {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (toInt(digits.slice(0, 2)) * 60 + toInt(digits.slice(2, 4)));
}

const INACTIVE = new Set(['inactive', 'disabled', 'deleted', 'no', 'false', '0']);
export function isInactiveStatus(text: string): boolean {
  return INACTIVE.has(text.toLowerCase());
}

/** Shifted columns put numbers where the name belongs (the ASTPP export sample shows "24.9999"). */
export function parseDestinationName(text: string): string {
  if (text !== '' && /^[\d.,+\-\s]+$/.test(text)) {
    throw new CellError(`destination "${text}" looks like a number; are the columns shifted against the header?`);
  }
  return text;
}

/** Date and time parts only (never amounts): digits already checked by the patterns above. */
function toInt(digits: string | undefined): number {
  return Number.parseInt(digits ?? '0', 10);
}

/**
 * Dialled number -> E.164 ("+<country code><national number>") per deck configuration.
 *
 * Order matters: international prefixes are tried before the national prefix because in
 * most countries both start with '0' ("0049…" is international, "030…" national).
 */
import { NumberFormatError, RatingConfigError } from './errors';

export interface NumberingPlan {
  /** Country code of the tenant's home country, digits only ("49", "1", "44"). */
  readonly countryCode: string;
  /** Trunk prefix replaced by the country code ("0" in most of Europe, "1" in NANP, "" for none). Default "0". */
  readonly nationalPrefix?: string;
  /** Exit codes meaning "a country code follows". Default ["00"]; NANP uses ["011"]. */
  readonly internationalPrefixes?: readonly string[];
  /**
   * A number with no '+', no exit code and no trunk prefix: 'national' prepends the country
   * code (NANP 10-digit dialling), 'international' takes it as already starting with one.
   * Default 'national'.
   */
  readonly bareNumbers?: 'national' | 'international';
}

export const E164_MAX_DIGITS = 15;

/** Characters people and PBXs put in numbers for readability. Anything else is an error. */
const FORMATTING = /[\s\-.()/]/g;
/** "+44 (0)20 …": the "(0)" is the trunk prefix written for national callers and must go. */
const TRUNK_HINT_AFTER_PLUS = /^(\+\s*\d{1,3})\s*\(0\)/;

/** Normalise to E.164 with a leading '+'. Throws NumberFormatError naming the problem. */
export function normaliseNumber(raw: string, plan: NumberingPlan): string {
  assertPlan(plan);
  return normaliseChecked(raw, preparePlan(plan));
}

/**
 * normaliseNumber for one plan, checked and prepared once: a rate table normalises every CDR it
 * rates with it. An invalid plan still throws its RatingConfigError on every number, as before.
 */
export function numberNormaliser(plan: NumberingPlan): (raw: string) => string {
  try {
    assertPlan(plan);
  } catch {
    return (raw) => normaliseNumber(raw, plan);
  }
  const prepared = preparePlan(plan);
  return (raw) => normaliseChecked(raw, prepared);
}

/** A checked plan with its defaults filled in and its exit codes longest first ("011" before "01"). */
interface PreparedPlan {
  readonly countryCode: string;
  readonly nationalPrefix: string;
  readonly exitCodes: readonly string[];
  readonly bareNational: boolean;
}

function preparePlan(plan: NumberingPlan): PreparedPlan {
  return {
    countryCode: plan.countryCode,
    nationalPrefix: plan.nationalPrefix ?? '0',
    exitCodes: [...(plan.internationalPrefixes ?? ['00'])].sort((a, b) => b.length - a.length),
    bareNational: (plan.bareNumbers ?? 'national') === 'national',
  };
}

function normaliseChecked(raw: string, plan: PreparedPlan): string {
  const compact = raw.trim().replace(TRUNK_HINT_AFTER_PLUS, '$1').replace(FORMATTING, '');
  if (compact === '') throw new NumberFormatError('number is empty', raw);
  const international = toInternationalDigits(compact, plan, raw);
  return `+${assertE164Digits(international, raw)}`;
}

/** The digits of an E.164 number without its '+', as used for prefix matching. */
export function e164Digits(e164: string): string {
  return e164.startsWith('+') ? e164.slice(1) : e164;
}

function toInternationalDigits(compact: string, plan: PreparedPlan, raw: string): string {
  if (compact.startsWith('+')) return requireDigits(compact.slice(1), raw);
  const digits = requireDigits(compact, raw);
  // The longest configured exit code the number starts with (the list is sorted longest first).
  const exitCode = plan.exitCodes.find((code) => digits.startsWith(code));
  if (exitCode !== undefined) return digits.slice(exitCode.length);
  const { nationalPrefix } = plan;
  if (nationalPrefix !== '' && digits.startsWith(nationalPrefix)) {
    return plan.countryCode + digits.slice(nationalPrefix.length);
  }
  return plan.bareNational ? plan.countryCode + digits : digits;
}

function requireDigits(text: string, raw: string): string {
  const bad = /[^0-9]/.exec(text);
  if (bad) {
    throw new NumberFormatError(
      `number contains "${bad[0]}" at position ${raw.indexOf(bad[0]) + 1}; only digits, a leading '+' and spaces, '-', '.', '(', ')', '/' are allowed`,
      raw,
    );
  }
  return text;
}

function assertE164Digits(digits: string, raw: string): string {
  if (digits === '') throw new NumberFormatError('number has no digits after its prefix', raw);
  if (digits.startsWith('0')) throw new NumberFormatError('country code cannot start with 0', raw);
  if (digits.length > E164_MAX_DIGITS) {
    throw new NumberFormatError(`number has ${digits.length} digits, E.164 allows at most ${E164_MAX_DIGITS}`, raw);
  }
  return digits;
}

/**
 * A country code as plans (the webhook, whmcs isCountryCode) and rate decks take it: 1 to 4 digits, no
 * leading zero (E.164's 1 to 3, and a NANP area written with its 1, such as 1868). One rule for both, so
 * a plan's code is never refused by the deck it names.
 */
export const COUNTRY_CODE_DIGITS = /^[1-9][0-9]{0,3}$/;
/** What a bad country code is told, wherever it is checked. */
export const COUNTRY_CODE_RULE = 'must be a country code of 1 to 4 digits, not starting with 0 (E.164)';

function assertPlan(plan: NumberingPlan): void {
  if (!COUNTRY_CODE_DIGITS.test(plan.countryCode)) throw new RatingConfigError(COUNTRY_CODE_RULE, 'numberingPlan.countryCode');
  if (plan.nationalPrefix !== undefined && !/^\d{0,3}$/.test(plan.nationalPrefix)) {
    throw new RatingConfigError('must be 0-3 digits', 'numberingPlan.nationalPrefix');
  }
  for (const code of plan.internationalPrefixes ?? []) {
    if (!/^\d{1,4}$/.test(code)) throw new RatingConfigError(`"${code}" must be 1-4 digits`, 'numberingPlan.internationalPrefixes');
  }
}

import { FusionpbxValidationError } from '../errors';

/**
 * Phone numbers as FusionPBX's destination page stores them. A DID is kept in one canonical form
 * per plan, so the same number given as `+1 555 123 4567`, `15551234567` or `5551234567` is one
 * destination:
 * - `national` (with a country code): destination_prefix = the country code, destination_number =
 *   the national number; FusionPBX's regex then matches `+CC…`, `CC…` and the bare national number.
 * - `e164`: destination_number = `+<country code><national number>`, no prefix; the regex matches
 *   the `+` form only, as FusionPBX's own page does for a number entered with `+`.
 * Without a country code a number is stored as given (digits, a leading `+` kept).
 */

export type NumberFormat = 'national' | 'e164';

export interface NumberPlan {
  /** Digits only (no `+`), or null when the plan names no country. */
  countryCode: string | null;
  format: NumberFormat;
}

export interface PhoneNumber {
  /** v_destinations.destination_prefix (the country code in national format), else null. */
  prefix: string | null;
  /** v_destinations.destination_number. */
  number: string;
  /** `+<digits>` when the country is known (the key for "the same number" across tenants), else the number. */
  canonical: string;
}

const FORMATTING = /[\s().-]/g;

/** International digits (no `+`) of a number written with a country known, or null when it is national. */
function internationalDigits(raw: string, countryCode: string): string | null {
  if (raw.startsWith('+')) return raw.slice(1);
  if (raw.startsWith('00')) return raw.slice(2);
  // 011 is the +1 countries' international prefix (their numbers have no trunk 0); elsewhere 011… is national (UK 0113 Leeds).
  if (countryCode === '1' && raw.startsWith('011')) return raw.slice(3);
  // Written with the country code but without `+` (e.g. 15551234567 for +1, 442071234567 for +44).
  if (raw.startsWith(countryCode) && raw.length >= countryCode.length + 8) return raw;
  return null;
}

/**
 * One number in the plan's canonical form. `field` names the input in the error (e.g. `plan.dids[1]`,
 * `number`): nothing is written when a number is refused.
 */
export function normaliseNumber(input: unknown, plan: NumberPlan, field: string): PhoneNumber {
  const text = typeof input === 'number' ? String(input) : input;
  if (typeof text !== 'string' || text.trim() === '') throw new FusionpbxValidationError(field, 'is required');
  const raw = text.trim().replace(FORMATTING, '');
  if (!/^\+?[0-9]{3,20}$/.test(raw)) throw new FusionpbxValidationError(field, `'${text.slice(0, 40)}' is not a phone number (3 to 20 digits, optional leading +)`);
  if (plan.countryCode === null) return { prefix: null, number: raw, canonical: raw };
  const code = plan.countryCode;
  let international = internationalDigits(raw, code);
  if (international === null) {
    // National: drop one trunk prefix 0 (e.g. UK 020…), then the country code completes it.
    const national = raw.startsWith('0') ? raw.slice(1) : raw;
    international = `${code}${national}`;
  }
  if (!international.startsWith(code)) {
    throw new FusionpbxValidationError(field, `'${text.slice(0, 40)}' is not a number of country code +${code} (the plan's countryCode)`);
  }
  const national = international.slice(code.length);
  if (national.length < 3) throw new FusionpbxValidationError(field, `'${text.slice(0, 40)}' is too short for a number of country code +${code}`);
  const canonical = `+${international}`;
  return plan.format === 'e164' ? { prefix: null, number: canonical, canonical } : { prefix: code, number: national, canonical };
}

/**
 * Every way the same number may already be stored in v_destinations (by any tenant, in either
 * format): compared against destination_number and destination_prefix || destination_number, the
 * columns FusionPBX's own duplicate check reads (destination_edit.php, "check for duplicates").
 */
export function storedForms(phone: PhoneNumber, plan: NumberPlan): string[] {
  const forms = new Set([phone.number, phone.canonical, phone.canonical.replace(/^\+/, '')]);
  if (plan.countryCode !== null) forms.add(phone.canonical.slice(1 + plan.countryCode.length));
  return [...forms];
}

/**
 * The destination_number values of a call that numberRegex (destinations->to_regex()) lets reach this
 * destination: the prefix is optional after an optional `+`, so a national number is reached as
 * `n`, `CCn`, `+n` and `+CCn`; a number without prefix, or written with `+` (the prefix is then not
 * read), only as written. In FusionPBX's default dialplan mode (multiple) every call is offered to
 * every public dialplan, whatever its domain: two destinations catch one call exactly when these sets
 * meet (single mode offers a call to fewer of them). FusionPBX normalises nothing before (its
 * public context's own dialplans, caller-details and not-found, test no number), so `+15551234567`
 * and `15551234567` stored as given are two numbers no call reaches both of.
 * For digits only (an optional `+`); a block or a regex is tested by its stored regex instead.
 */
export function dialledForms(phone: Pick<PhoneNumber, 'prefix' | 'number'>): string[] {
  const prefix = (phone.prefix ?? '').replace(/\+/g, '');
  if (prefix === '' || phone.number.startsWith('+')) return [phone.number];
  return [phone.number, `${prefix}${phone.number}`, `+${phone.number}`, `+${prefix}${phone.number}`];
}

/**
 * destinations->to_regex() for a number with an optional prefix and no trunk prefix or area code
 * (5.1.0 and 5.3.0 app/destinations/resources/classes/destinations.php, the last branch of to_regex;
 * the two tags are identical there).
 */
export function numberRegex(phone: Pick<PhoneNumber, 'prefix' | 'number'>): string {
  let regex = phone.number.startsWith('+') ? `^\\+(${phone.number.slice(1)})$` : phone.number;
  let prefix = '';
  if (phone.prefix) {
    const digits = phone.prefix.replace(/\+/g, '');
    prefix = digits.length === 1 ? `\\+?${digits}?` : `\\+?(?:${digits})?`;
  }
  if (!regex.startsWith('^')) regex = `^${regex}`;
  if (!regex.endsWith('$')) regex = `${regex}$`;
  if (!regex.includes('(')) regex = regex.replace('^', `^${prefix}(`).replace('$', ')$');
  return regex;
}

/**
 * The cache keys destination_edit.php deletes after a save (5.1.0 and 5.3.0, "clear the cache"):
 * `dialplan:<context>` in multiple mode; in single mode the per-number keys dialplan.lua caches under.
 */
export function destinationCacheKeys(mode: 'single' | 'multiple', context: string, phone: Pick<PhoneNumber, 'prefix' | 'number'>): string[] {
  if (mode === 'multiple') return [`dialplan:${context}`];
  const keys: string[] = [];
  const numeric = (text: string) => /^[0-9]+$/.test(text);
  if (phone.prefix && numeric(phone.prefix) && numeric(phone.number)) {
    keys.push(`dialplan:${context}:${phone.prefix}${phone.number}`, `dialplan:${context}:+${phone.prefix}${phone.number}`);
  }
  if (phone.number.startsWith('+') && numeric(phone.number.slice(1))) keys.push(`dialplan:${context}:${phone.number}`);
  if (numeric(phone.number)) keys.push(`dialplan:${context}:${phone.number}`);
  return keys;
}

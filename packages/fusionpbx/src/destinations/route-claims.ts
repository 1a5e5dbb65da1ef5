/**
 * What an inbound route's called-number condition claims. A route typed on FusionPBX's Inbound Routes
 * page (dialplan_inbound_add.php: `^(5551234567)$`, any expression in its advanced form) may be made
 * by a tenant admin, so only a route naming numbers may hold one against the other tenants; a pattern
 * for a whole range (a catch-all for unassigned numbers, `^(\d+)$`, `^(555212\d{4})$`) would otherwise
 * let one tenant stop every other tenant's numbers.
 */

/** The condition fields FusionPBX's pages match the called number on (destination_edit.php's allowed dialplan/destination values). */
export const CALLED_NUMBER_FIELDS: readonly string[] = ['destination_number', '${sip_to_user}', '${sip_req_user}'];

/**
 * `none`: the pattern matches no form; `number`: it matches one as a number it names (a literal, one
 * of to_regex()'s shapes, an alternation or a class of a few digits); `range`: it matches only as one
 * of a range — some digit position accepts every digit, or every digit may be added somewhere (an open
 * length), so every neighbour of the number is caught as well.
 */
export type RouteClaim = 'none' | 'number' | 'range';

const DIGITS = [...'0123456789'];

/** The pattern as JavaScript reads it, or null: FusionPBX stores any text there, and one unreadable route must not stop every write. */
export function patternOf(source: string | null | undefined): RegExp | null {
  if (typeof source !== 'string' || source === '') return null;
  try {
    return new RegExp(source);
  } catch {
    return null;
  }
}

/** Whether the pattern accepts `form` with any digit at some position or with any digit added somewhere. */
function openAt(pattern: RegExp, form: string): boolean {
  const everyDigit = (build: (digit: string) => string) => DIGITS.every((digit) => pattern.test(build(digit)));
  for (let at = 0; at <= form.length; at += 1) {
    if (everyDigit((digit) => `${form.slice(0, at)}${digit}${form.slice(at)}`)) return true;
    if (/[0-9]/.test(form.charAt(at)) && everyDigit((digit) => `${form.slice(0, at)}${digit}${form.slice(at + 1)}`)) return true;
  }
  return false;
}

/**
 * How the pattern claims a number reached as one of `forms` (its dialled forms): a form it names
 * outweighs one it only ranges over. A caller checking many numbers passes the pattern compiled once.
 */
export function routeClaim(source: RegExp | string | null | undefined, forms: Iterable<string>): RouteClaim {
  const pattern = source instanceof RegExp ? source : patternOf(source);
  if (!pattern) return 'none';
  let claim: RouteClaim = 'none';
  for (const form of forms) {
    if (!pattern.test(form)) continue;
    if (!openAt(pattern, form)) return 'number';
    claim = 'range';
  }
  return claim;
}

/**
 * Billing exclusions in ictVoIP's syntax (its Billing Management "Exclude from Billing" filters):
 * a comma-separated list of patterns; a call that matches one is stored as not billable with the
 * pattern that matched, never left unrated.
 *
 * - digits and `*`, `#` match themselves; `x` (or `X`) matches any one digit: `*xx` is a two-digit
 *   star code (`*97`), `800xxxxxxx` a ten-digit 800 number. A pattern matches the WHOLE number
 *   (`911` does not match `9115551234`); a trailing `*` after at least one character matches any
 *   rest (`1800*`).
 * - spaces, `-`, `.`, `(`, `)` are ignored on both sides (`1-800-xxx-xxxx` = `1800xxxxxxx`), and so is
 *   a leading `+` (`+18005550100` is matched as `18005550100`): list each form the PBX writes, as
 *   in ictVoIP (`800xxxxxxx,1800xxxxxxx`).
 * - `[local]`, `[inbound]`, `[outbound]` match the call's direction.
 * - `[emergency]` and `[tollfree]` stand for the shipped lists below; they match calls the tenant
 *   dials (outbound, local), not inbound calls to its own toll-free DIDs. Patterns written out match
 *   the number of a call in any direction.
 */
import type { CdrDirection } from './cdr';
import { RatingConfigError } from './errors';

/** Emergency numbers (North America 911 and its 933 test line, 112 Europe/GSM, 999 UK, 000 Australia, 110/119 East Asia). */
export const EMERGENCY_PATTERNS: readonly string[] = ['911', '933', '112', '999', '000', '110', '119'];

/** North American toll-free numbers, 10 digits and with the leading 1 (ictVoIP's documented list plus 833/855). */
export const TOLL_FREE_PATTERNS: readonly string[] = ['800', '833', '844', '855', '866', '877', '888'].flatMap((code) => [`${code}xxxxxxx`, `1${code}xxxxxxx`]);

/** What a plan without `billingExcludes` gets (BILLING_EXCLUDES' default). */
export const DEFAULT_EXCLUDES = '[emergency],[tollfree]';

const DIRECTION_TOKENS: Readonly<Record<string, CdrDirection>> = { local: 'local', inbound: 'inbound', outbound: 'outbound' };
const SET_TOKENS: Readonly<Record<string, readonly string[]>> = { emergency: EMERGENCY_PATTERNS, tollfree: TOLL_FREE_PATTERNS };
const FORMATTING = /[\s().-]/g;

export type ExclusionRule =
  | { readonly kind: 'direction'; readonly rule: string; readonly direction: CdrDirection }
  | { readonly kind: 'number'; readonly rule: string; readonly pattern: RegExp; readonly outgoingOnly: boolean };

export interface ExclusionList {
  readonly rules: readonly ExclusionRule[];
  /**
   * The union of the number rules' patterns, for an inbound call and for any other: a number it
   * does not match matches none of them, so the rules are not tried one by one (the default list
   * has 21 patterns and most calls match none). Built by parseExclusions; a list without it is
   * tried rule by rule.
   */
  readonly anyNumber?: { readonly inbound: RegExp | null; readonly outgoing: RegExp | null };
}

export const NO_EXCLUSIONS: ExclusionList = { rules: [] };

/** One regular expression matching what any of `rules` matches (each is anchored `^…$`), or null when none. */
function unionOf(rules: readonly ExclusionRule[]): RegExp | null {
  const sources = rules.flatMap((rule) => (rule.kind === 'number' ? [rule.pattern.source] : []));
  return sources.length === 0 ? null : new RegExp(sources.map((source) => `(?:${source})`).join('|'));
}

function numberRule(text: string, rule: string, field: string, outgoingOnly = false): ExclusionRule {
  const compact = text.replace(FORMATTING, '').replace(/^\+/, '');
  if (!/^[0-9xX*#]+$/.test(compact))
    throw new RatingConfigError(`"${text}" is not a pattern: use digits, x, *, # (or [local], [inbound], [outbound], [emergency], [tollfree])`, field);
  const openEnded = compact.length > 1 && compact.endsWith('*');
  const body = openEnded ? compact.slice(0, -1) : compact;
  const source = [...body].map((char) => (char === 'x' || char === 'X' ? '\\d' : char === '*' || char === '#' ? `\\${char}` : char)).join('');
  return { kind: 'number', rule, pattern: new RegExp(`^${source}${openEnded ? '.*' : ''}$`), outgoingOnly };
}

function tokenRules(item: string, field: string): ExclusionRule[] {
  const name = item.slice(1, -1).trim().toLowerCase();
  const direction = DIRECTION_TOKENS[name];
  if (direction) return [{ kind: 'direction', rule: `[${name}]`, direction }];
  const set = SET_TOKENS[name];
  // The shipped sets describe numbers a tenant dials: an inbound call to the tenant's own toll-free DID is what inbound billing prices.
  if (set) return set.map((pattern) => numberRule(pattern, `[${name}]${pattern}`, field, true));
  throw new RatingConfigError(`unknown token "${item}": use [local], [inbound], [outbound], [emergency] or [tollfree]`, field);
}

/** Parses an exclusion list; a bad pattern throws RatingConfigError naming `field` and the pattern. */
export function parseExclusions(text: string, field = 'billingExcludes'): ExclusionList {
  const rules: ExclusionRule[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (item.startsWith('[') && item.endsWith(']')) rules.push(...tokenRules(item, field));
    else rules.push(numberRule(item, item, field));
  }
  const anyNumber = { inbound: unionOf(rules.filter((rule) => rule.kind === 'number' && !rule.outgoingOnly)), outgoing: unionOf(rules) };
  return { rules, anyNumber };
}

/** The dialled number as exclusions compare it: formatting and a leading `+` removed. */
export function exclusionNumber(dialled: string | null | undefined): string {
  return (dialled ?? '').replace(FORMATTING, '').replace(/^\+/, '');
}

/** The first rule the call matches (its text, e.g. `[emergency]911`, `800xxxxxxx`, `[inbound]`), or undefined. */
export function matchExclusion(list: ExclusionList, call: { readonly direction: string; readonly number: string | null | undefined }): string | undefined {
  if (list.rules.length === 0) return undefined;
  const number = exclusionNumber(call.number);
  const union = list.anyNumber ? (call.direction === 'inbound' ? list.anyNumber.inbound : list.anyNumber.outgoing) : undefined;
  // No number rule can match: only a direction rule can (the first in the list's order, as below).
  if (union !== undefined && (union === null || !union.test(number))) return firstDirectionRule(list, call.direction);
  for (const rule of list.rules) {
    if (rule.kind === 'direction' ? rule.direction === call.direction : (!rule.outgoingOnly || call.direction !== 'inbound') && rule.pattern.test(number)) return rule.rule;
  }
  return undefined;
}

function firstDirectionRule(list: ExclusionList, direction: string): string | undefined {
  for (const rule of list.rules) if (rule.kind === 'direction' && rule.direction === direction) return rule.rule;
  return undefined;
}

const EMERGENCY = parseExclusions('[emergency]', 'emergency');

/**
 * Whether `dialled` is a number of the `[emergency]` list (formatting and a leading `+` ignored, the
 * whole number): the one list the billing exclusion, credit control's emergency routes and the
 * suspend's sparing of emergency calls in progress all read.
 */
export function isEmergencyNumber(dialled: string | null | undefined): boolean {
  return matchExclusion(EMERGENCY, { direction: 'outbound', number: dialled }) !== undefined;
}

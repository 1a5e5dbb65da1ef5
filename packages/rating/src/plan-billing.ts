/**
 * The billing fields of a WHMCS plan (the TenantCommand's `plan`, configurable options folded in),
 * read once here for both the webhook's validation and the rating: exclusions, whether inbound
 * calls are billed and how they are priced. A bad value throws RatingConfigError naming
 * `plan.<field>`.
 */
import type { CdrDirection } from './cdr';
import { RatingConfigError } from './errors';
import { parseExclusions, type ExclusionList } from './exclusions';
import { parseIncrements, type Increments } from './increments';
import { parseMoney, type Micro } from './money';

export interface PlanBilling {
  exclusions: ExclusionList;
  /** the directions billed: the install's default with the plan's inbound switch applied */
  billedDirections: CdrDirection[];
  /** a deck name for inbound calls, or a flat rate, or neither (the main deck) */
  inbound: { kind: 'deck'; deck: string } | { kind: 'flat'; ratePerMinute: Micro; increments: Increments } | null;
}

export interface PlanBillingDefaults {
  /** BILLING_EXCLUDES */
  excludes: string;
  /** BILLING_DIRECTIONS */
  billedDirections: readonly CdrDirection[];
}

const TRUE_WORDS = new Set(['true', 'on', 'yes', '1', 'enabled']);
const FALSE_WORDS = new Set(['false', 'off', 'no', '0', 'disabled']);

/** Plan fields this module reads (for callers that list or validate them). */
export const PLAN_BILLING_FIELDS = ['billingExcludes', 'inboundBilling', 'inboundRateDeck', 'inboundRate', 'inboundIncrement'] as const;

function text(plan: Record<string, unknown>, key: string): string | undefined {
  const value = plan[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new RatingConfigError('must be text', `plan.${key}`);
}

/** WHMCS yes/no settings arrive as `on`/'' or yes/no; '' (an unticked box) means "not set": the default applies. */
function inboundSwitch(plan: Record<string, unknown>): boolean | undefined {
  const value = text(plan, 'inboundBilling')?.toLowerCase();
  if (value === undefined) return undefined;
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  throw new RatingConfigError(`"${value}" is not yes/no (on, off, true, false, 1, 0)`, 'plan.inboundBilling');
}

function flatRate(plan: Record<string, unknown>): Micro | undefined {
  const rate = text(plan, 'inboundRate');
  if (rate === undefined) return undefined;
  try {
    return parseMoney(rate);
  } catch {
    throw new RatingConfigError(`"${rate}" is not a price per minute (a non-negative decimal with up to 6 places)`, 'plan.inboundRate');
  }
}

export type PlanBillingField = (typeof PLAN_BILLING_FIELDS)[number];

/** One bad billing field of a plan: `plan.<field>` and what is wrong with it. */
export interface PlanBillingProblem {
  path: `plan.${PlanBillingField}`;
  message: string;
}

/**
 * Every bad billing field of a plan, each checked on its own by the parser the rating reads it with
 * (this module is the grammar's one home): the webhook's validation turns these into a 400 naming
 * the field, so a value the rating would refuse never reaches a CDR sync. An empty list = valid.
 */
export function planBillingProblems(plan: Record<string, unknown>): PlanBillingProblem[] {
  const checks: [PlanBillingField, () => unknown][] = [
    [
      'billingExcludes',
      () => {
        const own = text(plan, 'billingExcludes');
        return own === undefined || own.toLowerCase() === 'none' ? null : parseExclusions(own, 'plan.billingExcludes');
      },
    ],
    ['inboundBilling', () => inboundSwitch(plan)],
    ['inboundRate', () => flatRate(plan)],
    [
      'inboundIncrement',
      () => {
        const increment = text(plan, 'inboundIncrement');
        return increment === undefined ? null : parseIncrements(increment, 'plan.inboundIncrement');
      },
    ],
    ['inboundRateDeck', () => text(plan, 'inboundRateDeck')],
  ];
  const problems: PlanBillingProblem[] = [];
  for (const [field, check] of checks) {
    try {
      check();
    } catch (error) {
      if (!(error instanceof RatingConfigError)) throw error;
      problems.push({ path: `plan.${field}`, message: error.message });
    }
  }
  if (text(plan, 'inboundRate') !== undefined && text(plan, 'inboundRateDeck') !== undefined) problems.push({ path: 'plan.inboundRate', message: bothInbound().message });
  return problems;
}

const bothInbound = () => new RatingConfigError('set either inboundRateDeck or inboundRate, not both', 'plan.inboundRate');

export function planBilling(plan: Record<string, unknown>, defaults: PlanBillingDefaults): PlanBilling {
  // An empty setting is "not set" (the emergency and toll-free defaults stay); `none` turns every exclusion off.
  const own = text(plan, 'billingExcludes');
  const excludes = own === undefined ? defaults.excludes : own.toLowerCase() === 'none' ? '' : own;
  const exclusions = parseExclusions(excludes, own === undefined ? 'BILLING_EXCLUDES' : 'plan.billingExcludes');
  const billInbound = inboundSwitch(plan);
  const directions = new Set(defaults.billedDirections);
  if (billInbound === true) directions.add('inbound');
  if (billInbound === false) directions.delete('inbound');
  const deck = text(plan, 'inboundRateDeck');
  const rate = flatRate(plan);
  const incrementText = text(plan, 'inboundIncrement');
  const increments = incrementText === undefined ? { initial: 60, subsequent: 60 } : parseIncrements(incrementText, 'plan.inboundIncrement');
  if (deck !== undefined && rate !== undefined) throw bothInbound();
  const inbound = rate !== undefined ? { kind: 'flat' as const, ratePerMinute: rate, increments } : deck !== undefined ? { kind: 'deck' as const, deck } : null;
  return { exclusions, billedDirections: [...directions], inbound };
}

/**
 * Rating of CDRs. Every CDR ends in exactly one of three outcomes, so nothing is ever silently
 * free: 'rated' (with an exact amount), 'not_billable' (with the policy reason) or 'unrated'
 * (no rate, bad number or bad CDR: to be stored, counted, shown and alerted, never priced at 0).
 */
import type { RatingCdr } from './cdr';
import { billableSeconds, splitIncluded, type Increments } from './increments';
import { toMicro, type ExactMicro, type Micro } from './money';
import { notBillable, ratedNumberOf, type BillingPolicy, type NotBillableReason } from './policy';
import type { RateTable } from './rate-table';

export type UnratedReason = 'NO_MATCHING_RATE' | 'INVALID_NUMBER' | 'INVALID_CDR';

interface OutcomeBase {
  readonly xmlCdrUuid: string;
  readonly domainName: string;
  /** Included seconds left for the next call of the period. */
  readonly remainingIncludedSeconds: number;
}

export interface RatedCall extends OutcomeBase {
  readonly status: 'rated';
  readonly e164: string;
  readonly prefix: string;
  readonly destination: string;
  readonly ratePerMinute: Micro;
  readonly connectFee: Micro;
  readonly rateEffectiveFrom: Date;
  readonly billsec: number;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly billedSeconds: number;
  /** Exact to the micro-unit (a number while it is a safe integer); round only the invoice line (roundInvoiceLine). */
  readonly amount: ExactMicro;
}

export interface UnratedCall extends OutcomeBase {
  readonly status: 'unrated';
  readonly reason: UnratedReason;
  readonly detail: string;
  readonly number: string | null;
}

export interface NotBillableCall extends OutcomeBase {
  readonly status: 'not_billable';
  readonly reason: NotBillableReason;
  /** for EXCLUDED: the plan's exclusion rule that matched (e.g. `[emergency]911`, `800xxxxxxx`, `[inbound]`) */
  readonly rule?: string;
}

export type CallRating = RatedCall | UnratedCall | NotBillableCall;

/**
 * How a plan prices inbound calls when it bills them: its own deck (looked up by the number called,
 * the DID) or one flat rate with its own increments. Without it, inbound calls use the main deck.
 */
export type InboundRating =
  { readonly kind: 'deck'; readonly table: RateTable } | { readonly kind: 'flat'; readonly ratePerMinute: Micro; readonly connectFee: Micro; readonly increments: Increments };

export interface RatingContext {
  readonly table: RateTable;
  readonly policy: BillingPolicy;
  readonly inbound?: InboundRating;
}

/** The destination name a flat inbound rate is stored with. */
export const FLAT_INBOUND_DESTINATION = 'inbound (flat rate)';

/** Rate one CDR, consuming from `remainingIncludedSeconds` (the plan's allowance left this period). */
export function rateCdr(cdr: RatingCdr, context: RatingContext, remainingIncludedSeconds = 0): CallRating {
  const base = { xmlCdrUuid: String(cdr.xmlCdrUuid ?? ''), domainName: String(cdr.domainName ?? ''), remainingIncludedSeconds };
  const invalid = cdrProblem(cdr);
  if (invalid) return { ...base, status: 'unrated', reason: 'INVALID_CDR', detail: invalid, number: null };
  const excluded = notBillable(cdr, context.policy);
  if (excluded) return notBillableCall(base, excluded.reason, excluded.rule);

  const number = ratedNumberOf(cdr, context.policy) ?? '';
  const inbound = cdr.direction === 'inbound' ? context.inbound : undefined;
  if (inbound?.kind === 'flat') {
    const flat = { prefix: '', destination: FLAT_INBOUND_DESTINATION, ratePerMinute: inbound.ratePerMinute, connectFee: inbound.connectFee, effectiveFrom: cdr.startStamp };
    return ratedCall(cdr, base, number, flat, inbound.increments);
  }
  const lookup = (inbound?.kind === 'deck' ? inbound.table : context.table).lookup(number, cdr.startStamp);
  if (lookup.kind === 'invalid-number') return { ...base, status: 'unrated', reason: 'INVALID_NUMBER', detail: lookup.message, number };
  if (lookup.kind === 'no-rate') {
    return { ...base, status: 'unrated', reason: 'NO_MATCHING_RATE', detail: `no rate for ${lookup.e164} at ${cdr.startStamp.toISOString()}`, number };
  }
  const { rate } = lookup;
  return ratedCall(cdr, base, lookup.e164, rate, { initial: rate.initialIncrement, subsequent: rate.subsequentIncrement });
}

/**
 * The not-billable outcome (most calls of a sync: unanswered, b-legs, inbound) as one object literal
 * rather than two spreads; `rule` only when an exclusion matched, as before.
 */
function notBillableCall(base: OutcomeBase, reason: NotBillableReason, rule: string | undefined): NotBillableCall {
  if (rule === undefined)
    return { xmlCdrUuid: base.xmlCdrUuid, domainName: base.domainName, remainingIncludedSeconds: base.remainingIncludedSeconds, status: 'not_billable', reason };
  return { xmlCdrUuid: base.xmlCdrUuid, domainName: base.domainName, remainingIncludedSeconds: base.remainingIncludedSeconds, status: 'not_billable', reason, rule };
}

/** What a call is priced with: a deck's rate, or a plan's flat inbound rate (no prefix; the DID is kept as written). */
interface Priced {
  readonly prefix: string;
  readonly destination: string;
  readonly ratePerMinute: Micro;
  readonly connectFee: Micro;
  readonly effectiveFrom: Date;
}

/**
 * The rated outcome, built as one object literal (this runs for every billable call): the
 * amount is a number of micro-units (no bigint) whenever that is exact (see callCost).
 */
function ratedCall(cdr: RatingCdr, base: OutcomeBase, e164: string, priced: Priced, increments: Increments): RatedCall {
  const seconds = billableSeconds(cdr.billsec, increments);
  const split = splitIncluded({ billableSeconds: seconds, ratePerMinute: priced.ratePerMinute, connectFee: priced.connectFee }, base.remainingIncludedSeconds);
  return {
    xmlCdrUuid: base.xmlCdrUuid,
    domainName: base.domainName,
    remainingIncludedSeconds: split.remainingIncludedSeconds,
    status: 'rated',
    e164,
    prefix: priced.prefix,
    destination: priced.destination,
    ratePerMinute: priced.ratePerMinute,
    connectFee: priced.connectFee,
    rateEffectiveFrom: priced.effectiveFrom,
    billsec: cdr.billsec,
    billableSeconds: seconds,
    includedSeconds: split.includedSeconds,
    billedSeconds: split.billedSeconds,
    amount: split.amount,
  };
}

/** What is wrong with a CDR's shape, or undefined. Data from the database is not trusted blindly. */
function cdrProblem(cdr: RatingCdr): string | undefined {
  if (typeof cdr.xmlCdrUuid !== 'string' || cdr.xmlCdrUuid === '') return 'xmlCdrUuid is missing';
  if (!(cdr.startStamp instanceof Date) || Number.isNaN(cdr.startStamp.getTime())) return 'startStamp is not a valid date';
  if (!Number.isSafeInteger(cdr.billsec) || cdr.billsec < 0) return `billsec ${String(cdr.billsec)} is not a non-negative integer`;
  if (cdr.leg !== 'a' && cdr.leg !== 'b') return `leg "${String(cdr.leg)}" is not a or b`;
  return undefined;
}

export interface PeriodRating {
  /** One outcome per CDR, in call order (start time, then uuid). */
  readonly calls: CallRating[];
  readonly ratedCount: number;
  readonly unratedCount: number;
  readonly notBillableCount: number;
  /** Exact sum of rated amounts; the invoice line is roundInvoiceLine(totalAmount). */
  readonly totalAmount: Micro;
  readonly includedSecondsUsed: number;
  readonly billedSeconds: number;
  readonly remainingIncludedSeconds: number;
}

/**
 * Rate a period's CDRs in call order so included minutes go to the earliest calls; the order
 * is total (uuid breaks ties), so re-rating the same CDRs gives the same split.
 */
export function ratePeriod(cdrs: readonly RatingCdr[], context: RatingContext, includedSeconds = 0): PeriodRating {
  const ordered = [...cdrs].sort(callOrder);
  let remaining = includedSeconds;
  const calls: CallRating[] = [];
  for (const cdr of ordered) {
    const outcome = rateCdr(cdr, context, remaining);
    remaining = outcome.remainingIncludedSeconds;
    calls.push(outcome);
  }
  const rated = calls.filter((call): call is RatedCall => call.status === 'rated');
  return {
    calls,
    ratedCount: rated.length,
    unratedCount: calls.filter((call) => call.status === 'unrated').length,
    notBillableCount: calls.filter((call) => call.status === 'not_billable').length,
    totalAmount: rated.reduce((sum, call) => sum + toMicro(call.amount), 0n),
    includedSecondsUsed: rated.reduce((sum, call) => sum + call.includedSeconds, 0),
    billedSeconds: rated.reduce((sum, call) => sum + call.billedSeconds, 0),
    remainingIncludedSeconds: remaining,
  };
}

function callOrder(a: RatingCdr, b: RatingCdr): number {
  const timeA = timeOf(a);
  const timeB = timeOf(b);
  if (timeA !== timeB) return timeA < timeB ? -1 : 1;
  return a.xmlCdrUuid < b.xmlCdrUuid ? -1 : a.xmlCdrUuid > b.xmlCdrUuid ? 1 : 0;
}

function timeOf(cdr: RatingCdr): number {
  const time = cdr.startStamp instanceof Date ? cdr.startStamp.getTime() : Number.NaN;
  return Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time;
}

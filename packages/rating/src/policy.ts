/**
 * Which CDRs are billed at all. Decisions (documented in the README):
 * - a-leg only: FusionPBX stores one a-leg per call (log-b-leg=false); b-legs would double-bill.
 * - outbound only by default; inbound can be enabled per plan; local (on-net) is never billed
 *   unless listed.
 * - a call is billable only when answered (billsec > 0), at least `minimumBillsec` long and
 *   ended by a billable hangup cause. The default causes are the ones an answered call
 *   normally ends with, not only NORMAL_CLEARING: an answered call dropped by an RTP timeout
 *   (MEDIA_TIMEOUT) or a call-length limit (ALLOTTED_TIMEOUT) was still carried and the carrier
 *   charges for it. So is the leg of a party who transferred the call: FreeSWITCH ends it with
 *   BLIND_TRANSFER (switch_ivr_session_transfer hangs up the other channel of the bridge) or
 *   ATTENDED_TRANSFER (mod_sofia's REFER with Replaces, mod_dptools' att_xfer), after the seconds
 *   it was answered. '*' bills any cause once answered.
 */
import { RatingConfigError } from './errors';
import type { CdrDirection } from './cdr';
import { matchExclusion, NO_EXCLUSIONS, type ExclusionList } from './exclusions';

export interface BillingPolicy {
  readonly billedDirections: readonly CdrDirection[];
  /** Hangup causes of answered calls that are billed; ['*'] bills all answered calls. */
  readonly billableHangupCauses: readonly string[];
  /** Calls shorter than this (seconds of billsec) are not billed. At least 1 (unanswered calls are never billed). */
  readonly minimumBillsec: number;
  /** Which CDR number is rated. */
  readonly ratedNumber: 'destinationNumber' | 'callerDestination';
  /** The plan's exclusions (ictVoIP syntax, parseExclusions): a matching call is not billable, with the rule. */
  readonly exclusions: ExclusionList;
}

export const DEFAULT_BILLABLE_HANGUP_CAUSES: readonly string[] = [
  'NORMAL_CLEARING',
  'NORMAL_UNSPECIFIED',
  'MEDIA_TIMEOUT',
  'ALLOTTED_TIMEOUT',
  'BLIND_TRANSFER',
  'ATTENDED_TRANSFER',
];

/**
 * The cause the bridge ends a suspended or terminated tenant's calls in progress with (`uuid_kill`, emergency calls apart).
 * Q.850 cause 50, "requested facility not subscribed": the customer's service is off. Neither
 * FusionPBX (5.1.0, 5.3.0) nor FreeSWITCH's own modules end a call with it, so a CDR with it names
 * the bridge's suspend. Such a call was answered and carried until then, so it is billed for its
 * answered seconds whatever BILLING_HANGUP_CAUSES lists: a list written without it must not make
 * the calls of a customer suspended for not paying free.
 */
export const SUSPEND_HANGUP_CAUSE = 'FACILITY_NOT_SUBSCRIBED';

export const DEFAULT_BILLING_POLICY: BillingPolicy = {
  billedDirections: ['outbound'],
  billableHangupCauses: DEFAULT_BILLABLE_HANGUP_CAUSES,
  minimumBillsec: 1,
  ratedNumber: 'destinationNumber',
  exclusions: NO_EXCLUSIONS,
};

const DIRECTIONS: readonly CdrDirection[] = ['inbound', 'outbound', 'local'];

/** Fill defaults and validate; throws RatingConfigError naming the field. */
export function billingPolicy(overrides: Partial<BillingPolicy> = {}): BillingPolicy {
  const policy = { ...DEFAULT_BILLING_POLICY, ...overrides };
  for (const direction of policy.billedDirections) {
    if (!DIRECTIONS.includes(direction)) throw new RatingConfigError(`unknown direction "${direction}"`, 'policy.billedDirections');
  }
  if (!Number.isSafeInteger(policy.minimumBillsec) || policy.minimumBillsec < 1) {
    throw new RatingConfigError('must be an integer >= 1', 'policy.minimumBillsec');
  }
  if (policy.billableHangupCauses.length === 0) throw new RatingConfigError('must list at least one cause (or "*")', 'policy.billableHangupCauses');
  if (policy.ratedNumber !== 'destinationNumber' && policy.ratedNumber !== 'callerDestination') {
    throw new RatingConfigError('must be destinationNumber or callerDestination', 'policy.ratedNumber');
  }
  return policy;
}

export type NotBillableReason = 'B_LEG' | 'DIRECTION_NOT_BILLED' | 'EXCLUDED' | 'NOT_ANSWERED' | 'BELOW_MINIMUM_BILLSEC' | 'HANGUP_CAUSE_NOT_BILLABLE';

export interface PolicyCdr {
  readonly leg: string;
  readonly direction: string;
  readonly billsec: number;
  readonly hangupCause: string | null;
  readonly destinationNumber?: string | null;
  readonly callerDestination?: string | null;
}

/**
 * The number a call is rated and matched against exclusions by. An inbound call's is the number
 * called, its DID: FusionPBX keeps it in caller_destination (set when the call arrives), while its
 * destination_number is the newest callflow's, where the inbound route sent the call (the
 * extension `101`, a ring group, voicemail `*99101`). An outbound call's destination_number is the
 * number dialled out (after a call forward, the forward's number, not the DID the call came in on).
 */
export function ratedNumberOf(cdr: PolicyCdr, policy: BillingPolicy): string | null | undefined {
  if (cdr.direction === 'inbound' && policy.ratedNumber === 'destinationNumber') {
    const did = cdr.callerDestination?.trim();
    if (did) return did;
  }
  return cdr[policy.ratedNumber];
}

/** The answers without a rule, one frozen object each: most calls of a sync get one, none allocates. */
const REASON: Readonly<Record<Exclude<NotBillableReason, 'EXCLUDED'>, { readonly reason: NotBillableReason }>> = Object.freeze({
  B_LEG: Object.freeze({ reason: 'B_LEG' }),
  DIRECTION_NOT_BILLED: Object.freeze({ reason: 'DIRECTION_NOT_BILLED' }),
  NOT_ANSWERED: Object.freeze({ reason: 'NOT_ANSWERED' }),
  BELOW_MINIMUM_BILLSEC: Object.freeze({ reason: 'BELOW_MINIMUM_BILLSEC' }),
  HANGUP_CAUSE_NOT_BILLABLE: Object.freeze({ reason: 'HANGUP_CAUSE_NOT_BILLABLE' }),
});

/** Why a valid CDR is not billed (with the exclusion rule that matched), or undefined when it is billable. */
export function notBillable(cdr: PolicyCdr, policy: BillingPolicy): { readonly reason: NotBillableReason; readonly rule?: string } | undefined {
  if (cdr.leg !== 'a') return REASON.B_LEG;
  if (!(policy.billedDirections as readonly string[]).includes(cdr.direction)) return REASON.DIRECTION_NOT_BILLED;
  // Before the answer checks: an emergency or toll-free call says so whether or not it was answered.
  const rule = matchExclusion(policy.exclusions, { direction: cdr.direction, number: ratedNumberOf(cdr, policy) });
  if (rule !== undefined) return { reason: 'EXCLUDED', rule };
  if (cdr.billsec === 0) return REASON.NOT_ANSWERED;
  if (cdr.billsec < policy.minimumBillsec) return REASON.BELOW_MINIMUM_BILLSEC;
  if (!isBillableCause(cdr.hangupCause, policy.billableHangupCauses)) return REASON.HANGUP_CAUSE_NOT_BILLABLE;
  return undefined;
}

/** Why a valid CDR is not billed, or undefined when it is billable. */
export function notBillableReason(cdr: PolicyCdr, policy: BillingPolicy): NotBillableReason | undefined {
  return notBillable(cdr, policy)?.reason;
}

function isBillableCause(cause: string | null, billable: readonly string[]): boolean {
  if (billable.includes('*')) return true;
  if (cause === null) return false;
  const upper = cause.toUpperCase();
  return upper === SUSPEND_HANGUP_CAUSE || billable.includes(upper);
}

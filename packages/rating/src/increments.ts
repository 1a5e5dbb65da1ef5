/**
 * Billable seconds: the first block is the initial increment, every further started block of
 * the subsequent increment is charged in full. 60/60 bills 61 s as 120 s; 30/6 bills 31 s as 36 s.
 */
import { RatingConfigError } from './errors';
import { callCost, type ExactMicro, type Micro } from './money';

export interface Increments {
  readonly initial: number;
  readonly subsequent: number;
}

export function billableSeconds(billsec: number, increments: Increments): number {
  assertIncrements(increments);
  if (!Number.isSafeInteger(billsec) || billsec < 0) throw new RatingConfigError(`must be a non-negative integer, got ${billsec}`, 'billsec');
  if (billsec === 0) return 0;
  if (billsec <= increments.initial) return increments.initial;
  const blocks = Math.ceil((billsec - increments.initial) / increments.subsequent);
  return increments.initial + blocks * increments.subsequent;
}

// Two plain checks, not a loop over Object.entries: this runs for every call rated.
function assertIncrements(increments: Increments): void {
  assertIncrement(increments.initial, 'initial');
  assertIncrement(increments.subsequent, 'subsequent');
}

function assertIncrement(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RatingConfigError(`must be a positive integer, got ${value}`, `increments.${name}`);
}

export interface IncludedSplitInput {
  /** Seconds after increments. */
  readonly billableSeconds: number;
  readonly ratePerMinute: Micro;
  readonly connectFee: Micro;
}

export interface IncludedSplit {
  readonly includedSeconds: number;
  readonly billedSeconds: number;
  /** connect fee (only when some seconds are billed) + billed seconds at the rate, exact to 6 places. */
  readonly amount: ExactMicro;
  readonly remainingIncludedSeconds: number;
}

/**
 * Consume the plan's remaining included seconds first, bill the rest. A call fully covered by
 * included minutes costs nothing, connection fee included (the customer bought those minutes);
 * a call that spills over pays the connection fee once plus the spilled seconds.
 */
export function splitIncluded(input: IncludedSplitInput, remainingIncludedSeconds: number): IncludedSplit {
  if (!Number.isSafeInteger(remainingIncludedSeconds) || remainingIncludedSeconds < 0) {
    throw new RatingConfigError(`must be a non-negative integer, got ${remainingIncludedSeconds}`, 'remainingIncludedSeconds');
  }
  const includedSeconds = Math.min(input.billableSeconds, remainingIncludedSeconds);
  const billedSeconds = input.billableSeconds - includedSeconds;
  const amount = billedSeconds > 0 ? callCost(input.ratePerMinute, input.connectFee, billedSeconds) : 0;
  return { includedSeconds, billedSeconds, amount, remainingIncludedSeconds: remainingIncludedSeconds - includedSeconds };
}

/** `60/6` (initial/subsequent) or `6` (both), as a plan's inbound increments are written; throws naming `field`. */
export function parseIncrements(text: string, field: string): Increments {
  const match = /^\s*(\d{1,5})\s*(?:\/\s*(\d{1,5})\s*)?$/.exec(text);
  if (!match) throw new RatingConfigError(`"${text}" is not an increment: write seconds like 60/6 or 6`, field);
  const initial = Number.parseInt(match[1] as string, 10);
  const subsequent = match[2] === undefined ? initial : Number.parseInt(match[2], 10);
  if (initial < 1 || subsequent < 1) throw new RatingConfigError(`"${text}": increments are at least 1 second`, field);
  return { initial, subsequent };
}

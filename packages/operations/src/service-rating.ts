import type { Pool, PoolClient } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { billingPolicy, createRateTable, formatMoney, parseIncrements, parseMoney, rateCdr, type CallRating, type InboundRating, type RatingContext } from '@ictvoip/rating';
import { planBilling } from '@ictvoip/whmcs';
import { rateEntriesAt, readAtOneRevision, resolveRateDeck, servicePeriodsOf, type NewCharge, type RateDeckRef, type ServiceRecord } from '@ictvoip/store';
import type { SourceCdr } from './cdr-reader';

/** How one service's calls are rated: its deck (or none), the rating context and the plan's allowance. */
export interface ServiceRating {
  deck: RateDeckRef | null;
  /** the plan's inbound deck (plan.inboundRateDeck), when it names one that exists */
  inboundDeck: RateDeckRef | null;
  context: RatingContext;
  includedSeconds: number;
  serviceId: number;
  /** the billing period (label) a call starting at `at` belongs to: a calendar month, or the service's own cycle period */
  periodOf: (at: Date) => string;
}

// Decks can hold 50,000 rates: keep the built table per deck revision and markup.
const tableCache = new Map<string, RatingContext['table']>();
const EMPTY_PLAN = { countryCode: '1' };

function planText(plan: Record<string, unknown>, key: string): string {
  const value = plan[key];
  return typeof value === 'string' ? value.trim() : '';
}

/** plan.includedMinutes as seconds; anything but a non-negative whole number counts as none. */
export function includedSecondsOf(plan: Record<string, unknown>): number {
  const value = plan.includedMinutes;
  const minutes = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number.parseInt(value, 10) : 0;
  return Number.isSafeInteger(minutes) && minutes > 0 ? minutes * 60 : 0;
}

/**
 * The deck a plan key names and its rate table, of one revision (readAtOneRevision: its markup,
 * numbering plan and currency belong to the rates too), never rated with no rates, which would store
 * every call of the sync unrated. RateDeckMovedError when re-imported again and again: the job is retried.
 */
async function deckAndTable(db: Pool | PoolClient, key: string): Promise<{ deck: RateDeckRef | null; table: RatingContext['table'] }> {
  const read = await readAtOneRevision(
    key,
    () => resolveRateDeck(db, key),
    (deck) => tableFor(db, deck),
  );
  return read ? { deck: read.deck, table: read.value } : { deck: null, table: createRateTable({ entries: [], numberingPlan: EMPTY_PLAN }) };
}

/** The deck's table at the revision `deck` names (cached), or undefined when the stored deck is at another one now. */
async function tableFor(db: Pool | PoolClient, deck: RateDeckRef): Promise<RatingContext['table'] | undefined> {
  const key = `${deck.deckId}@${deck.revision}:${deck.markup.percent}:${deck.markup.fixedPerMinute}:${deck.markup.fixedPerCall}`;
  const cached = tableCache.get(key);
  if (cached) return cached;
  const entries = await rateEntriesAt(db, deck);
  if (!entries) return undefined;
  const table = createRateTable({ entries, numberingPlan: deck.numberingPlan, markup: deck.markup });
  tableCache.set(key, table);
  return table;
}

/** The period labeller of a service (calendar months, or its own cycle's periods with BILLING_PERIODS=service). */
export function servicePeriods(db: Pool | PoolClient, serviceId: number, config: BridgeConfig): Promise<(at: Date) => string> {
  return servicePeriodsOf(db, serviceId, config.billing);
}

/**
 * How inbound calls are priced: the plan's flat rate or inbound deck; else the main deck's own inbound
 * rate (`rates import --inbound-rate`); else the main deck, by the number called.
 */
async function inboundRating(
  db: Pool | PoolClient,
  inbound: ReturnType<typeof planBilling>['inbound'],
  mainDeck: RateDeckRef | null,
): Promise<{ rating?: InboundRating; deck: RateDeckRef | null }> {
  if (inbound === null && mainDeck?.inbound) {
    const { ratePerMinute, increments } = mainDeck.inbound;
    return {
      rating: { kind: 'flat', ratePerMinute: parseMoney(ratePerMinute), connectFee: 0n, increments: parseIncrements(increments, 'rate deck inbound increments') },
      deck: null,
    };
  }
  if (inbound === null) return { deck: null };
  if (inbound.kind === 'flat') return { rating: { kind: 'flat', ratePerMinute: inbound.ratePerMinute, connectFee: 0n, increments: inbound.increments }, deck: null };
  // A deck the plan names but that is not imported: inbound calls come out unrated (NO_MATCHING_RATE), never free.
  const { deck, table } = await deckAndTable(db, inbound.deck);
  return { rating: { kind: 'deck', table }, deck };
}

/** `periodOf`: the service's period labeller when the caller has it already (the CDR sync, from ensureServiceCycle); else read here. */
export async function loadServiceRating(db: Pool | PoolClient, service: ServiceRecord, config: BridgeConfig, periodOf?: (at: Date) => string): Promise<ServiceRating> {
  const deckKey = planText(service.plan, 'rateDeck') || config.billing.defaultRateDeck;
  const { deck, table } = await deckAndTable(db, deckKey);
  const billing = planBilling(service.plan, { excludes: config.billing.excludes, billedDirections: config.billing.billedDirections });
  const inbound = await inboundRating(db, billing.inbound, deck);
  const policy = billingPolicy({ billedDirections: billing.billedDirections, exclusions: billing.exclusions, billableHangupCauses: config.billing.hangupCauses });
  return {
    deck,
    inboundDeck: inbound.deck,
    context: { table, policy, ...(inbound.rating ? { inbound: inbound.rating } : {}) },
    includedSeconds: includedSecondsOf(service.plan),
    serviceId: service.serviceId,
    periodOf: periodOf ?? (await servicePeriods(db, service.serviceId, config)),
  };
}

/** The deck a call was priced with: the plan's inbound deck for an inbound call when it has one, else the main deck. */
function deckOf(rating: ServiceRating, direction: string): RateDeckRef | null {
  return direction === 'inbound' && rating.context.inbound?.kind === 'deck' ? rating.inboundDeck : rating.deck;
}

/** The stored reason: the policy or unrated reason, and for an exclusion the rule that matched (`EXCLUDED:[emergency]911`). */
function reasonOf(rating: ServiceRating, outcome: CallRating, deck: RateDeckRef | null): string | null {
  if (outcome.status === 'rated') return null;
  if (outcome.status === 'not_billable') return outcome.rule === undefined ? outcome.reason : `${outcome.reason}:${outcome.rule}`;
  return !deck && outcome.reason === 'NO_MATCHING_RATE' && rating.context.inbound?.kind !== 'flat' ? 'NO_RATE_DECK' : outcome.reason;
}

function destinationOf(outcome: CallRating, source: SourceCdr): string | null {
  if (outcome.status === 'rated') return outcome.e164;
  if (outcome.status === 'unrated' && outcome.number) return outcome.number;
  return source.cdr.destinationNumber ?? null;
}

/** A rating outcome as a charge row. Unrated calls keep their reason and no amount (never 0). */
export function toCharge(rating: ServiceRating, source: SourceCdr, outcome: CallRating, period = rating.periodOf(source.cdr.startStamp)): NewCharge {
  const rated = outcome.status === 'rated';
  const deck = deckOf(rating, String(source.cdr.direction));
  const reason = reasonOf(rating, outcome, deck);
  const billsec = Number.isSafeInteger(source.cdr.billsec) && source.cdr.billsec >= 0 ? source.cdr.billsec : 0;
  return {
    xmlCdrUuid: source.cdr.xmlCdrUuid,
    serviceId: rating.serviceId,
    domainName: source.cdr.domainName,
    startStamp: source.startStampText,
    direction: String(source.cdr.direction),
    destination: destinationOf(outcome, source),
    billsec,
    billableSeconds: rated ? outcome.billableSeconds : 0,
    includedSeconds: rated ? outcome.includedSeconds : 0,
    amount: rated ? formatMoney(outcome.amount) : null,
    // A flat inbound rate has no deck of its own: it is in the main deck's currency.
    currency: rated ? (deck?.currency ?? rating.deck?.currency ?? null) : null,
    status: outcome.status,
    reason,
    deckId: deck?.deckId ?? null,
    deckRevision: deck?.revision ?? null,
    period,
  };
}

/**
 * Rates CDRs in the given (call) order, consuming each period's remaining included seconds;
 * `remainingFor` supplies a period's allowance the first time the period is seen. `remaining`
 * (period → seconds left) is updated in place: a caller may carry it to its next page.
 */
export async function rateInOrder(
  rating: ServiceRating,
  sources: readonly SourceCdr[],
  remainingFor: (period: string) => Promise<number>,
  remaining = new Map<string, number>(),
): Promise<NewCharge[]> {
  const charges: NewCharge[] = [];
  for (const source of sources) {
    const period = rating.periodOf(source.cdr.startStamp);
    let left = remaining.get(period);
    if (left === undefined) left = await remainingFor(period);
    const outcome = rateCdr(source.cdr, rating.context, left);
    remaining.set(period, outcome.remainingIncludedSeconds);
    charges.push(toCharge(rating, source, outcome, period));
  }
  return charges;
}

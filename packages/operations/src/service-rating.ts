import type { Pool, PoolClient } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { billingPolicy, createRateTable, formatMoney, rateCdr, type CallRating, type RatingContext } from '@ictvoip/rating';
import { loadRateEntries, periodOf, resolveRateDeck, type NewCharge, type RateDeckRef, type ServiceRecord } from '@ictvoip/store';
import type { SourceCdr } from './cdr-reader';

/** How one service's calls are rated: its deck (or none), the rating context and the plan's allowance. */
export interface ServiceRating {
  deck: RateDeckRef | null;
  context: RatingContext;
  includedSeconds: number;
  serviceId: number;
  timeZone: string;
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

async function tableFor(db: Pool | PoolClient, deck: RateDeckRef): Promise<RatingContext['table']> {
  const key = `${deck.deckId}@${deck.revision}:${deck.markup.percent}:${deck.markup.fixedPerMinute}:${deck.markup.fixedPerCall}`;
  const cached = tableCache.get(key);
  if (cached) return cached;
  const loaded = await loadRateEntries(db, deck.deckId);
  const entries = loaded && loaded.revision === deck.revision ? loaded.entries : [];
  const table = createRateTable({ entries, numberingPlan: deck.numberingPlan, markup: deck.markup });
  // Only cache what matches the revision asked for (a deck re-imported in between is reloaded next time).
  if (loaded && loaded.revision === deck.revision) tableCache.set(key, table);
  return table;
}

export async function loadServiceRating(db: Pool | PoolClient, service: ServiceRecord, config: BridgeConfig): Promise<ServiceRating> {
  const deckKey = planText(service.plan, 'rateDeck') || config.billing.defaultRateDeck;
  const deck = await resolveRateDeck(db, deckKey);
  const table = deck ? await tableFor(db, deck) : createRateTable({ entries: [], numberingPlan: EMPTY_PLAN });
  return {
    deck,
    context: { table, policy: billingPolicy({ billedDirections: config.billing.billedDirections }) },
    includedSeconds: includedSecondsOf(service.plan),
    serviceId: service.serviceId,
    timeZone: config.billing.timeZone,
  };
}

function destinationOf(outcome: CallRating, source: SourceCdr): string | null {
  if (outcome.status === 'rated') return outcome.e164;
  if (outcome.status === 'unrated' && outcome.number) return outcome.number;
  return source.cdr.destinationNumber ?? null;
}

/** A rating outcome as a charge row. Unrated calls keep their reason and no amount (never 0). */
export function toCharge(rating: ServiceRating, source: SourceCdr, outcome: CallRating, period = periodOf(source.cdr.startStamp, rating.timeZone)): NewCharge {
  const rated = outcome.status === 'rated';
  const reason = outcome.status === 'rated' ? null : outcome.status === 'unrated' && !rating.deck && outcome.reason === 'NO_MATCHING_RATE' ? 'NO_RATE_DECK' : outcome.reason;
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
    currency: rated ? (rating.deck?.currency ?? null) : null,
    status: outcome.status,
    reason,
    deckId: rating.deck?.deckId ?? null,
    deckRevision: rating.deck?.revision ?? null,
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
    const period = periodOf(source.cdr.startStamp, rating.timeZone);
    let left = remaining.get(period);
    if (left === undefined) left = await remainingFor(period);
    const outcome = rateCdr(source.cdr, rating.context, left);
    remaining.set(period, outcome.remainingIncludedSeconds);
    charges.push(toCharge(rating, source, outcome, period));
  }
  return charges;
}

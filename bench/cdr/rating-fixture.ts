/**
 * The CDRs and the service rating the CDR sync's CPU benches (`sync-cpu.ts`, `write-cpu.ts`) rate:
 * the CDR benchmark's own CDRs and deck (`generator.ts`), shaped as cdr-reader hands them to the
 * sync, and a rating with the worker's defaults. One copy, so both benches rate the same mix.
 */
import { billingPolicy, createRateTable, DEFAULT_EXCLUDES, importRateDeckCsv, parseExclusions } from '@ictvoip/rating';
import type { ServiceRating, SourceCdr } from '@ictvoip/operations';
import { periodOf } from '@ictvoip/store';
import { DECK_NUMBERING_PLAN, generateCdrs, generateDeck } from './generator';

/** The deck's prefixes (the full benchmark's size). */
const PREFIXES = 2000;

/**
 * `count` CDRs of one tenant in call order, as the SourceCdr cdr-reader builds from a v_xml_cdr row
 * (start text with microseconds as its to_char gives it, a Date for rating).
 */
export function benchSources(count: number): SourceCdr[] {
  const deck = generateDeck(PREFIXES);
  const out: SourceCdr[] = [];
  for (const batch of generateCdrs({ count, tenants: 1, deck, windowEndMs: Date.UTC(2026, 0, 20), windowMs: 3.5 * 3600_000 })) {
    for (const cdr of batch) {
      const stamp = new Date(cdr.startEpochMs).toISOString().replace('Z', '000Z');
      out.push({
        startStampText: stamp,
        cdr: { ...cdr, callerDestination: cdr.destinationNumber, startStamp: new Date(cdr.startEpochMs), domainName: 'bench.example.com' },
      });
    }
  }
  return out.sort((a, b) => (a.startStampText < b.startStampText ? -1 : a.startStampText > b.startStampText ? 1 : 0));
}

/** A service's rating as the worker loads it with its defaults: outbound billed, the emergency and toll-free exclusions, calendar periods (UTC). */
export function benchRating(): ServiceRating {
  const table = createRateTable({ entries: importRateDeckCsv(generateDeck(PREFIXES).csv).entries, numberingPlan: DECK_NUMBERING_PLAN });
  return {
    deck: { deckId: 1, name: 'standard', currency: 'USD', revision: 1, numberingPlan: DECK_NUMBERING_PLAN, markup: {}, inbound: null },
    inboundDeck: null,
    context: { table, policy: billingPolicy({ billedDirections: ['outbound'], exclusions: parseExclusions(DEFAULT_EXCLUDES) }) },
    includedSeconds: 6000,
    serviceId: 1,
    periodOf: (at) => periodOf(at, 'UTC'),
  };
}

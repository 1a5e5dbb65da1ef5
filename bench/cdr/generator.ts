import { prng } from '../lib/stats';

/**
 * Deterministic synthetic rate deck and CDRs (same seed + same time base → same data).
 * The deck is NANP-based (numbering plan US: national prefix 1, exit code 011) with prefixes in
 * ten countries; CDRs dial those countries in the forms people really dial (011 + E.164 for
 * international, 10 or 11 digits for NANP), plus some numbers no rate matches.
 */

export const DECK_NUMBERING_PLAN = { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'], bareNumbers: 'national' as const };

interface Country {
  code: string;
  name: string;
  /** National significant number length after the country code. */
  length: number;
  weight: number;
}

const COUNTRIES: Country[] = [
  { code: '1', name: 'United States', length: 10, weight: 40 },
  { code: '44', name: 'United Kingdom', length: 10, weight: 12 },
  { code: '49', name: 'Germany', length: 10, weight: 8 },
  { code: '33', name: 'France', length: 9, weight: 7 },
  { code: '52', name: 'Mexico', length: 10, weight: 8 },
  { code: '91', name: 'India', length: 10, weight: 8 },
  { code: '61', name: 'Australia', length: 9, weight: 5 },
  { code: '55', name: 'Brazil', length: 11, weight: 5 },
  { code: '34', name: 'Spain', length: 9, weight: 4 },
  { code: '63', name: 'Philippines', length: 10, weight: 3 },
];

function pickWeighted<T extends { weight: number }>(random: () => number, items: readonly T[]): T {
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  let roll = random() * total;
  for (const item of items) {
    roll -= item.weight;
    if (roll < 0) return item;
  }
  return items[items.length - 1];
}

function digits(random: () => number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i += 1) out += String(Math.floor(random() * 10));
  return out;
}

export interface DeckPrefix {
  prefix: string;
  country: Country;
}

export interface SyntheticDeck {
  csv: string;
  prefixes: DeckPrefix[];
}

/** `size` distinct prefixes: each country's code plus 1-4 area/operator digits (the bare code too). */
export function generateDeck(size: number, seed = 11): SyntheticDeck {
  const random = prng(seed);
  const seen = new Set<string>();
  const prefixes: DeckPrefix[] = [];
  for (const country of COUNTRIES) {
    seen.add(country.code);
    prefixes.push({ prefix: country.code, country });
  }
  while (prefixes.length < size) {
    const country = pickWeighted(random, COUNTRIES);
    // NANP area codes do not start with 0 or 1.
    const first = country.code === '1' ? String(2 + Math.floor(random() * 8)) : digits(random, 1);
    const prefix = country.code + first + digits(random, Math.floor(random() * 4));
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    prefixes.push({ prefix, country });
  }
  const lines = ['prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from,effective_to'];
  for (const { prefix, country } of prefixes) {
    const rate = (0.004 + random() * 0.3).toFixed(4);
    const connect = random() < 0.2 ? (random() * 0.05).toFixed(4) : '0';
    const [initial, subsequent] = random() < 0.5 ? [60, 60] : random() < 0.5 ? [30, 6] : [6, 6];
    lines.push(`${prefix},${country.name} ${prefix},${rate},${connect},${initial},${subsequent},2020-01-01,`);
  }
  return { csv: `${lines.join('\n')}\n`, prefixes };
}

export interface SyntheticCdr {
  xmlCdrUuid: string;
  domainIndex: number;
  direction: 'outbound' | 'inbound' | 'local';
  leg: 'a' | 'b';
  originatingLegUuid: string | null;
  callerIdNumber: string;
  destinationNumber: string;
  startEpochMs: number;
  billsec: number;
  duration: number;
  hangupCause: string;
  /** Imported long after the call ended (FusionPBX's CDR import lagging): these arrive after the first sync. */
  late: boolean;
}

function uuidFrom(random: () => number): string {
  const hex = digitsHex(random, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function digitsHex(random: () => number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i += 1) out += Math.floor(random() * 16).toString(16);
  return out;
}

function dialled(random: () => number, prefixes: readonly DeckPrefix[]): string {
  // 1 % of calls go somewhere the deck does not price (unrated, never billed at 0).
  if (random() < 0.01) return `011998${digits(random, 8)}`;
  const { prefix, country } = prefixes[Math.floor(random() * prefixes.length)];
  const rest = digits(random, Math.max(0, country.code.length + country.length - prefix.length));
  const e164 = prefix + rest;
  if (country.code !== '1') return `011${e164}`;
  return random() < 0.5 ? e164.slice(1) : e164;
}

/** Call length: a third unanswered (0 s), a few very short, most minutes long with a long tail. */
function billsecOf(random: () => number): number {
  const roll = random();
  if (roll < 0.35) return 0;
  if (roll < 0.42) return 1 + Math.floor(random() * 5);
  return Math.min(7200, Math.round(-Math.log(1 - random()) * 150) + 6);
}

function unansweredCause(random: () => number): string {
  const roll = random();
  return roll < 0.5 ? 'NO_ANSWER' : roll < 0.8 ? 'ORIGINATOR_CANCEL' : roll < 0.95 ? 'USER_BUSY' : 'CALL_REJECTED';
}

export interface CdrGeneratorOptions {
  count: number;
  tenants: number;
  deck: SyntheticDeck;
  /** Calls start in [windowEnd - windowMs, windowEnd). */
  windowEndMs: number;
  windowMs: number;
  seed?: number;
  lateFraction?: number;
}

/**
 * Yields exactly `count` CDRs in batches. Outbound calls (60 %) dial deck countries; 40 % of
 * answered outbound calls also have a b-leg row; inbound calls reach a tenant DID; local calls an
 * extension. `lateFraction` of the rows are marked late.
 */
export function* generateCdrs(options: CdrGeneratorOptions, batchSize = 5000): Generator<SyntheticCdr[]> {
  const random = prng(options.seed ?? 23);
  const prefixes = options.deck.prefixes;
  const lateFraction = options.lateFraction ?? 0.02;
  let produced = 0;
  let batch: SyntheticCdr[] = [];
  const push = (cdr: SyntheticCdr) => {
    batch.push(cdr);
    produced += 1;
  };
  while (produced < options.count) {
    const domainIndex = Math.floor(random() * options.tenants);
    const startEpochMs = Math.floor(options.windowEndMs - random() * options.windowMs);
    const roll = random();
    const direction = roll < 0.6 ? 'outbound' : roll < 0.9 ? 'inbound' : 'local';
    const extension = String(100 + Math.floor(random() * 100));
    const destinationNumber = direction === 'outbound' ? dialled(random, prefixes) : direction === 'inbound' ? `1${digits(random, 10)}` : String(100 + Math.floor(random() * 100));
    const billsec = billsecOf(random);
    const ring = 2 + Math.floor(random() * 20);
    const hangupCause = billsec === 0 ? unansweredCause(random) : random() < 0.03 ? 'MEDIA_TIMEOUT' : 'NORMAL_CLEARING';
    const a: SyntheticCdr = {
      xmlCdrUuid: uuidFrom(random),
      domainIndex,
      direction,
      leg: 'a',
      originatingLegUuid: null,
      callerIdNumber: direction === 'inbound' ? `1${digits(random, 10)}` : extension,
      destinationNumber,
      startEpochMs,
      billsec,
      duration: billsec + ring,
      hangupCause,
      late: random() < lateFraction,
    };
    push(a);
    if (direction === 'outbound' && billsec > 0 && random() < 0.4 && produced < options.count) {
      push({ ...a, xmlCdrUuid: uuidFrom(random), leg: 'b', originatingLegUuid: a.xmlCdrUuid, startEpochMs: a.startEpochMs + 1 + Math.floor(random() * 900) });
    }
    if (batch.length >= batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

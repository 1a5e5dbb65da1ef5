/**
 * Longest-prefix-match benchmark: `npx tsx packages/rating/bench/lpm.bench.ts`
 * Builds synthetic decks of 2,000 and 50,000 prefixes (country code + area/operator digits,
 * some prefixes with two dated rates) and measures lookups per second of each index against a
 * bare baseline: a plain Map<string, rate> probed with the number's prefixes, longest first,
 * with no effective-date handling at all.
 */
import { MapPrefixIndex, SortedPrefixIndex, TriePrefixIndex, type DatedPrefix, type PrefixIndex } from '../src/index';

interface BenchRate extends DatedPrefix {
  readonly id: number;
}

/** Deterministic PRNG (mulberry32) so runs are comparable. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function digitsOf(random: () => number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += Math.floor(random() * 10).toString();
  return out;
}

function buildDeck(size: number, random: () => number): BenchRate[] {
  const countryCodes = Array.from({ length: 220 }, (_, i) => String(1 + ((i * 37) % 998)));
  const seen = new Set<string>(countryCodes);
  const rates: BenchRate[] = countryCodes.map((prefix, id) => ({ id, prefix, effectiveFrom: new Date(0), effectiveTo: null }));
  while (seen.size < size) {
    const cc = countryCodes[Math.floor(random() * countryCodes.length)] as string;
    const prefix = cc + digitsOf(random, 1 + Math.floor(random() * 6));
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    rates.push({ id: rates.length, prefix, effectiveFrom: new Date(0), effectiveTo: null });
    // One in ten prefixes also has a newer rate, so dated lookups do real work.
    if (random() < 0.1) rates.push({ id: rates.length, prefix, effectiveFrom: new Date('2030-01-01T00:00:00Z'), effectiveTo: null });
  }
  return rates;
}

function buildNumbers(deck: readonly BenchRate[], count: number, random: () => number): string[] {
  return Array.from({ length: count }, () => {
    const base = (deck[Math.floor(random() * deck.length)] as BenchRate).prefix;
    return (base + digitsOf(random, 12)).slice(0, 12);
  });
}

class BareMapBaseline {
  private readonly byPrefix = new Map<string, BenchRate>();
  private readonly longest: number;
  constructor(deck: readonly BenchRate[]) {
    let longest = 0;
    for (const rate of deck) {
      this.byPrefix.set(rate.prefix, rate);
      longest = Math.max(longest, rate.prefix.length);
    }
    this.longest = longest;
  }
  lookup(digits: string): BenchRate | undefined {
    for (let length = Math.min(this.longest, digits.length); length > 0; length--) {
      const rate = this.byPrefix.get(digits.slice(0, length));
      if (rate) return rate;
    }
    return undefined;
  }
}

function measure(label: string, lookup: (digits: string) => unknown, numbers: readonly string[]): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) if (lookup(numbers[i % numbers.length] as string)) sink++; // warm-up
  const rounds = 2_000_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) if (lookup(numbers[i % numbers.length] as string)) sink++;
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const perSecond = (rounds / elapsedNs) * 1e9;
  console.log(`  ${label.padEnd(28)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} lookups/s  (hits ${sink})`);
  return perSecond;
}

function runDeck(size: number): void {
  const random = prng(size);
  const deck = buildDeck(size, random);
  const numbers = buildNumbers(deck, 20_000, random);
  const at = new Date('2026-06-15T12:00:00Z');
  console.log(`deck of ${size.toLocaleString('en-US')} prefixes (${deck.length.toLocaleString('en-US')} dated rates), ${numbers.length.toLocaleString('en-US')} distinct numbers`);
  const baseline = new BareMapBaseline(deck);
  const base = measure('bare Map baseline (no dates)', (d) => baseline.lookup(d), numbers);
  const candidates: Array<[string, PrefixIndex<BenchRate>]> = [
    ['MapPrefixIndex', new MapPrefixIndex(deck)],
    ['TriePrefixIndex', new TriePrefixIndex(deck)],
    ['SortedPrefixIndex', new SortedPrefixIndex(deck)],
  ];
  for (const [label, index] of candidates) {
    const rate = measure(label, (d) => index.lookup(d, at), numbers);
    console.log(`  ${''.padEnd(28)} ratio to baseline ${(rate / base).toFixed(2)}`);
  }
}

runDeck(2_000);
runDeck(50_000);

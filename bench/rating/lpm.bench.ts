/**
 * Longest-prefix-match benchmark: `npx tsx bench/rating/lpm.bench.ts`
 * Builds synthetic decks of 2,000 and 50,000 prefixes (country code + area/operator digits,
 * some prefixes with two dated rates) and measures lookups per second of each index against a
 * bare baseline: a plain Map<string, rate> probed with the number's prefixes, longest first,
 * with no effective-date handling at all.
 * Each (deck, index) case runs in its own child process, best of 3 trials, so one case's JIT
 * state (megamorphic call sites, GC pressure) cannot skew the next.
 */
import { execFileSync } from 'node:child_process';
import { MapPrefixIndex, SortedPrefixIndex, TriePrefixIndex, type DatedPrefix, type PrefixIndex } from '@ictvoip/rating';
import { seededRandom as prng } from '@ictvoip/testkit';

interface BenchRate extends DatedPrefix {
  readonly id: number;
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

function measure(lookup: (digits: string) => unknown, numbers: readonly string[]): number {
  let hits = 0;
  for (let i = 0; i < 200_000; i++) if (lookup(numbers[i % numbers.length] as string)) hits++; // warm-up
  const rounds = 2_000_000;
  let best = 0;
  for (let trial = 0; trial < 3; trial++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) if (lookup(numbers[i % numbers.length] as string)) hits++;
    const elapsedNs = Number(process.hrtime.bigint() - started);
    best = Math.max(best, (rounds / elapsedNs) * 1e9);
  }
  if (hits === 0) throw new Error('no lookup hit: the benchmark is broken');
  return best;
}

const CASES = ['baseline', 'MapPrefixIndex', 'TriePrefixIndex', 'SortedPrefixIndex'] as const;
type CaseName = (typeof CASES)[number];

function runCase(size: number, name: CaseName): number {
  const random = prng(size);
  const deck = buildDeck(size, random);
  const numbers = buildNumbers(deck, 20_000, random);
  const at = new Date('2026-06-15T12:00:00Z');
  if (name === 'baseline') {
    const baseline = new BareMapBaseline(deck);
    return measure((digits) => baseline.lookup(digits), numbers);
  }
  const index: PrefixIndex<BenchRate> = name === 'MapPrefixIndex' ? new MapPrefixIndex(deck) : name === 'TriePrefixIndex' ? new TriePrefixIndex(deck) : new SortedPrefixIndex(deck);
  return measure((digits) => index.lookup(digits, at), numbers);
}

function format(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US').padStart(12);
}

function main(): void {
  const caseIndex = process.argv.indexOf('--case');
  if (caseIndex >= 0) {
    const size = Number.parseInt(process.argv[caseIndex + 1] as string, 10);
    process.stdout.write(String(runCase(size, process.argv[caseIndex + 2] as CaseName)));
    return;
  }
  for (const size of [2_000, 50_000]) {
    console.log(`deck of ${size.toLocaleString('en-US')} prefixes (about 10 % with a second dated rate), 20,000 distinct 12-digit numbers`);
    const results = new Map<CaseName, number>();
    for (const name of CASES) {
      const output = execFileSync(process.execPath, [...process.execArgv, process.argv[1] as string, '--case', String(size), name], { encoding: 'utf8' });
      results.set(name, Number(output.trim()));
    }
    const base = results.get('baseline') as number;
    console.log(`  ${'bare Map baseline (no dates)'.padEnd(30)} ${format(base)} lookups/s`);
    for (const name of CASES.slice(1)) {
      const rate = results.get(name) as number;
      console.log(`  ${name.padEnd(30)} ${format(rate)} lookups/s   ratio to baseline ${(rate / base).toFixed(2)}`);
    }
  }
}

main();

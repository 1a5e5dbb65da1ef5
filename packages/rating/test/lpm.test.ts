import fc from 'fast-check';
import { MapPrefixIndex, SortedPrefixIndex, TriePrefixIndex, createRateTable, importRateDeckCsv, type DatedPrefix, type PrefixIndex } from '@ictvoip/rating';

interface Dated extends DatedPrefix {
  readonly id: string;
}

const d = (iso: string): Date => new Date(`${iso}T00:00:00Z`);
const rate = (id: string, prefix: string, from: string, to: string | null = null): Dated => ({
  id,
  prefix,
  effectiveFrom: d(from),
  effectiveTo: to === null ? null : d(to),
});

// Overlapping prefixes (1, 12, 123, 1234) and dated versions of the same prefix.
const deck: Dated[] = [
  rate('1', '1', '2020-01-01'),
  rate('12-old', '12', '2020-01-01', '2026-03-01'),
  rate('12-new', '12', '2026-03-01'),
  rate('123-window', '123', '2026-02-01', '2026-02-15'),
  rate('1234-future', '1234', '2027-01-01'),
  rate('49', '49', '2020-01-01'),
  rate('4930-a', '4930', '2020-01-01'),
  rate('4930-b', '4930', '2025-01-01'), // newer open-ended rate supersedes the older one
  rate('5', '5', '2020-01-01'),
  rate('55', '55', '2020-01-01', '2020-06-01'),
];

const implementations: Array<[string, (entries: Dated[]) => PrefixIndex<Dated>]> = [
  ['sorted', (entries) => new SortedPrefixIndex(entries)],
  ['trie', (entries) => new TriePrefixIndex(entries)],
  ['map', (entries) => new MapPrefixIndex(entries)],
];

describe.each(implementations)('%s prefix index', (_name, build) => {
  const index = build(deck);

  it.each<[string, string, string | undefined]>([
    ['12345678', '2026-01-10', '12-old'], // 1234 not yet, 123 not yet, 12 old version
    ['12345678', '2026-02-01', '123-window'], // from inclusive
    ['12345678', '2026-02-14', '123-window'],
    ['12345678', '2026-02-15', '12-old'], // to exclusive
    ['12345678', '2026-03-01', '12-new'], // old 12 ends exactly when new starts
    ['12345678', '2027-01-01', '1234-future'],
    ['13000000', '2026-01-10', '1'],
    ['49301234', '2024-12-31', '4930-a'],
    ['49301234', '2025-01-01', '4930-b'],
    ['49891234', '2025-01-01', '49'],
    ['55123', '2020-05-31', '55'],
    ['55123', '2020-06-01', '5'],
    ['12345678', '2019-12-31', undefined], // before any rate
    ['99', '2026-01-01', undefined],
    ['', '2026-01-01', undefined],
  ])('%s at %s -> %s', (digits, at, expected) => {
    expect(index.lookup(digits, d(at))?.id).toBe(expected);
  });

  it('counts distinct prefixes', () => {
    expect(index.size).toBe(new Set(deck.map((entry) => entry.prefix)).size);
  });
});

describe('prefix indexes agree (property)', () => {
  const prefixArb = fc.stringMatching(/^[1-9][0-9]{0,5}$/);
  const dayArb = fc.integer({ min: 0, max: 60 });
  const entryArb = fc.record({ prefix: prefixArb, from: dayArb, length: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null }) });
  const base = Date.UTC(2026, 0, 1);
  const dayMs = 86_400_000;

  it('trie, sorted arrays and the map give the same answer as a brute-force scan', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 40 }), fc.stringMatching(/^[0-9]{0,10}$/), dayArb, (raw, digits, day) => {
        const entries: Dated[] = raw.map((entry, i) => ({
          id: String(i),
          prefix: entry.prefix,
          effectiveFrom: new Date(base + entry.from * dayMs),
          effectiveTo: entry.length === null ? null : new Date(base + (entry.from + entry.length) * dayMs),
        }));
        const atMs = base + day * dayMs;
        const inForce = entries.filter((e) => digits.startsWith(e.prefix) && e.effectiveFrom.getTime() <= atMs && (e.effectiveTo === null || e.effectiveTo.getTime() > atMs));
        const longest = Math.max(-1, ...inForce.map((e) => e.prefix.length));
        const newestFrom = Math.max(...inForce.filter((e) => e.prefix.length === longest).map((e) => e.effectiveFrom.getTime()));
        const answers = implementations.map(([, build]) => build(entries).lookup(digits, new Date(atMs)));
        for (const answer of answers) {
          if (longest < 0) expect(answer).toBeUndefined();
          else {
            expect(answer?.prefix.length).toBe(longest);
            expect(answer?.effectiveFrom.getTime()).toBe(newestFrom);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('rate table', () => {
  const { entries } = importRateDeckCsv(['prefix,destination,rate', '49,Germany,0.02', '4930,Berlin,0.01'].join('\n'));
  const table = createRateTable({ entries, numberingPlan: { countryCode: '49' }, markup: { percent: '10', fixedPerMinute: '0.001' } });

  it('normalises before matching and applies the markup', () => {
    const found = table.lookup('030 1234567', d('2026-01-01'));
    expect(found).toMatchObject({ kind: 'matched', e164: '+49301234567', rate: { prefix: '4930', ratePerMinute: 12_000n } });
  });

  it('reports numbers without a rate and invalid numbers distinctly', () => {
    expect(table.lookup('+33123456789', d('2026-01-01'))).toEqual({ kind: 'no-rate', e164: '+33123456789' });
    expect(table.lookup('sip:bob', d('2026-01-01'))).toMatchObject({ kind: 'invalid-number' });
  });
});

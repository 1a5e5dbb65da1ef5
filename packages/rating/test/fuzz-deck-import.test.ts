import fc from 'fast-check';
import { CANONICAL_HEADER, RateDeckError, assertRateDeckImported, importRateDeckCsv, type RateDeckImportResult } from '@ictvoip/rating';

/**
 * Property-based rate-deck CSV files: random bytes, and CSV-shaped files with every header layout,
 * hostile cells (quotes, embedded newlines, other delimiters, BOM, comments, huge and unicode
 * values), mixed line endings. The importer must answer with its report, never throw; every line
 * number it names must exist in the file; the report must be self-consistent and deterministic.
 * FUZZ_RUNS=10000 for the full run.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = Number(process.env.FUZZ_SEED ?? 4242);

/** Lines as a person opening the file would count them (\r\n, \r and \n all end a line). */
function lineCount(text: string): number {
  return text.split(/\r\n|\r|\n/).length;
}

const HEADERS = [
  CANONICAL_HEADER,
  'prefix,destination,rate,connect_fee,increment',
  'prefix;destination;rate;connect_fee;increment',
  'code,country,cost,connectcost,includedseconds,init_inc,inc,status',
  '#Id,Prefix,Rate,ConnectFee',
  'Prefix,Description,Rate Per Minute,Setup Fee,Billing Increment,Effective Date',
  'prefix',
  'destination,rate_per_minute',
  '',
  '"prefix","rate_per_minute"',
];

const cell = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '49',
      '4930',
      '+4915',
      '1',
      '001',
      '0.012',
      '0.0085',
      '0.10',
      '1e-3',
      '-0.01',
      '0',
      '60',
      '6',
      '1',
      '0',
      '3601',
      '2026-01-01',
      '2026-13-45',
      '2026-01-01T00:00:00+01:00',
      'Germany',
      'active',
      'inactive',
      'NaN',
      'Infinity',
      '0x10',
      '١٢٣',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '"quoted, with comma"',
      '"with ""quotes"""',
      '"multi\nline"',
      '"unterminated',
      'a"b',
      ';',
      ',',
      '\t',
      '#comment',
      '\ufeff49',
      '\u0000',
      '😀',
      'e\u0301',
      '\u202e49',
      "'; DROP TABLE rates; --",
      '$(reboot)',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((n) => '9'.repeat(n)) },
  { weight: 2, arbitrary: fc.stringMatching(/^[0-9]{1,8}(\.[0-9]{1,9})?$/) },
);

const csvFile = fc
  .record({
    bom: fc.boolean(),
    header: fc.oneof(
      fc.constantFrom(...HEADERS),
      fc.array(cell, { minLength: 1, maxLength: 9 }).map((cells) => cells.join(',')),
    ),
    rows: fc.array(fc.oneof({ weight: 8, arbitrary: fc.array(cell, { minLength: 0, maxLength: 9 }) }, { weight: 1, arbitrary: fc.constant(null) }), { maxLength: 25 }),
    delimiter: fc.constantFrom(',', ',', ';', '\t'),
    newline: fc.constantFrom('\n', '\r\n', '\r'),
    trailing: fc.constantFrom('', '\n', '\n\n', '\r\n'),
  })
  .map(({ bom, header, rows, delimiter, newline, trailing }) => {
    const lines = [header, ...rows.map((cells) => (cells === null ? '' : cells.join(delimiter)))];
    return `${bom ? '\ufeff' : ''}${lines.join(newline)}${trailing}`;
  });

const anyText = fc.oneof(
  { weight: 3, arbitrary: csvFile },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 400 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '\n', '\r\n\r\n', '\ufeff', '"', '"\n', ',,,\n,,,', '#only a comment\n', `${CANONICAL_HEADER}\n"unterminated,1,2\n49,DE,0.1,0,60,60,,`),
  },
);

/** Everything a report must satisfy, whatever the input. */
function checkReport(text: string, result: RateDeckImportResult, partial: boolean): void {
  const lines = lineCount(text);
  for (const issue of [...result.issues, ...result.warnings]) {
    expect(Number.isInteger(issue.line)).toBe(true);
    expect({ line: issue.line, within: issue.line >= 1 && issue.line <= lines }).toEqual({ line: issue.line, within: true });
    expect(typeof issue.message).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
    expect(typeof issue.column).toBe('string');
  }
  expect(result.ok).toBe(result.issues.length === 0);
  if (!result.ok && !partial) expect(result.entries).toEqual([]);
  const rejected = new Set(result.issues.map((issue) => issue.line));
  expect(result.rejectedLines).toBe(rejected.size);
  for (const entry of result.entries) {
    const line = entry.sourceLine ?? -1;
    expect({ line, within: line >= 1 && line <= lines }).toEqual({ line, within: true });
    // A line with an error never yields an entry, even in a partial import.
    expect(rejected.has(line)).toBe(false);
    expect(typeof entry.ratePerMinute).toBe('bigint');
    expect(entry.ratePerMinute >= 0n).toBe(true);
    expect(/^[0-9]{1,}$/.test(entry.prefix)).toBe(true);
  }
}

describe('rate deck CSV import fuzz', () => {
  it('never throws, names only lines that exist, and is deterministic', () => {
    fc.assert(
      fc.property(anyText, fc.boolean(), (text, partial) => {
        const result = importRateDeckCsv(text, { allowPartial: partial });
        checkReport(text, result, partial);
        expect(importRateDeckCsv(text, { allowPartial: partial })).toEqual(result);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('assertRateDeckImported throws only the typed RateDeckError, with the report’s issues', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const result = importRateDeckCsv(text);
        let thrown: unknown = null;
        try {
          assertRateDeckImported(result);
        } catch (error) {
          thrown = error;
        }
        if (result.ok) {
          expect(thrown).toBeNull();
          return;
        }
        expect(thrown).toBeInstanceOf(RateDeckError);
        expect((thrown as RateDeckError).code).toBe('RATE_DECK_INVALID');
        expect((thrown as RateDeckError).issues).toEqual(result.issues);
      }),
      { numRuns: Math.max(50, Math.round(RUNS / 2)), seed: SEED + 1 },
    );
  });

  it('a good line keeps its own line number wherever the bad lines, comments and blank lines fall', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('good', 'bad', 'blank', 'comment', 'quoted-newline'), { maxLength: 30 }), fc.constantFrom('\n', '\r\n', '\r'), (kinds, newline) => {
        const pieces = [CANONICAL_HEADER];
        let fileLine = 1;
        const goodAt = new Map<string, number>();
        const badLines = new Set<number>();
        for (const [index, kind] of kinds.entries()) {
          const prefix = String(100 + index);
          fileLine += 1;
          if (kind === 'good') {
            pieces.push(`${prefix},Dest ${index},0.01,0,60,60,,`);
            goodAt.set(prefix, fileLine);
          } else if (kind === 'bad') {
            pieces.push(`${prefix},Dest,not-a-price,0,60,60,,`);
            badLines.add(fileLine);
          } else if (kind === 'blank') pieces.push('');
          else if (kind === 'comment') pieces.push(`# note ${index}`);
          else {
            // One record over two lines: it starts here, the next record starts two lines further.
            pieces.push(`${prefix},"two${newline}lines",0.02,0,60,60,,`);
            goodAt.set(prefix, fileLine);
            fileLine += 1;
          }
        }
        const text = pieces.join(newline);
        const result = importRateDeckCsv(text, { allowPartial: true });
        checkReport(text, result, true);
        for (const [prefix, line] of goodAt) expect({ prefix, line: result.entries.find((entry) => entry.prefix === prefix)?.sourceLine }).toEqual({ prefix, line });
        expect(new Set(result.issues.map((issue) => issue.line))).toEqual(badLines);
      }),
      { numRuns: Math.max(50, Math.round(RUNS / 2)), seed: SEED + 2 },
    );
  });
});

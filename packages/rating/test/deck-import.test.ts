import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CANONICAL_HEADER, RateDeckError, assertRateDeckImported, formatMoney, importRateDeckCsv } from '@ictvoip/rating';

const SAMPLES = path.resolve(__dirname, '../../../fixtures/samples/rates');
const sample = (file: string): string => readFileSync(path.join(SAMPLES, file), 'utf8');

describe('rate deck import: canonical layout', () => {
  const csv = [
    CANONICAL_HEADER,
    '49,Germany,0.012,0,60,60,2026-01-01,',
    '4930,Germany Berlin,0.0085,0.05,30,6,2026-01-01,2026-07-01',
    '"+4915","Germany ""Mobile""",0.095,0,1,1,2026-01-01T00:00:00+01:00,',
  ].join('\n');

  it('imports every field exactly', () => {
    const result = importRateDeckCsv(csv);
    expect(result.ok).toBe(true);
    expect(result.layout).toBe('canonical');
    expect(result.issues).toEqual([]);
    const berlin = result.entries.find((entry) => entry.prefix === '4930');
    expect(berlin).toBeDefined();
    expect(formatMoney(berlin!.ratePerMinute)).toBe('0.008500');
    expect(formatMoney(berlin!.connectFee)).toBe('0.050000');
    expect([berlin!.initialIncrement, berlin!.subsequentIncrement]).toEqual([30, 6]);
    expect(berlin!.effectiveFrom.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(berlin!.effectiveTo?.toISOString()).toBe('2026-07-01T00:00:00.000Z');
    expect(berlin!.sourceLine).toBe(3);
    const mobile = result.entries.find((entry) => entry.prefix === '4915');
    expect(mobile?.destination).toBe('Germany "Mobile"');
    expect(mobile?.effectiveFrom.toISOString()).toBe('2025-12-31T23:00:00.000Z');
  });

  it('is deterministic: importing twice gives the same entries', () => {
    expect(importRateDeckCsv(csv)).toEqual(importRateDeckCsv(csv));
  });

  it('accepts the simple prefix,destination,rate,connect_fee,increment layout and ; delimiters', () => {
    const simple = importRateDeckCsv('prefix,destination,rate,connect_fee,increment\n44,UK,0.01,0,6\n');
    expect(simple.ok).toBe(true);
    expect(simple.entries[0]).toMatchObject({ prefix: '44', initialIncrement: 6, subsequentIncrement: 6 });
    const semicolon = importRateDeckCsv('prefix;destination;rate\n44;UK;0.01\n');
    expect(semicolon.entries[0]).toMatchObject({ prefix: '44', ratePerMinute: 10_000n, initialIncrement: 60 });
  });

  it('takes a column mapping for unknown headers', () => {
    const csv2 = 'Dial,Zone,Tarif\n33,France,0.02\n';
    expect(importRateDeckCsv(csv2).issues[0]).toMatchObject({ line: 1, column: 'prefix' });
    const mapped = importRateDeckCsv(csv2, { columns: { prefix: 'Dial', destination: 'Zone', ratePerMinute: 'Tarif' } });
    expect(mapped.ok).toBe(true);
    expect(mapped.entries[0]).toMatchObject({ prefix: '33', destination: 'France', ratePerMinute: 20_000n });
    const wrong = importRateDeckCsv(csv2, { columns: { prefix: 'Nope' } });
    expect(wrong.issues[0]).toMatchObject({ line: 1, column: 'Nope' });
  });
});

describe('rate deck import: bad lines', () => {
  const bad = [
    'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from,effective_to',
    '49,Germany,0.012,0,60,60,2026-01-01,', // 2 good
    '',
    '44x,UK,0.01,0,60,60,2026-01-01,', // 4 bad prefix
    '33,France,1e-3,0,60,60,2026-01-01,', // 5 bad rate
    '34,Spain,0.01,-0.1,60,60,2026-01-01,', // 6 negative fee
    '39,Italy,0.01,0,6.5,60,2026-01-01,', // 7 bad increment
    '41,Swiss,0.01,0,60,60,2026-02-30,', // 8 impossible date
    '43,Austria,0.01,0,60,60,2026-05-01,2026-04-01', // 9 to before from
    '49,Germany again,0.02,0,60,60,2026-01-01,', // 10 duplicate of line 2
    '45,Denmark,"1,234",0,60,60,2026-01-01,', // 11 decimal comma or thousands: ambiguous
    '46,Sweden,0.0000001,0,60,60,2026-01-01,', // 12 too many places
    '47,Norway,0.01,0,60,60,2026-01-01,', // 13 good
  ].join('\n');

  it('names every bad line and column, and imports nothing', () => {
    const result = importRateDeckCsv(bad);
    expect(result.ok).toBe(false);
    expect(result.entries).toEqual([]);
    const byLine = result.issues.map((issue) => [issue.line, issue.column]);
    expect(byLine).toEqual([
      [2, 'prefix'],
      [4, 'prefix'],
      [5, 'rate_per_minute'],
      [6, 'connect_fee'],
      [7, 'initial_increment'],
      [8, 'effective_from'],
      [9, 'effective_to'],
      [10, 'prefix'],
      [11, 'rate_per_minute'],
      [12, 'rate_per_minute'],
    ]);
    expect(result.issues.find((issue) => issue.line === 10)?.message).toMatch(/duplicate prefix 49 .*first on line 2/);
    expect(result.issues.find((issue) => issue.line === 11)?.message).toMatch(/decimal comma.*thousands separator/);
    expect(result.rejectedLines).toBe(10);
    expect(() => assertRateDeckImported(result)).toThrow(RateDeckError);
    try {
      assertRateDeckImported(result);
    } catch (error) {
      expect((error as RateDeckError).code).toBe('RATE_DECK_INVALID');
      expect((error as RateDeckError).issues).toHaveLength(10);
      expect((error as RateDeckError).message).toMatch(/line 2 prefix/);
    }
  });

  it('with allowPartial imports only the good lines (both sides of a duplicate are dropped)', () => {
    const result = importRateDeckCsv(bad, { allowPartial: true });
    expect(result.ok).toBe(false);
    expect(result.entries.map((entry) => entry.sourceLine)).toEqual([13]);
    expect(assertRateDeckImported(result).map((entry) => entry.prefix)).toEqual(['47']);
  });

  it('rounds excess decimals only when asked', () => {
    const result = importRateDeckCsv('prefix,rate\n46,0.0000015\n', { roundExcessDecimals: true });
    expect(result.entries[0]?.ratePerMinute).toBe(2n);
  });

  it('same prefix with different effective dates is fine', () => {
    const result = importRateDeckCsv('prefix,rate,effective_from\n49,0.01,2026-01-01\n49,0.02,2026-03-01\n');
    expect(result.ok).toBe(true);
    expect(result.entries).toHaveLength(2);
  });

  it('reports broken CSV syntax with its line', () => {
    const result = importRateDeckCsv('prefix,rate\n49,0.01\n44,"0.02\n');
    expect(result.ok).toBe(false);
    expect(result.issues[0]?.message).toMatch(/CSV syntax/);
    expect(result.issues[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('counts lines across quoted newlines', () => {
    const result = importRateDeckCsv('prefix,destination,rate\n49,"Germany\nall",0.01\n44,UK,x\n');
    expect(result.issues).toEqual([{ line: 4, column: 'rate', message: expect.stringMatching(/not a plain decimal/) }]);
  });

  it('rejects a file without header or data', () => {
    expect(importRateDeckCsv('').ok).toBe(false);
    expect(importRateDeckCsv('\n\n').issues[0]?.message).toMatch(/no header/);
  });
});

describe('rate deck import: public samples', () => {
  it('ASTPP termination template (quoted header, Prepend column, trailing comma)', () => {
    // Its Increment is 0: what that means is the sheet's convention, so it is refused unless stated.
    const refused = importRateDeckCsv(sample('astpp/terminationrates_sample.csv'));
    expect(refused.issues).toEqual([{ line: 2, column: 'Increment', message: expect.stringMatching(/increment "0" is 0: write the block in seconds/) }]);
    const result = importRateDeckCsv(sample('astpp/terminationrates_sample.csv'), { defaultIncrements: { initial: 1, subsequent: 1 } });
    expect(result.ok).toBe(true);
    expect(result.layout).toBe('astpp');
    expect(result.columns).toMatchObject({ prefix: 'Code', ratePerMinute: 'Per Minute Cost', connectFee: 'Connect Cost', subsequentIncrement: 'Increment' });
    expect(result.entries).toEqual([
      expect.objectContaining({ prefix: '1', destination: 'UNITED STATES', ratePerMinute: 0n, connectFee: 0n, initialIncrement: 1, subsequentIncrement: 1, sourceLine: 2 }),
    ]);
  });

  it('ASTPP origination template (whitespace-only line skipped)', () => {
    const result = importRateDeckCsv(sample('astpp/originationrates_sample.csv'), { defaultIncrements: { initial: 30, subsequent: 6 } });
    expect(result.ok).toBe(true);
    expect(result.dataLines).toBe(1);
    expect(result.entries[0]).toMatchObject({ prefix: '93', destination: 'Afghanistan - Fixed', initialIncrement: 30, subsequentIncrement: 6 });
  });

  it('ASTPP export with values shifted against its header is rejected on line 2', () => {
    const result = importRateDeckCsv(sample('astpp/ASTPP-TERMINATION-RATES-2019-05-24-16-46-40.export.csv'));
    expect(result.ok).toBe(false);
    expect(result.entries).toEqual([]);
    expect(result.issues).toEqual([{ line: 2, column: 'Destination', message: expect.stringMatching(/looks like a number.*shifted/) }]);
  });

  it('ASTPP export with a repaired line maps Initial Increment, Increment, Status and warns about grace time', () => {
    const text = sample('astpp/ASTPP-TERMINATION-RATES-2019-05-24-16-46-40.export.csv');
    const header = text.split('\n')[0] as string;
    const repaired = [
      header,
      '36,Hungary,0.383,25,0.0150,30,6,0,,,YourTrunk,"2019-05-10 07:55:42","2019-05-10 07:55:42",Active',
      '361,Hungary Budapest,0.1,0,0.02,60,60,0,,,YourTrunk,"2019-05-10 07:55:42","2019-05-10 07:55:42",Inactive',
    ].join('\n');
    const result = importRateDeckCsv(repaired);
    expect(result.ok).toBe(true);
    expect(result.entries).toEqual([expect.objectContaining({ prefix: '36', connectFee: 383_000n, ratePerMinute: 15_000n, initialIncrement: 30, subsequentIncrement: 6 })]);
    expect(result.warnings.map((warning) => [warning.line, warning.column])).toEqual([
      [2, 'Grace Time'],
      [3, 'Status'],
    ]);
  });

  it('CGRateS Destinations/Rates are a different model: rejected with a clear header issue, not mis-read', () => {
    const result = importRateDeckCsv(sample('cgrates-oldtutorial/Rates.csv'));
    expect(result.ok).toBe(false);
    expect(result.issues).toEqual([{ line: 1, column: 'prefix', message: expect.stringMatching(/no column for prefix/) }]);
  });

  it('CGRateS-style "#" header and comment lines, "+" prefixes', () => {
    const result = importRateDeckCsv('#Prefix,Destination,Rate\n# comment, with commas\n\n+49151,DE mobile,0.1\n');
    expect(result.ok).toBe(true);
    expect(result.entries).toEqual([expect.objectContaining({ prefix: '49151', sourceLine: 4 })]);
  });
});

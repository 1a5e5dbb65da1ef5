/**
 * Increment columns: every spelling a carrier sheet uses is read, an increment-like column the
 * importer does not understand refuses the deck, and an empty or 0 increment is never billed 60/60.
 */
import { importRateDeckCsv, type RateDeckImportResult } from '@ictvoip/rating';

const deck = (header: string, ...lines: string[]): string => [header, ...lines].join('\n');
const blocks = (result: RateDeckImportResult) => result.entries.map((entry) => [entry.prefix, entry.initialIncrement, entry.subsequentIncrement]);

describe('rate deck increments: carrier header spellings', () => {
  it.each([
    ['Prefix,Rate,Interval 1,Interval N', '30,6'],
    ['Prefix,Rate,1st interval,next interval', '30,6'],
    ['Prefix,Rate,First Interval,Next Interval', '30,6'],
    ['Prefix,Rate,Initial Increment,Billing Increment', '30,6'],
    ['Prefix,Rate,Min Duration,Increment', '30,6'],
    ['Prefix,Rate,Minimum,Increment', '30,6'],
    ['Code,Rate,Min Dur,Incr', '30,6'], // CDRTool's destinations.csv names
  ])('%s reads 30/6', (header, increments) => {
    const result = importRateDeckCsv(deck(header, `44,0.01,${increments}`));
    expect(result.issues).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(blocks(result)).toEqual([['44', 30, 6]]);
  });

  it('a minimum duration of 0, or shorter than a block, is no minimum; one that is not whole blocks is refused', () => {
    const result = importRateDeckCsv(deck('Prefix,Rate,Min Duration,Increment', '44,0.01,0,6', '45,0.01,,1', '46,0.01,1,6', '47,0.01,60,60', '48,0.01,10,6'));
    expect(blocks(importRateDeckCsv(deck('Prefix,Rate,Min Duration,Increment', '44,0.01,0,6', '45,0.01,,1', '46,0.01,1,6', '47,0.01,60,60')))).toEqual([
      ['44', 6, 6],
      ['45', 1, 1],
      ['46', 6, 6],
      ['47', 60, 60],
    ]);
    expect(result.issues).toEqual([{ line: 6, column: 'Min Duration', message: expect.stringMatching(/minimum duration 10s is not a whole number of 6s increments/) }]);
  });
});

describe('rate deck increments: unknown increment-like columns refuse the import', () => {
  it.each([
    ['Prefix,Rate,Rounding', 'Rounding'],
    ['Prefix,Rate,Interval', 'Interval'],
    ['Prefix,Rate,Billing Interval', 'Billing Interval'],
    ['Prefix,Rate,Pulse', 'Pulse'],
    ['Prefix,Rate,Duration', 'Duration'],
    ['Prefix,Rate,Increment,Increment 2', 'Increment 2'],
    ['Prefix,Rate,Initial Increment,Increment,Min Duration', 'Min Duration'],
  ])('%s names %s', (header, column) => {
    const result = importRateDeckCsv(deck(header, '44,0.01,6,6,6'));
    expect(result.ok).toBe(false);
    expect(result.entries).toEqual([]);
    expect(result.issues).toEqual([{ line: 1, column, message: expect.stringContaining(`column "${column}" looks like a billing increment or duration`) }]);
  });

  it('a mapped column is read, and a cap on call length is not an increment', () => {
    const mapped = importRateDeckCsv(deck('Prefix,Rate,Pulse,Max Duration', '44,0.01,1,3600'), { columns: { subsequentIncrement: 'Pulse' } });
    expect(mapped.issues).toEqual([]);
    expect(blocks(mapped)).toEqual([['44', 1, 1]]);
  });
});

describe('rate deck increments: empty or 0', () => {
  it('an Increment of 0 or empty is refused, naming line and column', () => {
    const result = importRateDeckCsv(deck('Prefix,Rate,Increment', '44,0.01,0', '45,0.01,', '46,0.01,1'));
    expect(result.ok).toBe(false);
    expect(result.entries).toEqual([]);
    expect(result.issues).toEqual([
      { line: 2, column: 'Increment', message: expect.stringMatching(/^increment "0" is 0: write the block in seconds \(1 = per second\)/) },
      { line: 3, column: 'Increment', message: expect.stringMatching(/^increment "" is empty/) },
    ]);
  });

  it('an empty or 0 Initial Increment is refused too', () => {
    const result = importRateDeckCsv(deck('Prefix,Rate,Initial Increment,Increment', '44,0.01,0,6'));
    expect(result.issues).toEqual([{ line: 2, column: 'Initial Increment', message: expect.stringMatching(/increment "0" is 0/) }]);
  });

  it('the operator can state the convention: defaultIncrements fills empty or 0 cells', () => {
    const result = importRateDeckCsv(deck('Prefix,Rate,Increment', '44,0.01,0', '45,0.01,6'), { defaultIncrements: { initial: 1, subsequent: 1 } });
    expect(blocks(result)).toEqual([
      ['44', 1, 1],
      ['45', 6, 6],
    ]);
  });

  it('a deck with no increment column is billed 60/60 and says so', () => {
    const result = importRateDeckCsv(deck('Prefix,Rate', '44,0.01'));
    expect(blocks(result)).toEqual([['44', 60, 60]]);
    expect(result.warnings).toEqual([{ line: 1, column: '', message: 'no increment column: every rate is billed in 60/60 blocks (first/next seconds)' }]);
  });
});

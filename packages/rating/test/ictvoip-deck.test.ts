import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportRateDeckCsv, formatColumnMapping, formatMoney, importRateDeckCsv, type RateEntry } from '../src';

// ictVoIP's tariff CSV (admin/tariffs.rst): the documented example, its optional columns, a
// 10,000-line file with bad lines, and the export writing the same layout back.
const DOC_EXAMPLE = readFileSync(join(__dirname, '../../../fixtures/samples/rates/ictvoip/tariffs-doc-example.csv'), 'utf8');
const ictvoip = { columns: formatColumnMapping('ictvoip') };

const view = (entry: RateEntry) => ({
  prefix: entry.prefix,
  destination: entry.destination,
  rate: formatMoney(entry.ratePerMinute),
  increments: `${entry.initialIncrement}/${entry.subsequentIncrement}`,
});

describe('ictVoIP tariff import', () => {
  it('imports the documented example as is: Increment is the block from the first second', () => {
    const report = importRateDeckCsv(DOC_EXAMPLE, ictvoip);
    expect(report.ok).toBe(true);
    expect(report.columns).toEqual({ destination: 'Description', prefix: 'Prefix', ratePerMinute: 'RateValue', subsequentIncrement: 'Increment' });
    expect(report.entries.map(view)).toEqual([
      { prefix: '1204', destination: 'Canada - 204 Manitoba', rate: '0.010000', increments: '6/6' },
      { prefix: '1226', destination: 'Canada - 226 Ontario', rate: '0.010000', increments: '6/6' },
      { prefix: '1416', destination: 'Canada - 416 Metro Toronto', rate: '0.010000', increments: '6/6' },
    ]);
  });

  it('reads past the optional columns (ShortDescription, Lastratechangedate, Oldrate, RatePremium) in any order and header case', () => {
    const text = 'shortdescription,RATEVALUE,Oldrate,prefix,Lastratechangedate,Increment,RatePremium,description\nMB,0.012,0.01,1204,2024-01-15,60,0.02,Canada - 204 Manitoba\n';
    const report = importRateDeckCsv(text, ictvoip);
    expect(report.ok).toBe(true);
    // "Lastratechangedate" is no effective-from: the rate applies to earlier calls too.
    expect(report.entries[0]).toMatchObject({ prefix: '1204', destination: 'Canada - 204 Manitoba', initialIncrement: 60, effectiveFrom: new Date(0) });
    expect(formatMoney(report.entries[0]!.ratePerMinute)).toBe('0.012000');
  });

  it('imports a sheet whose prices a spreadsheet wrote with 8 decimals (0.01000000) at the price they state', () => {
    const report = importRateDeckCsv('Description,Prefix,RateValue,Increment\r\nUnited Kingdom,44,0.01250000,6\r\nUSA,1,0.00900000,6\r\n', ictvoip);
    expect(report.issues).toEqual([]);
    expect(report.entries.map(view)).toEqual([
      { prefix: '44', destination: 'United Kingdom', rate: '0.012500', increments: '6/6' },
      { prefix: '1', destination: 'USA', rate: '0.009000', increments: '6/6' },
    ]);
  });

  it('imports the tariff tab-separated, as copied out of a spreadsheet, and ;-separated with a comma inside a header', () => {
    const tabs = importRateDeckCsv('Description\tPrefix\tRateValue\tIncrement\r\nUnited Kingdom, mobile\t447\t0.0125\t6\r\n', ictvoip);
    expect(tabs.issues).toEqual([]);
    expect(tabs.entries.map(view)).toEqual([{ prefix: '447', destination: 'United Kingdom, mobile', rate: '0.012500', increments: '6/6' }]);
    const semicolons = importRateDeckCsv('Prefix;Rate (USD, per min);Destination\n44;0.0125;United Kingdom\n');
    expect(semicolons.issues).toEqual([]);
    expect(semicolons.entries.map(view)).toEqual([{ prefix: '44', destination: 'United Kingdom', rate: '0.012500', increments: '60/60' }]);
  });

  it('reads an Increment written as the carrier prints it, "60/6" (first block/next blocks); "1/1" and "6" as before', () => {
    const report = importRateDeckCsv('Description,Prefix,RateValue,Increment\nUnited Kingdom,44,0.02,60/6\nUSA,1,0.01,1/1\nCanada,1204,0.01,6\nBad,49,0.02,60/0\n', ictvoip);
    expect(report.entries).toEqual([]);
    expect(report.issues).toEqual([{ line: 5, column: 'Increment', message: 'increment "60/0": both blocks must be at least 1 second' }]);
    const good = importRateDeckCsv('Description,Prefix,RateValue,Increment\nUnited Kingdom,44,0.02,60/6\nUSA,1,0.01,1/1\nCanada,1204,0.01,6\n', ictvoip);
    expect(good.entries.map(view)).toEqual([
      { prefix: '44', destination: 'United Kingdom', rate: '0.020000', increments: '60/6' },
      { prefix: '1', destination: 'USA', rate: '0.010000', increments: '1/1' },
      { prefix: '1204', destination: 'Canada', rate: '0.010000', increments: '6/6' },
    ]);
    // Both an initial column and a pair: which first block is meant is not guessed.
    const both = importRateDeckCsv('prefix,rate,initial_increment,subsequent_increment\n44,0.02,30,60/6\n');
    expect(both.issues.map((issue) => issue.message)).toEqual(['"60/6" gives the first block too, and so does initial_increment']);
  });

  it('names a required column the file lacks', () => {
    const report = importRateDeckCsv('Description,Prefix,Increment\nX,1204,6\n', ictvoip);
    expect(report.ok).toBe(false);
    expect(report.issues[0]).toMatchObject({ line: 1, column: 'RateValue', message: expect.stringContaining('mapped column "RateValue"') });
  });

  it('reports every bad line of a 10,000-line tariff by its number and imports nothing', () => {
    const lines = ['Description,Prefix,RateValue,Increment'];
    for (let i = 0; i < 10_000; i += 1) lines.push(`Destination ${i},${100000 + i},0.0${(i % 9) + 1},6`);
    const bad: Record<number, string> = {
      // file line = index + 1 (the header is line 1)
      17: 'Destination bad rate,555017,abc,6',
      2500: 'Destination empty prefix,,0.01,6',
      5000: 'Destination negative,555500,-0.01,6',
      9999: 'Destination bad increment,555999,0.01,six',
    };
    for (const [line, text] of Object.entries(bad)) lines[Number(line) - 1] = text;
    lines[7000] = lines[7001]!.replace('Destination', 'Duplicate'); // same prefix as line 7002
    const report = importRateDeckCsv(lines.join('\n'), ictvoip);
    expect(report.ok).toBe(false);
    expect(report.entries).toEqual([]);
    expect(report.dataLines).toBe(10_000);
    expect([...new Set(report.issues.map((issue) => issue.line))]).toEqual([17, 2500, 5000, 7001, 7002, 9999]);
    expect(report.issues.find((issue) => issue.line === 17)).toMatchObject({ column: 'RateValue' });
    expect(report.issues.find((issue) => issue.line === 9999)).toMatchObject({ column: 'Increment' });

    const good = lines.filter((_, index) => !(index + 1 in bad) && index !== 7000).join('\n');
    const clean = importRateDeckCsv(good, ictvoip);
    expect(clean.ok).toBe(true);
    expect(clean.entries).toHaveLength(10_000 - 5);
  });
});

describe('ictVoIP tariff export', () => {
  it('writes the documented example back byte for byte (import → export round trip)', () => {
    const entries = importRateDeckCsv(DOC_EXAMPLE, ictvoip).entries;
    expect(exportRateDeckCsv(entries, 'ictvoip')).toBe(DOC_EXAMPLE);
  });

  it('round-trips a 10,000-line tariff with quoted names to the same entries, and the canonical layout too', () => {
    const lines = ['Description,Prefix,RateValue,Increment'];
    for (let i = 0; i < 10_000; i += 1) lines.push(`"Place ${i}, ""quoted""",${200000 + i},0.${String(i).padStart(6, '0')},${i % 2 ? 6 : 60}`);
    const entries = importRateDeckCsv(lines.join('\n'), ictvoip).entries;
    expect(entries).toHaveLength(10_000);
    const again = importRateDeckCsv(exportRateDeckCsv(entries, 'ictvoip'), ictvoip).entries;
    expect(again.map(view)).toEqual(entries.map(view));
    const canonical = importRateDeckCsv(exportRateDeckCsv(entries, 'canonical')).entries;
    expect(canonical.map(view)).toEqual(entries.map(view));
  });

  it('refuses to write a rate its layout cannot hold, naming the prefix', () => {
    const [entry] = importRateDeckCsv('prefix,rate_per_minute,initial_increment,subsequent_increment\n49,0.02,60,6\n').entries;
    expect(() => exportRateDeckCsv([entry!], 'ictvoip')).toThrow('prefix 49: increments 60/6');
  });
});

// Rate cells as spreadsheets write them: a decimal comma (European sheets), a currency sign or code,
// a file saved as Excel's "Unicode text" (UTF-16 with a byte order mark). Forms with one reading are
// read exactly (decimal strings, never a float); forms with two are refused by line and column with
// what to write instead.
import { decodeRateDeckBytes, importRateDeckCsv, RateDeckEncodingError } from '@ictvoip/rating';

const deck = (...lines: string[]) => ['Prefix;Destination;Rate;Connect Fee;Increment', ...lines].join('\n');

describe('price cells', () => {
  it('a decimal comma with one reading is read exactly: 0,0125 and 1,5 and 0,125', () => {
    const result = importRateDeckCsv(deck('44;UK;0,0125;0,05;6', '45;Denmark;1,5;0;6', '46;Sweden;0,125;0;6'), { currency: 'EUR' });
    expect(result.issues).toEqual([]);
    expect(result.entries.map((entry) => [entry.ratePerMinute, entry.connectFee])).toEqual([
      [12_500n, 50_000n],
      [1_500_000n, 0n],
      [125_000n, 0n],
    ]);
  });

  it('1,234 could be thousands: refused naming the line, the column and both readings', () => {
    const result = importRateDeckCsv(deck('44;UK;0.01;0;6', '45;Denmark;1,234;0;6', '46;Sweden;1.234,5;0;6'), { currency: 'EUR' });
    expect(result.ok).toBe(false);
    expect(result.entries).toEqual([]);
    expect(result.issues).toEqual([
      { line: 3, column: 'Rate', message: '"1,234" could be 1.234 (decimal comma) or 1234 (thousands separator): write 1.234 or 1234' },
      { line: 4, column: 'Rate', message: expect.stringContaining("write the amount with '.' as the decimal point") },
    ]);
  });

  it("a currency sign or code of the deck's currency is read; another currency's is refused; none given: refused", () => {
    const sheet = ['prefix,rate,connect_fee,increment', '1,$0.0125,0,6', '44,0.0200 USD,$0.01,6', '49,USD 0.03,0,6', '33,US$0.04,0,6'].join('\n');
    const usd = importRateDeckCsv(sheet, { currency: 'USD' });
    expect(usd.issues).toEqual([]);
    expect(usd.entries.map((entry) => [entry.prefix, entry.ratePerMinute, entry.connectFee])).toEqual([
      ['1', 12_500n, 0n],
      ['44', 20_000n, 10_000n],
      ['49', 30_000n, 0n],
      ['33', 40_000n, 0n],
    ]);
    // "$" is every dollar's sign: a CAD deck reads it as its own; a EUR deck refuses every marked cell.
    expect(importRateDeckCsv(['prefix,rate,increment', '1,$0.0125,6'].join('\n'), { currency: 'CAD' }).entries[0]?.ratePerMinute).toBe(12_500n);
    const eur = importRateDeckCsv(sheet, { currency: 'EUR' });
    expect(eur.issues[0]).toEqual({
      line: 2,
      column: 'rate',
      message: expect.stringMatching(
        /^"\$0\.0125" is priced in \$ \(USD, CAD.*\) but the deck's currency is EUR: import it as a deck in that currency, or write the amount in EUR without the mark$/,
      ),
    });
    expect(eur.issues.find((issue) => issue.line === 3 && issue.column === 'rate')?.message).toMatch(/^"0.0200 USD" is priced in USD but the deck's currency is EUR/);
    expect(eur.rejectedLines).toBe(4);
    const unknown = importRateDeckCsv(['prefix,rate,increment', '44,€0,02,6'].join('\n'));
    expect(unknown.issues).toEqual([{ line: 2, column: 'rate', message: expect.stringContaining("the deck's currency is not given") }]);
    expect(importRateDeckCsv(['prefix;rate;increment', '44;€0,02;6', '45;0,03 €;6'].join('\n'), { currency: 'EUR' }).entries.map((entry) => entry.ratePerMinute)).toEqual([
      20_000n,
      30_000n,
    ]);
  });

  it('what is no price stays refused: exponents, words, two marks', () => {
    const result = importRateDeckCsv(['prefix,rate,increment', '1,1e-3,6', '2,abc,6', '3,$0.01 USD,6'].join('\n'), { currency: 'USD' });
    expect(result.issues.map((issue) => [issue.line, issue.message])).toEqual([
      [2, '"1e-3" is not a plain decimal number (digits, optional \'.\' and fraction)'],
      [3, '"abc" is not a plain decimal number (digits, optional \'.\' and fraction)'],
      [4, '"$0.01 USD" has two currency marks: write the amount alone, e.g. 0.01'],
    ]);
  });
});

describe('file encodings', () => {
  const text = 'Prefix\tDestination\tRate\tIncrement\r\n44\tUnited Kingdom\t0.0125\t6\r\n33\tCôte d’Azur\t0.02\t1\r\n';
  const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

  it("Excel's Unicode text (UTF-16LE with its byte order mark, tabs) is decoded and imported", () => {
    const result = importRateDeckCsv(decodeRateDeckBytes(utf16le), { currency: 'GBP' });
    expect(result.issues).toEqual([]);
    expect(result.entries.map((entry) => [entry.prefix, entry.destination, entry.ratePerMinute])).toEqual([
      ['44', 'United Kingdom', 12_500n],
      ['33', 'Côte d’Azur', 20_000n],
    ]);
    const bigEndian = Buffer.from(utf16le.subarray(2)).swap16();
    expect(decodeRateDeckBytes(Buffer.concat([Buffer.from([0xfe, 0xff]), bigEndian]))).toBe(text);
    expect(decodeRateDeckBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))).toBe(text);
  });

  it('UTF-16 without its mark is refused, not guessed; read as another encoding it is named as such', () => {
    expect(() => decodeRateDeckBytes(Buffer.from(text, 'utf16le'))).toThrow(RateDeckEncodingError);
    expect(() => decodeRateDeckBytes(Buffer.from(text, 'utf16le'))).toThrow(/UTF-16 without a byte order mark; save the sheet as "CSV UTF-8"/);
    const misread = importRateDeckCsv(utf16le.toString('latin1'));
    expect(misread.ok).toBe(false);
    expect(misread.issues).toEqual([{ line: 1, column: '', message: expect.stringMatching(/^the text holds NUL characters: the file is UTF-16/) }]);
  });
});

describe('mapping advice', () => {
  it('the CLI is told its --map flag; a caller with a form names its field instead', () => {
    const header = 'Dest Code,Charge,Interval\n49,0.01,60\n';
    expect(importRateDeckCsv(header).issues[0]?.message).toContain('ictvoip rates import --map prefix=<header>,rate=<header>');
    const page = importRateDeckCsv(header, { mappingAdvice: (spec) => `enter ${spec} in the Column mapping field` });
    expect(page.issues[0]?.message).toContain('enter prefix=<header>,rate=<header> in the Column mapping field');
    const interval = importRateDeckCsv('Prefix,Rate,Interval\n49,0.01,60\n', { mappingAdvice: (spec) => `enter ${spec} in the Column mapping field` });
    expect(interval.issues[0]?.message).toContain('enter initial="Interval" in the Column mapping field for the first block');
    expect(JSON.stringify([page.issues, interval.issues])).not.toContain('--map');
  });
});

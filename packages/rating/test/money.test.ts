import fc from 'fast-check';
import { MoneyFormatError, costForSeconds, divideHalfUp, formatMoney, parseMoney, percentOf, roundHalfUp, roundInvoiceLine } from '@ictvoip/rating';

describe('parseMoney', () => {
  it.each([
    ['0', 0n],
    ['12', 12_000_000n],
    ['0.1', 100_000n],
    ['0.000001', 1n],
    ['1.234567', 1_234_567n],
    ['007.50', 7_500_000n],
  ])('parses %s exactly', (text, micro) => {
    expect(parseMoney(text)).toBe(micro);
  });

  it.each(['1e-3', '1E3', 'NaN', 'Infinity', '', ' 1', '1 ', '+1', '.5', '5.', '1,5', '1,000.00', '0x10', '$1', '1.2.3'])('rejects "%s" with MONEY_INVALID', (text) => {
    expect(() => parseMoney(text)).toThrow(MoneyFormatError);
    try {
      parseMoney(text);
    } catch (error) {
      expect((error as MoneyFormatError).code).toBe('MONEY_INVALID');
    }
  });

  it('rejects negatives unless allowed, naming the field', () => {
    expect(() => parseMoney('-0.5', { field: 'connect_fee' })).toThrow(/connect_fee: negative amount "-0.5"/);
    expect(parseMoney('-0.5', { allowNegative: true })).toBe(-500_000n);
  });

  it('rejects more than 6 places unless rounding is asked for', () => {
    expect(() => parseMoney('0.0000005')).toThrow(/7 decimal places, at most 6/);
    expect(() => parseMoney('0.01000001')).toThrow(/8 decimal places, at most 6/);
    expect(parseMoney('0.0000005', { rounding: 'half-up' })).toBe(1n);
    expect(parseMoney('0.0000004999', { rounding: 'half-up' })).toBe(0n);
    expect(parseMoney('1.2345675', { rounding: 'half-up' })).toBe(1_234_568n);
    expect(parseMoney('1.2345674', { rounding: 'half-up' })).toBe(1_234_567n);
    expect(parseMoney('-1.2345675', { rounding: 'half-up', allowNegative: true })).toBe(-1_234_568n);
  });

  it('takes zeros past the 6th place as the exact value they write (a spreadsheet fixed format)', () => {
    expect(parseMoney('0.01000000')).toBe(10_000n);
    expect(parseMoney('0.0125000000000')).toBe(12_500n);
    expect(parseMoney('12.0000000')).toBe(12_000_000n);
  });

  it('round-trips any 6-place decimal through formatMoney (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), (micro) => {
        expect(parseMoney(formatMoney(micro), { allowNegative: true })).toBe(micro);
      }),
    );
  });
});

describe('rounding', () => {
  it('rounds half away from zero', () => {
    expect(divideHalfUp(5n, 10n)).toBe(1n);
    expect(divideHalfUp(4n, 10n)).toBe(0n);
    expect(divideHalfUp(-5n, 10n)).toBe(-1n);
    expect(divideHalfUp(-4n, 10n)).toBe(0n);
    expect(() => divideHalfUp(1n, 0n)).toThrow(MoneyFormatError);
  });

  it.each([
    ['0.004999', '0.00'],
    ['0.005', '0.01'],
    ['1.994999', '1.99'],
    ['1.995', '2.00'],
    ['-1.995', '-2.00'],
    ['12.344999', '12.34'],
  ])('invoice line %s -> %s', (exact, rounded) => {
    expect(formatMoney(roundInvoiceLine(parseMoney(exact, { allowNegative: true })), 2)).toBe(rounded);
  });

  it('refuses to format with fewer places without explicit rounding', () => {
    expect(() => formatMoney(1_234_567n, 2)).toThrow(/round first/);
    expect(formatMoney(roundHalfUp(1_234_567n, 2), 2)).toBe('1.23');
    expect(formatMoney(roundHalfUp(1_500_000n, 0), 0)).toBe('2');
    expect(() => roundHalfUp(1n, 7)).toThrow(MoneyFormatError);
  });

  it('prices seconds at a per-minute rate exactly, half-up at the 6th place', () => {
    // 0.01 per minute for 1 s = 0.000166666… -> 0.000167
    expect(formatMoney(costForSeconds(parseMoney('0.01'), 1))).toBe('0.000167');
    // 0.000003 per minute for 10 s = 0.0000005 exactly -> rounds up to 0.000001
    expect(formatMoney(costForSeconds(parseMoney('0.000003'), 10))).toBe('0.000001');
    expect(formatMoney(costForSeconds(parseMoney('0.12'), 90))).toBe('0.180000');
    expect(() => costForSeconds(1n, 1.5)).toThrow(MoneyFormatError);
    expect(() => costForSeconds(1n, -1)).toThrow(MoneyFormatError);
  });

  it('applies percentages with one half-up rounding', () => {
    expect(percentOf(parseMoney('0.012345'), parseMoney('10'))).toBe(1235n); // 0.0012345 -> 0.001235
    expect(percentOf(parseMoney('0.02'), parseMoney('12.5'))).toBe(2500n);
  });

  it('cost never decreases with more seconds (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.nat(100_000), fc.nat(100_000), (rate, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(costForSeconds(rate, low) <= costForSeconds(rate, high)).toBe(true);
      }),
    );
  });
});

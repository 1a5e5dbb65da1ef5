import { RatingConfigError, applyMarkup, formatMoney, importRateDeckCsv, markUp, parseMoney } from '@ictvoip/rating';

describe('plan markup', () => {
  const { entries } = importRateDeckCsv('prefix,rate,connect_fee\n49,0.012345,0.1\n44,0,0\n');

  it('applies percent to rate and fee, then the fixed parts, rounding once half-up', () => {
    const [germany, uk] = applyMarkup(entries, { percent: '10', fixedPerMinute: '0.001', fixedPerCall: '0.02' });
    // 0.012345 × 1.10 = 0.0135795 -> 0.013580 (+0.001)
    expect(formatMoney(germany!.ratePerMinute)).toBe('0.014580');
    expect(formatMoney(germany!.connectFee)).toBe('0.130000');
    expect(formatMoney(uk!.ratePerMinute)).toBe('0.001000');
    expect(entries[0]!.ratePerMinute).toBe(12_345n); // input untouched
  });

  it('percent only and fixed only', () => {
    expect(markUp(parseMoney('0.02'), parseMoney('12.5'), 0n)).toBe(parseMoney('0.0225'));
    expect(markUp(parseMoney('0.02'), 0n, parseMoney('0.005'))).toBe(parseMoney('0.025'));
    expect(applyMarkup(entries, {})).toEqual(entries);
  });

  it('rejects bad markup naming the field', () => {
    expect(() => applyMarkup(entries, { percent: '10%' })).toThrow(RatingConfigError);
    expect(() => applyMarkup(entries, { percent: '-5' })).toThrow(/markup.percent/);
    expect(() => applyMarkup(entries, { fixedPerMinute: '1e-3' })).toThrow(/markup.fixedPerMinute/);
  });
});

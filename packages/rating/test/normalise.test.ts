import { COUNTRY_CODE_DIGITS, COUNTRY_CODE_RULE, NumberFormatError, RatingConfigError, normaliseNumber, type NumberingPlan } from '@ictvoip/rating';

const germany: NumberingPlan = { countryCode: '49' };
const uk: NumberingPlan = { countryCode: '44', nationalPrefix: '0', internationalPrefixes: ['00'] };
const nanp: NumberingPlan = { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'], bareNumbers: 'national' };
const internationalOnly: NumberingPlan = { countryCode: '39', nationalPrefix: '', bareNumbers: 'international' };

describe('normaliseNumber', () => {
  it.each<[string, NumberingPlan, string, string]>([
    ['+49 30 1234567', germany, '+49301234567', 'leading +, spaces'],
    ['0049-30-1234567', germany, '+49301234567', '00 exit code, dashes'],
    ['030 / 123 45 67', germany, '+49301234567', 'national 0 -> country code, slash'],
    ['(030) 123.45.67', germany, '+49301234567', 'parentheses and dots'],
    ['+44 (0)20 7946 0000', uk, '+442079460000', '"(0)" trunk hint after +CC is dropped'],
    ['020 7946 0000', uk, '+442079460000', 'UK national'],
    ['0015555550100', uk, '+15555550100', '00 to NANP'],
    ['011 44 20 7946 0000', nanp, '+442079460000', '011 exit code'],
    ['1 (555) 555-0100', nanp, '+15555550100', 'NANP 1 + 10 digits'],
    ['5555550100', nanp, '+15555550100', 'NANP 10 digits'],
    ['+15555550100', nanp, '+15555550100', 'already E.164'],
    ['395550100001', internationalOnly, '+395550100001', 'bare number taken as international'],
    ['  +49301234567\t', germany, '+49301234567', 'surrounding whitespace'],
  ])('%s -> %s (%s)', (input, plan, expected) => {
    expect(normaliseNumber(input, plan)).toBe(expected);
  });

  it.each<[string, NumberingPlan, RegExp]>([
    ['', germany, /empty/],
    ['  - ', germany, /empty/],
    ['sip:+4930@example.com', germany, /contains "s"/],
    ['*97', germany, /contains "\*"/],
    ['+49 30 12#3', germany, /contains "#"/],
    ['49+30', germany, /contains "\+"/],
    ['00', germany, /no digits after its prefix/],
    ['+0301234', germany, /country code cannot start with 0/],
    ['+1234567890123456', germany, /16 digits, E.164 allows at most 15/],
  ])('rejects %j clearly', (input, plan, message) => {
    expect(() => normaliseNumber(input, plan)).toThrow(NumberFormatError);
    expect(() => normaliseNumber(input, plan)).toThrow(message);
  });

  it('carries the code and the input on the error', () => {
    try {
      normaliseNumber('12a', germany);
      throw new Error('not thrown');
    } catch (error) {
      expect(error).toBeInstanceOf(NumberFormatError);
      expect((error as NumberFormatError).code).toBe('NUMBER_INVALID');
      expect((error as NumberFormatError).input).toBe('12a');
    }
  });

  it('rejects a bad numbering plan naming the field', () => {
    expect(() => normaliseNumber('1', { countryCode: '049' })).toThrow(RatingConfigError);
    expect(() => normaliseNumber('1', { countryCode: '49', nationalPrefix: 'x' })).toThrow(/numberingPlan.nationalPrefix/);
    expect(() => normaliseNumber('1', { countryCode: '49', internationalPrefixes: ['+'] })).toThrow(/internationalPrefixes/);
  });
});

describe('country codes: one rule for rate decks and plans (COUNTRY_CODE_DIGITS)', () => {
  // A plan may name a 4-digit code (the webhook's isCountryCode); a deck refused it (1-3 digits), so no deck could serve that plan.
  it('takes a 4-digit code (a NANP area written with its 1) as a deck numbering plan', () => {
    const trinidad: NumberingPlan = { countryCode: '1868' };
    expect(normaliseNumber('06231234', trinidad)).toBe('+18686231234');
    expect(normaliseNumber('+18686231234', trinidad)).toBe('+18686231234');
  });

  it.each(['1', '49', '880', '1868'])('%s is a country code', (code) => {
    expect(COUNTRY_CODE_DIGITS.test(code)).toBe(true);
    expect(() => normaliseNumber('+15555550100', { countryCode: code })).not.toThrow();
  });

  it.each(['', '0', '049', '12345', '+49'])('%j is not', (code) => {
    expect(COUNTRY_CODE_DIGITS.test(code)).toBe(false);
    expect(() => normaliseNumber('+15555550100', { countryCode: code })).toThrow(COUNTRY_CODE_RULE);
  });
});

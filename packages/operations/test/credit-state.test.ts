import { nextCreditState } from '../src';

const units = (text: string) => {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const micro = BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
  return negative ? -micro : micro;
};

describe('the credit state machine (threshold 5.00, hysteresis 1.00)', () => {
  const levels = (available: string) => ({ available: units(available), threshold: units('5.00'), hysteresis: units('1.00') });
  it.each([
    ['ok', '5.00', 'ok'],
    ['ok', '4.999999', 'low'],
    ['ok', '0.000001', 'low'],
    ['ok', '0', 'zero'],
    ['ok', '-0.000001', 'zero'],
    ['low', '5.50', 'low'],
    ['low', '5.999999', 'low'],
    ['low', '6.00', 'ok'],
    ['low', '0', 'zero'],
    ['zero', '0.000001', 'zero'],
    ['zero', '5.999999', 'zero'],
    ['zero', '6.00', 'ok'],
  ] as const)('%s at %s → %s', (from, available, to) => {
    expect(nextCreditState(from, levels(available))).toBe(to);
  });

  it('no threshold: zero below nothing, back once the hysteresis margin is reached (a top-up of exactly 1.00 lifts it)', () => {
    const at = (available: string) => ({ available: units(available), threshold: 0n, hysteresis: units('1.00') });
    expect(nextCreditState('ok', at('0.01'))).toBe('ok');
    expect(nextCreditState('ok', at('0'))).toBe('zero');
    expect(nextCreditState('zero', at('0.999999'))).toBe('zero');
    expect(nextCreditState('zero', at('1.00'))).toBe('ok');
  });

  it('a threshold below zero: back from zero only with the margin above zero, not above the threshold', () => {
    const at = (available: string) => ({ available: units(available), threshold: -units('5.00'), hysteresis: units('1.00') });
    expect(nextCreditState('zero', at('0.50'))).toBe('zero');
    expect(nextCreditState('zero', at('1.00'))).toBe('ok');
  });
});

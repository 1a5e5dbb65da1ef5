import { currencyMismatch } from '../src';

describe('currencyMismatch (one rule for the batch push, the prepaid invoice and credit control)', () => {
  test('names the rated currencies the client does not pay in, once each, in the caller’s words', () => {
    expect(currencyMismatch(7, 'EUR', ['USD', 'EUR', 'USD', 'GBP'], 'its calls are rated in')).toEqual({
      code: 'CURRENCY_MISMATCH',
      pays: 'EUR',
      rated: ['USD', 'GBP'],
      message: 'client 7 pays in EUR, its calls are rated in USD, GBP',
    });
    expect(currencyMismatch(7, 'EUR', ['USD'], 'charges are in')?.message).toBe('client 7 pays in EUR, charges are in USD');
  });

  test('none when the currencies agree or either side names none', () => {
    expect(currencyMismatch(7, 'USD', ['USD'], 'the calls are rated in')).toBeNull();
    expect(currencyMismatch(7, 'USD', [], 'the calls are rated in')).toBeNull();
    expect(currencyMismatch(7, 'USD', [null, undefined, ''], 'the calls are rated in')).toBeNull();
    expect(currencyMismatch(7, '', ['USD'], 'the calls are rated in')).toBeNull();
    expect(currencyMismatch(7, null, ['USD'], 'the calls are rated in')).toBeNull();
  });
});

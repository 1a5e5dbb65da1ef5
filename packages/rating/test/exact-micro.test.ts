import fc from 'fast-check';
import { billableSeconds, callCost, costForSeconds, divideHalfUp, formatMoney, MoneyFormatError, splitIncluded, toMicro } from '@ictvoip/rating';

/**
 * Rating prices a call in number arithmetic (no bigint per call) only where that is exact. These
 * properties hold it to the bigint definition over random and edge inputs: around 2^53, at the
 * half-up remainder (29/30/31 of 60), zero, negative prices (bigint path), and every rounding increment.
 */
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** The definition: connect fee + rate × seconds / 60 rounded half away from zero, all in bigint. */
function reference(ratePerMinute: bigint, connectFee: bigint, seconds: number): bigint {
  return connectFee + divideHalfUp(ratePerMinute * BigInt(seconds), 60n);
}

/** When the number path must be taken: non-negative prices, product and total both safe integers. */
function fitsNumber(ratePerMinute: bigint, connectFee: bigint, seconds: number): boolean {
  if (ratePerMinute < 0n || connectFee < 0n || ratePerMinute > MAX || connectFee > MAX) return false;
  const product = ratePerMinute * BigInt(seconds);
  return product <= MAX && reference(ratePerMinute, connectFee, seconds) <= MAX;
}

const edgeMicro = fc.constantFrom(0n, 1n, 29n, 30n, 31n, 59n, 60n, 61n, 999_999n, 1_000_000n, MAX - 1n, MAX, MAX + 1n, 2n ** 60n);
const price = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.bigInt({ min: 0n, max: MAX }), fc.bigInt({ min: 0n, max: 2n ** 62n }), edgeMicro);
const seconds = fc.oneof(fc.nat(100_000), fc.nat(), fc.constantFrom(0, 1, 29, 30, 31, 59, 60, 61, 3600, Number.MAX_SAFE_INTEGER));

function expectExact(ratePerMinute: bigint, connectFee: bigint, secs: number): void {
  const cost = callCost(ratePerMinute, connectFee, secs);
  expect(toMicro(cost)).toBe(reference(ratePerMinute, connectFee, secs));
  expect(typeof cost).toBe(fitsNumber(ratePerMinute, connectFee, secs) ? 'number' : 'bigint');
  if (typeof cost === 'number') expect(Number.isSafeInteger(cost)).toBe(true);
}

describe('callCost (number where exact, bigint beyond)', () => {
  it('equals the bigint definition and takes the number path exactly when it fits (property)', () => {
    fc.assert(fc.property(price, price, seconds, expectExact), { numRuns: 5000 });
  });

  it('is exact on both sides of rate × seconds = 2^53 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: -2, max: 2 }), fc.bigInt({ min: 0n, max: 1000n }), (secs, delta, connectFee) => {
        const rate = MAX / BigInt(secs) + BigInt(delta);
        if (rate >= 0n) expectExact(rate, connectFee, secs);
      }),
      { numRuns: 3000 },
    );
  });

  it('is exact when the connect fee pushes the total past 2^53', () => {
    expectExact(60n, MAX - 1n, 1);
    expectExact(60n, MAX - 1n, 2);
    expectExact(0n, MAX, 1);
    expectExact(120n, MAX - 2n, 1);
  });

  it('rounds the half-up boundary of a 60th like the bigint form', () => {
    // 1 micro per minute: 29 s = 0.483 -> 0, 30 s = 0.5 -> 1, 89 s = 1.483 -> 1, 90 s = 1.5 -> 2
    expect([29, 30, 31, 89, 90].map((s) => callCost(1n, 0n, s))).toEqual([0, 1, 1, 1, 2]);
  });

  it('takes the bigint path for negative prices and stays exact', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), fc.nat(1_000_000), (rate, fee, secs) => {
        expectExact(rate, fee, secs);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects seconds that are not whole, like costForSeconds', () => {
    expect(() => callCost(1n, 0n, 1.5)).toThrow(MoneyFormatError);
    expect(() => callCost(1n, 0n, -1)).toThrow(MoneyFormatError);
    expect(() => costForSeconds(1n, 1.5)).toThrow(MoneyFormatError);
  });
});

describe('splitIncluded with rounding increments (property)', () => {
  it('bills the billable seconds beyond the allowance at the bigint price, for every increment pair', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.integer({ min: 1, max: 3600 }),
        fc.integer({ min: 1, max: 3600 }),
        fc.nat(100_000),
        price,
        fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 7n }), edgeMicro),
        (billsec, initial, subsequent, allowance, ratePerMinute, connectFee) => {
          const billable = billableSeconds(billsec, { initial, subsequent });
          const split = splitIncluded({ billableSeconds: billable, ratePerMinute, connectFee }, allowance);
          const billed = Math.max(0, billable - allowance);
          expect(split.billedSeconds).toBe(billed);
          expect(toMicro(split.amount)).toBe(billed > 0 ? reference(ratePerMinute, connectFee, billed) : 0n);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('formatMoney of a number equals formatMoney of the same bigint', () => {
  const outcome = (format: () => string): string => {
    try {
      return format();
    } catch (error) {
      return error instanceof MoneyFormatError ? 'MoneyFormatError' : `other: ${String(error)}`;
    }
  };

  it('for random and edge amounts at every number of places (property)', () => {
    const amount = fc.oneof(
      fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(0, 1, -1, 999_999, 1_000_000, -1_000_000, 10_000, 5_000_000, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
    );
    fc.assert(
      fc.property(amount, fc.integer({ min: 0, max: 6 }), (value, places) => {
        expect(outcome(() => formatMoney(value, places))).toBe(outcome(() => formatMoney(BigInt(value), places)));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses a number that is not a safe integer', () => {
    for (const bad of [0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) expect(() => formatMoney(bad)).toThrow(MoneyFormatError);
    expect(() => toMicro(0.5)).toThrow(MoneyFormatError);
  });

  it('refuses bad places for numbers as for bigints', () => {
    expect(() => formatMoney(1, 7)).toThrow(MoneyFormatError);
    expect(() => formatMoney(1n, 7)).toThrow(MoneyFormatError);
  });
});

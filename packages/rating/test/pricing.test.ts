import fc from 'fast-check';
import {
  DEFAULT_BILLING_POLICY,
  RatingConfigError,
  billableSeconds,
  billingPolicy,
  costForSeconds,
  createRateTable,
  formatMoney,
  importRateDeckCsv,
  parseMoney,
  ratePeriod,
  rateCdr,
  roundInvoiceLine,
  splitIncluded,
  toMicro,
  type RatingCdr,
  type RatingContext,
} from '@ictvoip/rating';

describe('billableSeconds', () => {
  it.each<[number, number, number, number]>([
    // billsec, initial, subsequent, expected
    [0, 60, 60, 0],
    [1, 60, 60, 60],
    [60, 60, 60, 60],
    [61, 60, 60, 120],
    [1, 30, 6, 30],
    [30, 30, 6, 30],
    [31, 30, 6, 36],
    [36, 30, 6, 36],
    [37, 30, 6, 42],
    [1, 1, 1, 1],
    [59, 1, 1, 59],
    [3601, 60, 1, 3601],
    [61, 60, 30, 90],
  ])('billsec %i at %i/%i -> %i', (billsec, initial, subsequent, expected) => {
    expect(billableSeconds(billsec, { initial, subsequent })).toBe(expected);
  });

  it('rejects bad increments and billsec naming the field', () => {
    expect(() => billableSeconds(10, { initial: 0, subsequent: 6 })).toThrow(/increments.initial/);
    expect(() => billableSeconds(10, { initial: 6, subsequent: 1.5 })).toThrow(RatingConfigError);
    expect(() => billableSeconds(-1, { initial: 6, subsequent: 6 })).toThrow(/billsec/);
  });

  it('is monotonic and never below billsec (property)', () => {
    fc.assert(
      fc.property(fc.nat(20_000), fc.nat(20_000), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 120 }), (a, b, initial, subsequent) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const increments = { initial, subsequent };
        expect(billableSeconds(low, increments)).toBeLessThanOrEqual(billableSeconds(high, increments));
        expect(billableSeconds(high, increments)).toBeGreaterThanOrEqual(high);
      }),
    );
  });
});

describe('splitIncluded', () => {
  const rate = { ratePerMinute: parseMoney('0.06'), connectFee: parseMoney('0.05') };

  it('a call inside the allowance is free, connection fee included', () => {
    expect(splitIncluded({ ...rate, billableSeconds: 120 }, 300)).toEqual({ includedSeconds: 120, billedSeconds: 0, amount: 0, remainingIncludedSeconds: 180 });
  });

  it('a call spilling over pays the fee once plus the spilled seconds', () => {
    const split = splitIncluded({ ...rate, billableSeconds: 120 }, 90);
    expect(split).toMatchObject({ includedSeconds: 90, billedSeconds: 30, remainingIncludedSeconds: 0 });
    expect(toMicro(split.amount)).toBe(rate.connectFee + costForSeconds(rate.ratePerMinute, 30));
    expect(formatMoney(split.amount)).toBe('0.080000');
  });

  it('without allowance bills everything', () => {
    const split = splitIncluded({ ...rate, billableSeconds: 61 }, 0);
    expect(formatMoney(split.amount)).toBe('0.111000');
  });

  it('rejects a negative allowance', () => {
    expect(() => splitIncluded({ ...rate, billableSeconds: 1 }, -1)).toThrow(/remainingIncludedSeconds/);
  });

  it('parts always add up to the whole (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(100_000),
        fc.nat(100_000),
        fc.bigInt({ min: 0n, max: 10n ** 8n }),
        fc.bigInt({ min: 0n, max: 10n ** 7n }),
        (seconds, allowance, ratePerMinute, connectFee) => {
          const split = splitIncluded({ billableSeconds: seconds, ratePerMinute, connectFee }, allowance);
          expect(split.includedSeconds + split.billedSeconds).toBe(seconds);
          expect(split.includedSeconds + split.remainingIncludedSeconds).toBe(allowance);
          expect(toMicro(split.amount)).toBe(split.billedSeconds > 0 ? connectFee + costForSeconds(ratePerMinute, split.billedSeconds) : 0n);
        },
      ),
    );
  });
});

const deckCsv = [
  'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from,effective_to',
  '49,Germany,0.012,0,60,60,2026-01-01,',
  '4915,Germany mobile,0.095,0.01,30,6,2026-01-01,2026-02-01',
  '4915,Germany mobile,0.085,0.01,30,6,2026-02-01,',
  '1,USA,0.006,0,1,1,2026-01-01,',
].join('\n');
const entries = importRateDeckCsv(deckCsv).entries;
const context: RatingContext = { table: createRateTable({ entries, numberingPlan: { countryCode: '49' } }), policy: DEFAULT_BILLING_POLICY };

let sequence = 0;
function cdr(overrides: Partial<RatingCdr> = {}): RatingCdr {
  sequence += 1;
  return {
    xmlCdrUuid: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    direction: 'outbound',
    leg: 'a',
    callerDestination: null,
    destinationNumber: '0301234567',
    startStamp: new Date('2026-01-15T10:00:00Z'),
    billsec: 61,
    hangupCause: 'NORMAL_CLEARING',
    domainName: 'tenant1.example.com',
    ...overrides,
  };
}

describe('rateCdr', () => {
  it('rates an outbound a-leg call: increments, connect fee, exact amount', () => {
    const call = cdr({ destinationNumber: '0151 2345678', billsec: 31 });
    const outcome = rateCdr(call, context);
    expect(outcome).toMatchObject({ status: 'rated', xmlCdrUuid: call.xmlCdrUuid, e164: '+491512345678', prefix: '4915', billableSeconds: 36, billedSeconds: 36 });
    // 0.01 + 0.095 × 36 / 60 = 0.01 + 0.057
    expect(outcome.status === 'rated' && formatMoney(outcome.amount)).toBe('0.067000');
  });

  it('uses the rate in force at the call start', () => {
    const before = rateCdr(cdr({ destinationNumber: '015112345678', startStamp: new Date('2026-01-31T23:59:59Z') }), context);
    const after = rateCdr(cdr({ destinationNumber: '015112345678', startStamp: new Date('2026-02-01T00:00:00Z') }), context);
    expect(before.status === 'rated' && formatMoney(before.ratePerMinute)).toBe('0.095000');
    expect(after.status === 'rated' && formatMoney(after.ratePerMinute)).toBe('0.085000');
  });

  it('a call with no matching rate is unrated, never zero-priced', () => {
    const outcome = rateCdr(cdr({ destinationNumber: '0033123456789' }), context, 600);
    expect(outcome).toMatchObject({ status: 'unrated', reason: 'NO_MATCHING_RATE', number: '0033123456789', remainingIncludedSeconds: 600 });
    expect(outcome).not.toHaveProperty('amount');
    const early = rateCdr(cdr({ startStamp: new Date('2025-12-31T23:59:59Z') }), context);
    expect(early).toMatchObject({ status: 'unrated', reason: 'NO_MATCHING_RATE' });
  });

  it('an unparsable number or CDR is unrated with the reason', () => {
    expect(rateCdr(cdr({ destinationNumber: 'sip:x@y' }), context)).toMatchObject({ status: 'unrated', reason: 'INVALID_NUMBER' });
    expect(rateCdr(cdr({ destinationNumber: null }), context)).toMatchObject({ status: 'unrated', reason: 'INVALID_NUMBER' });
    expect(rateCdr(cdr({ billsec: 1.5 }), context)).toMatchObject({ status: 'unrated', reason: 'INVALID_CDR', detail: expect.stringMatching(/billsec/) });
    expect(rateCdr(cdr({ startStamp: new Date('nope') }), context)).toMatchObject({ status: 'unrated', reason: 'INVALID_CDR' });
    expect(rateCdr(cdr({ leg: 'c' }), context)).toMatchObject({ status: 'unrated', reason: 'INVALID_CDR' });
  });

  it.each<[string, Partial<RatingCdr>, string]>([
    ['b-leg', { leg: 'b' }, 'B_LEG'],
    ['inbound', { direction: 'inbound' }, 'DIRECTION_NOT_BILLED'],
    ['local', { direction: 'local' }, 'DIRECTION_NOT_BILLED'],
    ['unanswered', { billsec: 0 }, 'NOT_ANSWERED'],
    ['busy', { billsec: 0, hangupCause: 'USER_BUSY' }, 'NOT_ANSWERED'],
    ['answered but odd cause', { hangupCause: 'CALL_REJECTED' }, 'HANGUP_CAUSE_NOT_BILLABLE'],
    ['answered, no cause', { hangupCause: null }, 'HANGUP_CAUSE_NOT_BILLABLE'],
  ])('default policy does not bill: %s', (_label, overrides, reason) => {
    expect(rateCdr(cdr(overrides), context)).toMatchObject({ status: 'not_billable', reason });
  });

  it.each(['NORMAL_CLEARING', 'normal_clearing', 'MEDIA_TIMEOUT', 'ALLOTTED_TIMEOUT', 'NORMAL_UNSPECIFIED', 'BLIND_TRANSFER', 'ATTENDED_TRANSFER'])(
    'default policy bills answered calls ending %s',
    (hangupCause) => {
      expect(rateCdr(cdr({ hangupCause }), context).status).toBe('rated');
    },
  );

  it('policy options: inbound billing, minimum billsec, any cause, caller destination', () => {
    const inbound = { ...context, policy: billingPolicy({ billedDirections: ['outbound', 'inbound'] }) };
    expect(rateCdr(cdr({ direction: 'inbound' }), inbound).status).toBe('rated');
    const minimum = { ...context, policy: billingPolicy({ minimumBillsec: 5 }) };
    expect(rateCdr(cdr({ billsec: 4 }), minimum)).toMatchObject({ status: 'not_billable', reason: 'BELOW_MINIMUM_BILLSEC' });
    expect(rateCdr(cdr({ billsec: 5 }), minimum).status).toBe('rated');
    const anyCause = { ...context, policy: billingPolicy({ billableHangupCauses: ['*'] }) };
    expect(rateCdr(cdr({ hangupCause: 'CALL_REJECTED' }), anyCause).status).toBe('rated');
    const caller = { ...context, policy: billingPolicy({ ratedNumber: 'callerDestination' }) };
    expect(rateCdr(cdr({ callerDestination: '+15555550100', destinationNumber: '030' }), caller)).toMatchObject({ status: 'rated', prefix: '1' });
  });

  it('rejects bad policies naming the field', () => {
    expect(() => billingPolicy({ billedDirections: ['sideways' as 'inbound'] })).toThrow(/policy.billedDirections/);
    expect(() => billingPolicy({ minimumBillsec: 0 })).toThrow(/policy.minimumBillsec/);
    expect(() => billingPolicy({ billableHangupCauses: [] })).toThrow(/policy.billableHangupCauses/);
  });

  it('price is monotonic in billsec (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('0301234567', '01511234567', '+15555550100'), (a, b, number) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const priced = [low, high].map((billsec) => rateCdr(cdr({ billsec, destinationNumber: number }), context));
        const amounts = priced.map((outcome) => (outcome.status === 'rated' ? outcome.amount : -1n));
        expect(amounts[0]! >= 0n).toBe(true);
        expect(amounts[0]! <= amounts[1]!).toBe(true);
      }),
    );
  });
});

describe('ratePeriod', () => {
  const at = (minute: number): Date => new Date(Date.UTC(2026, 0, 20, 9, minute));

  it('consumes included minutes in call order across calls and sums exactly', () => {
    const calls = [
      cdr({ xmlCdrUuid: 'c', startStamp: at(30), billsec: 100 }), // third: 120 billable
      cdr({ xmlCdrUuid: 'a', startStamp: at(10), billsec: 50 }), // first: 60 billable
      cdr({ xmlCdrUuid: 'b', startStamp: at(20), billsec: 61 }), // second: 120 billable
      cdr({ xmlCdrUuid: 'd', startStamp: at(40), destinationNumber: '+33999' }), // unrated
      cdr({ xmlCdrUuid: 'e', startStamp: at(50), leg: 'b' }), // not billable
    ];
    const period = ratePeriod(calls, context, 150);
    expect(period.calls.map((call) => call.xmlCdrUuid)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(period.calls.slice(0, 3).map((call) => (call.status === 'rated' ? [call.includedSeconds, call.billedSeconds] : null))).toEqual([
      [60, 0],
      [90, 30],
      [0, 120],
    ]);
    expect(period.remainingIncludedSeconds).toBe(0);
    expect([period.ratedCount, period.unratedCount, period.notBillableCount]).toEqual([3, 1, 1]);
    const rate = parseMoney('0.012');
    expect(period.totalAmount).toBe(costForSeconds(rate, 30) + costForSeconds(rate, 120));
    expect(formatMoney(roundInvoiceLine(period.totalAmount), 2)).toBe('0.03');
    expect(period.includedSecondsUsed).toBe(150);
    expect(period.billedSeconds).toBe(150);
  });

  it('orders calls with the same start by uuid, so re-rating is identical', () => {
    const same = at(0);
    const calls = [cdr({ xmlCdrUuid: 'z', startStamp: same }), cdr({ xmlCdrUuid: 'y', startStamp: same })];
    const first = ratePeriod(calls, context, 60);
    const again = ratePeriod([...calls].reverse(), context, 60);
    expect(first).toEqual(again);
    expect(first.calls[0]).toMatchObject({ xmlCdrUuid: 'y', includedSeconds: 60 });
  });

  it('total equals the sum of per-call amounts and included + billed equals billable (property)', () => {
    const callArb = fc.record({ billsec: fc.nat(4000), minute: fc.nat(59), number: fc.constantFrom('0301234567', '01511234567', '+15555550100', '+3312345') });
    fc.assert(
      fc.property(fc.array(callArb, { maxLength: 30 }), fc.nat(5000), (raw, allowance) => {
        const period = ratePeriod(
          raw.map((call) => cdr({ billsec: call.billsec, startStamp: at(call.minute), destinationNumber: call.number })),
          context,
          allowance,
        );
        let total = 0n;
        let included = 0;
        for (const call of period.calls) {
          if (call.status !== 'rated') continue;
          total += toMicro(call.amount);
          included += call.includedSeconds;
          expect(call.includedSeconds + call.billedSeconds).toBe(call.billableSeconds);
        }
        expect(period.totalAmount).toBe(total);
        expect(included + period.remainingIncludedSeconds).toBe(allowance);
        expect(period.calls).toHaveLength(raw.length);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * A plan's billing fields (packages/whmcs planBilling, read with the plan they belong to) as the
 * rating applies them: exclusions, the inbound billing switch, an inbound deck or a flat rate.
 */
import {
  billingPolicy,
  createRateTable,
  DEFAULT_EXCLUDES,
  FLAT_INBOUND_DESTINATION,
  formatMoney,
  importRateDeckCsv,
  parseIncrements,
  rateCdr,
  ratePeriod,
  type RatingCdr,
  type RatingContext,
} from '@ictvoip/rating';
import { planBilling, type PlanBillingDefaults } from '../src';

const deck = importRateDeckCsv(
  ['prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment', '1,USA,0.010000,0,60,60', '1800,USA toll-free,0.050000,0,60,60'].join('\n'),
  {
    defaultEffectiveFrom: new Date('2020-01-01T00:00:00Z'),
  },
);
if (!deck.ok) throw new Error('deck');
const table = createRateTable({ entries: deck.entries, numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } });
const didDeck = importRateDeckCsv(
  ['prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment', '1800,toll-free DID,0.020000,0,6,6', '1,DID,0.003000,0,60,60'].join('\n'),
  {
    defaultEffectiveFrom: new Date('2020-01-01T00:00:00Z'),
  },
);
if (!didDeck.ok) throw new Error('did deck');
const didTable = createRateTable({ entries: didDeck.entries, numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } });

function cdr(overrides: Partial<RatingCdr> = {}): RatingCdr {
  return {
    xmlCdrUuid: '00000000-0000-4000-8000-000000000001',
    direction: 'outbound',
    leg: 'a',
    destinationNumber: '2125550100',
    startStamp: new Date('2025-01-10T10:00:00Z'),
    billsec: 61,
    hangupCause: 'NORMAL_CLEARING',
    domainName: 't1.example',
    ...overrides,
  };
}

function contextFor(plan: Record<string, unknown>, defaults: PlanBillingDefaults = { excludes: DEFAULT_EXCLUDES, billedDirections: ['outbound'] }): RatingContext {
  const billing = planBilling(plan, defaults);
  const policy = billingPolicy({ billedDirections: billing.billedDirections, exclusions: billing.exclusions });
  if (billing.inbound?.kind === 'flat')
    return { table, policy, inbound: { kind: 'flat', ratePerMinute: billing.inbound.ratePerMinute, connectFee: 0n, increments: billing.inbound.increments } };
  if (billing.inbound?.kind === 'deck') return { table, policy, inbound: { kind: 'deck', table: didTable } };
  return { table, policy };
}

describe('rating with the plan: exclusions, inbound billing switch, inbound deck or flat rate (table of cases)', () => {
  test.each<[string, Record<string, unknown>, Partial<RatingCdr>, { status: string; reason?: string; rule?: string; amount?: string; billableSeconds?: number }]>([
    // shipped defaults: emergency and toll-free are not billable with the rule, never unrated
    ['default: 911 not billable', {}, { destinationNumber: '911' }, { status: 'not_billable', reason: 'EXCLUDED', rule: '[emergency]911' }],
    ['default: 112 unanswered still says excluded', {}, { destinationNumber: '112', billsec: 0 }, { status: 'not_billable', reason: 'EXCLUDED', rule: '[emergency]112' }],
    ['default: toll-free', {}, { destinationNumber: '18005550100' }, { status: 'not_billable', reason: 'EXCLUDED', rule: '[tollfree]1800xxxxxxx' }],
    ['default: a normal call is rated', {}, { destinationNumber: '2125550100' }, { status: 'rated', amount: '0.020000' }],
    ['plan list replaces the defaults', { billingExcludes: '*xx' }, { destinationNumber: '18005550100' }, { status: 'rated', amount: '0.100000' }],
    [
      'plan list with the defaults named',
      { billingExcludes: '[emergency],[tollfree],*xx' },
      { destinationNumber: '*97', direction: 'outbound' },
      { status: 'not_billable', reason: 'EXCLUDED', rule: '*xx' },
    ],
    ['"none" turns exclusions off', { billingExcludes: 'none' }, { destinationNumber: '18005550100' }, { status: 'rated', amount: '0.100000' }],
    ['empty setting keeps the defaults', { billingExcludes: '' }, { destinationNumber: '911' }, { status: 'not_billable', reason: 'EXCLUDED', rule: '[emergency]911' }],
    // inbound: BILLING_DIRECTIONS (outbound) is the default; the plan switches it
    ['inbound not billed by default', {}, { direction: 'inbound', destinationNumber: '2125550100' }, { status: 'not_billable', reason: 'DIRECTION_NOT_BILLED' }],
    ['inbound switched on: main deck', { inboundBilling: 'on' }, { direction: 'inbound', destinationNumber: '2125550100' }, { status: 'rated', amount: '0.020000' }],
    [
      'inbound flat rate 60/6',
      { inboundBilling: 'yes', inboundRate: '0.0125', inboundIncrement: '60/6' },
      { direction: 'inbound', billsec: 61 },
      { status: 'rated', amount: '0.013750', billableSeconds: 66 },
    ],
    [
      'inbound flat rate, one increment for both',
      { inboundBilling: true, inboundRate: '0.006', inboundIncrement: '6' },
      { direction: 'inbound', billsec: 13 },
      { status: 'rated', amount: '0.001800', billableSeconds: 18 },
    ],
    ['inbound flat rate does not touch outbound', { inboundBilling: 'on', inboundRate: '0.0125' }, { destinationNumber: '2125550100' }, { status: 'rated', amount: '0.020000' }],
    [
      'inbound deck by the number called',
      { inboundBilling: '1', inboundRateDeck: 'dids' },
      { direction: 'inbound', destinationNumber: '18005550100', billsec: 7 },
      { status: 'rated', amount: '0.004000', billableSeconds: 12 },
    ],
    ['inbound off even if the default bills it', { inboundBilling: 'off' }, { direction: 'inbound' }, { status: 'not_billable', reason: 'DIRECTION_NOT_BILLED' }],
    [
      '[inbound] exclusion beats inbound billing',
      { inboundBilling: 'on', billingExcludes: '[inbound]' },
      { direction: 'inbound' },
      { status: 'not_billable', reason: 'EXCLUDED', rule: '[inbound]' },
    ],
  ])('%s', (_name, plan, overrides, expected) => {
    const outcome = rateCdr(cdr(overrides), contextFor(plan));
    expect(outcome.status).toBe(expected.status);
    if (outcome.status === 'not_billable') expect({ reason: outcome.reason, rule: outcome.rule }).toEqual({ reason: expected.reason, rule: expected.rule });
    if (outcome.status === 'rated') {
      expect(formatMoney(outcome.amount)).toBe(expected.amount);
      if (expected.billableSeconds !== undefined) expect(outcome.billableSeconds).toBe(expected.billableSeconds);
    }
  });

  test('inbound billed by BILLING_DIRECTIONS unless the plan says no', () => {
    const defaults = { excludes: '', billedDirections: ['outbound' as const, 'inbound' as const] };
    expect(rateCdr(cdr({ direction: 'inbound' }), contextFor({}, defaults)).status).toBe('rated');
    expect(rateCdr(cdr({ direction: 'inbound' }), contextFor({ inboundBilling: 'no' }, defaults))).toMatchObject({ status: 'not_billable', reason: 'DIRECTION_NOT_BILLED' });
  });

  test('a period of mixed calls sums exactly to the micro-unit, flat inbound consuming included minutes in call order', () => {
    const context = contextFor({ inboundBilling: 'on', inboundRate: '0.013333', inboundIncrement: '1/1' });
    const calls = Array.from({ length: 40 }, (_, i) =>
      cdr({
        xmlCdrUuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        direction: i % 3 === 0 ? 'inbound' : 'outbound',
        destinationNumber: i % 7 === 0 && i % 3 !== 0 ? '911' : '2125550100',
        billsec: 1 + ((i * 37) % 190),
        startStamp: new Date(Date.UTC(2025, 0, 10, 10, i)),
      }),
    );
    const period = ratePeriod(calls, context, 120);
    // by hand: micro-units per second for inbound (13333 / 60 exact only in sum), whole minutes outbound
    let remaining = 120;
    let expected = 0n;
    for (const call of calls) {
      if (call.destinationNumber === '911') continue;
      const inbound = call.direction === 'inbound';
      const seconds = inbound ? call.billsec : Math.ceil(call.billsec / 60) * 60;
      const included = Math.min(seconds, remaining);
      remaining -= included;
      const billed = seconds - included;
      // half-up to the micro-unit per call, as the rating rounds each call once
      expected += ((inbound ? 13333n : 10000n) * BigInt(billed) + 30n) / 60n;
    }
    expect(period.notBillableCount).toBe(calls.filter((c) => c.destinationNumber === '911').length);
    expect(period.unratedCount).toBe(0);
    expect(period.totalAmount).toBe(expected);
  });

  test('bad plan values name the field', () => {
    const defaults = { excludes: DEFAULT_EXCLUDES, billedDirections: ['outbound' as const] };
    expect(() => planBilling({ inboundBilling: 'maybe' }, defaults)).toThrow(/plan\.inboundBilling/);
    expect(() => planBilling({ inboundRate: '-1' }, defaults)).toThrow(/plan\.inboundRate/);
    expect(() => planBilling({ inboundRate: '0.1234567' }, defaults)).toThrow(/plan\.inboundRate/);
    expect(() => planBilling({ inboundRate: '0.01', inboundRateDeck: 'dids' }, defaults)).toThrow(/plan\.inboundRate/);
    expect(() => planBilling({ inboundIncrement: '60/0' }, defaults)).toThrow(/plan\.inboundIncrement/);
    expect(() => planBilling({ billingExcludes: '9x1a' }, defaults)).toThrow(/plan\.billingExcludes/);
    expect(() => planBilling({}, { ...defaults, excludes: '[voip]' })).toThrow(/BILLING_EXCLUDES/);
    expect(parseIncrements('30/6', 'f')).toEqual({ initial: 30, subsequent: 6 });
    expect(FLAT_INBOUND_DESTINATION).toMatch(/inbound/);
  });
});

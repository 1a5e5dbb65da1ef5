import {
  billingPolicy,
  createRateTable,
  DEFAULT_EXCLUDES,
  FLAT_INBOUND_DESTINATION,
  formatMoney,
  importRateDeckCsv,
  isEmergencyNumber,
  matchExclusion,
  parseExclusions,
  parseIncrements,
  planBilling,
  rateCdr,
  ratePeriod,
  RatingConfigError,
  type PlanBillingDefaults,
  type RatingCdr,
  type RatingContext,
} from '@ictvoip/rating';

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

describe('ictVoIP exclusion patterns (table of cases)', () => {
  test.each<[string, string, string, string | undefined]>([
    // patterns, direction, dialled number, rule that matches
    ['*xx', 'local', '*97', '*xx'],
    ['*xx', 'local', '*9', undefined],
    ['*xx', 'local', '*972', undefined],
    ['#xx', 'local', '#72', '#xx'],
    ['800xxxxxxx', 'outbound', '8005550100', '800xxxxxxx'],
    ['800xxxxxxx', 'outbound', '18005550100', undefined],
    ['800xxxxxxx', 'outbound', '800555010', undefined],
    ['1-800-xxx-xxxx', 'outbound', '+1 (800) 555-0100', '1-800-xxx-xxxx'],
    ['911,112', 'outbound', '112', '112'],
    ['911,112', 'outbound', '9115551234', undefined],
    ['1800*', 'outbound', '18009', '1800*'],
    ['4443,4747', 'local', '4747', '4747'],
    ['[local]', 'local', '201', '[local]'],
    ['[local]', 'outbound', '201', undefined],
    ['[inbound]', 'inbound', '+12125550100', '[inbound]'],
    ['[outbound]', 'outbound', '2125550100', '[outbound]'],
    ['[emergency]', 'outbound', '911', '[emergency]911'],
    ['[emergency]', 'outbound', '000', '[emergency]000'],
    ['[emergency]', 'outbound', '9110', undefined],
    ['[tollfree]', 'outbound', '8885550100', '[tollfree]888xxxxxxx'],
    ['[tollfree]', 'outbound', '+18335550100', '[tollfree]1833xxxxxxx'],
    ['[tollfree]', 'outbound', '9005550100', undefined],
    ['  911 , [LOCAL] ', 'local', '200', '[local]'],
    ['', 'outbound', '911', undefined],
  ])('%s on %s %s → %s', (patterns, direction, number, rule) => {
    expect(matchExclusion(parseExclusions(patterns), { direction, number })).toBe(rule);
  });

  test.each(['9x1a', '[voip]', '[]', 'sip:911', '()'])('refuses "%s" naming the field and the pattern', (patterns) => {
    expect(() => parseExclusions(patterns, 'plan.billingExcludes')).toThrow(RatingConfigError);
    expect(() => parseExclusions(patterns, 'plan.billingExcludes')).toThrow(/plan\.billingExcludes/);
  });

  test('isEmergencyNumber reads the [emergency] list: the whole number, formatting and a leading + ignored', () => {
    expect(['911', '933', '112', '999', '000', '110', '119', '+911', '9-1-1'].map(isEmergencyNumber)).toEqual(Array(9).fill(true));
    expect(['9115551234', '9911', '411', '', null, undefined].map(isEmergencyNumber)).toEqual(Array(6).fill(false));
  });
});

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

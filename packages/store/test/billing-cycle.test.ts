import {
  assertPeriodLabel,
  BillingPeriodError,
  labelStart,
  latestClosedServicePeriod,
  localDateOf,
  parseBillingCycle,
  periodLabel,
  segmentFor,
  servicePeriodLabeller,
  servicePeriodOf,
  servicePeriodOfDate,
  type CycleSegment,
} from '@ictvoip/store';

const seg = (cycle: CycleSegment['cycle'], anchor: string | null, from: string | null = null): CycleSegment => ({ from, cycle, anchor });

describe('parseBillingCycle', () => {
  test.each([
    ['Monthly', 'monthly'],
    ['Quarterly', 'quarterly'],
    ['Semi-Annually', 'semiannually'],
    ['semiannually', 'semiannually'],
    ['Annually', 'annually'],
    ['Biennially', 'biennially'],
    ['Triennially', 'triennially'],
    ['Free Account', 'free'],
    ['One Time', 'onetime'],
    ['Weekly', null],
    ['', null],
  ])('%s → %s', (text, cycle) => {
    expect(parseBillingCycle(text)).toBe(cycle);
  });
});

describe('service periods from the WHMCS cycle and due date (table of cases)', () => {
  test.each<[string, CycleSegment[], string, { start: string; end: string; label: string }]>([
    // monthly due on the 1st: exactly calendar months, named like them
    ['monthly on the 1st', [seg('monthly', '2025-02-01')], '2025-01-31', { start: '2025-01-01', end: '2025-02-01', label: '2025-01' }],
    ['monthly on the 15th, before the day', [seg('monthly', '2025-03-15')], '2025-03-14', { start: '2025-02-15', end: '2025-03-15', label: '2025-02-15' }],
    ['monthly on the 15th, on the day', [seg('monthly', '2025-03-15')], '2025-03-15', { start: '2025-03-15', end: '2025-04-15', label: '2025-03-15' }],
    // quarterly anchored 2025-04-15: Jan 15, Apr 15, Jul 15, Oct 15 (also before the anchor)
    ['quarterly, period of the anchor', [seg('quarterly', '2025-04-15')], '2025-05-20', { start: '2025-04-15', end: '2025-07-15', label: '2025-04-15' }],
    ['quarterly, period before the anchor', [seg('quarterly', '2025-04-15')], '2025-04-14', { start: '2025-01-15', end: '2025-04-15', label: '2025-01-15' }],
    ['quarterly, a year later', [seg('quarterly', '2025-04-15')], '2026-12-31', { start: '2026-10-15', end: '2027-01-15', label: '2026-10-15' }],
    ['semi-annually', [seg('semiannually', '2025-03-10')], '2025-12-01', { start: '2025-09-10', end: '2026-03-10', label: '2025-09-10' }],
    ['annually', [seg('annually', '2026-06-01')], '2025-06-01', { start: '2025-06-01', end: '2026-06-01', label: '2025-06' }],
    ['annually, the day before', [seg('annually', '2026-06-01')], '2025-05-31', { start: '2024-06-01', end: '2025-06-01', label: '2024-06' }],
    // longer than a year: yearly usage periods on the anniversary
    ['biennially bills usage yearly', [seg('biennially', '2027-03-05')], '2025-08-01', { start: '2025-03-05', end: '2026-03-05', label: '2025-03-05' }],
    ['triennially bills usage yearly', [seg('triennially', '2027-03-05')], '2026-03-04', { start: '2025-03-05', end: '2026-03-05', label: '2025-03-05' }],
    // no recurring due date: calendar months
    ['free account', [seg('free', null)], '2025-07-19', { start: '2025-07-01', end: '2025-08-01', label: '2025-07' }],
    ['one time', [seg('onetime', null)], '2025-07-01', { start: '2025-07-01', end: '2025-08-01', label: '2025-07' }],
    ['no cycle recorded', [], '2025-07-19', { start: '2025-07-01', end: '2025-08-01', label: '2025-07' }],
    // month-end anchors: the 31st becomes the month's last day, and comes back to the 31st
    ['31st → February 28', [seg('monthly', '2025-01-31')], '2025-02-27', { start: '2025-01-31', end: '2025-02-28', label: '2025-01-31' }],
    ['31st, from February 28', [seg('monthly', '2025-01-31')], '2025-02-28', { start: '2025-02-28', end: '2025-03-31', label: '2025-02-28' }],
    ['31st → February 29 in a leap year', [seg('monthly', '2024-01-31')], '2024-03-01', { start: '2024-02-29', end: '2024-03-31', label: '2024-02-29' }],
    ['31st → April 30', [seg('monthly', '2025-01-31')], '2025-05-15', { start: '2025-04-30', end: '2025-05-31', label: '2025-04-30' }],
    ['quarterly on the 31st', [seg('quarterly', '2025-01-31')], '2025-06-01', { start: '2025-04-30', end: '2025-07-31', label: '2025-04-30' }],
    ['annually on February 29', [seg('annually', '2024-02-29')], '2025-03-01', { start: '2025-02-28', end: '2026-02-28', label: '2025-02-28' }],
  ])('%s', (_name, segments, date, expected) => {
    expect(servicePeriodOfDate(date, segments)).toEqual(expected);
  });

  test('every day of four years lies in exactly one period, periods chain without gap or overlap', () => {
    for (const segments of [[seg('monthly', '2025-01-31')], [seg('quarterly', '2025-04-15')], [seg('annually', '2024-02-29')], [seg('semiannually', '2025-08-30')]]) {
      let previous = servicePeriodOfDate('2024-01-01', segments);
      for (let t = Date.UTC(2024, 0, 2); t < Date.UTC(2028, 0, 1); t += 86_400_000) {
        const day = new Date(t).toISOString().slice(0, 10);
        const period = servicePeriodOfDate(day, segments);
        expect(period.start <= day && day < period.end).toBe(true);
        if (period.start !== previous.start) expect(period.start).toBe(previous.end);
        previous = period;
      }
    }
  });
});

describe('a cycle change starts a new period at the change', () => {
  // Monthly on the 10th until 2025-05-20, then quarterly due 2025-08-01.
  const segments = [seg('monthly', '2025-03-10'), seg('quarterly', '2025-08-01', '2025-05-20')];

  test.each<[string, string, string, string]>([
    ['before the change: the monthly period', '2025-05-09', '2025-04-10', '2025-05-10'],
    ['the monthly period running at the change ends there', '2025-05-19', '2025-05-10', '2025-05-20'],
    ['the new cycle starts at the change', '2025-05-20', '2025-05-20', '2025-08-01'],
    ['then quarterly periods', '2025-08-01', '2025-08', '2025-11-01'],
  ])('%s', (_name, date, label, end) => {
    const period = servicePeriodOfDate(date, segments);
    expect(period.label).toBe(label);
    expect(period.end).toBe(end);
  });

  test('a change on a boundary of the new cycle does not make an empty period', () => {
    const onBoundary = [seg('monthly', '2025-03-01'), seg('quarterly', '2025-07-01', '2025-04-01')];
    expect(servicePeriodOfDate('2025-03-31', onBoundary)).toEqual({ start: '2025-03-01', end: '2025-04-01', label: '2025-03' });
    expect(servicePeriodOfDate('2025-04-01', onBoundary)).toEqual({ start: '2025-04-01', end: '2025-07-01', label: '2025-04' });
  });

  test('labels of one service sort like their start dates', () => {
    const labels = ['2025-04-10', '2025-05-10', '2025-05-20', '2025-08', '2025-11'];
    expect([...labels].sort()).toEqual(labels);
    expect(labels.map(labelStart)).toEqual(['2025-04-10', '2025-05-10', '2025-05-20', '2025-08-01', '2025-11-01']);
  });
});

describe('time zones: a call belongs to its local day', () => {
  const segments = [seg('monthly', '2025-01-31')];

  test('23:30 local on the last day of a period stays in it (New York, UTC-4 in summer)', () => {
    // 2025-06-29 23:30 EDT = 2025-06-30 03:30 UTC; the period 2025-05-31..2025-06-30 ends at local midnight
    const at = new Date('2025-06-30T03:30:00Z');
    expect(localDateOf(at, 'America/New_York')).toBe('2025-06-29');
    expect(servicePeriodOf(at, 'America/New_York', segments).label).toBe('2025-05-31');
    // in UTC the same instant is already the next period
    expect(servicePeriodOf(at, 'UTC', segments).label).toBe('2025-06-30');
  });

  test('23:30 local on the last day east of UTC (Berlin, UTC+1 in winter)', () => {
    // 2025-02-27 23:30 CET = 22:30 UTC: still the period that ends on the 28th
    expect(servicePeriodOf(new Date('2025-02-27T22:30:00Z'), 'Europe/Berlin', segments).label).toBe('2025-01-31');
    // 2025-02-28 00:30 CET = 2025-02-27 23:30 UTC: the new period already, in Berlin
    expect(servicePeriodOf(new Date('2025-02-27T23:30:00Z'), 'Europe/Berlin', segments).label).toBe('2025-02-28');
  });

  test('the labeller caches per UTC hour and day and equals the uncached answer minute by minute', () => {
    for (const zone of ['Asia/Kathmandu', 'America/St_Johns', 'Europe/Berlin', 'UTC']) {
      const labeller = servicePeriodLabeller(segments, zone);
      const start = Date.UTC(2025, 1, 27, 12);
      for (let t = start + 36 * 3_600_000; t >= start; t -= 60_000) {
        expect(labeller(new Date(t))).toBe(servicePeriodOfDate(localDateOf(new Date(t), zone), segments).label);
      }
    }
  });
});

describe('closing and naming', () => {
  test('latest closed period: the one before the period containing now − delay', () => {
    const quarterly = [seg('quarterly', '2025-04-15')];
    // 2025-04-15 01:00 UTC with a 6 h delay: now − delay is still in the Jan 15 period, so Oct 15 is the latest closed
    expect(latestClosedServicePeriod(new Date('2025-04-15T01:00:00Z'), 'UTC', 21_600, quarterly)).toBe('2024-10-15');
    expect(latestClosedServicePeriod(new Date('2025-04-15T06:00:00Z'), 'UTC', 21_600, quarterly)).toBe('2025-01-15');
  });

  test('names: YYYY-MM on the 1st, the date otherwise; malformed names are refused', () => {
    expect(periodLabel('2025-03-01')).toBe('2025-03');
    expect(periodLabel('2025-03-31')).toBe('2025-03-31');
    expect(assertPeriodLabel('2025-03')).toBe('2025-03');
    expect(assertPeriodLabel('2025-02-28')).toBe('2025-02-28');
    for (const bad of ['2025-03-01', '2025-02-30', '2025-13', '2025-3-5', '']) expect(() => assertPeriodLabel(bad)).toThrow(BillingPeriodError);
  });

  test('an observation: the due date anchors a recurring cycle; free, one time or no due date mean calendar months; unknown words refused', () => {
    expect(segmentFor({ whmcsCycle: 'Quarterly', nextDueDate: '2025-04-15', source: 'whmcs' })).toEqual({ cycle: 'quarterly', anchor: '2025-04-15' });
    expect(segmentFor({ whmcsCycle: 'Free Account', nextDueDate: '', source: 'whmcs' })).toEqual({ cycle: 'free', anchor: null });
    expect(segmentFor({ whmcsCycle: 'Monthly', nextDueDate: '', source: 'default' })).toEqual({ cycle: 'monthly', anchor: null });
    expect(() => segmentFor({ whmcsCycle: 'Fortnightly', nextDueDate: '2025-04-15', source: 'whmcs' })).toThrow(/Fortnightly/);
  });
});

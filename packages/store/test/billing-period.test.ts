import { BillingPeriodError, periodOf } from '@ictvoip/store';

const formatters = new Map<string, Intl.DateTimeFormat>();
const formatter = (timeZone: string) =>
  formatters.get(timeZone) ?? formatters.set(timeZone, new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit' })).get(timeZone)!;

/** What periodOf must answer, computed the slow way (no cache) from the zone's own calendar. */
function expectedPeriod(at: Date, timeZone: string): string {
  const parts = formatter(timeZone).formatToParts(at);
  return `${parts.find((p) => p.type === 'year')?.value}-${parts.find((p) => p.type === 'month')?.value}`;
}

describe('periodOf (cached per UTC hour)', () => {
  // Zones whose month starts mid-hour in UTC (+05:45, +05:30, -03:30 with DST), on a DST change, and UTC.
  const zones = ['Asia/Kathmandu', 'Asia/Kolkata', 'America/St_Johns', 'Europe/Berlin', 'Australia/Lord_Howe', 'UTC'];

  test.each(zones)('%s: every minute around month starts, asked in any order, equals the uncached answer', (timeZone) => {
    const starts = [Date.UTC(2025, 0, 1), Date.UTC(2025, 3, 1), Date.UTC(2025, 9, 1), Date.UTC(2025, 10, 1)];
    for (const start of starts) {
      // From 15 h before to 15 h after the UTC month start covers every zone's local midnight.
      const minutes = Array.from({ length: 30 * 60 }, (_, i) => start - 15 * 3_600_000 + i * 60_000);
      // Backwards first, so the cache is filled from the far side of the boundary.
      const backwards = [...minutes].reverse();
      expect(backwards.map((ms) => periodOf(new Date(ms), timeZone))).toEqual(backwards.map((ms) => expectedPeriod(new Date(ms), timeZone)));
      const lastMs = minutes.map((ms) => ms + 59_999);
      expect(lastMs.map((ms) => periodOf(new Date(ms), timeZone))).toEqual(lastMs.map((ms) => expectedPeriod(new Date(ms), timeZone)));
    }
  });

  test('the last millisecond before a local month start and the first one of it differ', () => {
    // Kathmandu is UTC+05:45: 2025-02-01 00:00 local is 2025-01-31 18:15 UTC.
    const boundary = Date.UTC(2025, 0, 31, 18, 15);
    expect(periodOf(new Date(boundary - 1), 'Asia/Kathmandu')).toBe('2025-01');
    expect(periodOf(new Date(boundary), 'Asia/Kathmandu')).toBe('2025-02');
    expect(periodOf(new Date(boundary - 1), 'Asia/Kathmandu')).toBe('2025-01');
  });

  test('bad input: an invalid date or an unknown zone is refused, never cached as a period', () => {
    expect(() => periodOf(new Date(Number.NaN), 'UTC')).toThrow(RangeError);
    expect(() => periodOf(new Date(0), 'Mars/Olympus')).toThrow(BillingPeriodError);
  });
});

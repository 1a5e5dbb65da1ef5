/**
 * Billing periods are calendar months in one configured IANA time zone (the WHMCS server's), named
 * `YYYY-MM`. A call belongs to the period containing its start time in that zone.
 */
export class BillingPeriodError extends Error {
  readonly code = 'BILLING_PERIOD_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'BillingPeriodError';
  }
}

const PERIOD_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit' });
    } catch {
      throw new BillingPeriodError(`unknown time zone "${timeZone}"`);
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

const HOUR_MS = 3_600_000;
/** Per zone: UTC hour → its period, for hours that lie wholly inside one period. */
const hourPeriods = new Map<string, Map<number, string>>();
const MAX_CACHED_HOURS = 100_000;

/**
 * The period (`YYYY-MM`) containing `at` in `timeZone`. Cached per UTC hour: formatToParts costs
 * microseconds and CDR sync asks once per call. An hour is cached only when its first and last
 * millisecond fall in the same period (a local month can start mid-hour, e.g. UTC+05:45, and the
 * period never moves backwards in time), so the answer is always exactly the uncached one.
 */
export function periodOf(at: Date, timeZone: string): string {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) return periodOfUncached(at, timeZone);
  const hour = Math.floor(ms / HOUR_MS);
  let hours = hourPeriods.get(timeZone);
  const cached = hours?.get(hour);
  if (cached !== undefined) return cached;
  const period = periodOfUncached(at, timeZone);
  const first = periodOfUncached(new Date(hour * HOUR_MS), timeZone);
  const last = periodOfUncached(new Date(hour * HOUR_MS + HOUR_MS - 1), timeZone);
  if (first === last) {
    if (!hours) hourPeriods.set(timeZone, (hours = new Map()));
    if (hours.size >= MAX_CACHED_HOURS) hours.clear();
    hours.set(hour, period);
  }
  return period;
}

function periodOfUncached(at: Date, timeZone: string): string {
  const parts = formatterFor(timeZone).formatToParts(at);
  const year = parts.find((part) => part.type === 'year')?.value ?? '';
  const month = parts.find((part) => part.type === 'month')?.value ?? '';
  return assertPeriod(`${year}-${month}`);
}

export function assertPeriod(period: string): string {
  if (!PERIOD_PATTERN.test(period)) throw new BillingPeriodError(`period "${period}" is not YYYY-MM`);
  return period;
}

function split(period: string): [number, number] {
  const match = PERIOD_PATTERN.exec(assertPeriod(period)) as RegExpExecArray;
  return [Number.parseInt(match[1] as string, 10), Number.parseInt(match[2] as string, 10)];
}

function join(year: number, month: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

export function previousPeriod(period: string): string {
  const [year, month] = split(period);
  return month === 1 ? join(year - 1, 12) : join(year, month - 1);
}

export function nextPeriod(period: string): string {
  const [year, month] = split(period);
  return month === 12 ? join(year + 1, 1) : join(year, month + 1);
}

/**
 * The latest period that is closed at `now`: its end (in the zone) lies at least `closeDelaySeconds`
 * in the past, so CDRs imported late within the look-back window have had time to arrive.
 */
export function latestClosedPeriod(now: Date, timeZone: string, closeDelaySeconds: number): string {
  return previousPeriod(periodOf(new Date(now.getTime() - closeDelaySeconds * 1000), timeZone));
}

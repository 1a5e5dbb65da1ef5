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

/** The period (`YYYY-MM`) containing `at` in `timeZone`. */
export function periodOf(at: Date, timeZone: string): string {
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

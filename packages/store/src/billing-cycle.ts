/**
 * Service billing periods (`BILLING_PERIODS=service`): a service's usage periods follow its WHMCS
 * billing cycle and next due date instead of calendar months. Pure date arithmetic on local
 * calendar dates (`YYYY-MM-DD` in the billing time zone), no clock and no database.
 *
 * A service's schedule is a list of segments, each a cycle with an anchor (a due date) valid from
 * a local date (the first one from the beginning of time). A cycle change adds a segment: the
 * period running at the change ends there and a new one starts, so one period never mixes cycles.
 *
 * A period is named by its first day: `YYYY-MM` when it starts on the 1st of a month (so a monthly
 * cycle due on the 1st names its periods exactly like calendar billing does), else `YYYY-MM-DD`.
 * Labels of one service sort like their start dates ('2025-01' < '2025-01-15' < '2025-02').
 */
import { BillingPeriodError } from './billing-period';

/** WHMCS's cycles, normalised. */
export type BillingCycle = 'monthly' | 'quarterly' | 'semiannually' | 'annually' | 'biennially' | 'triennially' | 'free' | 'onetime';

/**
 * Months per usage period. Cycles longer than a year bill usage yearly on the due date's
 * anniversary (a usage invoice every two or three years would let debt pile up); a free or
 * one-time service has no recurring due date and is billed per calendar month.
 */
export const USAGE_PERIOD_MONTHS: Readonly<Record<BillingCycle, number>> = {
  monthly: 1,
  quarterly: 3,
  semiannually: 6,
  annually: 12,
  biennially: 12,
  triennially: 12,
  free: 1,
  onetime: 1,
};

const CYCLE_WORDS: Readonly<Record<string, BillingCycle>> = {
  monthly: 'monthly',
  quarterly: 'quarterly',
  semiannually: 'semiannually',
  annually: 'annually',
  biennially: 'biennially',
  triennially: 'triennially',
  freeaccount: 'free',
  free: 'free',
  onetime: 'onetime',
};

/** WHMCS's words (`Monthly`, `Semi-Annually`, `Free Account`, `One Time`, any case) → the cycle, or null when unknown. */
export function parseBillingCycle(text: string): BillingCycle | null {
  return CYCLE_WORDS[text.toLowerCase().replace(/[\s_-]/g, '')] ?? null;
}

/** The WHMCS words a webhook's `service.billingCycle` may carry. */
export const WHMCS_BILLING_CYCLES: readonly string[] = ['Free Account', 'One Time', 'Monthly', 'Quarterly', 'Semi-Annually', 'Annually', 'Biennially', 'Triennially'];

export interface CycleSegment {
  /** first local day of the segment; null = since always */
  from: string | null;
  cycle: BillingCycle;
  /** a due date on the schedule (`YYYY-MM-DD`); null = calendar months (free, one time, or no due date known) */
  anchor: string | null;
}

export interface ServicePeriod {
  /** first local day (inclusive) */
  start: string;
  /** first local day of the next period (exclusive) */
  end: string;
  label: string;
}

const DATE_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const LABEL_PATTERN = /^\d{4}-(0[1-9]|1[0-2])(-(0[2-9]|[12]\d|3[01]))?$/;
const CALENDAR_ANCHOR = '2000-01-01';

interface Civil {
  year: number;
  month: number;
  day: number;
}

export function assertLocalDate(text: string): string {
  const match = DATE_PATTERN.exec(text);
  if (!match || Number(match[3]) > daysInMonth(Number(match[1]), Number(match[2]))) throw new BillingPeriodError(`date "${text}" is not YYYY-MM-DD`);
  return text;
}

function civil(text: string): Civil {
  const [year, month, day] = assertLocalDate(text)
    .split('-')
    .map((part) => Number.parseInt(part, 10)) as [number, number, number];
  return { year, month, day };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function format({ year, month, day }: Civil): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** The day `months` months after the anchor's month, on the anchor's day or the month's last day when shorter (31 → 30, 28/29). */
function boundary(anchor: Civil, months: number): string {
  const index = anchor.year * 12 + (anchor.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return format({ year, month, day: Math.min(anchor.day, daysInMonth(year, month)) });
}

/** The period label of a first day: `YYYY-MM` on the 1st, else the date. */
export function periodLabel(start: string): string {
  assertLocalDate(start);
  return start.endsWith('-01') ? start.slice(0, 7) : start;
}

/** A service period's label, checked: `YYYY-MM` or `YYYY-MM-DD` (a day other than the 1st). */
export function assertPeriodLabel(label: string): string {
  if (!LABEL_PATTERN.test(label)) throw new BillingPeriodError(`period "${label}" is not YYYY-MM or YYYY-MM-DD`);
  if (label.length > 7) assertLocalDate(label);
  return label;
}

/** The first day a label names. */
export function labelStart(label: string): string {
  assertPeriodLabel(label);
  return label.length === 7 ? `${label}-01` : label;
}

/** The cycle period of one segment containing `date` (not yet cut by the segment's bounds). */
function cyclePeriod(date: string, segment: CycleSegment): { start: string; end: string } {
  const months = USAGE_PERIOD_MONTHS[segment.cycle];
  const anchor = civil(segment.anchor ?? CALENDAR_ANCHOR);
  const day = civil(date);
  const offset = day.year * 12 + (day.month - 1) - (anchor.year * 12 + (anchor.month - 1));
  let k = Math.floor(offset / months);
  let start = boundary(anchor, k * months);
  if (date < start) {
    k -= 1;
    start = boundary(anchor, k * months);
  }
  return { start, end: boundary(anchor, (k + 1) * months) };
}

/** Segments in order, checked: at most one without a start, each start a real date, no two on one day. */
export function orderedSegments(segments: readonly CycleSegment[]): CycleSegment[] {
  const ordered = [...segments].sort((a, b) => (a.from === b.from ? 0 : a.from === null ? -1 : b.from === null ? 1 : a.from < b.from ? -1 : 1));
  for (const [index, segment] of ordered.entries()) {
    if (segment.from !== null) assertLocalDate(segment.from);
    if (segment.anchor !== null) assertLocalDate(segment.anchor);
    if (index > 0 && ordered[index - 1]?.from === segment.from) throw new BillingPeriodError(`two cycle segments start on ${segment.from ?? 'the beginning'}`);
  }
  return ordered;
}

/**
 * The period containing local day `date`. Before the first segment's start (or with no segment)
 * the first segment's cycle applies (calendar months when there is none).
 */
export function servicePeriodOfDate(date: string, segments: readonly CycleSegment[]): ServicePeriod {
  assertLocalDate(date);
  const ordered = orderedSegments(segments);
  let index = -1;
  for (const [i, segment] of ordered.entries()) if (segment.from === null || segment.from <= date) index = i;
  const segment = ordered[Math.max(index, 0)] ?? { from: null, cycle: 'monthly', anchor: null };
  const next = index >= 0 ? ordered[index + 1] : ordered[0];
  const period = cyclePeriod(date, segment);
  const start = index >= 0 && segment.from !== null && segment.from > period.start ? segment.from : period.start;
  const end = next?.from && next.from < period.end ? next.from : period.end;
  return { start, end, label: periodLabel(start) };
}

/** The day before a local date. */
export function dayBefore(date: string): string {
  const day = civil(date);
  return new Date(Date.UTC(day.year, day.month - 1, day.day - 1)).toISOString().slice(0, 10);
}

const dayFormatters = new Map<string, Intl.DateTimeFormat>();

function dayFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = dayFormatters.get(timeZone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    } catch {
      throw new BillingPeriodError(`unknown time zone "${timeZone}"`);
    }
    dayFormatters.set(timeZone, formatter);
  }
  return formatter;
}

function localDateUncached(at: Date, timeZone: string): string {
  const parts = dayFormatter(timeZone).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return assertLocalDate(`${part('year')}-${part('month')}-${part('day')}`);
}

const HOUR_MS = 3_600_000;
const MAX_CACHED_HOURS = 100_000;
/** Per zone: UTC hour → local day, for hours that lie wholly inside one local day. */
const hourDays = new Map<string, Map<number, string>>();

/**
 * The local calendar day (`YYYY-MM-DD`) of an instant in `timeZone`. Cached per UTC hour (CDR sync
 * asks once per call), only for an hour whose first and last millisecond fall on the same local day
 * (zones such as +05:45 start a day mid-hour), so the answer is always the uncached one.
 */
export function localDateOf(at: Date, timeZone: string): string {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new BillingPeriodError('not a valid date');
  const hour = Math.floor(ms / HOUR_MS);
  let hours = hourDays.get(timeZone);
  const cached = hours?.get(hour);
  if (cached !== undefined) return cached;
  const day = localDateUncached(at, timeZone);
  if (localDateUncached(new Date(hour * HOUR_MS), timeZone) === localDateUncached(new Date(hour * HOUR_MS + HOUR_MS - 1), timeZone)) {
    if (!hours) hourDays.set(timeZone, (hours = new Map()));
    if (hours.size >= MAX_CACHED_HOURS) hours.clear();
    hours.set(hour, day);
  }
  return day;
}

/**
 * One service's period labels by instant, for rating many calls: the segments are checked once and
 * each local day's label is remembered.
 */
export function servicePeriodLabeller(segments: readonly CycleSegment[], timeZone: string): (at: Date) => string {
  const ordered = orderedSegments(segments);
  const labels = new Map<string, string>();
  return (at: Date) => {
    const day = localDateOf(at, timeZone);
    let label = labels.get(day);
    if (label === undefined) {
      label = servicePeriodOfDate(day, ordered).label;
      labels.set(day, label);
    }
    return label;
  };
}

/** The service period containing `at` (its local day in `timeZone`). */
export function servicePeriodOf(at: Date, timeZone: string, segments: readonly CycleSegment[]): ServicePeriod {
  return servicePeriodOfDate(localDateOf(at, timeZone), segments);
}

/**
 * The label of the latest period that is closed at `now`: the one before the period containing
 * `now − closeDelaySeconds` (so CDRs imported late within the look-back have arrived).
 */
export function latestClosedServicePeriod(now: Date, timeZone: string, closeDelaySeconds: number, segments: readonly CycleSegment[]): string {
  const current = servicePeriodOf(new Date(now.getTime() - closeDelaySeconds * 1000), timeZone, segments);
  return servicePeriodOfDate(dayBefore(current.start), segments).label;
}

/** True when `dueDate` is a period boundary of `segment`'s cycle (WHMCS moved the due date along the same schedule). */
export function isOnSchedule(dueDate: string, segment: CycleSegment): boolean {
  return cyclePeriod(dueDate, segment).start === dueDate;
}

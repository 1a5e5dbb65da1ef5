import {
  assertLocalDate,
  billingPeriodsMode,
  BillingPeriodError,
  dayBefore,
  labelStart,
  serviceCycleSegments,
  servicePeriodOf,
  servicePeriodOfDate,
  type CycleSegment,
  type ServicePeriod,
} from '@ictvoip/store';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';

/** Periods offered in the client area's picker: this one and the eleven before it. */
const PERIODS_SHOWN = 12;

/** `YYYY-MM` (a period starting on the 1st) or `YYYY-MM-DD` (a service cycle starting on another day). */
export const PERIOD_LABEL = /^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$/;

/**
 * The service's period schedule: calendar months (no segment) with BILLING_PERIODS=calendar, else
 * its billing cycle's segments (#16), which the rating labels its calls with. A service whose cycle
 * was never seen has no segment either: calendar months, as rating does.
 */
async function scheduleOf(deps: ApiDeps, serviceId: number): Promise<CycleSegment[]> {
  const mode = await billingPeriodsMode(deps.pool, deps.config.billing.periods);
  return mode === 'calendar' ? [] : serviceCycleSegments(deps.pool, serviceId);
}

export interface PeriodChoice {
  selected: ServicePeriod;
  /** Newest first: the period running now and the ones before it. */
  periods: string[];
  /** The selected period's first and last instant (exclusive) in BILLING_TIMEZONE. */
  from: Date;
  to: Date;
}

function periodNamed(label: string, segments: CycleSegment[]): ServicePeriod {
  try {
    // A month names the period containing its 1st; any other day the period containing that day
    // (so a label of another schedule, or a plain date, still lands on this service's period).
    return servicePeriodOfDate(label.length === 7 ? labelStart(label) : assertLocalDate(label), segments);
  } catch (error) {
    if (error instanceof BillingPeriodError) throw new HttpError(400, 'VALIDATION_FAILED', `request is invalid: period`, [{ path: 'period', message: error.message }]);
    throw error;
  }
}

/** Local start days → instants, computed by PostgreSQL in the billing time zone (DST-exact). */
async function instants(deps: ApiDeps, period: ServicePeriod): Promise<{ from: Date; to: Date }> {
  const { rows } = await deps.pool.query<{ from: Date; to: Date }>(`SELECT ($1::date::timestamp AT TIME ZONE $3) AS "from", ($2::date::timestamp AT TIME ZONE $3) AS "to"`, [
    period.start,
    period.end,
    deps.config.billing.timeZone,
  ]);
  return rows[0]!;
}

/** The selected period (the running one when none is named), its bounds and the picker's periods. */
export async function choosePeriod(deps: ApiDeps, serviceId: number, label: string | undefined): Promise<PeriodChoice> {
  const segments = await scheduleOf(deps, serviceId);
  const current = servicePeriodOf(deps.now?.() ?? new Date(), deps.config.billing.timeZone, segments);
  const selected = label ? periodNamed(label, segments) : current;
  const periods = [current];
  while (periods.length < PERIODS_SHOWN) periods.push(servicePeriodOfDate(dayBefore(periods[periods.length - 1]!.start), segments));
  return { selected, periods: periods.map((period) => period.label), ...(await instants(deps, selected)) };
}

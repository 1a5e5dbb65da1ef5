import type { Pool, PoolClient } from 'pg';
import {
  assertLocalDate,
  isOnSchedule,
  labelStart,
  latestClosedServicePeriod,
  parseBillingCycle,
  servicePeriodLabeller,
  servicePeriodOfDate,
  type BillingCycle,
  type CycleSegment,
} from './billing-cycle';
import { BillingPeriodError, periodOf } from './billing-period';

export type BillingPeriodsMode = 'calendar' | 'service';

/**
 * The install's billing periods: BILLING_PERIODS when set, else what migration 010 recorded
 * (`calendar` for an install that had already rated calls, `service` for a new one).
 */
export async function billingPeriodsMode(db: Pool | PoolClient, configured: BillingPeriodsMode | undefined): Promise<BillingPeriodsMode> {
  if (configured) return configured;
  const { rows } = await db.query<{ value: string }>(`SELECT value FROM billing_settings WHERE name = 'periods'`);
  return rows[0]?.value === 'calendar' ? 'calendar' : 'service';
}

/** What WHMCS says about a service's cycle (event `service.billingCycle`/`nextDueDate`, or GetClientsProducts). */
export interface CycleObservation {
  /** WHMCS's words, e.g. `Quarterly`, `Free Account` */
  whmcsCycle: string;
  /** `YYYY-MM-DD`, or '' when WHMCS has none (free, one time) */
  nextDueDate: string;
  source: 'event' | 'whmcs' | 'default';
}

export interface StoredCycleSegment extends CycleSegment {
  whmcsCycle: string;
  nextDue: string | null;
  source: string;
  checkedAt: Date;
}

interface SegmentRow {
  valid_from: string;
  cycle: BillingCycle;
  anchor: string | null;
  whmcs_cycle: string;
  next_due: string | null;
  source: string;
  checked_at: Date;
}

const SEGMENT_COLUMNS = `service_id, CASE WHEN valid_from = '-infinity' THEN NULL ELSE to_char(valid_from, 'YYYY-MM-DD') END AS valid_from, cycle,
  to_char(anchor, 'YYYY-MM-DD') AS anchor, whmcs_cycle, to_char(next_due, 'YYYY-MM-DD') AS next_due, source, checked_at`;

function toSegment(row: SegmentRow): StoredCycleSegment {
  return {
    from: row.valid_from,
    cycle: row.cycle,
    anchor: row.anchor,
    whmcsCycle: row.whmcs_cycle,
    nextDue: row.next_due,
    source: row.source,
    checkedAt: row.checked_at,
  };
}

/** A service's cycle segments, oldest first (empty when its cycle was never seen). */
export async function serviceCycleSegments(db: Pool | PoolClient, serviceId: number): Promise<StoredCycleSegment[]> {
  const { rows } = await db.query<SegmentRow>(`SELECT ${SEGMENT_COLUMNS} FROM service_billing_cycles c WHERE service_id = $1 ORDER BY c.valid_from`, [serviceId]);
  return rows.map(toSegment);
}

/** The segments of several services at once (the period close), by service. */
export async function cycleSegmentsOf(db: Pool | PoolClient, serviceIds: readonly number[]): Promise<Map<number, StoredCycleSegment[]>> {
  const { rows } = await db.query<SegmentRow & { service_id: string }>(
    `SELECT ${SEGMENT_COLUMNS} FROM service_billing_cycles c WHERE service_id = ANY($1::bigint[]) ORDER BY c.service_id, c.valid_from`,
    [serviceIds],
  );
  const segments = new Map<number, StoredCycleSegment[]>();
  for (const row of rows) {
    const serviceId = Number(row.service_id);
    const list = segments.get(serviceId) ?? [];
    list.push(toSegment(row));
    segments.set(serviceId, list);
  }
  return segments;
}

/**
 * Service billing periods: per service with unbilled work, the label of the cycle period to close
 * now: its latest closed period (the scheduled close) or, by hand with `upTo` (a label, its first
 * day), the service's own period containing that day when it is closed already (else its latest
 * closed one: a period still running is never closed early). So `billing close --period 2025-01`
 * closes a quarterly service's period running 15 Dec – 14 Mar under its own label `2024-12-15`.
 */
export async function closingServicePeriods(
  db: Pool | PoolClient,
  serviceIds: readonly number[],
  now: Date,
  billing: { timeZone: string; closeDelaySeconds: number },
  upTo?: string,
): Promise<Map<number, string>> {
  const segments = await cycleSegmentsOf(db, serviceIds);
  const day = upTo === undefined ? null : labelStart(upTo);
  return new Map(
    serviceIds.map((serviceId) => {
      const own = segments.get(serviceId) ?? [];
      const closed = latestClosedServicePeriod(now, billing.timeZone, billing.closeDelaySeconds, own);
      const asked = day === null ? closed : servicePeriodOfDate(day, own).label;
      // Labels sort as their first days do (YYYY-MM is the 1st).
      return [serviceId, asked < closed ? asked : closed];
    }),
  );
}

/** WHMCS's date, or null for none (`''`, `0000-00-00`, anything that is not a real day). */
function dueDateOf(text: string): string | null {
  try {
    return assertLocalDate(text);
  } catch {
    return null;
  }
}

/** The segment an observation describes: calendar months when WHMCS gives no due date or no recurring cycle. */
export function segmentFor(observation: CycleObservation): Omit<CycleSegment, 'from'> {
  const cycle = parseBillingCycle(observation.whmcsCycle);
  if (cycle === null) throw new BillingPeriodError(`unknown WHMCS billing cycle "${observation.whmcsCycle}"`);
  const due = dueDateOf(observation.nextDueDate);
  return { cycle, anchor: cycle !== 'free' && cycle !== 'onetime' ? due : null };
}

export type CycleRecordOutcome = 'first' | 'unchanged' | 'changed';

/**
 * Records what WHMCS says about a service's cycle, seen on local day `today`. The first observation
 * is valid since always; the same cycle with a due date on the same schedule (WHMCS moved it one
 * period on) only refreshes `checked_at`; anything else is a change: a new segment from `today`,
 * so the period running ends there and the next starts (calls already rated keep their period).
 * The caller holds the service's billing lock.
 */
export async function recordCycleObservation(db: Pool | PoolClient, serviceId: number, observation: CycleObservation, today: string): Promise<CycleRecordOutcome> {
  const next = segmentFor(observation);
  const segments = await serviceCycleSegments(db, serviceId);
  const current = segments[segments.length - 1];
  const nextDue = dueDateOf(observation.nextDueDate);
  if (current && sameSchedule(current, next)) {
    await db.query(
      `UPDATE service_billing_cycles SET checked_at = now(), next_due = COALESCE($3::date, next_due), whmcs_cycle = $4
       WHERE service_id = $1 AND valid_from = COALESCE($2::date, '-infinity'::date)`,
      [serviceId, current.from, nextDue, observation.whmcsCycle],
    );
    return 'unchanged';
  }
  // A default guess (no WHMCS) is replaced, not followed, by the first real observation.
  const replacesGuess = current?.source === 'default' && segments.length === 1;
  const from = !current || replacesGuess ? '-infinity' : current.from !== null && current.from >= today ? current.from : today;
  await db.query(
    `INSERT INTO service_billing_cycles (service_id, valid_from, cycle, anchor, whmcs_cycle, next_due, source)
     VALUES ($1, $2::date, $3, $4::date, $5, $6::date, $7)
     ON CONFLICT (service_id, valid_from) DO UPDATE SET cycle = EXCLUDED.cycle, anchor = EXCLUDED.anchor, whmcs_cycle = EXCLUDED.whmcs_cycle,
       next_due = EXCLUDED.next_due, source = EXCLUDED.source, observed_at = now(), checked_at = now()`,
    [serviceId, from, next.cycle, next.anchor, observation.whmcsCycle, nextDue, observation.source],
  );
  return current && !replacesGuess ? 'changed' : 'first';
}

function sameSchedule(current: CycleSegment, next: Omit<CycleSegment, 'from'>): boolean {
  if (current.cycle !== next.cycle) return false;
  if (current.anchor === null || next.anchor === null) return current.anchor === next.anchor;
  return isOnSchedule(next.anchor, current);
}

/**
 * The period labeller of one service: calendar months in `timeZone`, or (service billing periods)
 * the periods of its recorded WHMCS cycle (calendar months until one is recorded).
 */
export async function servicePeriodsOf(
  db: Pool | PoolClient,
  serviceId: number,
  billing: { timeZone: string; periods: BillingPeriodsMode | undefined },
): Promise<(at: Date) => string> {
  const { timeZone } = billing;
  if ((await billingPeriodsMode(db, billing.periods)) === 'calendar') return (at) => periodOf(at, timeZone);
  return servicePeriodLabeller(await serviceCycleSegments(db, serviceId), timeZone);
}

/** Services not terminated by billing mode and by their latest recorded cycle (`none`: not recorded yet), for the billing gauges. */
export async function billingServiceCounts(db: Pool | PoolClient): Promise<{ billingMode: 'prepaid' | 'postpaid'; cycle: BillingCycle | 'none'; services: number }[]> {
  const { rows } = await db.query<{ billing_mode: 'prepaid' | 'postpaid'; cycle: BillingCycle | 'none'; n: number }>(
    `SELECT CASE WHEN s.plan->>'billingMode' = 'prepaid' THEN 'prepaid' ELSE 'postpaid' END AS billing_mode, COALESCE(latest.cycle, 'none') AS cycle, count(*)::int AS n
     FROM services s
     LEFT JOIN LATERAL (SELECT c.cycle FROM service_billing_cycles c WHERE c.service_id = s.service_id ORDER BY c.valid_from DESC LIMIT 1) latest ON true
     WHERE s.desired_state <> 'terminated'
     GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows.map((row) => ({ billingMode: row.billing_mode, cycle: row.cycle, services: row.n }));
}

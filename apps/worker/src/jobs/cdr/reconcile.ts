import type { CDR_JOBS, TypedJob } from '@ictvoip/queue';
import { chargeDigestsByDay, getCdrSyncCursor, isDatabaseUnavailable, isPurgedService, servicesToReconcileCdrs, type CdrReconcileTarget } from '@ictvoip/store';
import { cdrDigestsByDay, tenantCdrDomain } from '@ictvoip/operations';
import { DEFAULT_SERVER_NAME, fusionServerOfError } from '@ictvoip/fusionpbx';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';
import { isServerUnavailable, scopeForService } from '../../fusion-scope';
import { collectCdrs, type CdrSyncHooks } from './sync-tenant';

const DAY_MS = 86_400_000;
const PAGE = 500;

export interface CdrReconcileOptions {
  now?: Date;
  metrics?: WorkerMetrics;
  /** Test seam: passed to each day's collection (a crash in the middle of the check). */
  hooks?: CdrSyncHooks;
}

/**
 * One day whose rows differed (their count, or which uuids: see CdrDayDigest): how many FusionPBX
 * holds, how many the bridge held, what was collected (0: the bridge holds charges FusionPBX does not, nothing is missing).
 */
export interface CdrReconcileDay {
  serviceId: number;
  day: string;
  fusionpbx: number;
  bridge: number;
  collected: number;
  /**
   * The day's collection could not read to the day's end (its server unavailable, its domain missing):
   * `collected` is partial, the tenant's later days are left to the next check. Absent when it read the day.
   */
  stoppedEarly?: string;
}

export interface CdrReconcileOutcome {
  tenants: number;
  /** tenants whose FusionPBX server or database did not answer (checked again next run) */
  skipped: number;
  days: CdrReconcileDay[];
  collected: number;
  /** tenants whose day collection stopped before the day's end (see CdrReconcileDay.stoppedEarly; checked again next run) */
  stopped: number;
}

/** The range a tenant's check covers: the last days, not before its calls are billable, ending a look-back window before its cursor. */
function checkedRange(deps: WorkerDeps, now: Date, cursorStamp: Date, floor: number): { from: Date; to: Date } | null {
  const lookbackMs = deps.config.cdr.lookbackSeconds * 1000;
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const from = Math.max(today - deps.config.cdr.reconcileDays * DAY_MS, floor);
  // Inside the window (and after the cursor) the sync itself collects: counting there would report its ordinary backlog.
  const to = Math.min(now.getTime(), cursorStamp.getTime()) - lookbackMs;
  return from < to ? { from: new Date(from), to: new Date(to) } : null;
}

/**
 * One tenant: per UTC day on each side (its v_xml_cdr rows, its charges) a grouped count and a sum
 * of its uuids' hashes, then, for each day where they differ, the collection of that day alone
 * (syncTenantCdrs with `from` and `to`: exactly-once by the CDR's uuid, rated and billed as
 * `cdr backfill` does). The sum catches a missing CDR whatever the counts: a charge FusionPBX no
 * longer holds (a CDR deleted there) used to make the counts agree and hide it. Such a day is read
 * every run (its collection finds nothing) while it is in the checked days.
 */
async function reconcileTenant(deps: WorkerDeps, target: CdrReconcileTarget, now: Date, options: CdrReconcileOptions): Promise<CdrReconcileDay[]> {
  const service = await deps.services.get(target.serviceId);
  if (!service?.tenantDomain || isPurgedService(service)) return [];
  const scoped = await scopeForService(deps, service);
  const cursor = await getCdrSyncCursor(deps.pool, target.serviceId);
  if (!cursor) return [];
  const domain = await tenantCdrDomain(scoped.fusion.pool, service.tenantDomain, cursor.domainUuid);
  // A purged and re-created domain: its next sync reads it from its start.
  if (!domain || domain.restarted) return [];
  const floor = Math.max(service.createdAt.getTime() - deps.config.cdr.lookbackSeconds * 1000, service.cdrBillingFrom?.getTime() ?? Number.NEGATIVE_INFINITY);
  const range = checkedRange(deps, now, target.lastStartStamp, floor);
  if (!range) return [];
  const [source, charged] = await Promise.all([
    cdrDigestsByDay(scoped.fusion.pool, domain.domainUuid, range.from, range.to),
    chargeDigestsByDay(deps.pool, target.serviceId, range.from, range.to),
  ]);
  const server = service.fusionpbxServer ?? DEFAULT_SERVER_NAME;
  const days: CdrReconcileDay[] = [];
  for (const [day, fusion] of [...source].sort(([a], [b]) => a.localeCompare(b))) {
    const held = charged.get(day);
    if (held && held.count === fusion.count && held.uuidSum === fusion.uuidSum) continue;
    const fusionpbx = fusion.count;
    const bridge = held?.count ?? 0;
    const dayStart = Date.parse(`${day}T00:00:00Z`);
    const from = new Date(Math.max(dayStart, range.from.getTime()));
    const to = new Date(Math.min(dayStart + DAY_MS, range.to.getTime()));
    // Only the day's CDRs not charged yet, to the day's end however many runs of CDR_SYNC_MAX_PAGES that takes.
    const collection = await collectCdrs(deps, target.serviceId, { from, to, hooks: options.hooks });
    const collected = collection.inserted;
    // Stopped before the day's end (a later run, or the first, could not read): its count is not the day's, and the tenant's
    // later days would stop alike. Said as such, so `collected` is not read as the day made whole.
    const stoppedEarly = collection.stoppedEarly?.message ?? (collection.status === 'synced' ? undefined : `could not read the day (${collection.status})`);
    days.push({ serviceId: target.serviceId, day, fusionpbx, bridge, collected, ...(stoppedEarly ? { stoppedEarly } : {}) });
    if (stoppedEarly)
      deps.logger.warn(
        { serviceId: target.serviceId, server, day, collected, fusionpbx, bridge, status: collection.status },
        `CDR reconcile: the day's collection ${stoppedEarly}`,
      );
    if (collected === 0) {
      if (stoppedEarly) break;
      continue;
    }
    options.metrics?.cdrLateCollected.inc({ server }, collected);
    deps.logger.warn(
      { serviceId: target.serviceId, server, day, collected, fusionpbx, bridge },
      'CDR reconcile collected calls FusionPBX imported after the look-back window (the sync missed them: no insert_date index)',
    );
    await deps.audit.append({
      actor: 'worker',
      action: 'cdr.late_collected',
      serviceId: target.serviceId,
      detail: { day, server, collected, fusionpbx, bridge },
    });
    if (stoppedEarly) break;
  }
  return days;
}

/**
 * The per-day count check behind the look-back window (CDR_RECONCILE_DAYS): every synced tenant,
 * one at a time. Cheap where nothing is missing (two grouped counts and uuid sums per tenant). A rerun or a retry
 * after a crash counts again and collects only what is still missing.
 */
export async function reconcileCdrs(deps: WorkerDeps, options: CdrReconcileOptions = {}): Promise<CdrReconcileOutcome> {
  const now = options.now ?? new Date();
  const outcome: CdrReconcileOutcome = { tenants: 0, skipped: 0, days: [], collected: 0, stopped: 0 };
  if (deps.config.cdr.reconcileDays <= 0) return outcome;
  for (let after = 0; ;) {
    const targets = await servicesToReconcileCdrs(deps.pool, after, PAGE);
    for (const target of targets) {
      outcome.tenants += 1;
      try {
        const days = await reconcileTenant(deps, target, now, options);
        outcome.days.push(...days);
        outcome.collected += days.reduce((sum, day) => sum + day.collected, 0);
        if (days.some((day) => day.stoppedEarly)) outcome.stopped += 1;
      } catch (error) {
        // Only a FusionPBX database that did not answer (its pool marks what it throws); the bridge's own errors fail the job.
        if (!isServerUnavailable(error) && !(fusionServerOfError(error) !== null && isDatabaseUnavailable(error))) throw error;
        // One server down does not hold up the other servers' tenants; the next run checks these again.
        outcome.skipped += 1;
        deps.logger.warn({ serviceId: target.serviceId, err: (error as Error).message }, 'CDR reconcile skipped a tenant: its FusionPBX server did not answer');
      }
    }
    const last = targets[targets.length - 1];
    if (!last || targets.length < PAGE) break;
    after = last.serviceId;
  }
  deps.logger.info(
    { tenants: outcome.tenants, skipped: outcome.skipped, stopped: outcome.stopped, differingDays: outcome.days.length, collected: outcome.collected },
    outcome.stopped > 0 ? `CDR reconcile done; ${outcome.stopped} tenant(s) stopped early (their collected counts are partial, checked again next run)` : 'CDR reconcile done',
  );
  return outcome;
}

export async function handleCdrReconcile(deps: WorkerDeps, job: TypedJob<typeof CDR_JOBS.reconcile>, metrics?: WorkerMetrics): Promise<CdrReconcileOutcome> {
  const data = job.data;
  return reconcileCdrs(deps, { now: data.now ? new Date(data.now) : undefined, metrics });
}

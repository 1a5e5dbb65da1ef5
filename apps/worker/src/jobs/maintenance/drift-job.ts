import { latestCompletedJob, MAINTENANCE_JOBS, SCHEDULER_IDS, upsertJobScheduler, type DriftJobData, type TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';
import { buildDriftReport, driftSourcesOf, fixDrift, DRIFT_KINDS, type DriftFixResult, type DriftReport } from '@ictvoip/operations';

/** On the maintenance queue; the API's /admin/drift reads this job's results. */
export const DRIFT_JOB_NAME = MAINTENANCE_JOBS.driftReport;
export const DRIFT_SCHEDULER_ID = SCHEDULER_IDS.driftReport;

/**
 * Differences a drift job's result keeps (Redis holds it in the job history; `GET /admin/drift` reads
 * it). The full list grows with the services that differ (a 30-minute soak's reached ~175 KB per job),
 * so Redis memory would follow the fleet; `counts` stay complete and `npx ictvoip reconcile` prints every item.
 */
export const DRIFT_ITEMS_KEPT = 100;

export interface DriftJobResult {
  /** `items` cut to DRIFT_ITEMS_KEPT; `itemsOmitted` says how many more there were. */
  report: DriftReport & { itemsOmitted: number };
  fix: DriftFixResult | null;
}

/** The report as stored: its first DRIFT_ITEMS_KEPT items, every count. */
export function storedDriftReport(report: DriftReport): DriftJobResult['report'] {
  return { ...report, items: report.items.slice(0, DRIFT_ITEMS_KEPT), itemsOmitted: Math.max(0, report.items.length - DRIFT_ITEMS_KEPT) };
}

export function recordDriftMetrics(metrics: WorkerMetrics | undefined, report: Pick<DriftReport, 'checkedAt'> & { counts: Partial<DriftReport['counts']> }): void {
  if (!metrics) return;
  // A report stored by an older version lacks the kinds added since: none of those then.
  for (const kind of DRIFT_KINDS) metrics.driftDifferences.set({ kind }, report.counts[kind] ?? 0);
  metrics.driftLastRun.set(Math.floor(Date.parse(report.checkedAt) / 1000));
}

/**
 * A started worker's drift gauges come from the last finished report in the job history, so a
 * restart does not read as "no differences" until the next daily run. Best effort: a start never
 * waits on it failing.
 */
export async function restoreDriftMetrics(deps: WorkerDeps, metrics: WorkerMetrics): Promise<void> {
  try {
    const latest = await latestCompletedJob(deps.queues.maintenance, DRIFT_JOB_NAME);
    const report = (latest?.returnvalue as Partial<DriftJobResult> | undefined)?.report;
    if (!report?.counts || typeof report.checkedAt !== 'string') return;
    recordDriftMetrics(metrics, report);
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message }, 'drift metrics not restored from the last report');
  }
}

/** The daily (and on-demand) drift report; with `fix` it also converges what a job can converge. */
export async function runDriftJob(deps: WorkerDeps, job: TypedJob<typeof MAINTENANCE_JOBS.driftReport> | null, metrics?: WorkerMetrics): Promise<DriftJobResult> {
  const data: DriftJobData = job?.data ?? {};
  const report = await buildDriftReport(await driftSourcesOf(deps));
  recordDriftMetrics(metrics, report);
  deps.logger.info({ differences: report.items.length, counts: report.counts, whmcsChecked: report.whmcsChecked }, 'drift report');
  if (!data.fix) return { report: storedDriftReport(report), fix: null };
  // The fix works from the full report; only what is stored is cut.
  const fix = await fixDrift(report, { pool: deps.pool, queues: deps.queues });
  deps.logger.info({ fixes: fix.fixes.length, manual: fix.manual.length }, 'drift fix enqueued');
  return { report: storedDriftReport(report), fix };
}

export async function ensureDriftScheduler(deps: WorkerDeps): Promise<void> {
  const every = deps.config.worker.driftCheckEverySeconds;
  if (every <= 0) {
    await deps.queues.maintenance.removeJobScheduler(DRIFT_SCHEDULER_ID);
    return;
  }
  await upsertJobScheduler(deps.queues, DRIFT_SCHEDULER_ID, { every: every * 1000 }, DRIFT_JOB_NAME, {}, { attempts: 1 });
}

import { MAINTENANCE_JOBS, SCHEDULER_IDS, upsertJobScheduler, type DriftJobData, type TypedJob } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';
import { buildDriftReport, driftSourcesOf, fixDrift, DRIFT_KINDS, type DriftFixResult, type DriftReport } from '@ictvoip/operations';

/** On the maintenance queue; the API's /admin/drift reads this job's results. */
export const DRIFT_JOB_NAME = MAINTENANCE_JOBS.driftReport;
export const DRIFT_SCHEDULER_ID = SCHEDULER_IDS.driftReport;

export interface DriftJobResult {
  report: DriftReport;
  fix: DriftFixResult | null;
}

export function recordDriftMetrics(metrics: WorkerMetrics | undefined, report: DriftReport): void {
  if (!metrics) return;
  for (const kind of DRIFT_KINDS) metrics.driftDifferences.set({ kind }, report.counts[kind]);
  metrics.driftLastRun.set(Math.floor(Date.parse(report.checkedAt) / 1000));
}

/** The daily (and on-demand) drift report; with `fix` it also converges what a job can converge. */
export async function runDriftJob(deps: WorkerDeps, job: TypedJob<typeof MAINTENANCE_JOBS.driftReport> | null, metrics?: WorkerMetrics): Promise<DriftJobResult> {
  const data: DriftJobData = job?.data ?? {};
  const report = await buildDriftReport(await driftSourcesOf(deps));
  recordDriftMetrics(metrics, report);
  deps.logger.info({ differences: report.items.length, counts: report.counts, whmcsChecked: report.whmcsChecked }, 'drift report');
  if (!data.fix) return { report, fix: null };
  const fix = await fixDrift(report, { pool: deps.pool, queues: deps.queues });
  deps.logger.info({ fixes: fix.fixes.length, manual: fix.manual.length }, 'drift fix enqueued');
  return { report, fix };
}

export async function ensureDriftScheduler(deps: WorkerDeps): Promise<void> {
  const every = deps.config.worker.driftCheckEverySeconds;
  if (every <= 0) {
    await deps.queues.maintenance.removeJobScheduler(DRIFT_SCHEDULER_ID);
    return;
  }
  await upsertJobScheduler(deps.queues, DRIFT_SCHEDULER_ID, { every: every * 1000 }, DRIFT_JOB_NAME, {}, { attempts: 1 });
}

import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Job } from 'bullmq';
import { addJob, latestCompletedJob, MAINTENANCE_JOBS } from '@ictvoip/queue';
import { requireAdminToken } from '../admin-auth';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';

/** The worker's drift job (apps/worker jobs/maintenance/drift-job.ts); the API only enqueues it and reads its results. */
const DRIFT_JOB_NAME = MAINTENANCE_JOBS.driftReport;
const MAX_WAIT_SECONDS = 25;

function waitSeconds(req: Request): number {
  const raw = req.query.wait;
  if (raw === undefined) return 0;
  if (typeof raw !== 'string' || !/^\d{1,3}$/.test(raw))
    throw new HttpError(400, 'VALIDATION_FAILED', 'query parameter wait must be whole seconds', [{ path: 'wait', message: `must be an integer from 0 to ${MAX_WAIT_SECONDS}` }]);
  return Math.min(Number(raw), MAX_WAIT_SECONDS);
}

function view(job: Job, state: string) {
  return {
    jobId: job.id ?? null,
    state,
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    failedReason: job.failedReason || null,
    result: job.returnvalue ?? null,
  };
}

async function settle(job: Job, seconds: number): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  let state = await job.getState();
  while (state !== 'completed' && state !== 'failed' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    state = await job.getState();
  }
  return state;
}

/**
 * `GET /admin/drift`: the last finished drift report (the worker's daily job or an on-demand one).
 * `POST /admin/drift?wait=N[&fix=1]`: runs one now on a worker and waits up to N seconds for it.
 */
export function adminDriftRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use('/admin/drift', requireAdminToken(deps.config.adminToken));
  router.get('/admin/drift', async (_req, res) => {
    const latest = await latestCompletedJob(deps.queues.maintenance, DRIFT_JOB_NAME);
    if (!latest) throw new HttpError(404, 'NOT_FOUND', 'no drift report yet; POST /admin/drift runs one');
    res.json(view(latest, 'completed'));
  });
  router.post('/admin/drift', async (req, res) => {
    const seconds = waitSeconds(req);
    const fix = req.query.fix === '1' || req.query.fix === 'true';
    const job = await addJob(deps.queues, DRIFT_JOB_NAME, { fix }, { jobId: `drift-manual-${randomUUID()}`, attempts: 1 });
    const state = await settle(job, seconds);
    const latest = (await deps.queues.maintenance.getJob(job.id!)) ?? job;
    res.status(state === 'completed' || state === 'failed' ? 200 : 202).json(view(latest, state));
  });
  return router;
}

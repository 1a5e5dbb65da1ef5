import type { Request, Response } from 'express';
import { HttpError } from '../../errors';
import type { Principal } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { visibleJob } from '../v1/jobs';
import { formField } from './auth';
import { invalidParameter, missingParameter, sendSuccess } from './envelope';

/** The bridge's own endpoint (not ictVoIP's) where a 202 of manage.php or provision.php points: `job_url`. */
export const JOB_STATUS_PATH = '/app/jobs/status.php';

/** Where a queued write's state is read with the credentials that queued it (a superadmin has no /v1 key). */
export const jobStatusUrl = (jobId: string) => `${JOB_STATUS_PATH}?job_id=${encodeURIComponent(jobId)}`;

const JOB_ID = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * `/app/jobs/status.php` (`job_id`): the job a 202 answered (`job_url`), as `GET /v1/jobs/{id}` has
 * it, for the same callers as the endpoint that queued it: a FusionPBX superadmin sees the jobs of its
 * own servers' tenants, a tenant key its tenant's; another's job is Not Found, as an unknown one.
 */
export async function jobStatus(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const id = formField(req, 'job_id');
  if (!id) throw missingParameter('job_id');
  if (!JOB_ID.test(id)) throw invalidParameter('job_id', 'must be the job_id a queued answer gave');
  const job = await visibleJob(deps, principal, id);
  if (!job) throw new HttpError(404, 'NOT_FOUND', `job ${id} not found`);
  sendSuccess(res, `Job ${job.state}`, {
    job_id: job.id,
    state: job.state,
    action: job.action,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    last_error: job.lastError,
    created_at: job.createdAt,
    finished_at: job.finishedAt,
    // Only for a FreeSWITCH job Redis does not have while PostgreSQL still owes it (waiting: the reconciler adds it again).
    ...(job.detail ? { failed_sends: job.failedSends, detail: job.detail } : {}),
    // A REST write's answer, as /v1 gives it (status succeeded, failed, rejected or pending; its result never holds a password).
    write: job.write ? { status: job.write.status, http_status: job.write.httpStatus, result: job.write.result, error: job.write.error } : null,
  });
}

/** A bound on what a queue keeps of its finished jobs: both an age (seconds) and a count. */
export interface Retention {
  readonly age: number;
  readonly count: number;
}

/** What every queue keeps of its completed and of its failed jobs (the operator's JOB_HISTORY_* settings). */
export interface JobRetention {
  readonly completed: Retention;
  readonly failed: Retention;
}

/**
 * What Redis keeps of finished work, the same for every job of every queue: a count bound, so Redis
 * memory does not follow the traffic, and an age bound, so a quiet bridge lets it go too. PostgreSQL
 * (the webhook inbox, tenant_writes, the delivery and billing rows) is the long-term record and the
 * dedupe; `GET /v1/jobs/{id}` answers from it once Redis has dropped the job.
 *
 * Every caller uses one JobRetention, read once from the configuration (no per-job counts): BullMQ
 * trims a queue's finished set at each finish with the finishing job's bounds, so one job with a
 * larger count or age would hold the whole set to it.
 *
 * 1,000 completed by default and not fewer: a CLI `--wait` reads its jobs' results from Redis, so a
 * batch of that many still finds them all. An operator may lower it (less Redis memory) at that cost.
 */
export const COMPLETED_JOBS_KEPT: Retention = { age: 24 * 3600, count: 1000 };
/** Failed jobs stay longer, for the operator to read and retry (the WHMCS admin page lists them). */
export const FAILED_JOBS_KEPT: Retention = { age: 7 * 24 * 3600, count: 1000 };
/** The retention when the operator sets none (config's JOB_HISTORY_* defaults are the same numbers). */
export const DEFAULT_JOB_RETENTION: JobRetention = { completed: COMPLETED_JOBS_KEPT, failed: FAILED_JOBS_KEPT };
/**
 * Entries of each queue's event stream. Nothing in the bridge reads the stream (no QueueEvents):
 * BullMQ's default of 10,000 was Redis memory held for nobody; the last 100–200
 * events stay for someone reading it by hand (XREVRANGE). Trimmed approximately (XADD MAXLEN ~):
 * up to one stream node (100 entries) more.
 */
export const EVENT_STREAM_MAX_LEN = 100;

/** The BullMQ job options of a retention: every job of a queue is added with them (the queue's default job options). */
export function finishedJobRetention(retention: JobRetention = DEFAULT_JOB_RETENTION): { removeOnComplete: Retention; removeOnFail: Retention } {
  return { removeOnComplete: { ...retention.completed }, removeOnFail: { ...retention.failed } };
}

/** The retention options of the defaults. */
export const FINISHED_JOB_RETENTION = finishedJobRetention();

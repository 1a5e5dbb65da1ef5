/**
 * The catalogue's guarantees are the compiler's: `npm run check-types` (tsc over src and test)
 * fails when a `@ts-expect-error` below stops being an error. The run-time tests check the
 * catalogue's data.
 */
import type { QueueSet } from '@ictvoip/queue';
import {
  addJob,
  BILLING_JOBS,
  CDR_JOBS,
  FREESWITCH_JOBS,
  isJobName,
  JOB_NAMES,
  JOBS,
  MAINTENANCE_JOBS,
  MONITORING_JOBS,
  CREDIT_JOBS,
  PROVISIONING_JOBS,
  QUEUE_NAMES,
  queueOf,
  TENANT_WRITE_JOBS,
  validateJobPayload,
  JobPayloadError,
  type JobHandlers,
  type JobPayload,
  type TypedJob,
} from '@ictvoip/queue';

type Handlers = JobHandlers<null>;
declare const complete: Handlers;

export function typeChecks(queues: QueueSet): void {
  // A map without a handler for one job does not compile.
  const { 'tenant.suspend': _suspend, ...withoutSuspend } = complete;
  // @ts-expect-error tenant.suspend has no handler
  const missing: Handlers = withoutSuspend;
  // A handler for a job the catalogue does not know does not compile.
  // @ts-expect-error tenant.unknown is not a job
  const extra: Handlers = { ...complete, 'tenant.unknown': async () => undefined };
  // Two handlers for one job do not compile either.
  const handle = complete['tenant.create'];
  // @ts-expect-error tenant.create twice
  const twice: Handlers = { ...complete, 'tenant.create': handle, 'tenant.create': handle };
  // A handler must take its own job's payload.
  // @ts-expect-error a provisioning handler cannot handle cdr.backfill
  const crossed: Handlers = { ...complete, [CDR_JOBS.backfill]: async (_deps: null, job: TypedJob<'tenant.create'>) => job.data.eventId };
  // Producers: the payload must match the job.
  // @ts-expect-error billing.push-batch needs serviceId and period
  void addJob(queues, BILLING_JOBS.pushBatch, { serviceId: 1 });
  // @ts-expect-error not a job name
  void addJob(queues, 'billing.push', { serviceId: 1, period: '2026-01' });
  void addJob(queues, BILLING_JOBS.pushBatch, { serviceId: 1, period: '2026-01' });
  const payload: JobPayload<'tenant.create'> = { eventId: 'e', serviceId: 1, action: 'create' };
  void [missing, extra, twice, crossed, payload];
}

describe('job catalogue', () => {
  it('holds every job name of the groups, each on a known queue', () => {
    const grouped = [PROVISIONING_JOBS, FREESWITCH_JOBS, TENANT_WRITE_JOBS, MAINTENANCE_JOBS, CDR_JOBS, BILLING_JOBS, MONITORING_JOBS, CREDIT_JOBS].flatMap((group) =>
      Object.values(group),
    );
    expect([...JOB_NAMES].sort()).toEqual([...new Set(grouped)].sort());
    for (const name of JOB_NAMES) expect(Object.values(QUEUE_NAMES)).toContain(JOBS[name].queue);
    expect(queueOf(FREESWITCH_JOBS.backlog)).toBe('provisioning');
    expect(queueOf(MAINTENANCE_JOBS.driftReport)).toBe('maintenance');
    expect(queueOf(MONITORING_JOBS.poll)).toBe('monitoring');
    expect(isJobName('drift.report')).toBe(true);
    expect(isJobName('toString')).toBe(false);
  });

  it("validates a payload with its job's schema", () => {
    expect(validateJobPayload(BILLING_JOBS.pushBatch, { serviceId: '7', period: '2026-01' })).toEqual({ serviceId: 7, period: '2026-01' });
    expect(() => validateJobPayload(BILLING_JOBS.pushBatch, { serviceId: 7 })).toThrow(JobPayloadError);
    expect(() => validateJobPayload(MAINTENANCE_JOBS.purgeTerminated, { extra: 1 })).toThrow(JobPayloadError);
  });
});

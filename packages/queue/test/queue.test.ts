import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { deleteRedisPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from '@ictvoip/testkit';
import {
  CAPPED_BACKOFF,
  cappedBackoff,
  JobIdError,
  assertValidJobId,
  createProducerConnection,
  eventJobId,
  isRedisUnavailable,
  provisioningJobDataSchema,
  validatePayload,
  JobPayloadError,
  addJobs,
  closeQueues,
  createQueues,
  freeswitchBacklogJobId,
  MAINTENANCE_JOBS,
  requeueJobUnlessLive,
  tenantWriteId,
} from '@ictvoip/queue';

describe('job ids', () => {
  it('are deterministic and accepted by BullMQ', async () => {
    const eventId = randomUUID();
    const id = eventJobId(12, 'change_package', eventId);
    expect(id).toBe(eventJobId(12, 'change_package', eventId));
    expect(id).toBe(`svc-12-change-package-${eventId}`);
    const prefix = uniqueQueuePrefix('ids');
    const connection = createProducerConnection(TEST_REDIS_URL);
    const queue = new Queue('ids', { connection, prefix });
    try {
      await queue.add('x', {}, { jobId: id });
      await queue.add('x', {}, { jobId: id });
      expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    } finally {
      await queue.close();
      connection.disconnect();
      await deleteRedisPrefix(prefix);
    }
  });

  it.each([['a:b'], ['12345'], [''], ['has space'], ['x'.repeat(201)]])('rejects %j before BullMQ sees it', (id) => {
    expect(() => assertValidJobId(id)).toThrow(JobIdError);
  });

  it('built by the payload files are valid (the catalogue checks them when they are added)', () => {
    const ids = [freeswitchBacklogJobId({ serviceId: 7, version: 3 }), tenantWriteId(7, ['req-1', 'extension'], 'key')];
    for (const id of ids) expect(assertValidJobId(id)).toBe(id);
  });

  it('are checked by the catalogue before a job is added under one', async () => {
    const prefix = uniqueQueuePrefix('gate');
    const connection = createProducerConnection(TEST_REDIS_URL);
    const queues = createQueues({ connection, prefix });
    try {
      await expect(addJobs(queues, MAINTENANCE_JOBS.purgeTerminated, [{ data: {}, opts: { jobId: 'a:b' } }])).rejects.toThrow(JobIdError);
      await expect(requeueJobUnlessLive(queues, MAINTENANCE_JOBS.purgeTerminated, {}, '12345')).rejects.toThrow(JobIdError);
      expect(await queues.maintenance.getJobCounts('waiting')).toEqual({ waiting: 0 });
    } finally {
      await closeQueues(queues);
      connection.disconnect();
      await deleteRedisPrefix(prefix);
    }
  });
});

describe('payloads', () => {
  it('accept a provisioning reference and reject a bad one with the job name', () => {
    const good = { eventId: randomUUID(), serviceId: 3, action: 'create' };
    expect(validatePayload(provisioningJobDataSchema, 'tenant.create', good)).toEqual(good);
    expect(() => validatePayload(provisioningJobDataSchema, 'tenant.create', { serviceId: 'x' })).toThrow(JobPayloadError);
  });
});

describe('producer connection', () => {
  it('fails fast when Redis is not there', async () => {
    const connection = createProducerConnection('redis://127.0.0.1:1', { retryStrategy: () => null });
    const started = Date.now();
    const error = await connection.ping().catch((e: unknown) => e);
    expect(isRedisUnavailable(error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    connection.disconnect();
  });
});

describe('cappedBackoff', () => {
  it('doubles from the base like BullMQ exponential, never past the cap, up to 30 % shorter for jitter', () => {
    const longest = cappedBackoff(100, 60_000, () => 1);
    const shortest = cappedBackoff(100, 60_000, () => 0);
    const attempts = [1, 2, 3, 10, 11, 15, 16, 40];
    expect(attempts.map((made) => longest(made, CAPPED_BACKOFF))).toEqual([100, 200, 400, 51_200, 60_000, 60_000, 60_000, 60_000]);
    expect(attempts.map((made) => shortest(made, CAPPED_BACKOFF))).toEqual([70, 140, 280, 35_840, 42_000, 42_000, 42_000, 42_000]);
  });
});

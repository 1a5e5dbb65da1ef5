import { freeswitchBacklogJobId } from '@ictvoip/queue';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitFor, type Bridge } from './harness';

// The backlog job's retry delay doubles from JOB_BACKOFF_MS (100 ms here) but never past
// FREESWITCH_RETRY_MAX_MS (300 ms here). Uncapped, the delay after the 8th failed attempt is
// 8.9–12.8 s (100 ms × 2^7, less up to 30 % jitter); a production outage of an hour left services
// waiting about as long again after the event socket was back.
const RETRY_MAX_MS = 300;
const FAILED_ATTEMPTS = 8;

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge({ FREESWITCH_RETRY_MAX_MS: String(RETRY_MAX_MS) });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
}, 60_000);
afterAll(async () => {
  await bridge.close();
});

const inboxStatus = async (eventId: string) =>
  (await bridge.api!.deps.pool.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0]?.status;

describe('a FreeSWITCH backlog that failed through an outage', () => {
  it('is sent within FREESWITCH_RETRY_MAX_MS of the event socket answering again, however many attempts failed before', async () => {
    const serviceId = 7301;
    await bridge.esl.stop();
    const event = buildEvent({ serviceId });
    const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=0' });
    expect([200, 202]).toContain(reply.status);
    const eventId = String(event.eventId);
    await waitFor(async () => (await inboxStatus(eventId)) === 'pending_apply', 15_000, 'the create pending_apply');

    const { rows } = await bridge.api!.deps.pool.query<{ origin: number }>("SELECT (pending_apply->>'origin')::bigint AS origin FROM services WHERE service_id = $1", [serviceId]);
    const queue = bridge.worker!.deps.queues.provisioning;
    const jobId = freeswitchBacklogJobId({ serviceId, version: Number(rows[0]!.origin) });
    // Added before the event showed pending_apply (freeswitch-backlog.test.ts holds the worker there to
    // see it). If it is not there, say what the queue held.
    const job = await queue.getJob(jobId);
    if (!job) {
      const counts = await queue.getJobCounts();
      const failed = (await queue.getFailed(0, 20)).map((failedJob) => `${failedJob.id} ${failedJob.name}: ${failedJob.failedReason}`);
      const completed = (await queue.getCompleted(0, 20)).map((doneJob) => `${doneJob.id} ${doneJob.name}: ${JSON.stringify(doneJob.returnvalue)}`);
      throw new Error(`the backlog job ${jobId} is missing; queue ${JSON.stringify(counts)}; failed ${JSON.stringify(failed)}; completed ${JSON.stringify(completed)}`);
    }
    expect(job.name).toBe('freeswitch.backlog');
    // Between two attempts, after the 8th failed: uncapped, the next would come 8.9 s or more later.
    await waitFor(
      async () => {
        const current = await queue.getJob(job.id!);
        return (current?.attemptsMade ?? 0) >= FAILED_ATTEMPTS && (await current!.getState()) === 'delayed';
      },
      60_000,
      `${FAILED_ATTEMPTS} failed attempts of the backlog job`,
    );

    await bridge.esl.start();
    // The capped delay, plus one attempt (connect, cache deletes, commit) on a loaded test box.
    await waitFor(async () => (await inboxStatus(eventId)) === 'succeeded', 6_000, 'the create succeeded soon after the event socket answers');
    expect(bridge.esl.apiCommands).toContain(`memcache delete dialplan:t${serviceId}.pbx.example.net`);
  }, 90_000);
});

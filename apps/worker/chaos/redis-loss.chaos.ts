import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { PrivateRedis } from './support/private-services';
import { loadAware, sleep } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, planWorkload, seededRandom } from './support/workload';

const RUNS = runsOf(1, 3);
const EVENTS = pick(120, 500);

/** Inbox rows not finished yet (their job is in Redis, or about to be). */
async function unfinishedEvents(bridge: ChaosBridge): Promise<Set<string>> {
  const { rows } = await bridge.bridge.query<{ event_id: string }>(`SELECT event_id FROM webhook_inbox WHERE status NOT IN ('succeeded', 'failed')`);
  return new Set(rows.map((row) => row.event_id));
}

/** Events the reconciler enqueued again, from every worker's log. */
function requeuedEvents(bridge: ChaosBridge): Set<string> {
  const ids = new Set<string>();
  for (const line of bridge.allLines()) {
    if (!line.includes('reconciler re-enqueued an unfinished event')) continue;
    const eventId = /"eventId":"([0-9a-f-]{36})"/.exec(line)?.[1];
    if (eventId) ids.add(eventId);
  }
  return ids;
}

/**
 * Redis is the queue, PostgreSQL the truth: a FLUSHALL and a restart (kill -9 of a non-persistent
 * redis-server, so every key is gone) in the middle of a run; the reconciler rebuilds the queue
 * from the inbox and every event is applied once.
 */
describe('Redis flushed and restarted mid-run', () => {
  const tally = new ScenarioTally('Redis FLUSHALL + restart', RUNS);
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
    await redis.stop();
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 100;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): nothing lost, nothing doubled`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const bridge = await ChaosBridge.start({ redisUrl: redis.url });
        try {
          await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const plans = planWorkload(seed, EVENTS, 200_000 + run * 10_000);
          const delivery = deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 8 });
          await sleep(1000 + Math.floor(random() * 1500));
          // The work in flight the fault hits: inbox rows not finished, read from PostgreSQL at the flush.
          const atFlush = await unfinishedEvents(bridge);
          await redis.flushAll();
          process.stdout.write(`run ${run + 1}: FLUSHALL with ${atFlush.size} unfinished inbox rows\n`);
          await sleep(1000 + Math.floor(random() * 1500));
          const atRestart = await unfinishedEvents(bridge);
          await redis.restart(1500);
          process.stdout.write(`run ${run + 1}: redis-server killed and restarted empty with ${atRestart.size} unfinished inbox rows\n`);
          const posts = await delivery;
          const { report, settledMs } = await settle(bridge, plans, loadAware(180_000));
          const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
          // Those rows' jobs were gone with Redis: the reconciler (the only other way back) must have re-enqueued some of them.
          const requeued = requeuedEvents(bridge);
          const hit = { atFlush: atFlush.size, atRestart: atRestart.size, requeuedOfThose: [...new Set([...atFlush, ...atRestart])].filter((id) => requeued.has(id)).length };
          process.stdout.write(`run ${run + 1}: work in flight ${JSON.stringify(hit)}, reconciler re-enqueued ${requeued.size} events in all\n`);
          tally.add(report, { ...clientErrorsOf(posts), interrupted: hit.atFlush, problems: leaks });
          process.stdout.write(
            `run ${run + 1}: ${report.events} events, settled in ${settledMs} ms, posts ${JSON.stringify(posts.statuses)}, network errors ${posts.networkErrors}\n`,
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect(hit.atFlush).toBeGreaterThan(0);
          expect(hit.requeuedOfThose).toBeGreaterThan(0);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors: posts.serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
          expect(leaks).toEqual([]);
          expect(bridge.liveApis()).toHaveLength(1);
          expect(bridge.liveWorkers()).toHaveLength(2);
        } finally {
          await bridge.close();
        }
      }));
  }
});

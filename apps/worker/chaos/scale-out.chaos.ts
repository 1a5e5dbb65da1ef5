import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, seedOf } from './support/summary';
import { deliverAll, planWorkload } from './support/workload';

const POSTS = pick(600, 5000);
const DUPLICATE_RATE = 0.5;

/** 2 API + 3 worker processes, one Redis, one PostgreSQL, a burst of deliveries with duplicates. */
describe('scale-out burst', () => {
  const tally = new ScenarioTally('scale-out 2 API + 3 workers', 1);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  const seed = seedOf(0) + 400;
  it(`${POSTS} deliveries (about a third duplicates, spread over both APIs): one outcome per event`, () =>
    tally.run(async () => {
      const bridge = await ChaosBridge.start();
      try {
        await Promise.all([bridge.startApi(), bridge.startApi()]);
        await Promise.all([bridge.startWorker(), bridge.startWorker(), bridge.startWorker()]);
        const plans = planWorkload(seed, Math.round(POSTS / (1 + DUPLICATE_RATE)), 500_000);
        const started = Date.now();
        const posts = await deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 48, duplicateRate: DUPLICATE_RATE, timeoutMs: 900_000 });
        const acceptedMs = Date.now() - started;
        const { report, settledMs } = await settle(bridge, plans, 900_000);
        const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
        const jobs = (await bridge.bridge.query<{ n: number }>('SELECT count(DISTINCT job_id)::int AS n FROM webhook_inbox')).rows[0].n;
        tally.add(report, { ...clientErrorsOf(posts), problems: leaks });
        process.stdout.write(
          `scale-out: ${posts.posted} deliveries of ${report.events} events (${report.services} services) accepted in ${acceptedMs} ms, all applied ${settledMs} ms later; statuses ${JSON.stringify(posts.statuses)}\n`,
        );
        expect(posts.posted).toBeGreaterThanOrEqual(Math.round(POSTS * 0.9));
        expect(posts.posted).toBeGreaterThan(report.events);
        expect(jobs).toBe(report.events);
        expect(report.problems.slice(0, 20)).toEqual([]);
        expect({ lost: report.lost, doubled: report.doubled, serverErrors: posts.serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
        expect(leaks).toEqual([]);
      } finally {
        await bridge.close();
      }
    }));
});

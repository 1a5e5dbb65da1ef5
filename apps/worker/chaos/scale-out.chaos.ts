import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, seedOf } from './support/summary';
import { deliverAll, planWorkload, type DeliverableEvent } from './support/workload';

const POSTS = pick(600, 5000);
const DUPLICATE_RATE = 0.5;

/**
 * 2 API + 3 worker processes, one Redis, one PostgreSQL, a burst of deliveries with duplicates. The
 * fault is the duplicate: each run must see duplicates accepted while the first copy's job was still
 * queued or running (its inbox row unfinished after the duplicate was answered), and one outcome per event.
 */
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
        // Read after the duplicate was answered: an unfinished row means it arrived while the first copy's job was in flight.
        const duplicatesWhile = { queued: 0, running: 0, finished: 0 };
        const onDuplicateAccepted = async (event: DeliverableEvent) => {
          const { rows } = await bridge.bridge.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
          const status = rows[0]?.status;
          if (status === 'queued' || status === 'received') duplicatesWhile.queued += 1;
          else if (status === 'running') duplicatesWhile.running += 1;
          else duplicatesWhile.finished += 1;
        };
        const started = Date.now();
        const posts = await deliverAll(() => bridge.liveApis().map((api) => api.url), plans, {
          seed,
          parallel: 48,
          duplicateRate: DUPLICATE_RATE,
          timeoutMs: 900_000,
          onDuplicateAccepted,
        });
        const acceptedMs = Date.now() - started;
        const { report, settledMs } = await settle(bridge, plans, 900_000);
        const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
        const jobs = (await bridge.bridge.query<{ n: number }>('SELECT count(DISTINCT job_id)::int AS n FROM webhook_inbox')).rows[0].n;
        const inFlightDuplicates = duplicatesWhile.queued + duplicatesWhile.running;
        tally.add(report, { ...clientErrorsOf(posts), interrupted: inFlightDuplicates, problems: leaks });
        process.stdout.write(
          `scale-out: ${posts.posted} deliveries of ${report.events} events (${report.services} services) accepted in ${acceptedMs} ms, all applied ${settledMs} ms later; statuses ${JSON.stringify(posts.statuses)}; ` +
            `duplicates accepted while the first copy's job was queued ${duplicatesWhile.queued}, running ${duplicatesWhile.running}, after it finished ${duplicatesWhile.finished}\n`,
        );
        expect(posts.posted).toBeGreaterThanOrEqual(Math.round(POSTS * 0.9));
        expect(posts.posted).toBeGreaterThan(report.events);
        expect(jobs).toBe(report.events);
        // The duplicates hit work in flight: some arrived before the first copy's job had finished.
        expect(inFlightDuplicates).toBeGreaterThan(0);
        expect(report.problems.slice(0, 20)).toEqual([]);
        expect({ lost: report.lost, doubled: report.doubled, serverErrors: posts.serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
        expect(leaks).toEqual([]);
      } finally {
        await bridge.close();
      }
    }));
});

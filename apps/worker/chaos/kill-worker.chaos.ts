import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { loadAware } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { WorkerKiller } from './support/worker-killer';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, planWorkload, seededRandom, type ServicePlan } from './support/workload';

const RUNS = runsOf(1, 20);
const EVENTS = pick(150, 1000, 120);
const KILLS_PER_RUN = pick(3, 6);

/** Events of the run not finished in the inbox yet (their jobs are queued or in flight). */
async function unfinished(bridge: ChaosBridge, plans: ServicePlan[]): Promise<number> {
  const ids = plans.flatMap((plan) => plan.events.map((event) => event.eventId));
  const { rows } = await bridge.bridge
    .query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_inbox WHERE status NOT IN ('succeeded', 'failed') AND event_id = ANY($1::uuid[])`, [ids])
    .catch(() => ({ rows: [{ n: 1 }] }));
  return rows[0].n;
}

/**
 * kill -9 of the worker that owns work in flight during a stream of create/suspend/unsuspend/terminate
 * events: the one that sent a directory-cache delete, killed before it is answered (after the FusionPBX
 * commit, before the bridge records success), or one holding an active job. A new worker is started
 * after each kill. Kills stop once the run's events are delivered and finished. Each run must show
 * jobs the kills interrupted that BullMQ found stalled and another worker ran again.
 */
describe('kill -9 of workers during provisioning', () => {
  const tally = new ScenarioTally('kill -9 worker', RUNS);
  afterAll(() => {
    const result = tally.record();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run);
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${EVENTS} events, every one applied exactly once`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const bridge = await ChaosBridge.start();
        const killer = new WorkerKiller(bridge, random, `run ${run + 1}`);
        try {
          await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const plans = planWorkload(seed, EVENTS, 100_000 + run * 10_000);
          let delivered = false;
          const delivery = deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 16 }).finally(() => {
            delivered = true;
          });
          await killer.killWhileBusy(KILLS_PER_RUN, async () => !delivered || (await unfinished(bridge, plans)) > 0, [300, 1500]);
          const tallyPosts = await delivery;
          await killer.idle();
          const { report, settledMs } = await settle(bridge, plans, loadAware(240_000));
          const hit = await killer.interruptions();
          const leaks = secretLeaks(bridge, [CHAOS_SECRETS.webhook, CHAOS_SECRETS.esl, CHAOS_SECRETS.servicePassword, CHAOS_SECRETS.admin]);
          tally.add(report, { kills: killer.kills, interrupted: hit.interrupted, ...clientErrorsOf(tallyPosts), problems: leaks });
          process.stdout.write(
            `run ${run + 1}: ${report.events} events, ${report.services} services, ${killer.kills} kills, ${hit.interrupted} jobs in flight interrupted, ` +
              `${hit.replayed} of them taken over and completed, settled in ${settledMs} ms, posts ${JSON.stringify(tallyPosts.statuses)}\n`,
          );
          for (const line of hit.unconfirmed) process.stdout.write(`run ${run + 1}: ${line}\n`);
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors: tallyPosts.serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
          expect(leaks).toEqual([]);
          expect(killer.kills).toBeGreaterThan(0);
          // A kill of the sender of an unanswered command always finds the job that sent it.
          expect(killer.records.filter((kill) => kill.kind === 'command' && kill.held.length === 0)).toEqual([]);
          expect(hit.interrupted).toBeGreaterThan(0);
          expect(hit.replayed).toBeGreaterThan(0);
        } finally {
          await killer.close();
          await bridge.close();
        }
      }));
  }
});

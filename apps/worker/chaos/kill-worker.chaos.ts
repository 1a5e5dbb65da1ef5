import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { sleep } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { WorkerKiller } from './support/worker-killer';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, planWorkload, seededRandom } from './support/workload';

const RUNS = runsOf(1, 20);
const EVENTS = pick(150, 1000, 120);
const KILLS_PER_RUN = pick(3, 6);

/**
 * kill -9 of a worker at random moments (on a timer, and right while it applies FreeSWITCH steps,
 * i.e. after the FusionPBX commit and before the bridge records success) during a stream of
 * create/suspend/unsuspend/terminate events; a new worker is started after each kill.
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
        try {
          await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const plans = planWorkload(seed, EVENTS, 100_000 + run * 10_000);
          const killer = new WorkerKiller(bridge, random, `run ${run + 1}`);
          const delivery = deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 16 });
          for (let k = 0; k < KILLS_PER_RUN; k += 1) {
            await sleep(500 + Math.floor(random() * 2500));
            if (random() < 0.5) killer.armForNextApply();
            else await killer.killOne('timer');
          }
          const tallyPosts = await delivery;
          await killer.idle();
          await sleep(500);
          const { report, settledMs } = await settle(bridge, plans, 240_000);
          const leaks = secretLeaks(bridge, [CHAOS_SECRETS.webhook, CHAOS_SECRETS.esl, CHAOS_SECRETS.servicePassword, CHAOS_SECRETS.admin]);
          tally.add(report, { kills: killer.kills, ...clientErrorsOf(tallyPosts), problems: leaks });
          process.stdout.write(
            `run ${run + 1}: ${report.events} events, ${report.services} services, ${killer.kills} kills, settled in ${settledMs} ms, posts ${JSON.stringify(tallyPosts.statuses)}\n`,
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors: tallyPosts.serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
          expect(leaks).toEqual([]);
          expect(killer.kills).toBeGreaterThan(0);
        } finally {
          await bridge.close();
        }
      }));
  }
});

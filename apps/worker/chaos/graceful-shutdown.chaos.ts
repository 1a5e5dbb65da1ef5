import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { InFlightJobs, workerName } from './support/in-flight';
import { loadAware, sleep, waitUntil } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, seedOf } from './support/summary';
import { deliverAll, planWorkload } from './support/workload';

const EVENTS = pick(100, 400);
const TERMS = pick(2, 5);
const DEADLINE_MS = 3000;

/**
 * SIGTERM to a busy worker (the event socket answers slowly so jobs are in flight): the process
 * exits within its shutdown deadline, having finished its jobs or handed them back, and every
 * event still ends applied once by the remaining/new workers. Each SIGTERM goes to a worker
 * holding active jobs; each of those jobs completes, by it while it closes or by another after.
 */
describe('graceful shutdown under load', () => {
  const tally = new ScenarioTally('SIGTERM under load', 1);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  const seed = seedOf(0) + 500;
  it(`${TERMS} SIGTERMs during ${EVENTS} events: each exits within the deadline, nothing lost`, () =>
    tally.run(async () => {
      const bridge = await ChaosBridge.start({ env: { SHUTDOWN_DEADLINE_MS: String(DEADLINE_MS) } });
      const inFlight = new InFlightJobs(bridge);
      try {
        await bridge.startApi();
        await Promise.all([bridge.startWorker(), bridge.startWorker()]);
        bridge.esl.replyDelayMs = 150;
        const plans = planWorkload(seed, EVENTS, 600_000);
        const delivery = deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 8 });
        const exits: { ms: number; code: number | null; signal: string | null; busy: number }[] = [];
        for (let t = 0; t < TERMS; t += 1) {
          await sleep(1500);
          // The victim is a worker holding active jobs, read just before the signal: the work SIGTERM hits.
          const { victim, busy } = await waitUntil(
            async () => {
              const active = await inFlight.active();
              const holder = bridge.liveWorkers().find((worker) => active.some((job) => job.processedBy === workerName(worker)));
              if (!holder) return null;
              const held = inFlight.record(active.filter((job) => job.processedBy === workerName(holder)));
              return { victim: holder, busy: held.length };
            },
            20000,
            'a worker holding jobs in flight',
          );
          const began = Date.now();
          const exit = await victim.terminate(DEADLINE_MS + 20000);
          exits.push({ ms: Date.now() - began, code: exit.code, signal: exit.signal, busy });
          await bridge.startWorker();
        }
        const posts = await delivery;
        bridge.esl.replyDelayMs = 0;
        const { report, settledMs } = await settle(bridge, plans, loadAware(180_000));
        const hit = await inFlight.fates();
        const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
        // The deadline covers jobs and closing connections; 2.5 s on top is for signal delivery and process exit
        // on a loaded machine. The process's own hard stop is deadline + 5 s.
        const late = exits.filter((exit) => exit.ms > DEADLINE_MS + 2500 || exit.code !== 0).map((exit) => `worker exit ${JSON.stringify(exit)}`);
        tally.add(report, { ...clientErrorsOf(posts), interrupted: exits.reduce((sum, exit) => sum + exit.busy, 0), problems: [...late, ...leaks] });
        process.stdout.write(
          `shutdown: exits ${JSON.stringify(exits)}; settled in ${settledMs} ms; ${hit.hit} jobs active in the signalled workers, ${hit.completed} completed ` +
            `(${hit.finishedByHolder} by the signalled worker while it closed, ${hit.completed - hit.finishedByHolder} by another after)\n`,
        );
        expect(late).toEqual([]);
        // Every SIGTERM hit jobs in flight, and each of them finished: completed once (BullMQ keeps one outcome per job).
        expect(exits.filter((exit) => exit.busy === 0)).toEqual([]);
        expect(hit.notCompleted).toEqual([]);
        expect(hit.completed).toBe(hit.hit);
        expect(report.problems.slice(0, 20)).toEqual([]);
        expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
        expect(leaks).toEqual([]);
      } finally {
        await inFlight.close();
        await bridge.close();
      }
    }));
});

import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { domainOf, settle } from './support/consistency';
import { InFlightJobs } from './support/in-flight';
import { loadAware, sleep, waitUntil } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, planWorkload, seededRandom } from './support/workload';

const RUNS = runsOf(1, 3);
const EVENTS = pick(100, 300);

/**
 * The event socket misbehaves in three ways in turn — drops the connection on a command, answers
 * slower than the client's timeout, answers -ERR — while events flow. FusionPBX work committed
 * before the FreeSWITCH step is kept (pending apply, never rolled back) and never done twice; the
 * apply is retried until FreeSWITCH takes it. Each run must catch provisioning jobs in flight
 * (applying) during the faults, and each of them completes.
 */
describe('event socket dropping, slow, -ERR', () => {
  const tally = new ScenarioTally('ESL drop / slow / -ERR', RUNS);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 300;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): database work kept and done once, apply retried`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const bridge = await ChaosBridge.start();
        const inFlight = new InFlightJobs(bridge);
        try {
          await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const plans = planWorkload(seed, EVENTS, 400_000 + run * 10_000);
          const delivery = deliverAll(() => bridge.liveApis().map((api) => api.url), plans, { seed, parallel: 8 });
          const seenPendingApply = new Set<string>();
          const committedWhilePending = new Set<string>();
          const backlogRetried = new Set<string>();
          const watchPending = async () => {
            const { rows } = await bridge.bridge.query<{ service_id: string }>(`SELECT DISTINCT service_id FROM webhook_inbox WHERE status = 'pending_apply'`);
            for (const row of rows) {
              seenPendingApply.add(row.service_id);
              const { rows: domains } = await bridge.fusion.query('SELECT 1 FROM v_domains WHERE domain_name = $1', [domainOf(Number(row.service_id))]);
              if (domains.length === 1) committedWhilePending.add(row.service_id);
            }
            // A backlog apply that the fault made fail (and that was tried again later).
            const { rows: failedApplies } = await bridge.bridge.query<{ service_id: string }>(`SELECT service_id FROM services WHERE (pending_apply->>'attempts')::int >= 1`);
            for (const row of failedApplies) backlogRetried.add(row.service_id);
          };
          const phases: [string, () => void][] = [
            [
              'dropping connections',
              () => {
                bridge.esl.dropWhen = (command) => command.startsWith('memcache delete') && random() < 0.5;
              },
            ],
            [
              'answering slowly (past the 1 s client timeout)',
              () => {
                bridge.esl.replyDelayMs = 1500;
              },
            ],
            ['answering -ERR', () => bridge.esl.fail(/^memcache delete/, 'memcache unavailable')],
          ];
          // Faults start once the workers are applying (the first jobs need a moment after start-up).
          await waitUntil(() => bridge.esl.apiCommands.some((command) => command.startsWith('memcache delete')), 60000, 'first FreeSWITCH apply');
          const hitPerPhase: number[] = [];
          for (const [name, start] of phases) {
            start();
            const before = bridge.esl.received.length;
            // The jobs in flight during the phase: each applies (or tries to) against the faulty socket.
            const phaseJobs = new Set<string>();
            process.stdout.write(`run ${run + 1}: ESL ${name}\n`);
            const until = Date.now() + 3000;
            while (Date.now() < until) {
              for (const job of await inFlight.sample()) phaseJobs.add(`${job.queue}/${job.id}`);
              await watchPending();
              await sleep(200);
            }
            hitPerPhase.push(phaseJobs.size);
            process.stdout.write(
              `run ${run + 1}: ${bridge.esl.received.length - before} commands received during the fault, ${phaseJobs.size} jobs in flight, ${seenPendingApply.size} services seen pending apply so far\n`,
            );
            bridge.esl.dropWhen = null;
            bridge.esl.replyDelayMs = 0;
            bridge.esl.failures.length = 0;
            await sleep(300);
          }
          const posts = await delivery;
          const { report, settledMs } = await settle(bridge, plans, loadAware(180_000));
          // "Not repeated": a create-only tenant was written by exactly one FusionPBX transaction.
          const createOnly = plans.filter((plan) => plan.events.length === 1).map((plan) => domainOf(plan.serviceId));
          const { rows: writers } = await bridge.fusion.query<{ domain_name: string; transactions: number }>(
            `SELECT d.domain_name, count(DISTINCT x.xmin::text)::int AS transactions FROM v_domains d
           JOIN LATERAL (
             SELECT d.xmin UNION ALL SELECT e.xmin FROM v_extensions e WHERE e.domain_uuid = d.domain_uuid
             UNION ALL SELECT v.xmin FROM v_voicemails v WHERE v.domain_uuid = d.domain_uuid
             UNION ALL SELECT u.xmin FROM v_users u WHERE u.domain_uuid = d.domain_uuid
             UNION ALL SELECT s.xmin FROM v_domain_settings s WHERE s.domain_uuid = d.domain_uuid
           ) x ON true
           WHERE d.domain_name = ANY($1) GROUP BY d.domain_name`,
            [createOnly],
          );
          const rewritten = writers.filter((w) => w.transactions !== 1).map((w) => `${w.domain_name}: written by ${w.transactions} transactions`);
          const hit = await inFlight.fates();
          const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
          // Events never retry for FreeSWITCH (their database side is done once); their service's backlog does.
          const retried = backlogRetried.size;
          tally.add(report, { ...clientErrorsOf(posts), interrupted: hit.hit, problems: [...rewritten, ...leaks] });
          process.stdout.write(
            `run ${run + 1}: settled in ${settledMs} ms; ${seenPendingApply.size} services seen pending apply (${committedWhilePending.size} with their FusionPBX rows present); ${retried} services' FreeSWITCH backlog failed an apply and was applied later; ` +
              `${hit.hit} jobs in flight during the faults (per phase ${hitPerPhase.join(', ')}), ${hit.completed} completed\n`,
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
          expect(rewritten).toEqual([]);
          expect(writers).toHaveLength(createOnly.length);
          // The faults bit: some events went through "FusionPBX committed, FreeSWITCH pending" and recovered.
          expect(seenPendingApply.size).toBeGreaterThan(0);
          expect(retried).toBeGreaterThan(0);
          expect(committedWhilePending.size).toBeGreaterThan(0);
          // Every phase hit jobs in flight, and each job hit completed.
          expect(phases.filter((_, i) => hitPerPhase[i] === 0).map(([name]) => `no job in flight while ${name}`)).toEqual([]);
          expect(hit.notCompleted).toEqual([]);
          expect(leaks).toEqual([]);
        } finally {
          await inFlight.close();
          await bridge.close();
        }
      }));
  }
});

import { randomUUID } from 'node:crypto';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { InFlightJobs } from './support/in-flight';
import { PrivatePostgres } from './support/private-services';
import { loadAware, sleep } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, emptyTally, planWorkload, postSigned, seededRandom } from './support/workload';

const RUNS = runsOf(1, 3);
const EVENTS = pick(120, 400);

/**
 * PostgreSQL (bridge + FusionPBX databases on a private cluster) restarted mid-run with pg_ctl:
 * jobs retry and finish, and the API answers 503 with Retry-After meanwhile, never 500. Each run
 * must catch jobs active when the database goes down (or while it is down), and each of them completes.
 */
describe('PostgreSQL restarted mid-run', () => {
  const tally = new ScenarioTally('PostgreSQL restart', RUNS);
  let pg: PrivatePostgres;
  beforeAll(async () => {
    pg = await PrivatePostgres.start();
  });
  afterAll(async () => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
    await pg.stop();
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 200;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): jobs finish, the API answers 503 while the database is down`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const bridge = await ChaosBridge.start({ pgAdminUrl: pg.adminUrl });
        const inFlight = new InFlightJobs(bridge);
        try {
          const api = await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const plans = planWorkload(seed, EVENTS, 300_000 + run * 10_000);
          const posts = emptyTally();
          const delivery = deliverAll(() => bridge.liveApis().map((a) => a.url), plans, { seed, parallel: 8, tally: posts });
          await sleep(1500 + Math.floor(random() * 1500));
          // While the server is down: probes of the webhook (a fresh, valid event) and of /readyz.
          const probes = { webhook: emptyTally(), readyz: {} as Record<string, number>, webhookRetryAfter: 0 };
          let probing = true;
          const prober = (async () => {
            while (probing) {
              const body = JSON.stringify({
                schemaVersion: 1,
                eventId: randomUUID(),
                action: 'test_connection',
                occurredAt: new Date().toISOString(),
                service: { id: 0 },
                client: { id: 0 },
              });
              await postSigned(api.url, body, probes.webhook);
              const ready = await fetch(`${api.url}/readyz`).catch(() => null);
              if (ready) probes.readyz[ready.status] = (probes.readyz[ready.status] ?? 0) + 1;
              await sleep(100);
            }
          })();
          // The work the stop hits: jobs active (BullMQ, in Redis) right before pg_ctl stop and while the database is down,
          // and deliveries unanswered at the stop.
          const jobsAtStop = (await inFlight.sample()).length;
          const requestsAtStop = posts.inFlight ?? 0;
          await pg.down();
          const downUntil = Date.now() + 3000;
          while (Date.now() < downUntil) {
            await inFlight.sample();
            await sleep(200);
          }
          await pg.up();
          process.stdout.write(
            `run ${run + 1}: PostgreSQL restarted (down 3 s); at the stop ${jobsAtStop} jobs active and ${requestsAtStop} deliveries unanswered, ${inFlight.seen.size} jobs active at the stop or while down\n`,
          );
          probing = false;
          await prober;
          await delivery;
          const { report, settledMs } = await settle(bridge, plans, loadAware(180_000));
          const hit = await inFlight.fates();
          const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
          const serverErrors = posts.serverErrors + probes.webhook.serverErrors + (probes.readyz['500'] ?? 0);
          const clientErrors = clientErrorsOf(posts, probes.webhook);
          tally.add(report, { ...clientErrors, unavailable: clientErrors.unavailable + (probes.readyz['503'] ?? 0), serverErrors, interrupted: hit.hit, problems: leaks });
          process.stdout.write(
            `run ${run + 1}: settled in ${settledMs} ms; posts ${JSON.stringify(posts.statuses)}; probes while down ${JSON.stringify(probes.webhook.statuses)}; readyz ${JSON.stringify(probes.readyz)}; ` +
              `${hit.hit} jobs hit in flight, ${hit.completed} completed (${hit.startedAgain} of them started again)\n`,
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
          // The outage was seen, and answered the contract's way.
          expect(probes.webhook.statuses['503'] ?? 0).toBeGreaterThan(0);
          expect(probes.readyz['503'] ?? 0).toBeGreaterThan(0);
          // The restart hit work in flight, and that work was completed afterwards.
          expect(hit.hit).toBeGreaterThan(0);
          expect(hit.notCompleted).toEqual([]);
          expect(leaks).toEqual([]);
          expect(bridge.liveApis()).toHaveLength(1);
          expect(bridge.liveWorkers()).toHaveLength(2);
        } finally {
          await inFlight.close();
          await bridge.close();
        }
      }));
  }
});

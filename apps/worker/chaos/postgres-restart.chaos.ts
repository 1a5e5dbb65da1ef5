import { randomUUID } from 'node:crypto';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { PrivatePostgres } from './support/private-services';
import { sleep } from './support/processes';
import { clientErrorsOf, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { deliverAll, emptyTally, planWorkload, postSigned, seededRandom } from './support/workload';

const RUNS = runsOf(1, 3);
const EVENTS = pick(120, 400);

/**
 * PostgreSQL (bridge + FusionPBX databases on a private cluster) restarted mid-run with pg_ctl:
 * jobs retry and finish, and the API answers 503 with Retry-After meanwhile, never 500.
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
          await pg.restart(3000);
          process.stdout.write(`run ${run + 1}: PostgreSQL restarted (down 3 s)\n`);
          probing = false;
          await prober;
          await delivery;
          const { report, settledMs } = await settle(bridge, plans, 180_000);
          const leaks = secretLeaks(bridge, Object.values(CHAOS_SECRETS));
          const serverErrors = posts.serverErrors + probes.webhook.serverErrors + (probes.readyz['500'] ?? 0);
          const clientErrors = clientErrorsOf(posts, probes.webhook);
          tally.add(report, { ...clientErrors, unavailable: clientErrors.unavailable + (probes.readyz['503'] ?? 0), serverErrors, problems: leaks });
          process.stdout.write(
            `run ${run + 1}: settled in ${settledMs} ms; posts ${JSON.stringify(posts.statuses)}; probes while down ${JSON.stringify(probes.webhook.statuses)}; readyz ${JSON.stringify(probes.readyz)}\n`,
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0 });
          // The outage was seen, and answered the contract's way.
          expect(probes.webhook.statuses['503'] ?? 0).toBeGreaterThan(0);
          expect(probes.readyz['503'] ?? 0).toBeGreaterThan(0);
          expect(leaks).toEqual([]);
          expect(bridge.liveApis()).toHaveLength(1);
          expect(bridge.liveWorkers()).toHaveLength(2);
        } finally {
          await bridge.close();
        }
      }));
  }
});

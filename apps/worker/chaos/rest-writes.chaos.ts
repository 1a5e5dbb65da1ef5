import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { domainOf } from './support/consistency';
import { sleep, waitUntil } from './support/processes';
import { emptyClientTally, sendUntilDone, type RestWrite } from './support/rest-client';
import { ScenarioTally, secretLeaks } from './support/run-scenario';
import { WorkerKiller } from './support/worker-killer';
import { pick, runsOf, seedOf } from './support/summary';
import { seededRandom } from './support/workload';

const RUNS = runsOf(1, 5);
const TENANTS = pick(4, 10);
const WRITES_PER_TENANT = pick(30, 60);
const KILLS_PER_RUN = pick(4, 10);

type PlannedWrite = RestWrite<TenantModel>;

interface TenantModel {
  extensions: Map<string, { description: string | null; password: string | null }>;
  gateways: Map<string, string>;
}

/**
 * A client's script for one tenant, drawn from the seed: creates, changes and deletes extensions,
 * creates and deletes gateways. Every step is valid when the steps before it were applied.
 */
function planTenant(random: () => number, count: number): PlannedWrite[] {
  const writes: PlannedWrite[] = [];
  const live: string[] = [];
  const gateways: string[] = [];
  let nextExtension = 200;
  let nextGateway = 1;
  for (let i = 0; i < count; i += 1) {
    const roll = random();
    if (live.length === 0 || roll < 0.35) {
      const extension = String(nextExtension++);
      live.push(extension);
      writes.push({
        method: 'POST',
        path: () => '/extensions',
        body: { extension, callerIdName: `Caller ${extension}` },
        expect: [201],
        apply: (model, answer) => void model.extensions.set(extension, { description: null, password: answer.password as string }),
      });
    } else if (roll < 0.65) {
      const extension = live[Math.floor(random() * live.length)];
      const description = `desk ${i}`;
      writes.push({
        method: 'PUT',
        path: () => `/extensions/${extension}`,
        body: { description },
        expect: [200],
        apply: (model) => void (model.extensions.get(extension)!.description = description),
      });
    } else if (roll < 0.8) {
      const extension = live.splice(Math.floor(random() * live.length), 1)[0];
      writes.push({ method: 'DELETE', path: () => `/extensions/${extension}`, expect: [204], apply: (model) => void model.extensions.delete(extension) });
    } else if (gateways.length === 0 || roll < 0.92) {
      const name = `carrier-${nextGateway++}`;
      gateways.push(name);
      writes.push({
        method: 'POST',
        path: () => '/gateways',
        body: { name, proxy: `sip.${name}.example`, register: false },
        expect: [201],
        apply: (model, answer) => void model.gateways.set(name, (answer.gateway as { gatewayUuid: string }).gatewayUuid),
      });
    } else {
      const name = gateways.splice(Math.floor(random() * gateways.length), 1)[0];
      writes.push({ method: 'DELETE', path: (model) => `/gateways/${model.gateways.get(name)}`, expect: [204], apply: (model) => void model.gateways.delete(name) });
    }
  }
  return writes;
}

interface StateReport {
  lost: number;
  doubled: number;
  problems: string[];
}

/** FusionPBX against each tenant's model: every extension once, with its description and answered password; gateways by name. */
async function compare(bridge: ChaosBridge, models: Map<number, TenantModel>): Promise<StateReport> {
  const report: StateReport = { lost: 0, doubled: 0, problems: [] };
  for (const [serviceId, model] of models) {
    const domain = domainOf(serviceId);
    const extensions = (
      await bridge.fusion.query<{ extension: string; description: string | null; password: string; n: number }>(
        `SELECT e.extension, max(e.description) AS description, max(e.password) AS password, count(*)::int AS n
         FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND e.extension <> '100' GROUP BY e.extension`,
        [domain],
      )
    ).rows;
    const found = new Map(extensions.map((row) => [row.extension, row]));
    for (const row of extensions) {
      if (row.n > 1) {
        report.doubled += 1;
        report.problems.push(`${domain}: extension ${row.extension} ${row.n} times`);
      }
      if (!model.extensions.has(row.extension)) {
        report.doubled += 1;
        report.problems.push(`${domain}: extension ${row.extension} exists, deleted (or never created) by the client`);
      }
    }
    for (const [extension, want] of model.extensions) {
      const row = found.get(extension);
      if (!row) {
        report.lost += 1;
        report.problems.push(`${domain}: extension ${extension} missing`);
        continue;
      }
      if (row.description !== want.description) {
        report.lost += 1;
        report.problems.push(`${domain}: extension ${extension} description ${row.description}, the client was told ${want.description}`);
      }
      if (row.password !== want.password) {
        report.lost += 1;
        report.problems.push(`${domain}: extension ${extension} has another password than the one answered`);
      }
    }
    const gateways = (
      await bridge.fusion.query<{ gateway: string; n: number }>(
        'SELECT g.gateway, count(*)::int AS n FROM v_gateways g JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 GROUP BY g.gateway',
        [domain],
      )
    ).rows;
    const names = new Set(gateways.map((row) => row.gateway));
    for (const row of gateways) {
      if (row.n > 1 || !model.gateways.has(row.gateway)) {
        report.doubled += 1;
        report.problems.push(`${domain}: gateway ${row.gateway} ×${row.n}, client model has it: ${model.gateways.has(row.gateway)}`);
      }
    }
    for (const name of model.gateways.keys())
      if (!names.has(name)) {
        report.lost += 1;
        report.problems.push(`${domain}: gateway ${name} missing`);
      }
  }
  const unfinished = (
    await bridge.bridge.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM tenant_writes WHERE status NOT IN ('succeeded') GROUP BY status")
  ).rows;
  for (const row of unfinished) report.problems.push(`${row.n} writes ${row.status} in tenant_writes`);
  return report;
}

/**
 * kill -9 of the worker that owns work in flight — the one sending a write's FreeSWITCH side, killed
 * before the event socket answers (after its FusionPBX commit, before its answer is stored), or one
 * holding an active job — while one client per tenant sends a stream of REST writes and repeats each
 * until it has its final answer. Each run must show jobs the kills interrupted that were run again.
 */
describe('kill -9 of workers during REST writes', () => {
  const tally = new ScenarioTally('kill -9 worker, REST writes', RUNS);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run);
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${TENANTS} tenants × ${WRITES_PER_TENANT} writes, each applied once with the answer the client got`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const bridge = await ChaosBridge.start({ env: { API_WRITE_WAIT_MS: '2000' } });
        const killer = new WorkerKiller(bridge, random, `run ${run + 1}`);
        try {
          const api = await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          const serviceIds = Array.from({ length: TENANTS }, (_, i) => 700_000 + run * 1000 + i);
          for (const serviceId of serviceIds) {
            const event = buildEvent({ serviceId, plan: { maxExtensions: 1, firstExtension: 100 } });
            const reply = await postWebhook(api.url, JSON.stringify(event), { query: '?wait=20', secret: CHAOS_SECRETS.webhook });
            if (reply.body.result !== 'success') throw new Error(`create ${serviceId}: ${JSON.stringify(reply.body)}`);
          }
          // Room for the client's extensions and gateways: the REST quota is the stored plan's.
          await bridge.bridge.query(`UPDATE services SET plan = plan || '{"maxExtensions": 500, "maxGateways": 100}'::jsonb WHERE service_id = ANY($1)`, [serviceIds]);
          const clientTally = emptyClientTally();
          const models = new Map<number, TenantModel>();
          const clients = serviceIds.map(async (serviceId) => {
            const model: TenantModel = { extensions: new Map(), gateways: new Map() };
            models.set(serviceId, model);
            const writes = planTenant(seededRandom(seed * 7919 + serviceId), WRITES_PER_TENANT);
            const pace = seededRandom(seed + serviceId);
            for (const [index, write] of writes.entries()) {
              await sendUntilDone(api.url, serviceId, write, model, `chaos-${seed}-${serviceId}-${index}`, clientTally);
              // A person at a portal, not a loop: the kills land among the writes, not after them.
              await sleep(Math.floor(pace() * 150));
            }
          });
          let clientsDone = false;
          const allClients = Promise.all(clients).finally(() => {
            clientsDone = true;
          });
          // Kills only while the clients still write: the work in flight is theirs.
          await killer.killWhileBusy(KILLS_PER_RUN, async () => !clientsDone, [200, 1200]);
          await allClients;
          await killer.idle();
          await waitUntil(
            async () => (await bridge.bridge.query("SELECT 1 FROM tenant_writes WHERE status IN ('queued', 'running') LIMIT 1")).rows.length === 0,
            60_000,
            'every write finished',
          );
          const state = await compare(bridge, models);
          const passwords = [...models.values()].flatMap((model) => [...model.extensions.values()].map((e) => e.password).filter((p): p is string => !!p));
          const leaks = secretLeaks(bridge, [CHAOS_SECRETS.webhook, CHAOS_SECRETS.esl, CHAOS_SECRETS.admin, ...passwords]);
          const events = TENANTS * WRITES_PER_TENANT;
          const hit = await killer.interruptions();
          tally.add(
            { events, services: TENANTS, lost: state.lost, doubled: state.doubled, problems: [...state.problems, ...clientTally.problems] },
            {
              kills: killer.kills,
              interrupted: hit.interrupted,
              serverErrors: clientTally.serverErrors,
              unavailable: clientTally.unavailable,
              networkErrors: clientTally.networkErrors,
              problems: leaks,
            },
          );
          const rerunWrites = (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_writes WHERE attempts > 1')).rows[0].n;
          process.stdout.write(
            `run ${run + 1}: ${events} writes, ${killer.kills} kills, ${hit.interrupted} jobs in flight interrupted, ${hit.replayed} of them taken over and completed, ` +
              `${rerunWrites} tenant_writes rows run more than once, ${clientTally.repeats} repeats of a pending or 503 answer\n`,
          );
          for (const line of hit.unconfirmed) process.stdout.write(`run ${run + 1}: ${line}\n`);
          expect([...state.problems, ...clientTally.problems].slice(0, 20)).toEqual([]);
          expect({ lost: state.lost, doubled: state.doubled, serverErrors: clientTally.serverErrors, answered: clientTally.writes }).toEqual({
            lost: 0,
            doubled: 0,
            serverErrors: 0,
            answered: events,
          });
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

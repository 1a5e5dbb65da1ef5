import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { checkInbox, domainOf } from './support/consistency';
import { loadAware, sleep, waitUntil } from './support/processes';
import { emptyClientTally, sendUntilDone, type RestWrite } from './support/rest-client';
import { ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { WorkerKiller } from './support/worker-killer';
import { deliverAll, seededRandom, seededUuid, type DeliverableEvent } from './support/workload';

const RUNS = runsOf(1, 3);
const TENANTS = pick(6, 16);
/** change_package events after each create. */
const CHANGES = pick(2, 3);
const REST_WRITES = pick(10, 24);
/** Numbers of a shared pool every tenant's client tries to add: exactly one may get each. */
const CONTESTED = pick(4, 10);
const KILLS_PER_RUN = pick(4, 10);
const ROUTE_APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';
const ROUTE_TEMPLATES = {
  uk: [{ pattern: '^(0[1-9]\\d{8,9})$' }, { pattern: '^(00\\d{9,17})$', tollAllow: 'international' }, { pattern: '^(999|112)$' }],
  us: [{ pattern: '^(1?[2-9]\\d{9})$' }, { pattern: '^(011\\d{9,17})$', tollAllow: 'international' }],
  none: [],
} as const;
type RouteTemplate = keyof typeof ROUTE_TEMPLATES;
const TEMPLATE_NAMES = Object.keys(ROUTE_TEMPLATES) as RouteTemplate[];

/** National US numbers, 555 + three digits of the tenant's index + four: plan numbers 0xxx, REST numbers 5xxx; the shared pool is tenant 999. */
const number = (tenant: number, n: number) => `555${String(tenant).padStart(3, '0')}${String(n).padStart(4, '0')}`;

interface TenantPlan {
  serviceId: number;
  index: number;
  events: DeliverableEvent[];
  /** The last event's DIDs and route template: what FusionPBX must hold once every event is applied. */
  dids: string[];
  template: RouteTemplate;
}

/** What one tenant's REST client was told: its own numbers (with the action it set) and the shared ones it won or lost. */
interface NumbersModel {
  numbers: Map<string, string>;
  won: Set<string>;
  lost: Set<string>;
}

function planOf(dids: readonly string[], template: RouteTemplate): Record<string, unknown> {
  return {
    maxExtensions: 2,
    firstExtension: 100,
    countryCode: '1',
    dids,
    maxDestinations: 60,
    gatewayTemplate: 'carrier-a',
    ...(template === 'none' ? {} : { routeTemplate: template }),
  };
}

function eventOf(random: () => number, serviceId: number, action: 'create' | 'change_package', dids: readonly string[], template: RouteTemplate): DeliverableEvent {
  const event = buildEvent({ serviceId, action, eventId: seededUuid(random), plan: planOf(dids, template) });
  if (action === 'create') event.secrets = { servicePassword: CHAOS_SECRETS.servicePassword };
  else delete event.secrets;
  return { serviceId, action, eventId: String(event.eventId), body: JSON.stringify(event) };
}

/** A create with 1–3 DIDs and a route template, then CHANGES change_packages each moving DIDs in and out and switching the template. */
function planTenant(random: () => number, serviceId: number, index: number): TenantPlan {
  const pickDids = () => [0, 1, 2, 3, 4, 5].filter(() => random() < 0.4).map((n) => number(index, n));
  const pickTemplate = () => TEMPLATE_NAMES[Math.floor(random() * TEMPLATE_NAMES.length)]!;
  let dids = pickDids();
  if (dids.length === 0) dids = [number(index, 0)];
  let template = pickTemplate();
  const events = [eventOf(random, serviceId, 'create', dids, template)];
  for (let c = 0; c < CHANGES; c += 1) {
    dids = pickDids();
    template = pickTemplate();
    events.push(eventOf(random, serviceId, 'change_package', dids, template));
  }
  return { serviceId, index, events, dids, template };
}

const ACTIONS = [
  { body: { type: 'voicemail', target: '101' }, data: (domain: string) => `*99101 XML ${domain}` },
  { body: { type: 'extension', target: '101' }, data: (domain: string) => `101 XML ${domain}` },
] as const;
const defaultAction = (domain: string) => `100 XML ${domain}`;

/** The tenant's REST script: adds, changes and removes numbers of its own REST range, and tries to add some of the shared pool. */
function restScript(random: () => number, index: number): RestWrite<NumbersModel>[] {
  const writes: RestWrite<NumbersModel>[] = [];
  const live: string[] = [];
  let next = 5000;
  const contested = [...Array(CONTESTED).keys()].filter(() => random() < 0.5).map((n) => number(999, n));
  for (let i = 0; i < REST_WRITES; i += 1) {
    const roll = random();
    if (contested.length > 0 && roll < 0.2) {
      const shared = contested.shift()!;
      writes.push({
        method: 'POST',
        path: () => '/destinations',
        body: { number: shared },
        expect: [201, 409],
        apply: (model, answer, status) => {
          if (status === 409 && (answer.error as { code?: string } | undefined)?.code === 'NUMBER_TAKEN') model.lost.add(shared);
          else if (status !== 409) model.won.add(shared);
        },
      });
    } else if (live.length === 0 || roll < 0.55) {
      const own = number(index, next++);
      live.push(own);
      writes.push({ method: 'POST', path: () => '/destinations', body: { number: own }, expect: [201], apply: (model) => void model.numbers.set(own, 'default') });
    } else if (roll < 0.8) {
      const own = live[Math.floor(random() * live.length)]!;
      const action = Math.floor(random() * ACTIONS.length);
      writes.push({
        method: 'PUT',
        path: () => `/destinations/${own}`,
        body: { action: ACTIONS[action]!.body },
        expect: [200],
        apply: (model) => void model.numbers.set(own, String(action)),
      });
    } else {
      const own = live.splice(Math.floor(random() * live.length), 1)[0]!;
      writes.push({ method: 'DELETE', path: () => `/destinations/${own}`, expect: [204], apply: (model) => void model.numbers.delete(own) });
    }
  }
  return writes;
}

/**
 * Numbers and routes under kill -9: WHMCS creates tenants with DIDs and an outbound route template,
 * then change_package events move DIDs in and out and switch the template, while one REST client per
 * tenant adds, changes and removes its own numbers and races the other clients for a shared pool.
 * Workers are killed with -9 while they hold that work: the sender of a dialplan or directory cache
 * delete before the event socket answers (after the FusionPBX commit), or a holder of an active job.
 * End state: v_destinations, their public dialplans and the outbound routes are exactly what the last
 * event and the answers the clients got say, and no number is in two tenants.
 */
describe('numbers and routes with kill -9 of workers', () => {
  const tally = new ScenarioTally('numbers and routes: kill -9', RUNS);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 1300;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${TENANTS} tenants × ${1 + CHANGES} events and ${REST_WRITES} number writes, FusionPBX equals the plan`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const dir = mkdtempSync(join(tmpdir(), 'ictvoip-chaos-routes-'));
        const provisioning = join(dir, 'provisioning.json');
        const routeTemplates = Object.fromEntries(Object.entries(ROUTE_TEMPLATES).filter(([name]) => name !== 'none'));
        writeFileSync(
          provisioning,
          JSON.stringify({ gatewayTemplates: { 'carrier-a': { proxy: 'sip.carrier-a.example', register: true, username: 'acme', password: 'change-me' } }, routeTemplates }),
        );
        const bridge = await ChaosBridge.start({ env: { PROVISIONING_FILE: provisioning, API_WRITE_WAIT_MS: '2000' } });
        const killer = new WorkerKiller(bridge, random, `numbers run ${run + 1}`, [QUEUE_NAMES.provisioning, QUEUE_NAMES.tenantWrites], /^memcache delete (directory|dialplan):/);
        try {
          const api = await bridge.startApi();
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          // What each route template leaves, from control tenants made before any fault.
          const routesOf = await controlRoutes(bridge, api.url, run);
          const tenants = Array.from({ length: TENANTS }, (_, index) => planTenant(random, 730_000 + run * 1000 + index, index));
          let eventsDone = false;
          const delivery = deliverAll(() => bridge.liveApis().map((app) => app.url), tenants, { seed, parallel: 4, timeoutMs: loadAware(300_000) });
          const clientTally = emptyClientTally();
          const models = new Map<number, NumbersModel>();
          const clients = tenants.map(async (tenant) => {
            const model: NumbersModel = { numbers: new Map(), won: new Set(), lost: new Set() };
            models.set(tenant.serviceId, model);
            await waitUntil(() => createApplied(bridge, tenant.events[0]!), loadAware(240_000), `the create of ${tenant.serviceId}`, 250).catch(async (error: Error) => {
              const inbox = (await bridge.bridge.query('SELECT event_id, action, status, attempts, last_error FROM webhook_inbox WHERE service_id = $1', [tenant.serviceId])).rows;
              process.stdout.write(`numbers run ${run + 1}: ${error.message}; inbox ${JSON.stringify(inbox)}\n`);
              throw error;
            });
            const pace = seededRandom(seed * 31 + tenant.index);
            for (const [index, write] of restScript(seededRandom(seed * 7919 + tenant.index), tenant.index).entries()) {
              await sendUntilDone(api.url, tenant.serviceId, write, model, `numbers-${seed}-${tenant.serviceId}-${index}`, clientTally);
              await sleep(Math.floor(pace() * 150));
            }
          });
          const events = tenants.flatMap((tenant) => tenant.events);
          const finished = Promise.all([delivery, waitUntil(() => allFinished(bridge, events), loadAware(300_000), 'every event finished', 250), ...clients]).finally(() => {
            eventsDone = true;
          });
          // Kills only while events or client writes are in flight: the work the kills hit is theirs.
          await killer.killWhileBusy(KILLS_PER_RUN, async () => !eventsDone, [300, 1500]);
          const [posts] = await finished;
          await killer.idle();
          await waitUntil(
            async () => (await bridge.bridge.query("SELECT 1 FROM tenant_writes WHERE status IN ('queued', 'running') LIMIT 1")).rows.length === 0,
            loadAware(60_000),
            'every write finished',
          );
          const inbox = await checkInbox(bridge, [...events, ...controlEvents]);
          const state = await compareNumbers(bridge, tenants, models, routesOf);
          const hit = await killer.interruptions();
          const leaks = secretLeaks(bridge, [CHAOS_SECRETS.webhook, CHAOS_SECRETS.esl, CHAOS_SECRETS.admin, CHAOS_SECRETS.servicePassword]);
          const problems = [...inbox.problems, ...state.problems, ...clientTally.problems];
          tally.add(
            { events: events.length + tenants.length * REST_WRITES, services: TENANTS, lost: inbox.lost + state.lost, doubled: inbox.doubled + state.doubled, problems },
            {
              kills: killer.kills,
              interrupted: hit.interrupted,
              serverErrors: posts.serverErrors + clientTally.serverErrors,
              unavailable: (posts.statuses['503'] ?? 0) + clientTally.unavailable,
              networkErrors: posts.networkErrors + clientTally.networkErrors,
              problems: leaks,
            },
          );
          const rerun = (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_writes WHERE attempts > 1')).rows[0]!.n;
          const won = [...models.values()].reduce((sum, model) => sum + model.won.size, 0);
          const refused = [...models.values()].reduce((sum, model) => sum + model.lost.size, 0);
          process.stdout.write(
            `numbers run ${run + 1}: ${events.length} events, ${clientTally.writes} number writes (${clientTally.repeats} repeats), shared numbers ${won} won / ${refused} refused NUMBER_TAKEN, ` +
              `${killer.kills} kills (${killer.records.filter((kill) => kill.kind === 'command').length} on an unanswered cache delete), ${hit.interrupted} jobs in flight interrupted, ` +
              `${hit.replayed} run again to completion, ${rerun} tenant_writes rows run more than once\n`,
          );
          for (const line of hit.unconfirmed) process.stdout.write(`numbers run ${run + 1}: ${line}\n`);
          expect(problems.slice(0, 20)).toEqual([]);
          expect({ lost: inbox.lost + state.lost, doubled: inbox.doubled + state.doubled, serverErrors: posts.serverErrors + clientTally.serverErrors }).toEqual({
            lost: 0,
            doubled: 0,
            serverErrors: 0,
          });
          expect(leaks).toEqual([]);
          expect(killer.kills).toBeGreaterThan(0);
          expect(killer.records.filter((kill) => kill.kind === 'command' && kill.held.length === 0)).toEqual([]);
          expect(hit.interrupted).toBeGreaterThan(0);
          expect(hit.replayed).toBeGreaterThan(0);
          // The race for the shared pool happened: someone won a number another client also asked for.
          expect(won).toBeGreaterThan(0);
        } finally {
          await killer.close();
          await bridge.close();
        }
      }));
  }
});

/** The control tenants' events (part of the inbox check). */
const controlEvents: DeliverableEvent[] = [];

/** Per template, the outbound route names FusionPBX got for a tenant created with it before any fault. */
async function controlRoutes(bridge: ChaosBridge, apiUrl: string, run: number): Promise<Map<RouteTemplate, string[]>> {
  controlEvents.length = 0;
  const routes = new Map<RouteTemplate, string[]>();
  for (const [index, template] of TEMPLATE_NAMES.entries()) {
    const serviceId = 739_000 + run * 100 + index;
    const event = eventOf(seededRandom(serviceId), serviceId, 'create', [], template);
    const reply = await postWebhook(apiUrl, event.body, { query: '?wait=20', secret: CHAOS_SECRETS.webhook });
    if (reply.body.result !== 'success' && reply.body.result !== 'pending') throw new Error(`control tenant ${template}: ${JSON.stringify(reply.body)}`);
    // A loaded box can take longer than the webhook's wait: the inbox says when it is done.
    await waitUntil(() => createApplied(bridge, event), loadAware(240_000), `control tenant ${template}`, 250);
    controlEvents.push(event);
    routes.set(
      template,
      (await routeNames(bridge, domainOf(serviceId))).map((name) => name.replace(domainOf(serviceId), '<domain>')),
    );
  }
  return routes;
}

async function routeNames(bridge: ChaosBridge, domain: string): Promise<string[]> {
  const { rows } = await bridge.fusion.query<{ dialplan_name: string }>(
    'SELECT dialplan_name FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.app_uuid = $2 ORDER BY 1',
    [domain, ROUTE_APP_UUID],
  );
  return rows.map((row) => row.dialplan_name);
}

/** The tenant is in FusionPBX: the create succeeded, or only its FreeSWITCH side waits (`pending_apply`, slow event socket). */
async function createApplied(bridge: ChaosBridge, create: DeliverableEvent): Promise<boolean> {
  const { rows } = await bridge.bridge.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [create.eventId]);
  return rows[0]?.status === 'succeeded' || rows[0]?.status === 'pending_apply';
}

async function allFinished(bridge: ChaosBridge, events: readonly DeliverableEvent[]): Promise<boolean> {
  const { rows } = await bridge.bridge.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_inbox WHERE status IN ('succeeded', 'failed') AND event_id = ANY($1::uuid[])`, [
    events.map((event) => event.eventId),
  ]);
  return rows[0]!.n === events.length;
}

interface NumbersReport {
  lost: number;
  doubled: number;
  problems: string[];
}

/**
 * FusionPBX against the plan: per tenant, v_destinations holds exactly the last event's DIDs and the
 * numbers its client was told it has (with the action it set), each with its own public dialplan and
 * no other public dialplan; its outbound routes are the last template's; each shared number is in
 * exactly the tenant whose client got 201 for it; no number is in two tenants.
 */
async function compareNumbers(
  bridge: ChaosBridge,
  tenants: readonly TenantPlan[],
  models: ReadonlyMap<number, NumbersModel>,
  routesOf: ReadonlyMap<RouteTemplate, string[]>,
): Promise<NumbersReport> {
  const report: NumbersReport = { lost: 0, doubled: 0, problems: [] };
  for (const tenant of tenants) {
    const domain = domainOf(tenant.serviceId);
    const model = models.get(tenant.serviceId)!;
    const where = `service ${tenant.serviceId}`;
    const rows = (
      await bridge.fusion.query<{ number: string; actions: { destination_data?: string }[] | null; dialplan_context: string | null }>(
        `SELECT t.destination_number AS number, t.destination_actions AS actions, p.dialplan_context
           FROM v_destinations t JOIN v_domains d USING (domain_uuid) LEFT JOIN v_dialplans p ON p.dialplan_uuid = t.dialplan_uuid
          WHERE d.domain_name = $1`,
        [domain],
      )
    ).rows;
    const wanted = new Map<string, string>([...tenant.dids.map((did) => [did, 'default'] as const), ...model.numbers, ...[...model.won].map((n) => [n, 'default'] as const)]);
    const found = new Map<string, number>();
    for (const row of rows) found.set(row.number, (found.get(row.number) ?? 0) + 1);
    for (const [n, count] of found) {
      if (count > 1) {
        report.doubled += count - 1;
        report.problems.push(`${where}: number ${n} ${count} times`);
      }
      if (!wanted.has(n)) {
        report.doubled += 1;
        report.problems.push(`${where}: number ${n} is in FusionPBX, neither the plan nor the client's answers have it`);
      }
    }
    for (const [n, action] of wanted) {
      const row = rows.find((entry) => entry.number === n);
      if (!row) {
        report.lost += 1;
        report.problems.push(`${where}: number ${n} missing`);
        continue;
      }
      const data = action === 'default' ? defaultAction(domain) : ACTIONS[Number(action)]!.data(domain);
      if (!(row.actions ?? []).some((entry) => entry.destination_data === data))
        report.problems.push(`${where}: number ${n} routes to ${JSON.stringify(row.actions)}, the client set ${data}`);
      if (row.dialplan_context !== 'public') report.problems.push(`${where}: number ${n} has no public dialplan`);
    }
    const publicPlans = (
      await bridge.fusion.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.dialplan_context = 'public'`,
        [domain],
      )
    ).rows[0]!.n;
    if (publicPlans !== rows.length) report.problems.push(`${where}: ${publicPlans} public dialplans for ${rows.length} numbers`);
    const routes = (await routeNames(bridge, domain)).map((name) => name.replace(domain, '<domain>'));
    const expectedRoutes = routesOf.get(tenant.template) ?? [];
    if (routes.join(',') !== expectedRoutes.join(','))
      report.problems.push(`${where}: outbound routes ${routes.join(',') || 'none'}, template ${tenant.template} makes ${expectedRoutes.join(',') || 'none'}`);
  }
  const shared = (
    await bridge.fusion.query<{ number: string; domains: number }>(
      `SELECT destination_number AS number, count(DISTINCT domain_uuid)::int AS domains FROM v_destinations GROUP BY 1 HAVING count(DISTINCT domain_uuid) > 1`,
    )
  ).rows;
  for (const row of shared) {
    report.doubled += 1;
    report.problems.push(`number ${row.number} is in ${row.domains} tenants`);
  }
  for (let n = 0; n < CONTESTED; n += 1) {
    const contested = number(999, n);
    const winners = [...models].filter(([, model]) => model.won.has(contested)).map(([serviceId]) => serviceId);
    if (winners.length > 1) report.problems.push(`shared number ${contested}: ${winners.length} clients were told they have it`);
  }
  return report;
}

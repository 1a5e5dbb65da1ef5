import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { migrateBridgeDatabase } from '@ictvoip/store';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import type { ConsistencyReport } from './support/consistency';
import { PrivateRedis } from './support/private-services';
import { processOwningPort, REPO_ROOT, waitUntil } from './support/processes';
import { errorLines, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { WorkerKiller } from './support/worker-killer';
import { seededRandom } from './support/workload';

const RUNS = runsOf(1, 3);
const TENANTS = pick(3, 5);
const PHONES_PER_TENANT = pick(4, 6);
/** Phases: each drops some registered phones and brings back some lost ones, then waits until the bridge saw it. */
const PHASES = pick(6, 15);
const PHASE_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 180_000;
/** Share of `sofia xmlstatus … reg` commands whose connection the event socket drops (the poll fails). */
const DROP_POLL_PERCENT = 15;
const WHMCS_CREDENTIALS = { identifier: 'chaosRegIdent41c7', secret: 'chaos-reg-whmcs-secret-90d2e6b1' } as const;
const TEMPLATES = { lost: 'Phone Registration Lost', restored: 'Phone Registration Restored' };
/**
 * The faults, one per phase in turn: kill -9 of the worker sending an alert webhook before the
 * receiver answers; of the worker waiting on a SendEmail that WHMCS carried out but never answered;
 * of a worker holding a monitoring job right after a transition is stored; kill -9 of redis-server
 * and an empty restart right after a transition is stored; none.
 */
const FAULTS = ['webhook-kill', 'email-kill', 'job-kill', 'redis-restart', 'none'] as const;
type Fault = (typeof FAULTS)[number];
/** Error-level lines the injected faults cause by design (a failed poll; an e-mail whose outcome a kill left unknown). */
const EXPECTED_ERRORS = [/registration poll failed/, /monitoring alert e-mail abandoned mid-send/, /monitoring alert e-mail outcome unknown/];

const SAMPLE_REG = readFileSync(join(REPO_ROOT, 'fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0];

interface Phone {
  serviceId: number;
  domain: string;
  extension: string;
}
const phoneKey = (phone: Pick<Phone, 'domain' | 'extension'>) => `${phone.extension}@${phone.domain}`;

/** FreeSWITCH's `sofia xmlstatus profile … reg` for the phones registered now (a real capture, one block per phone). */
function registrationsXml(registered: readonly Phone[]): string {
  const blocks = registered.map((phone, index) =>
    SAMPLE_BLOCK.replaceAll('hornblower.tel', phone.domain)
      .replace(/999/g, phone.extension)
      .replace('203.0.113.228;', `192.168.${1 + Math.floor(index / 200)}.${1 + (index % 200)};`),
  );
  return SAMPLE_REG.replace(/<registration>[\s\S]*?<\/registration>\s*/, `${blocks.join('\n')}\n  `);
}

/**
 * The alert webhook's receiver: counts every request by Idempotency-Key (a receiver keeps the first
 * and drops repeats, as the README asks). When armed, the next request's sender is killed with -9
 * before it is answered: the receiver has the alert, the bridge never learns it.
 */
class AlertReceiver {
  readonly byKey = new Map<string, number>();
  private server: Server | null = null;
  private armed: ((request: IncomingMessage) => Promise<void>) | null = null;

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.receive(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/alerts`;
  }

  arm(onRequest: (request: IncomingMessage) => Promise<void>): void {
    this.armed = onRequest;
  }

  disarm(): void {
    this.armed = null;
  }

  get requests(): number {
    return [...this.byKey.values()].reduce((sum, n) => sum + n, 0);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for await (const chunk of request) void chunk;
    const key = String(request.headers['idempotency-key'] ?? '');
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    const hook = this.armed;
    this.armed = null;
    if (hook) await hook(request);
    // The sender may be dead by now: the answer then goes nowhere.
    if (!response.destroyed) response.writeHead(204).end();
  }
}

interface FaultLog {
  kills: number;
  /** Work in flight each fault hit: a held alert send, the jobs a killed worker held, unsent alerts at a Redis restart. */
  interrupted: number;
  lines: string[];
  /** Replacement workers starting after the scenario's own kills. */
  restarts: Promise<unknown>[];
}

/**
 * Phones drop and come back while workers are killed with -9 (the sender of an alert webhook
 * before its answer, the sender of a WHMCS e-mail that took effect before its answer, the holder of
 * a monitoring job right after a transition was stored), Redis is killed and restarted empty right
 * after a transition, and the event socket drops about one poll in seven. End state: every
 * transition stored exactly once (no false `lost` from a failed poll), each alert's webhook received
 * under exactly one Idempotency-Key per transition (repeats only with the same key) and each e-mail
 * sent at most once (exactly once unless a kill left it `unknown`).
 */
describe('registration alerts with kill -9 of workers, Redis restarts and dropped polls', () => {
  const tally = new ScenarioTally('registration alerts: kill -9 + Redis restart', RUNS);
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
    await redis.stop();
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 1100;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${TENANTS * PHONES_PER_TENANT} phones, ${PHASES} phases, each transition stored and alerted once`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const receiver = new AlertReceiver();
        const whmcs = await startWhmcsStandin({
          ...WHMCS_CREDENTIALS,
          seed,
          emailTemplates: [
            { name: TEMPLATES.lost, type: 'product' },
            { name: TEMPLATES.restored, type: 'product' },
          ],
        });
        const bridge = await ChaosBridge.start({
          redisUrl: redis.url,
          env: {
            REGISTRATION_POLL_SECONDS: '5',
            // Lost on the first poll that misses the phone: one transition per drop.
            REGISTRATION_LOST_AFTER_SECONDS: '0',
            ALERT_WEBHOOK_URL: await receiver.start(),
            ALERT_EMAIL_TEMPLATE_LOST: TEMPLATES.lost,
            ALERT_EMAIL_TEMPLATE_RESTORED: TEMPLATES.restored,
            WHMCS_API_URL: whmcs.url,
            WHMCS_API_IDENTIFIER: WHMCS_CREDENTIALS.identifier,
            WHMCS_API_SECRET: WHMCS_CREDENTIALS.secret,
            // Long enough for the suite to find and kill the worker waiting on an unanswered SendEmail.
            WHMCS_API_TIMEOUT_MS: '4000',
            ESL_TIMEOUT_MS: '3000',
          },
        });
        const killer = new WorkerKiller(bridge, random, `registration run ${run + 1}`, [QUEUE_NAMES.monitoring]);
        const log: FaultLog = { kills: 0, interrupted: 0, lines: [], restarts: [] };
        try {
          await migrateBridgeDatabase(bridge.bridge);
          const phones = await seedPhones(bridge, whmcs, run);
          let registered = [...phones];
          bridge.esl.respond(/^sofia xmlstatus profile '\w+' reg$/, () => registrationsXml(registered));
          // Socket dropped mid-poll: the poll fails, and no phone may be marked lost for it.
          let droppedPolls = 0;
          bridge.esl.dropWhen = (command) => {
            if (!/^sofia xmlstatus profile /.test(command) || random() * 100 >= DROP_POLL_PERCENT) return false;
            droppedPolls += 1;
            return true;
          };
          await Promise.all([bridge.startWorker(), bridge.startWorker()]);
          await waitForPhones(bridge, phones, registered, 'every phone registered');

          /** Per phone, the transitions the phases caused, in order. */
          const expected = new Map<string, string[]>(phones.map((phone) => [phoneKey(phone), []]));
          for (let phase = 1; phase <= PHASES; phase += 1) {
            const fault = FAULTS[(phase - 1) % FAULTS.length]!;
            const lost = phones.filter((phone) => !registered.includes(phone));
            const drop = registered.filter(() => random() < 0.3);
            const back = lost.filter(() => random() < 0.6);
            if (drop.length === 0 && registered.length > 0) drop.push(registered[Math.floor(random() * registered.length)]!);
            const before = await historyCount(bridge);
            const injected = injectFault(fault, { bridge, whmcs, receiver, killer, redis, log, before, phase, run });
            registered = [...registered.filter((phone) => !drop.includes(phone)), ...back];
            for (const phone of drop) expected.get(phoneKey(phone))!.push('lost');
            for (const phone of back) expected.get(phoneKey(phone))!.push('restored');
            const what = `phase ${phase} (${fault}): ${drop.length} dropped, ${back.length} back`;
            await waitForPhones(bridge, phones, registered, what).catch(async (error: Error) => {
              process.stdout.write(`registration run ${run + 1}: ${what} timed out\n${log.lines.join('\n')}\n${await diagnose(bridge)}\n`);
              throw error;
            });
            await injected;
            process.stdout.write(`registration run ${run + 1}: ${what} seen by the bridge; ${log.lines.slice(-1).join('')}\n`);
          }
          receiver.disarm();
          whmcs.setFaults([]);
          await killer.idle();
          await Promise.all(log.restarts);
          await waitUntil(() => allSettled(bridge), SETTLE_TIMEOUT_MS, 'every alert settled', 500).catch(() => false);

          const { report, repeats, unknownEmails } = await checkAlerts(bridge, whmcs, receiver, expected);
          const interruptions = await killer.interruptions();
          log.kills += interruptions.kills;
          log.interrupted += interruptions.interrupted;
          const unexplained = errorLines(bridge).filter((line) => !EXPECTED_ERRORS.some((pattern) => pattern.test(line)));
          const leaks = secretLeaks(bridge, [...Object.values(CHAOS_SECRETS), WHMCS_CREDENTIALS.secret]);
          tally.add(report, { kills: log.kills, interrupted: log.interrupted, problems: [...leaks, ...unexplained.slice(0, 5)] });
          process.stdout.write(
            `registration run ${run + 1}: ${phones.length} phones, ${report.events} transitions, ${receiver.requests} webhook requests (${repeats} repeats of a key), ` +
              `${whmcs.state.emails.length} e-mails (${unknownEmails} left unknown by a kill), ${droppedPolls} polls dropped, ${log.kills} kills, ` +
              `in flight hit ${log.interrupted} (of the killed workers' jobs ${interruptions.replayed}/${interruptions.interrupted} run again; ${interruptions.unconfirmed.length} not confirmed: ${interruptions.unconfirmed.slice(0, 3).join('; ')})\n` +
              log.lines.map((line) => `  ${line}\n`).join(''),
          );
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
          expect(unexplained.slice(0, 5)).toEqual([]);
          expect(leaks).toEqual([]);
          expect(droppedPolls).toBeGreaterThan(0);
          expect(log.kills).toBeGreaterThan(0);
          expect(log.interrupted).toBeGreaterThan(0);
          // The webhook kill left a delivery the receiver had and the bridge did not: it came again, same key.
          expect(repeats).toBeGreaterThan(0);
        } finally {
          await Promise.allSettled(log.restarts);
          await killer.close();
          await bridge.close();
          await receiver.close();
          await whmcs.close();
        }
      }));
  }
});

/** Tenants with phones: bridge services (active, watched), the FusionPBX domain and extensions, the WHMCS client and service, the latest module event. */
async function seedPhones(bridge: ChaosBridge, whmcs: WhmcsStandin, run: number): Promise<Phone[]> {
  const phones: Phone[] = [];
  for (let t = 0; t < TENANTS; t += 1) {
    const serviceId = 960_000 + run * 1000 + t;
    const domain = `t${serviceId}.pbx.example.net`;
    const client = whmcs.addClient();
    whmcs.addService({ id: serviceId, clientid: client.id });
    await bridge.bridge.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan) VALUES ($1, $2, $3, 'active', '{}')`, [
      serviceId,
      client.id,
      domain,
    ]);
    const payload = { client: { id: client.id, companyName: 'Chaos Dental' }, service: { id: serviceId, domain }, customFields: {} };
    await bridge.bridge.query(
      `INSERT INTO webhook_inbox (event_id, body_hash, action, service_id, client_id, payload, status) VALUES ($1, 'x', 'create', $2, $3, $4, 'succeeded')`,
      [randomUUID(), serviceId, client.id, payload],
    );
    const domainUuid = randomUUID();
    await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domainUuid, domain]);
    for (let p = 0; p < PHONES_PER_TENANT; p += 1) {
      const extension = String(100 + p);
      await bridge.fusion.query(`INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, enabled) VALUES ($1, $2, $3, 'true')`, [randomUUID(), domainUuid, extension]);
      phones.push({ serviceId, domain, extension });
    }
  }
  return phones;
}

/** Until the bridge's registrations say exactly `registered` are registered and the others lost. */
async function waitForPhones(bridge: ChaosBridge, phones: readonly Phone[], registered: readonly Phone[], what: string): Promise<void> {
  const up = new Set(registered.map(phoneKey));
  await waitUntil(
    async () => {
      const { rows } = await bridge.bridge.query<{ domain: string; extension: string; registered: boolean; lost: boolean }>(
        'SELECT domain, extension, registered, lost FROM registrations',
      );
      const state = new Map(rows.map((row) => [phoneKey(row), row]));
      return phones.every((phone) => {
        const row = state.get(phoneKey(phone));
        return up.has(phoneKey(phone)) ? row?.registered === true && !row.lost : row?.lost === true;
      });
    },
    PHASE_TIMEOUT_MS,
    what,
    200,
  );
}

/** What the bridge was doing, for a phase that did not finish. */
async function diagnose(bridge: ChaosBridge): Promise<string> {
  const registrations = (await bridge.bridge.query('SELECT domain, extension, registered, lost, last_polled_at FROM registrations ORDER BY 1, 2')).rows;
  const workers = bridge.liveWorkers().map((worker) => `worker ${worker.pid}:\n${worker.lines.slice(-20).join('\n')}`);
  return `registrations ${JSON.stringify(registrations)}\n${workers.join('\n')}`;
}

async function historyCount(bridge: ChaosBridge): Promise<number> {
  return (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM registration_history')).rows[0]!.n;
}

interface FaultContext {
  bridge: ChaosBridge;
  whmcs: WhmcsStandin;
  receiver: AlertReceiver;
  killer: WorkerKiller;
  redis: PrivateRedis;
  log: FaultLog;
  /** registration_history rows before the phase's change. */
  before: number;
  phase: number;
  run: number;
}

/** Arms or starts the phase's fault; the promise ends once it fired (or the phase's work ended without it). */
async function injectFault(fault: Fault, context: FaultContext): Promise<void> {
  const { bridge, whmcs, receiver, killer, redis, log, before, phase } = context;
  const note = (line: string): void => void log.lines.push(`phase ${phase}: ${line}`);
  if (fault === 'webhook-kill') {
    let fired = false;
    receiver.arm(async (request) => {
      const owner = processOwningPort(request.socket.remotePort ?? 0, bridge.liveWorkers());
      if (owner) {
        await owner.kill9();
        log.kills += 1;
        log.interrupted += 1;
        note(`kill -9 worker ${owner.pid} while its alert webhook (${String(request.headers['idempotency-key'])}) was unanswered`);
        log.restarts.push(bridge.startWorker());
      } else note('the webhook sender was not found: no kill');
      fired = true;
    });
    await waitUntil(() => fired, PHASE_TIMEOUT_MS, 'the webhook kill');
    return;
  }
  if (fault === 'email-kill') {
    const seen = whmcs.state.requests.length;
    whmcs.setFaults([{ mode: 'timeout_after_effect', percent: 100, actions: ['SendEmail'] }]);
    const request = await waitUntil(() => whmcs.state.requests.slice(seen).find((entry) => entry.action === 'SendEmail'), PHASE_TIMEOUT_MS, 'a SendEmail', 5);
    whmcs.setFaults([]);
    const owner = processOwningPort(request.remotePort ?? 0, bridge.liveWorkers());
    if (!owner) return note('the SendEmail sender was not found: no kill');
    await owner.kill9();
    log.kills += 1;
    log.interrupted += 1;
    note(`kill -9 worker ${owner.pid} while it waited on a SendEmail WHMCS carried out (${request.params.messagename ?? ''})`);
    log.restarts.push(bridge.startWorker());
    return;
  }
  if (fault === 'none') return;
  // Right after the phase's first transition is stored, before its alert is delivered.
  await waitUntil(async () => ((await historyCount(bridge)) > before ? true : null), PHASE_TIMEOUT_MS, 'a transition', 10);
  if (fault === 'job-kill') {
    if (!(await killer.killOwnerOfWorkInFlight('right after a transition was stored'))) note('no worker held a monitoring job: no kill');
    return;
  }
  const unsent = (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM registration_history WHERE alert_sent_at IS NULL')).rows[0]!.n;
  await redis.restart(500);
  log.interrupted += unsent;
  note(`redis-server killed and restarted empty with ${unsent} alerts not yet delivered`);
}

async function allSettled(bridge: ChaosBridge): Promise<boolean> {
  const { rows } = await bridge.bridge.query<{ open: number }>(
    `SELECT (SELECT count(*)::int FROM registration_history WHERE alert_sent_at IS NULL)
          + (SELECT count(*)::int FROM monitoring_alert_deliveries WHERE state IN ('pending', 'sending')) AS open`,
  );
  return rows[0]!.open === 0;
}

/**
 * lost = a transition not stored, or stored with an alert that never reached a channel that must
 * have it; doubled = a transition stored twice, or an e-mail sent twice; problems = each, and any
 * transition the phases did not cause (a false `lost`).
 */
async function checkAlerts(
  bridge: ChaosBridge,
  whmcs: WhmcsStandin,
  receiver: AlertReceiver,
  expected: ReadonlyMap<string, string[]>,
): Promise<{ report: ConsistencyReport; repeats: number; unknownEmails: number }> {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const history = (
    await bridge.bridge.query<{ id: string; domain: string; extension: string; transition: string; alert_sent_at: Date | null }>(
      'SELECT id, domain, extension, transition, alert_sent_at FROM registration_history ORDER BY id',
    )
  ).rows;
  for (const [key, transitions] of expected) {
    const stored = history.filter((row) => phoneKey(row) === key).map((row) => row.transition);
    if (stored.join(',') === transitions.join(',')) continue;
    problems.push(`${key}: transitions ${stored.join(',') || 'none'}, the phases caused ${transitions.join(',') || 'none'}`);
    if (stored.length > transitions.length) doubled += stored.length - transitions.length;
    else lost += transitions.length - stored.length;
  }
  const deliveries = (
    await bridge.bridge.query<{ history_id: string; channel: string; state: string }>(
      `SELECT history_id, channel, state FROM monitoring_alert_deliveries WHERE kind = 'registration'`,
    )
  ).rows;
  let unknownEmails = 0;
  for (const row of history) {
    const key = `registration-alert-${row.id}`;
    const where = `${row.transition} of ${phoneKey(row)} (${key})`;
    if (!row.alert_sent_at) problems.push(`${where}: never settled`);
    if (!receiver.byKey.has(key)) {
      lost += 1;
      problems.push(`${where}: no webhook`);
    }
    const mails = whmcs.state.emails.filter((mail) => mail.customvars.alert_id === key).length;
    const email = deliveries.find((delivery) => delivery.history_id === row.id && delivery.channel === 'email');
    if (mails > 1) {
      doubled += mails - 1;
      problems.push(`${where}: ${mails} e-mails`);
    }
    // An e-mail is sent at most once: a kill between its claim and its mark leaves it `unknown`, never resent.
    if (email?.state === 'unknown') unknownEmails += 1;
    else if (mails === 0) {
      lost += 1;
      problems.push(`${where}: no e-mail, delivery ${email?.state ?? 'missing'}`);
    }
    for (const delivery of deliveries.filter((entry) => entry.history_id === row.id)) {
      if (delivery.state === 'failed' || (delivery.channel === 'webhook' && delivery.state !== 'sent')) problems.push(`${where}: ${delivery.channel} delivery ${delivery.state}`);
    }
  }
  const ids = new Set(history.map((row) => `registration-alert-${row.id}`));
  for (const key of receiver.byKey.keys()) if (!ids.has(key)) problems.push(`webhook for ${key}, no such transition`);
  const repeats = [...receiver.byKey.values()].reduce((sum, n) => sum + n - 1, 0);
  const events = [...expected.values()].reduce((sum, transitions) => sum + transitions.length, 0);
  return { report: { events, services: expected.size, lost, doubled, problems }, repeats, unknownEmails };
}

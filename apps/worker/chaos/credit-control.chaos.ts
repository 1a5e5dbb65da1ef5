import { randomUUID } from 'node:crypto';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { importRateDeck, migrateBridgeDatabase } from '@ictvoip/store';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import type { ConsistencyReport } from './support/consistency';
import type { AppProcess } from './support/processes';
import { sleep, waitUntil } from './support/processes';
import { ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { seededRandom } from './support/workload';
import { HeldJobsLog } from './support/worker-killer';

const RUNS = runsOf(1, 3, 1);
const TENANTS = pick(8, 20, 8);
const KILLS_PER_RUN = pick(2, 4, 2);
const SETTLE_TIMEOUT_MS = Number(process.env.CHAOS_CREDIT_TIMEOUT_MS ?? 240_000);
const WHMCS_CREDENTIALS = { identifier: 'chaosCreditIdent77c1', secret: 'chaos-credit-secret-5a0e9b3c2d18' } as const;
const TEMPLATES = [
  { name: 'VoIP Low Balance Alert', type: 'product' as const },
  { name: 'VoIP Zero Balance', type: 'product' as const },
];
/** What WHMCS did (not only what it was asked): a request that failed before doing anything does not count. */
const NO_EFFECT = new Set(['http_500', 'result_error']);
const WRITES = new Set(['ModuleSuspend', 'ModuleUnsuspend', 'SendEmail']);

interface CreditTenant {
  serviceId: number;
  clientId: number;
  /** `zero`: the calls eat the credit (suspend, then a top-up lifts it); `low`: they only cross the threshold */
  kind: 'zero' | 'low';
}

/**
 * Prepaid tenants make calls while worker processes sync CDRs every second and check credit every
 * second, WHMCS fails about a third of the calls (HTTP 500, `result: error`, suspends and mails that
 * took effect but were never answered) and workers are killed with -9 while they suspend. Then every
 * suspended tenant is topped up. End state: each zero tenant suspended exactly once and unsuspended
 * exactly once (effects in WHMCS, not requests), each low tenant in `low`, no mail sent twice.
 */
describe('credit control with WHMCS failing and kill -9 of workers', () => {
  const tally = new ScenarioTally('credit control: WHMCS faults + kill -9', RUNS);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 900;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${TENANTS} prepaid tenants, one suspend and one unsuspend each, no mail twice`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const whmcs = await startWhmcsStandin({ ...WHMCS_CREDENTIALS, seed, emailTemplates: TEMPLATES });
        const bridge = await ChaosBridge.start({
          env: {
            WHMCS_API_URL: whmcs.url,
            WHMCS_API_IDENTIFIER: WHMCS_CREDENTIALS.identifier,
            WHMCS_API_SECRET: WHMCS_CREDENTIALS.secret,
            WHMCS_API_TIMEOUT_MS: '1500',
            CDR_SYNC_EVERY_SECONDS: '1',
            CREDIT_CHECK_EVERY_SECONDS: '1',
            CREDIT_CACHE_SECONDS: '0',
            CREDIT_HYSTERESIS: '1.00',
          },
        });
        let kills = 0;
        const heldJobs = new HeldJobsLog(bridge, [QUEUE_NAMES.billing]);
        try {
          await migrateBridgeDatabase(bridge.bridge);
          const tenants = await seedTenants(bridge, whmcs, run);
          whmcs.setFaults([
            { mode: 'http_500', percent: 15 },
            { mode: 'result_error', percent: 10 },
            { mode: 'timeout_after_effect', percent: 15, actions: ['ModuleSuspend', 'ModuleUnsuspend', 'SendEmail'] },
          ]);
          let done = false;
          const restarts: Promise<AppProcess>[] = [];
          const writes = () => whmcs.state.requests.filter((request) => WRITES.has(request.action)).length;
          // Kills land after a seeded number of WHMCS writes (suspends, mails, unsuspends), in both phases.
          const killer = (async () => {
            for (let k = 0; k < KILLS_PER_RUN && !done; k += 1) {
              const target = writes() + 1 + Math.floor(random() * 3);
              const reached = await waitUntil(() => (writes() >= target || done ? true : null), 120_000, 'more WHMCS writes', 5).catch(() => false);
              if (!reached || done) return;
              await sleep(Math.floor(random() * 150));
              const live = await waitUntil(() => (bridge.liveWorkers().length > 0 ? bridge.liveWorkers() : null), 30_000, 'a live worker').catch(() => []);
              const victim = live[Math.floor(random() * live.length)];
              if (!victim) return;
              await victim.kill9();
              kills += 1;
              const held = await heldJobs.recordKill(victim);
              process.stdout.write(
                `credit run ${run + 1}: kill -9 worker ${victim.pid} after ${writes()} WHMCS writes, ${held.length} jobs in flight: ${held.map((job) => job.name).join(', ')}\n`,
              );
              restarts.push(bridge.startWorker());
            }
          })();
          await bridge.startWorker();
          await bridge.startWorker();
          const zero = tenants.filter((tenant) => tenant.kind === 'zero');
          const low = tenants.filter((tenant) => tenant.kind === 'low');
          await waitUntil(
            async () => ((await settled(bridge, zero, 'zero', 'bridge')) && (await settled(bridge, low, 'low', null)) ? true : null),
            SETTLE_TIMEOUT_MS,
            'every tenant restricted or low',
            250,
          );

          // Top-ups: every zero tenant gets credit back; the bridge lifts what it suspended, once.
          for (const tenant of zero) whmcs.state.clients.get(tenant.clientId)!.credit = '50.00';
          await waitUntil(async () => ((await settled(bridge, zero, 'ok', null)) ? true : null), SETTLE_TIMEOUT_MS, 'every zero tenant back on', 250);
          done = true;
          await killer;
          await Promise.all(restarts);
          whmcs.setFaults([]);

          const report = checkCredit(whmcs, tenants);
          const leaks = secretLeaks(bridge, [WHMCS_CREDENTIALS.secret, CHAOS_SECRETS.webhook, CHAOS_SECRETS.admin, CHAOS_SECRETS.esl]);
          const hit = await heldJobs.interruptions();
          tally.add(report, { kills, interrupted: hit.interrupted, problems: leaks });
          process.stdout.write(`credit run ${run + 1}: ${hit.interrupted} jobs in flight interrupted, ${hit.replayed} of them run again to completion\n`);
          for (const line of hit.unconfirmed) process.stdout.write(`credit run ${run + 1}: ${line}\n`);
          const faults = whmcs.state.requests.filter((request) => request.fault !== null).length;
          process.stdout.write(`credit run ${run + 1}: ${tenants.length} tenants, ${whmcs.state.requests.length} WHMCS calls (${faults} failed), ${kills} kills\n`);
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
          expect(leaks).toEqual([]);
          expect(kills).toBeGreaterThan(0);
        } finally {
          await heldJobs.close();
          await bridge.close();
          await whmcs.close();
        }
      }));
  }
});

async function seedTenants(bridge: ChaosBridge, whmcs: WhmcsStandin, run: number): Promise<CreditTenant[]> {
  const imported = await importRateDeck(bridge.bridge, 'std', 'prefix,destination,rate_per_minute\n1212,USA New York,0.013700\n1,USA,0.010000', {
    currency: 'USD',
    numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  });
  if (!imported.ok) throw new Error('chaos deck did not import');
  const tenants: CreditTenant[] = [];
  for (let t = 0; t < TENANTS; t += 1) {
    const kind = t % 2 === 0 ? 'zero' : 'low';
    const serviceId = 900_000 + run * 1000 + t;
    // zero: 0.05 of credit against 0.137 of calls; low: 10.00 against a 9.95 threshold.
    const client = whmcs.addClient({ credit: kind === 'zero' ? '0.05' : '10.00' });
    whmcs.addService({ id: serviceId, clientid: client.id });
    const domainName = `t${serviceId}.pbx.example.net`;
    const domainUuid = randomUUID();
    await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domainUuid, domainName]);
    const plan = { rateDeck: 'std', includedMinutes: 0, billingMode: 'prepaid', lowBalanceThreshold: kind === 'zero' ? '0' : '9.95' };
    await bridge.bridge.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, $2, $3, 'active', $4, now() - interval '1 day')`,
      [serviceId, client.id, domainName, JSON.stringify(plan)],
    );
    await bridge.fusion.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
       VALUES ($1, $2, $3, 'outbound', 'a', '12125550100', '12125550100', now() - interval '10 minutes', 600, 'NORMAL_CLEARING')`,
      [randomUUID(), domainUuid, domainName],
    );
    tenants.push({ serviceId, clientId: client.id, kind });
  }
  return tenants;
}

/** Every tenant in `state`, nothing pending, restricted by `by`. */
async function settled(bridge: ChaosBridge, tenants: CreditTenant[], state: string, by: string | null): Promise<boolean> {
  if (tenants.length === 0) return true;
  const { rows } = await bridge.bridge.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM credit_states WHERE service_id = ANY($1::bigint[]) AND state = $2 AND pending_action IS NULL AND suspended_by IS NOT DISTINCT FROM $3`,
    [tenants.map((tenant) => tenant.serviceId), state, by],
  );
  return rows[0]?.n === tenants.length;
}

/** lost = a zero tenant never suspended or never lifted; doubled = a second suspend, unsuspend or mail of one kind. */
function checkCredit(whmcs: WhmcsStandin, tenants: CreditTenant[]): ConsistencyReport {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const effects = (action: string, serviceId: number) =>
    whmcs.state.requests.filter((request) => request.action === action && request.params.accountid === String(serviceId) && !NO_EFFECT.has(request.fault ?? '')).length;
  for (const tenant of tenants) {
    const mails = (template: string) => whmcs.state.emails.filter((mail) => mail.id === tenant.serviceId && mail.messagename === template).length;
    for (const template of TEMPLATES) {
      if (mails(template.name) > 1) {
        doubled += mails(template.name) - 1;
        problems.push(`service ${tenant.serviceId}: ${mails(template.name)} "${template.name}" mails`);
      }
    }
    const expected = tenant.kind === 'zero' ? 1 : 0;
    for (const action of ['ModuleSuspend', 'ModuleUnsuspend']) {
      const done = effects(action, tenant.serviceId);
      if (done < expected) lost += expected - done;
      if (done > expected) doubled += done - expected;
      if (done !== expected) problems.push(`service ${tenant.serviceId} (${tenant.kind}): ${action} took effect ${done} times`);
    }
    const service = whmcs.state.services.get(tenant.serviceId);
    if (service?.status !== 'Active') problems.push(`service ${tenant.serviceId}: WHMCS status ${service?.status} at the end`);
  }
  return { events: tenants.length, services: tenants.length, lost, doubled, problems };
}

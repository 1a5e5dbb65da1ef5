import { randomUUID } from 'node:crypto';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { importRateDeck, migrateBridgeDatabase } from '@ictvoip/store';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import type { ConsistencyReport } from './support/consistency';
import type { AppProcess } from './support/processes';
import { processOwningPort, sleep, waitUntil } from './support/processes';
import { workerName } from './support/in-flight';
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
        const bridge = await startCreditBridge(whmcs);
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
          // Kills land after a seeded number of WHMCS writes (suspends, mails, unsuspends), in both phases,
          // each on a worker that owns work in flight (see ownerOfWorkInFlight), never on an idle one.
          const killer = (async () => {
            for (let k = 0; k < KILLS_PER_RUN && !done; k += 1) {
              const seen = whmcs.state.requests.length;
              const target = writes() + 1 + Math.floor(random() * 3);
              const reached = await waitUntil(() => (writes() >= target || done ? true : null), 120_000, 'more WHMCS writes', 5).catch(() => false);
              if (!reached || done) return;
              await sleep(Math.floor(random() * 150));
              const owner = await waitUntil(
                async () => (done ? { victim: undefined, why: '' } : await ownerOfWorkInFlight(bridge, whmcs, heldJobs, seen, random)),
                30_000,
                'a worker with work in flight',
                5,
              ).catch(() => ({ victim: undefined, why: '' }));
              if (!owner.victim) continue;
              await owner.victim.kill9();
              kills += 1;
              const held = await heldJobs.recordKill(owner.victim);
              process.stdout.write(
                `credit run ${run + 1}: kill -9 worker ${owner.victim.pid} ${owner.why} after ${writes()} WHMCS writes, ${held.length} jobs in flight: ${held.map((job) => job.name).join(', ')}\n`,
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
          // Every kill is of a worker that owned work in flight: the run's kills interrupted credit jobs.
          expect(hit.interrupted).toBeGreaterThan(0);
        } finally {
          await heldJobs.close();
          await bridge.close();
          await whmcs.close();
        }
      }));
  }
});

/**
 * The worker to kill: the sender of a WHMCS write that took effect and is still unanswered (it waits
 * inside its credit job: a crash between WHMCS's effect and the bridge recording it), else a worker
 * holding an active credit or CDR job; null while every worker is idle (the caller waits).
 */
async function ownerOfWorkInFlight(
  bridge: ChaosBridge,
  whmcs: WhmcsStandin,
  heldJobs: HeldJobsLog,
  since: number,
  random: () => number,
): Promise<{ victim: AppProcess; why: string } | null> {
  const live = bridge.liveWorkers();
  const unanswered = whmcs.state.requests.slice(since).filter((request) => request.fault === 'timeout_after_effect' && WRITES.has(request.action));
  for (const request of unanswered.reverse()) {
    const sender = processOwningPort(request.remotePort ?? 0, live);
    if (sender) return { victim: sender, why: `(waiting on a ${request.action} WHMCS carried out but never answered)` };
  }
  const owners = new Set((await heldJobs.activeJobs()).map((job) => job.processedBy));
  const holders = live.filter((worker) => owners.has(workerName(worker)));
  return holders.length > 0 ? { victim: holders[Math.floor(random() * holders.length)]!, why: '(holding an active job)' } : null;
}

/** Workers sync CDRs and check credit every second, WHMCS balances read every time. */
function startCreditBridge(whmcs: WhmcsStandin): Promise<ChaosBridge> {
  return ChaosBridge.start({
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
}

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
async function settled(bridge: ChaosBridge, tenants: Pick<CreditTenant, 'serviceId'>[], state: string, by: string | null): Promise<boolean> {
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

const OUTBOUND_TENANTS = pick(4, 10, 4);
const CROSSINGS = pick(2, 3, 2);
const OUTBOUND_APP = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';

interface OutboundTenant {
  serviceId: number;
  clientId: number;
  trunk: string;
  spare: string;
  emergency: string;
  /** the paid route and a custom dialplan, both through the trunk the emergency route keeps up */
  paid: string[];
}

/**
 * creditRestriction outbound: prepaid tenants (domains without the bridge's tag, so the read-only
 * emergency path and the recorded dialplans are what runs) cross zero CROSSINGS times each way while
 * two workers check every second. Each time FreeSWITCH is told to stop or start a gateway (the
 * worker has written FusionPBX and not yet recorded the action), every live worker is killed with -9
 * at the first kills: the action in flight is finished by the next workers. A sampler reads
 * FusionPBX throughout: the emergency route and its gateway must be enabled at every sample. End
 * state: one `credit.outbound-restricted` and one `credit.outbound-lifted` per crossing, no re-apply
 * (nothing was added), every row as it was before.
 */
describe('credit control, outbound restriction, kill -9 while balances cross zero', () => {
  const tally = new ScenarioTally('credit control outbound: kill -9 mid-restriction', 1);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  const seed = seedOf(0) + 950;
  it(`seed ${seed}: ${OUTBOUND_TENANTS} tenants × ${CROSSINGS} crossings, one restriction and one lift each, emergency up at every sample`, () =>
    tally.run(async () => {
      const random = seededRandom(seed);
      const whmcs = await startWhmcsStandin({ ...WHMCS_CREDENTIALS, seed, emailTemplates: TEMPLATES });
      const bridge = await startCreditBridge(whmcs);
      let kills = 0;
      let interrupted = 0;
      let done = false;
      const restarts: Promise<AppProcess>[] = [];
      try {
        await migrateBridgeDatabase(bridge.bridge);
        const tenants = await seedOutboundTenants(bridge, whmcs);
        const before = await fusionSnapshot(bridge, tenants);
        const ids = tenants.map((tenant) => tenant.serviceId);
        // Kill -9 while FreeSWITCH is "busy" with a gateway of the restriction or the lift: FusionPBX is written, the action not recorded.
        let commands = 0;
        const killAt = new Set(Array.from({ length: KILLS_PER_RUN }, (_, k) => k * (OUTBOUND_TENANTS + 1) + 1 + Math.floor(random() * OUTBOUND_TENANTS)));
        bridge.esl.beforeAnswer = async (command) => {
          if (!/ (killgw|startgw) /.test(command) || !killAt.has(++commands)) return;
          const { rows } = await bridge.bridge.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM credit_states WHERE service_id = ANY($1::bigint[]) AND pending_action IS NOT NULL',
            [ids],
          );
          interrupted += rows[0]?.n ?? 0;
          const victims = bridge.liveWorkers();
          await Promise.all(victims.map((worker) => worker.kill9()));
          kills += victims.length > 0 ? 1 : 0;
          process.stdout.write(`credit outbound: kill -9 of ${victims.length} workers at "${command}" (${rows[0]?.n ?? 0} actions pending)\n`);
          restarts.push(bridge.startWorker(), bridge.startWorker());
        };
        const samples = { taken: 0, down: [] as string[] };
        const sampler = (async () => {
          while (!done) {
            samples.down.push(...(await emergencyDown(bridge, tenants)));
            samples.taken += 1;
            await sleep(25);
          }
        })();
        await bridge.startWorker();
        await bridge.startWorker();
        const restricted: string[] = [];
        for (let crossing = 1; crossing <= CROSSINGS; crossing += 1) {
          for (const tenant of tenants) whmcs.state.clients.get(tenant.clientId)!.credit = '0.05';
          await waitUntil(async () => ((await settled(bridge, tenants, 'zero', 'bridge')) ? true : null), SETTLE_TIMEOUT_MS, `crossing ${crossing}: every tenant restricted`, 250);
          restricted.push(...(await paidStillUp(bridge, tenants)).map((what) => `crossing ${crossing}: ${what}`));
          for (const tenant of tenants) whmcs.state.clients.get(tenant.clientId)!.credit = '50.00';
          await waitUntil(async () => ((await settled(bridge, tenants, 'ok', null)) ? true : null), SETTLE_TIMEOUT_MS, `crossing ${crossing}: every tenant lifted`, 250);
        }
        done = true;
        await sampler;
        await Promise.all(restarts);

        const report = checkOutbound(await creditAudits(bridge, ids), tenants);
        report.problems.push(...restricted, ...samples.down.slice(0, 10));
        const after = await fusionSnapshot(bridge, tenants);
        if (JSON.stringify(after) !== JSON.stringify(before)) report.problems.push('FusionPBX rows differ from before the first restriction');
        const leaks = secretLeaks(bridge, [WHMCS_CREDENTIALS.secret, CHAOS_SECRETS.webhook, CHAOS_SECRETS.admin, CHAOS_SECRETS.esl]);
        tally.add(report, { kills, interrupted, problems: leaks });
        process.stdout.write(`credit outbound: ${tenants.length} tenants × ${CROSSINGS} crossings, ${samples.taken} samples, ${kills} kills, ${interrupted} actions in flight\n`);
        expect(report.problems.slice(0, 20)).toEqual([]);
        expect(samples.down).toEqual([]);
        expect(samples.taken).toBeGreaterThan(0);
        expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
        expect(leaks).toEqual([]);
        expect(kills).toBeGreaterThan(0);
        expect(interrupted).toBeGreaterThan(0);
      } finally {
        done = true;
        bridge.esl.beforeAnswer = null;
        await Promise.allSettled(restarts);
        await bridge.close();
        await whmcs.close();
      }
    }));
});

async function addChaosDialplan(bridge: ChaosBridge, domain: { uuid: string; name: string }, app: string, expression: string, dial: string): Promise<string> {
  const uuid = randomUUID();
  const xml = `<extension name="chaos" continue="false" uuid="${uuid}">\n\t<condition field="destination_number" expression="${expression}">\n\t\t<action application="bridge" data="${dial}"/>\n\t</condition>\n</extension>\n`;
  await bridge.fusion.query(
    `INSERT INTO v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled)
     VALUES ($1, $2, $3, $4, 'chaos', 'false', $5, 100, 'true')`,
    [domain.uuid, uuid, app, domain.name, xml],
  );
  await bridge.fusion.query(
    `INSERT INTO v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group, dialplan_detail_enabled)
     VALUES ($1, $2, $3, 'condition', 'destination_number', $4, 10, 0, 'true'), ($5, $2, $3, 'action', 'bridge', $6, 20, 0, 'true')`,
    [randomUUID(), domain.uuid, uuid, expression, randomUUID(), dial],
  );
  return uuid;
}

async function seedOutboundTenants(bridge: ChaosBridge, whmcs: WhmcsStandin): Promise<OutboundTenant[]> {
  await importRateDeck(bridge.bridge, 'std', 'prefix,destination,rate_per_minute\n1212,USA New York,0.013700\n1,USA,0.010000', {
    currency: 'USD',
    numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  });
  const tenants: OutboundTenant[] = [];
  for (let t = 0; t < OUTBOUND_TENANTS; t += 1) {
    const serviceId = 950_000 + t;
    // 50.00 of credit against 0.137 of calls: ok until a crossing sets it to 0.05.
    const client = whmcs.addClient({ credit: '50.00' });
    whmcs.addService({ id: serviceId, clientid: client.id });
    const domain = { uuid: randomUUID(), name: `o${serviceId}.pbx.example.net` };
    await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domain.uuid, domain.name]);
    const [trunk, spare] = [randomUUID(), randomUUID()];
    for (const [uuid, name] of [
      [trunk, 'trunk'],
      [spare, 'spare'],
    ]) {
      await bridge.fusion.query(`INSERT INTO v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) VALUES ($1, $2, $3, 'false', 'external', 'true')`, [
        uuid,
        domain.uuid,
        name,
      ]);
    }
    const emergency = await addChaosDialplan(bridge, domain, OUTBOUND_APP, '^(911)$', `sofia/gateway/${trunk}/911`);
    const paid = [
      await addChaosDialplan(bridge, domain, OUTBOUND_APP, '^(\\d{11})$', `sofia/gateway/${trunk}/$1`),
      await addChaosDialplan(bridge, domain, randomUUID(), '^8(\\d+)$', `sofia/gateway/${trunk}/$1`),
    ];
    const plan = { rateDeck: 'std', includedMinutes: 0, billingMode: 'prepaid', lowBalanceThreshold: '0', creditRestriction: 'outbound' };
    await bridge.bridge.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, $2, $3, 'active', $4, now() - interval '1 day')`,
      [serviceId, client.id, domain.name, JSON.stringify(plan)],
    );
    await bridge.fusion.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
       VALUES ($1, $2, $3, 'outbound', 'a', '12125550100', '12125550100', now() - interval '10 minutes', 600, 'NORMAL_CLEARING')`,
      [randomUUID(), domain.uuid, domain.name],
    );
    tenants.push({ serviceId, clientId: client.id, trunk, spare, emergency, paid });
  }
  return tenants;
}

async function enabledOf(bridge: ChaosBridge, tenants: OutboundTenant[]): Promise<Map<string, string>> {
  const gateways = tenants.flatMap((tenant) => [tenant.trunk, tenant.spare]);
  const dialplans = tenants.flatMap((tenant) => [tenant.emergency, ...tenant.paid]);
  const { rows } = await bridge.fusion.query<{ id: string; enabled: string }>(
    `SELECT gateway_uuid::text AS id, enabled::text AS enabled FROM v_gateways WHERE gateway_uuid = ANY($1::uuid[])
     UNION ALL SELECT dialplan_uuid::text, dialplan_enabled::text FROM v_dialplans WHERE dialplan_uuid = ANY($2::uuid[]) ORDER BY 1`,
    [gateways, dialplans],
  );
  return new Map(rows.map((row) => [row.id, row.enabled]));
}

const fusionSnapshot = async (bridge: ChaosBridge, tenants: OutboundTenant[]) => [...(await enabledOf(bridge, tenants)).entries()];

/** Each tenant whose emergency route or its gateway is not enabled right now. */
async function emergencyDown(bridge: ChaosBridge, tenants: OutboundTenant[]): Promise<string[]> {
  const enabled = await enabledOf(bridge, tenants);
  return tenants
    .filter((tenant) => enabled.get(tenant.emergency) !== 'true' || enabled.get(tenant.trunk) !== 'true')
    .map((tenant) => `service ${tenant.serviceId}: emergency down`);
}

/** While restricted: each paid route, custom dialplan or spare gateway still enabled. */
async function paidStillUp(bridge: ChaosBridge, tenants: OutboundTenant[]): Promise<string[]> {
  const enabled = await enabledOf(bridge, tenants);
  return tenants.flatMap((tenant) => [tenant.spare, ...tenant.paid].filter((id) => enabled.get(id) !== 'false').map((id) => `service ${tenant.serviceId}: ${id} still enabled`));
}

async function creditAudits(bridge: ChaosBridge, ids: number[]): Promise<{ service_id: string; action: string; n: number }[]> {
  const { rows } = await bridge.bridge.query<{ service_id: string; action: string; n: number }>(
    `SELECT service_id::text, action, count(*)::int AS n FROM audit_log WHERE actor = 'credit' AND service_id = ANY($1::bigint[]) AND action LIKE 'credit.outbound-%' GROUP BY 1, 2`,
    [ids],
  );
  return rows;
}

/** lost = a crossing without its restriction or lift; doubled = one more than the crossings, or any re-apply (nothing was added). */
function checkOutbound(audits: { service_id: string; action: string; n: number }[], tenants: OutboundTenant[]): ConsistencyReport {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  for (const tenant of tenants) {
    const count = (action: string) => audits.find((row) => row.service_id === String(tenant.serviceId) && row.action === action)?.n ?? 0;
    for (const [action, expected] of [
      ['credit.outbound-restricted', CROSSINGS],
      ['credit.outbound-lifted', CROSSINGS],
      ['credit.outbound-reapplied', 0],
    ] as const) {
      const done = count(action);
      lost += Math.max(0, expected - done);
      doubled += Math.max(0, done - expected);
      if (done !== expected) problems.push(`service ${tenant.serviceId}: ${action} ${done} times, expected ${expected}`);
    }
  }
  return { events: tenants.length * CROSSINGS, services: tenants.length, lost, doubled, problems };
}

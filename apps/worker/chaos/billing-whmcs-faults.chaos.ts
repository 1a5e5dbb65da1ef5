import { QUEUE_NAMES } from '@ictvoip/queue';
import { migrateBridgeDatabase } from '@ictvoip/store';
import { startWhmcsStandin, type WhmcsFaultPlan, type WhmcsStandin } from '@ictvoip/testkit';
import { checkBilling, countBy, countRated, finishedBatches, previousMonth, seedBillingTenants, type BillingTenant } from './support/billing-ledger';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import type { AppProcess } from './support/processes';
import { loadAware, processOwningPort, sleep, waitUntil } from './support/processes';
import { ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, runsOf, seedOf } from './support/summary';
import { seededRandom } from './support/workload';
import { HeldJobsLog, type InterruptionReport } from './support/worker-killer';

const RUNS = runsOf(1, 5, 1);
const TENANTS = pick(16, 40, 16);
const CALLS_PER_TENANT = pick(8, 20, 8);
const KILLS_PER_RUN = pick(2, 4, 2);
const RATING_KILLS = pick(2, 4, 2);
const PUSH_TIMEOUT_MS = Number(process.env.CHAOS_BILLING_PUSH_TIMEOUT_MS ?? 240_000);

const WHMCS_CREDENTIALS = { identifier: 'chaosWhmcsIdent5e1d7a', secret: 'chaos-whmcs-secret-b83f0c2a9d41' } as const;

/**
 * Workers rate seeded CDRs, then close the month and push one WHMCS line per tenant while the WHMCS
 * stand-in fails about 30 % of all calls (HTTP 500, `result: error`, a write that took effect but never
 * answered, a write answered with unparseable JSON) and workers are killed with -9 mid-push (one of
 * them exactly while it waits for a write that took effect). End state: every rated call in exactly
 * one pushed batch, each batch's token on exactly one WHMCS line, the line plus the carried sub-cent
 * remainder equal to the input's price to the micro-unit.
 */
describe('billing push with WHMCS failing ~30 % and kill -9 of workers', () => {
  const tally = new ScenarioTally('billing: WHMCS 30% faults + kill -9', RUNS);
  afterAll(() => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
  });

  for (let run = 0; run < RUNS; run += 1) {
    const seed = seedOf(run) + 600;
    it(`run ${run + 1}/${RUNS} (seed ${seed}): ${TENANTS} tenants x ${CALLS_PER_TENANT} calls, 0 unbilled, 0 double-billed, sums exact`, () =>
      tally.run(async () => {
        const random = seededRandom(seed);
        const whmcs = await startWhmcsStandin({ ...WHMCS_CREDENTIALS, seed });
        const bridge = await ChaosBridge.start({
          env: {
            WHMCS_API_URL: whmcs.url,
            WHMCS_API_IDENTIFIER: WHMCS_CREDENTIALS.identifier,
            WHMCS_API_SECRET: WHMCS_CREDENTIALS.secret,
            // Long enough for the suite to see an unanswered write and kill the worker still waiting on it.
            WHMCS_API_TIMEOUT_MS: '2000',
            BILLING_TIMEZONE: 'UTC',
            CDR_SYNC_EVERY_SECONDS: '1',
            CDR_LOOKBACK_SECONDS: '0',
            CDR_SYNC_PAGE_SIZE: '7',
            // Rating phase: a 31-day close delay never closes last month, so no batch can start before every call is rated.
            BILLING_CLOSE_DELAY_SECONDS: String(31 * 86400),
            BILLING_CLOSE_EVERY_SECONDS: '1',
            // The stand-in's "cron" invoices every 300 ms: a token absent after 3 s was surely never written.
            BILLING_RESEND_AFTER_SECONDS: '3',
            BILLING_MAX_ATTEMPTS: '100',
          },
        });
        const cron = setInterval(() => {
          for (const client of whmcs.state.clients.keys()) whmcs.invoiceBillableItems(client);
        }, 300);
        let kills = 0;
        let finished = false;
        const heldJobs = new HeldJobsLog(bridge, [QUEUE_NAMES.billing]);
        try {
          await migrateBridgeDatabase(bridge.bridge);
          const { period, start } = previousMonth(new Date());
          const tenants = await seedBillingTenants(bridge, whmcs, random, { firstServiceId: 800_000 + run * 1000, count: TENANTS, calls: CALLS_PER_TENANT, monthStart: start });
          const totalCalls = tenants.reduce((sum, tenant) => sum + tenant.calls, 0);

          // Rating under kill -9: the rater dies while a page's charges are being inserted (slowed so the kill lands
          // there); that page's charges and its cursor must both be absent and the page rated again, once.
          const rating = await rateUnderKills(bridge, tenants, totalCalls, run);
          expect(await batchCount(bridge)).toBe(0);

          // The first write takes effect but is never answered (the first kill lands while a worker waits on it),
          // the next one takes effect with an unparseable reply; then about 30 % of all WHMCS calls fail at random
          // (reads ~25 %, writes ~33 %), write faults again including ones that took effect.
          const scripted = scriptFaults(whmcs, [
            [{ mode: 'timeout_after_effect', percent: 100, actions: ['AddBillableItem'] }],
            [{ mode: 'invalid_json', percent: 100, actions: ['AddBillableItem'] }],
            [
              { mode: 'http_500', percent: 15 },
              { mode: 'result_error', percent: 12 },
              { mode: 'timeout_after_effect', percent: 6, actions: ['AddBillableItem'] },
              { mode: 'invalid_json', percent: 5, actions: ['AddBillableItem'] },
            ],
          ]);
          const billing = { BILLING_CLOSE_DELAY_SECONDS: '0' };
          const restarts: Promise<AppProcess>[] = [];
          const killOne = async (why: string) => {
            // The first pusher can reach WHMCS before its start-up is confirmed: wait for it to be listed.
            const live = await waitUntil(() => (bridge.liveWorkers().length > 0 ? bridge.liveWorkers() : null), 30_000, 'a live worker to kill').catch(() => []);
            const victim: AppProcess | undefined = live[Math.floor(random() * live.length)];
            if (!victim) return;
            kills += 1;
            await victim.kill9();
            const held = await heldJobs.recordKill(victim);
            process.stdout.write(`billing run ${run + 1}: kill -9 worker ${victim.pid} (${why}), ${held.length} jobs in flight: ${held.map((job) => job.name).join(', ')}\n`);
            // Not awaited: the pushes go on (or wait) while the replacement starts, so later kills still land mid-push.
            // After the first kill two workers push.
            restarts.push(bridge.startWorker(billing));
            if (kills === 1) restarts.push(bridge.startWorker(billing));
          };
          // One pusher at first, so the first kill hits exactly the worker waiting on the unanswered write;
          // the watcher is armed before it starts, so it cannot miss that write.
          const kill = killDuringPush(whmcs, random, KILLS_PER_RUN, killOne, async () => finished || (await finishedBatches(bridge)) === tenants.length);
          await bridge.startWorker(billing);
          const started = Date.now();
          await waitUntil(async () => (await finishedBatches(bridge)) === tenants.length, PUSH_TIMEOUT_MS, `${tenants.length} pushed batches`, 250).catch(async (error: Error) => {
            const states = (await bridge.bridge.query('SELECT batch_id, state, attempts, last_error_code, last_error FROM billing_batches ORDER BY 1')).rows;
            process.stdout.write(
              `billing run ${run + 1}: batches ${JSON.stringify(states)}\nlast worker lines:\n${bridge
                .liveWorkers()
                .flatMap((w) => w.lines.slice(-15))
                .join('\n')}\n`,
            );
            throw error;
          });
          const pushedMs = Date.now() - started;
          await kill;
          await scripted;
          await Promise.all(restarts);
          whmcs.setFaults([]);

          const report = await checkBilling(bridge, whmcs, tenants, period);
          const leaks = secretLeaks(bridge, [WHMCS_CREDENTIALS.secret, CHAOS_SECRETS.webhook, CHAOS_SECRETS.admin, CHAOS_SECRETS.esl]);
          const faults = whmcs.state.requests.filter((request) => request.fault !== null);
          const unkilled = kills === 0 ? ['no worker was killed during the push'] : [];
          const hit = await heldJobs.interruptions();
          tally.add(report, { kills: kills + rating.kills, interrupted: rating.interrupted + hit.interrupted, problems: [...leaks, ...unkilled] });
          process.stdout.write(
            `billing run ${run + 1}: rating ${rating.kills} kills during a charge insert, ${rating.interrupted} cdr jobs in flight interrupted, ${rating.replayed} run again to completion; ` +
              `push ${hit.interrupted} jobs in flight interrupted, ${hit.replayed} of them run again to completion\n`,
          );
          for (const line of [...rating.unconfirmed, ...hit.unconfirmed]) process.stdout.write(`billing run ${run + 1}: ${line}\n`);
          process.stdout.write(
            `billing run ${run + 1}: ${tenants.length} tenants, ${totalCalls} calls, ${whmcs.state.requests.length} WHMCS calls (${faults.length} failed: ${JSON.stringify(countBy(faults.map((f) => f.fault ?? '')))}), ${kills} kills, all pushed in ${pushedMs} ms\n`,
          );
          expect(new Set(faults.map((request) => request.fault))).toEqual(new Set(['http_500', 'result_error', 'timeout_after_effect', 'invalid_json']));
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled }).toEqual({ lost: 0, doubled: 0 });
          expect(leaks).toEqual([]);
          expect(kills).toBeGreaterThan(0);
          // The first kill is of the worker waiting on an unanswered push: it held that job.
          expect(hit.interrupted).toBeGreaterThan(0);
          // Each rating kill hit a sync job inside its charge insert.
          expect(rating.kills).toBeGreaterThan(0);
          expect(rating.interrupted).toBeGreaterThanOrEqual(rating.kills);
        } finally {
          finished = true;
          await heldJobs.close();
          clearInterval(cron);
          await bridge.close();
          await whmcs.close();
        }
      }));
  }
});

/**
 * Rates the seeded CDRs with one worker at a time and kills it -9 up to RATING_KILLS times (until every call is rated), each while a
 * charge insert of its is running (a statement trigger slows every insert into cdr_charges by 500 ms
 * for the rating phase, so the kill lands inside it; the page's transaction then never commits). A
 * replacement starts after each kill. Ends when every call is rated; answers the kills and what
 * became of the sync jobs they interrupted.
 */
async function rateUnderKills(bridge: ChaosBridge, tenants: BillingTenant[], totalCalls: number, run: number): Promise<InterruptionReport> {
  await bridge.bridge.query(`CREATE FUNCTION chaos_slow_charge_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$`);
  await bridge.bridge.query('CREATE TRIGGER chaos_slow_charge_insert BEFORE INSERT ON cdr_charges FOR EACH STATEMENT EXECUTE FUNCTION chaos_slow_charge_insert()');
  const log = new HeldJobsLog(bridge, [QUEUE_NAMES.cdrSync]);
  let kills = 0;
  try {
    await bridge.startWorker();
    for (; kills < RATING_KILLS; kills += 1) {
      const victim = await waitUntil(
        async () => ((await cursorsAtLastCdr(bridge, tenants)) === tenants.length ? 'all read' : await chargeInsertOwner(bridge)),
        loadAware(60_000),
        'a charge insert in flight',
        20,
      );
      if (victim === 'all read') break;
      await victim.kill9();
      const held = await log.recordKill(victim);
      process.stdout.write(
        `billing run ${run + 1}: kill -9 rater ${victim.pid} inside a charge insert, ${held.length} jobs in flight: ${held.map((job) => job.name).join(', ')}\n`,
      );
      await bridge.startWorker();
    }
    // Done when every tenant's sync cursor is at its newest CDR; then every call must have its charge (they commit together).
    await waitUntil(async () => ((await cursorsAtLastCdr(bridge, tenants)) === tenants.length ? true : null), loadAware(120_000), 'every sync cursor at its last CDR', 250);
    const rated = await countRated(bridge);
    if (rated !== totalCalls) throw new Error(`${totalCalls - rated} of ${totalCalls} calls have no charge though every sync cursor has passed them`);
    await bridge.bridge.query('DROP TRIGGER chaos_slow_charge_insert ON cdr_charges');
    // Read while the last rater lives: its stalled-job check takes the killed raters' jobs over once their locks expire
    // and runs them again. Once every worker had stopped, each of them sat `active` for finishedJob's whole 15 s
    // (16 jobs, 4 minutes at ci size), and none could show it ran again.
    const interrupted = await log.interruptions();
    await Promise.all(bridge.liveWorkers().map((worker) => worker.terminate()));
    return { kills, ...interrupted };
  } finally {
    await log.close();
  }
}

/** Tenants whose CDR sync cursor is at their newest CDR in FusionPBX (the sync has read every call). */
async function cursorsAtLastCdr(bridge: ChaosBridge, tenants: BillingTenant[]): Promise<number> {
  const newest = await bridge.fusion.query<{ uuid: string }>(
    `SELECT DISTINCT ON (domain_uuid) xml_cdr_uuid::text AS uuid FROM v_xml_cdr WHERE domain_uuid = ANY($1::uuid[]) ORDER BY domain_uuid, start_stamp DESC, xml_cdr_uuid DESC`,
    [tenants.map((tenant) => tenant.domainUuid)],
  );
  const cursors = await bridge.bridge.query<{ uuid: string }>('SELECT last_xml_cdr_uuid::text AS uuid FROM cdr_sync_cursors WHERE service_id = ANY($1::bigint[])', [
    tenants.map((tenant) => tenant.serviceId),
  ]);
  const at = new Set(cursors.rows.map((row) => row.uuid));
  return newest.rows.filter((row) => at.has(row.uuid)).length;
}

/** The live worker whose charge insert is running now (sleeping in the trigger), found from its connection's port; null when none. */
async function chargeInsertOwner(bridge: ChaosBridge): Promise<AppProcess | null> {
  const { rows } = await bridge.bridge.query<{ port: number }>(
    `SELECT client_port AS port FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep' AND query LIKE '%INSERT INTO cdr_charges%'`,
  );
  for (const row of rows) {
    const owner = processOwningPort(row.port, bridge.liveWorkers());
    if (owner) return owner;
  }
  return null;
}

/**
 * Kills workers while batches are being pushed: the first kill lands while a worker waits on a
 * write WHMCS applied but never answered (a crash between push and record), the others at seeded
 * moments after a seeded number of AddBillableItem calls.
 */
async function killDuringPush(whmcs: WhmcsStandin, random: () => number, kills: number, killOne: (why: string) => Promise<void>, done: () => Promise<boolean>): Promise<void> {
  const adds = () => whmcs.state.requests.filter((request) => request.action === 'AddBillableItem');
  for (let k = 0; k < kills; k += 1) {
    const seen = adds().length;
    if (k === 0) {
      const hit = await waitUntil(
        async () =>
          adds()
            .slice(seen)
            .some((request) => request.fault === 'timeout_after_effect') || (await done())
            ? true
            : null,
        120_000,
        'an unanswered AddBillableItem',
        10,
      ).catch(() => false);
      if (!hit || (await done())) return;
      await killOne('waiting on a WHMCS write that took effect');
      continue;
    }
    const after = 1 + Math.floor(random() * 4);
    await waitUntil(async () => (adds().length >= seen + after || (await done()) ? true : null), 120_000, 'more AddBillableItem calls', 10).catch(() => false);
    if (await done()) return;
    await sleep(Math.floor(random() * 300));
    await killOne(`after ${after} more AddBillableItem calls`);
  }
}

/** Applies fault plans one after another: the next as soon as an AddBillableItem met the current one. */
async function scriptFaults(whmcs: WhmcsStandin, plans: WhmcsFaultPlan[][]): Promise<void> {
  for (const [index, plan] of plans.entries()) {
    whmcs.setFaults(plan);
    if (index === plans.length - 1) return;
    const mode = plan[0]?.mode;
    await waitUntil(
      () => whmcs.state.requests.some((request) => request.action === 'AddBillableItem' && request.fault === mode),
      120_000,
      `an AddBillableItem failing with ${mode}`,
      5,
    );
  }
}

async function batchCount(bridge: ChaosBridge): Promise<number> {
  return (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM billing_batches')).rows[0]?.n ?? 0;
}

import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { migrateBridgeDatabase } from '@ictvoip/store';
import { EVENT_STREAM_MAX_LEN, QUEUE_NAMES } from '@ictvoip/queue';
import { buildEvent, postWebhook, startWhmcsStandin } from '@ictvoip/testkit';
import Redis from 'ioredis';
import { Client } from 'pg';
import { checkBilling, checkCharges, countBy, finishedBatches, insertCall, previousMonth, seedBillingTenants, type BillingTenant, type SeededCall } from './support/billing-ledger';
import { CHAOS_SECRETS, ChaosBridge } from './support/chaos-bridge';
import { settle } from './support/consistency';
import { PrivateRedis } from './support/private-services';
import { loadAware, REPO_ROOT, sleep, waitUntil, type AppProcess } from './support/processes';
import { clientErrorsOf, errorLines, ScenarioTally, secretLeaks } from './support/run-scenario';
import { pick, seedOf } from './support/summary';
import { ServicePool } from './support/service-pool';
import { deliverAll, emptyTally, MAX_EXTENSIONS, seededRandom, type ServicePlan } from './support/workload';

/** Full: 30 minutes with every scheduler at a production-like pace; smoke: a three-minute look. Not in the CI subset. */
const DURATION_MS = pick(180_000, 30 * 60_000);
const SAMPLE_EVERY_MS = pick(5_000, 30_000);
const SCHEDULE_SECONDS = pick('10', '60');
/** Steady load: webhook events and REST writes per second. */
const EVENTS_PER_SECOND = 2;
const WRITES_PER_SECOND = 2;
const TENANTS = 5;
/**
 * The webhook events go to a bounded pool of services cycling through their lifecycles (see
 * ServicePool), not to a new service per event pair: with ~1 new service a second the 30-minute run
 * ended with ~1,400 services and every per-service background job (CDR-sync fan-out, drift, credit
 * checks) grew with them, so the load was not steady and "flat" could not be judged (h50). 200 live
 * services: created in the first 100 s of the full run, then each gets an event every ~100 s.
 */
const POOL_SIZE = pick(40, 200);
/**
 * One live service in TERMINATE_EVERY events is terminated and replaced by a fresh one (2 events/s: one
 * every 90 s in the full run). Terminated services stay in every CDR-sync fan-out (their late CDRs are
 * still billed) for BILLING_CLOSE_DELAY_SECONDS (8 minutes here), then once an hour each until purged
 * TERMINATE_RETENTION_DAYS later: ~5 in a fan-out's every-slot share, plus one slot's share of the
 * settled ones. The smoke run re-creates every 10 s to exercise it.
 */
const TERMINATE_EVERY = pick(20, 180);
/** A backlog may end this much above its settled start (besides FLAT_WITHIN) and still count as kept up: 30 s of arrivals. */
const KEEP_UP_SLACK = EVENTS_PER_SECOND * 30;
/** Billed tenants: last month's calls are closed and pushed to WHMCS during the run; new calls arrive all along. */
const BILLED_TENANTS = 6;
const LAST_MONTH_CALLS = 10;
const CDRS_PER_SECOND = 1;
/**
 * The calls' length and lateness set the CDR look-back, and the look-back sets how long final bills wait.
 * FusionPBX writes a CDR when its call ends, up to CDR_LATE_MS after that: its start is up to
 * CALL_MAX_SECONDS + CDR_LATE_MS behind the moment it appears. The sync reads from its cursor (the newest
 * start it has read, at most the time of that read) minus the look-back, and the first sync to read after
 * the CDR appeared starts up to one schedule plus the queue's wait later, so the look-back must cover the
 * call, its lateness and that wait, or the CDR is never read (a smoke run with 900 s calls, 120 s lateness
 * and a 600 s look-back lost 20 calls; every call's single charge is checked below). The close delay may
 * not be shorter than the look-back (config), and a terminated service's final bill waits that long as a
 * delayed job: those accumulate for one delay and then level off (as many end as start), so the delay must
 * be well inside the warm-up third of the run (10 of 30 minutes) for Redis's total to be flat from the
 * settled start on. With 900 s calls the look-back and delay were 1800 s and the total grew 35 % (h49).
 */
const CALL_MAX_SECONDS = 180;
const CDR_LATE_MS = 60_000;
/** The look-back's room for the sync to come round after a CDR appears: one schedule (60 s) and up to 3 minutes of queue wait on a loaded box. */
const SYNC_WAIT_SECONDS = 240;
/** 480 s: the final bills level off 8 minutes after the first terminations are applied, before the settled window (minute 10) of the 30-minute run. */
const CDR_LOOKBACK_SECONDS = CALL_MAX_SECONDS + CDR_LATE_MS / 1000 + SYNC_WAIT_SECONDS;
const WHMCS_CREDENTIALS = { identifier: 'chaosSoakIdent3b9d', secret: 'chaos-soak-whmcs-secret-61e0a4f7' } as const;
/**
 * A diagnostic, off by default: `CHAOS_SOAK_ESL_STALL=<start>:<seconds>` makes the event socket hold
 * every cache and gateway command longer than ESL_TIMEOUT_MS from <start> seconds into the load, for
 * <seconds> (a FreeSWITCH too loaded to answer, as on the box where the 30-minute run failed), to
 * measure how the FreeSWITCH backlog builds and drains. Registration polls are answered as usual. The
 * backlog jobs' failures it causes are the injected fault's error lines, not the bridge's.
 */
const ESL_STALL = /^(\d+):(\d+)$/.exec(process.env.CHAOS_SOAK_ESL_STALL ?? '');
const STALL_HOLD_MS = 6_000;
/**
 * The finished-job history the soak's bridge keeps (JOB_HISTORY_*_COUNT), small so that every queue's
 * history, even the slowest queue's (billing: a close and a credit check per schedule), is at its cap
 * before the settled window: from there Redis's total memory is measured, history included.
 */
const HISTORY_KEPT = { completed: 10, failed: 10 } as const;
/** Allowed growth between the settled start and the end of the run. */
const FLAT_WITHIN = 0.1;
/** The bridge's processes connect under this name (PGAPPNAME): the soak's own checking connections are not counted. */
const APP_NAME = 'ictvoip-soak-app';
const WORKER_CONCURRENCY = 8;
/**
 * The most connections the bridge's pools may open: the api's (10 to the bridge database, 5 to the one
 * FusionPBX server) and each worker's two pools of concurrency × 2 + 4 (apps/api/src/server.ts,
 * apps/worker/src/worker.ts). Connections past it are not a pool warming up: something opens its own.
 */
const poolCeiling = (apis: number, workers: number) => apis * (10 + 5) + workers * 2 * (WORKER_CONCURRENCY * 2 + 4);

const EMPTY_PROFILE_REG = readFileSync(join(REPO_ROOT, 'fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8').replace(
  /<registration>[\s\S]*?<\/registration>\s*/g,
  '',
);

interface Sample {
  at: number;
  rssBytes: number;
  pgConnections: number;
  /** The bridge's PostgreSQL connections may not pass what its pools allow (see poolCeiling). */
  pgCeiling: number;
  /**
   * Every key of the (private) Redis but the finished-job history and the live jobs: the queues'
   * own keys, the job schedulers, the bridge's own keys (rate limits). Nothing here follows the
   * traffic, so it must stay flat: a key written and never removed (an orphaned job hash, a counter
   * without expiry) shows here.
   */
  redisBytes: number;
  /** Jobs not finished yet (waiting, active, delayed, prioritized): the work still to do, printed (the backlog is checked on PostgreSQL). */
  redisLiveBytes: number;
  liveJobs: number;
  /** Of the live jobs, final bills waiting for the close delay (they accumulate until BILLING_CLOSE_DELAY_SECONDS has passed once). */
  finalBills: number;
  /** The live jobs by queue and state (`billing delayed`: 12), printed: a population that keeps growing shows here. */
  liveBy: Record<string, number>;
  /** The finished-job history (finished jobs and event streams): bounded by count, each part checked against its bound. */
  redisHistoryBytes: number;
  /** Parts of the history over their bound (none may be). */
  historyOverBound: string[];
  /** Every key of the (private) Redis, exact: the measure that must stay flat (history and live jobs included). */
  redisTotalBytes: number;
  /** Redis's used_memory: the keys plus Redis's own (client buffers, scripts), printed. */
  redisRawBytes: number;
  /** Rated charges so far: shows the CDR sync rating along the run, not only at its end. */
  ratedCharges: number;
  /** The FreeSWITCH backlog: events waiting for it, services behind, and backlogs cleared so far (arrival vs drain). */
  pendingApply: number;
  /** Events whose database side is not done yet (queued or running): the provisioning queue keeping up. */
  unfinished: number;
  /** Events received so far (inbox rows) and of them those whose database side is done: arrival and apply rates. */
  received: number;
  applied: number;
  servicesBehind: number;
  backlogsApplied: number;
}

/** XADD MAXLEN ~ trims whole stream nodes only: a stream may hold one node (100 entries) more than its bound. */
const STREAM_SLACK = 100;

/**
 * The finished-job history BullMQ keeps (packages/queue/src/retention.ts): each queue's completed and
 * failed sets with their job hashes, and its event stream. Each part is checked against its bound at
 * every sample, so what is set apart here cannot grow past a small, known size; in a 3-minute run
 * (and for the slower queues in 30 minutes) it is still filling to it, which is why it is not in the
 * flat measure. Returns its keys, its bytes and the parts over their bound.
 */
async function historyOf(redis: Redis, prefix: string): Promise<{ keys: Set<string>; overBound: string[] }> {
  const keys = new Set<string>();
  const overBound: string[] = [];
  for (const queue of Object.values(QUEUE_NAMES)) {
    const base = `${prefix}:${queue}`;
    const length = await redis.xlen(`${base}:events`);
    if (length > EVENT_STREAM_MAX_LEN + STREAM_SLACK) overBound.push(`${queue} events ${length}`);
    keys.add(`${base}:events`);
    for (const [finished, bound] of [
      ['completed', HISTORY_KEPT.completed],
      ['failed', HISTORY_KEPT.failed],
    ] as const) {
      const ids = await redis.zrange(`${base}:${finished}`, 0, -1);
      if (ids.length > bound) overBound.push(`${queue} ${finished} ${ids.length}`);
      keys.add(`${base}:${finished}`);
      for (const id of ids) keys.add(`${base}:${id}`).add(`${base}:${id}:logs`);
    }
  }
  return { keys, overBound };
}

/** The jobs not finished yet, with their lists and sets: work to do, not retention. */
async function liveOf(redis: Redis, prefix: string): Promise<{ keys: Set<string>; jobs: number; finalBills: number; by: Record<string, number> }> {
  const keys = new Set<string>();
  const by: Record<string, number> = {};
  let jobs = 0;
  let finalBills = 0;
  for (const queue of Object.values(QUEUE_NAMES)) {
    const base = `${prefix}:${queue}`;
    for (const [state, kind] of [
      ['wait', 'list'],
      ['paused', 'list'],
      ['active', 'list'],
      ['delayed', 'zset'],
      ['prioritized', 'zset'],
      ['waiting-children', 'zset'],
    ] as const) {
      const ids = kind === 'list' ? await redis.lrange(`${base}:${state}`, 0, -1) : await redis.zrange(`${base}:${state}`, 0, -1);
      keys.add(`${base}:${state}`);
      jobs += ids.length;
      if (ids.length > 0) by[`${queue} ${state}`] = ids.length;
      // A terminated service's final bill waits BILLING_CLOSE_DELAY_SECONDS (CDR_LOOKBACK_SECONDS here) as a delayed job: counted, printed.
      finalBills += ids.filter((id) => id.startsWith('billing-final-')).length;
      for (const id of ids) keys.add(`${base}:${id}`).add(`${base}:${id}:logs`).add(`${base}:${id}:lock`);
    }
  }
  return { keys, jobs, finalBills, by };
}

/** Every key of the Redis with its exact size (SAMPLES 0: the default samples 5 elements of a stream or hash and guesses the rest). */
async function forEachKey(redis: Redis, visit: (key: string, bytes: number) => void): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const sizes = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => visit(key, typeof sizes[i]?.[1] === 'number' ? (sizes[i]![1] as number) : 0));
  } while (cursor !== '0');
}

/**
 * Of keys neither list placed, those gone by now: a job that ran and was trimmed from the history
 * (10 kept) between the walk and the lists read after it, which a fan-out's hundreds of short CDR-sync
 * jobs do within one walk (a smoke run counted up to 8 such hashes, 10 KB, in the rest). Work, not a
 * key that stays: counted with the live jobs. A key that stays is still there and stays in the rest.
 */
async function goneSince(redis: Redis, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.exists(key);
  const replies = (await pipeline.exec()) ?? [];
  return new Set(keys.filter((_, i) => replies[i]?.[1] === 0));
}

/** Bytes of every key, split into the finished-job history, the live jobs and the rest. The bridge owns the whole private Redis. */
async function redisBytesOf(
  redis: Redis,
  prefix: string,
): Promise<Pick<Sample, 'redisBytes' | 'redisTotalBytes' | 'redisHistoryBytes' | 'historyOverBound' | 'redisLiveBytes' | 'liveJobs' | 'finalBills' | 'liveBy'>> {
  const history = await historyOf(redis, prefix);
  const live = await liveOf(redis, prefix);
  const sizes = new Map<string, number>();
  await forEachKey(redis, (key, bytes) => sizes.set(key, bytes));
  // Jobs added while the keys were walked (a CDR-sync fan-out adds a job per service at once) are in
  // neither list read before the walk: the lists read again after it place them (the 30-minute run
  // counted such jobs in the rest, 8 KB → up to 310 KB at a fan-out, and failed on it).
  const liveAfter = await liveOf(redis, prefix);
  const historyAfter = await historyOf(redis, prefix);
  const gone = await goneSince(
    redis,
    [...sizes.keys()].filter((key) => !history.keys.has(key) && !live.keys.has(key) && !liveAfter.keys.has(key) && !historyAfter.keys.has(key)),
  );
  let rest = 0;
  let kept = 0;
  let pending = 0;
  for (const [key, bytes] of sizes) {
    if (history.keys.has(key)) kept += bytes;
    else if (live.keys.has(key) || liveAfter.keys.has(key) || gone.has(key)) pending += bytes;
    else if (historyAfter.keys.has(key)) kept += bytes;
    else rest += bytes;
  }
  return {
    redisBytes: rest,
    redisTotalBytes: rest + kept + pending,
    redisHistoryBytes: kept,
    historyOverBound: [...history.overBound, ...historyAfter.overBound],
    redisLiveBytes: pending,
    liveJobs: live.jobs,
    finalBills: live.finalBills,
    liveBy: live.by,
  };
}

function rssOf(app: AppProcess): number {
  try {
    const line = readFileSync(`/proc/${app.pid}/status`, 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('VmRSS:'));
    return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

async function sample(bridge: ChaosBridge, redis: Redis): Promise<Sample> {
  const admin = new Client({ connectionString: bridge.pgAdminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = $1 AND application_name = $2', [
      'client backend',
      APP_NAME,
    ]);
    const memory = await redis.info('memory');
    const redisRawBytes = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0);
    const redisBytes = await redisBytesOf(redis, bridge.prefix);
    const pgCeiling = poolCeiling(bridge.liveApis().length, bridge.liveWorkers().length);
    const rssBytes = [...bridge.liveApis(), ...bridge.liveWorkers()].reduce((sum, app) => sum + rssOf(app), 0);
    const rated = await bridge.bridge.query<{ n: number }>(`SELECT count(*)::int AS n FROM cdr_charges WHERE status = 'rated'`);
    return { at: Date.now(), rssBytes, pgConnections: rows[0].n, pgCeiling, ...redisBytes, redisRawBytes, ratedCharges: rated.rows[0]?.n ?? 0, ...(await backlogOf(bridge)) };
  } finally {
    await admin.end();
  }
}

/** The FreeSWITCH backlog now: events `pending_apply`, services behind, and backlogs cleared so far (their audit entries). */
async function backlogOf(bridge: ChaosBridge): Promise<Pick<Sample, 'pendingApply' | 'unfinished' | 'received' | 'applied' | 'servicesBehind' | 'backlogsApplied'>> {
  const { rows } = await bridge.bridge.query<{ pending: number; unfinished: number; received: number; done: number; behind: number; applied: number }>(
    `SELECT (SELECT count(*)::int FROM webhook_inbox WHERE status = 'pending_apply') AS pending,
            (SELECT count(*)::int FROM webhook_inbox WHERE action <> 'test_connection') AS received,
            (SELECT count(*)::int FROM webhook_inbox WHERE action <> 'test_connection' AND status IN ('pending_apply', 'succeeded', 'failed')) AS done,
            (SELECT count(*)::int FROM webhook_inbox WHERE status NOT IN ('pending_apply', 'succeeded', 'failed')) AS unfinished,
            (SELECT count(*)::int FROM services WHERE pending_apply IS NOT NULL) AS behind,
            (SELECT count(DISTINCT (service_id, detail->>'backlogVersion'))::int FROM audit_log WHERE detail ? 'backlogVersion') AS applied`,
  );
  const row = rows[0]!;
  return { pendingApply: row.pending, unfinished: row.unfinished, received: row.received, applied: row.done, servicesBehind: row.behind, backlogsApplied: row.applied };
}

/** The ESL_STALL window: FreeSWITCH commands other than `sofia …` polls are answered only after ESL_TIMEOUT_MS passed. */
function stallEventSocket(bridge: ChaosBridge, from: number, forMs: number): void {
  bridge.esl.beforeAnswer = async (command) => {
    const now = Date.now();
    if (now < from || now > from + forMs || command.startsWith('sofia ')) return;
    await sleep(STALL_HOLD_MS);
  };
  process.stdout.write(`soak: the event socket stalls from ${new Date(from).toISOString()} for ${forMs / 1000} s\n`);
}

/** A WHMCS call's action, and for GetClientsProducts what it asked for: one service, a package's listing, or all of WHMCS. */
function callKind(request: { action: string; params: Record<string, string> }): string {
  if (request.action !== 'GetClientsProducts') return request.action;
  return `GetClientsProducts ${request.params.serviceid ? 'by service' : request.params.pid ? 'by package' : 'all'}`;
}

type Shapes = [string, { keys: number; bytes: number }][];

/**
 * Where Redis's memory is at the end, by key shape (ids and numbers as `*`), largest first: of all
 * keys, and of the rest (neither finished-job history nor live jobs): what grew when the flatness check fails.
 */
async function redisByShape(redis: Redis, prefix: string): Promise<{ all: Shapes; rest: Shapes }> {
  const before = [...(await historyOf(redis, prefix)).keys, ...(await liveOf(redis, prefix)).keys];
  const sizes = new Map<string, number>();
  await forEachKey(redis, (key, bytes) => sizes.set(key, bytes));
  // As in redisBytesOf: a job added during the walk is placed by the lists read after it.
  const setApart = new Set([...before, ...(await liveOf(redis, prefix)).keys, ...(await historyOf(redis, prefix)).keys]);
  for (const key of await goneSince(
    redis,
    [...sizes.keys()].filter((key) => !setApart.has(key)),
  ))
    setApart.add(key);
  const all = new Map<string, { keys: number; bytes: number }>();
  const rest = new Map<string, { keys: number; bytes: number }>();
  const count = (shapes: Map<string, { keys: number; bytes: number }>, shape: string, bytes: number) => {
    const entry = shapes.get(shape) ?? { keys: 0, bytes: 0 };
    entry.keys += 1;
    entry.bytes += bytes;
    shapes.set(shape, entry);
  };
  for (const [key, bytes] of sizes) {
    const shape = key.replace(/\{chaos-[0-9a-f]+\}/, '{prefix}').replace(/[0-9a-f]{8}-[0-9a-f-]{27}|\d+/g, '*');
    count(all, shape, bytes);
    if (!setApart.has(key)) count(rest, shape, bytes);
  }
  const top = (shapes: Map<string, { keys: number; bytes: number }>) => [...shapes].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12);
  return { all: top(all), rest: top(rest) };
}

function progressOf(now: Sample, first: Sample): string {
  const seconds = Math.round((now.at - first.at) / 1000);
  return `${seconds} s, Redis total ${now.redisTotalBytes} B (used_memory ${now.redisRawBytes}), rest/history/live ${now.redisBytes}/${now.redisHistoryBytes}/${now.redisLiveBytes} B (${now.liveJobs} live jobs ${JSON.stringify(now.liveBy)}, ${now.finalBills} final bills delayed), pg ${now.pgConnections}, ${now.unfinished} events unfinished, ${now.pendingApply} events pending_apply, ${now.servicesBehind} services behind, ${now.backlogsApplied} backlogs applied, load ${loadavg()[0]!.toFixed(1)}`;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/**
 * The work waiting, settled start → end (medians): when the bridge drains slower than the load arrives
 * (a box too loaded to keep up), the provisioning backlog and the CDR-sync fan-out in flight grow and
 * Redis's total with them; retention and leaks show in the history and the rest instead.
 */
function backlogGrowth(samples: Sample[]): string {
  const { start, end } = windowsOf(samples);
  const both = (of: (s: Sample) => number) => `${median(start.map(of))} → ${median(end.map(of))}`;
  const waiting = (queue: string) => (s: Sample) => (s.liveBy[`${queue} wait`] ?? 0) + (s.liveBy[`${queue} active`] ?? 0);
  return `events unfinished ${both((s) => s.unfinished)}, provisioning jobs ${both(waiting('provisioning'))}, CDR-sync jobs ${both(waiting('cdr-sync'))}, final bills delayed ${both((s) => s.finalBills)}, live bytes ${both((s) => s.redisLiveBytes)}`;
}

/**
 * Did the bridge keep up with the load from the settled start on: events applied (database side) per
 * second against events arriving, and the events unfinished at the settled start and the end (medians).
 * A backlog that grows means the box could not keep up: the live jobs, and Redis's total with them,
 * grow for that reason and not from a leak, and the failure says so (it is still a failure).
 */
function keepUpOf(samples: Sample[]): { keptUp: boolean; text: string } {
  const { start, end } = windowsOf(samples);
  const first = start[0] ?? samples[0]!;
  const last = samples[samples.length - 1]!;
  const seconds = Math.max(1, (last.at - first.at) / 1000);
  const rate = (of: (s: Sample) => number) => ((of(last) - of(first)) / seconds).toFixed(2);
  const backlogStart = median(start.map((s) => s.unfinished));
  const backlogEnd = median(end.map((s) => s.unfinished));
  const keptUp = backlogEnd <= backlogStart * (1 + FLAT_WITHIN) + KEEP_UP_SLACK;
  return {
    keptUp,
    text:
      `events applied ${rate((s) => s.applied)}/s vs arriving ${rate((s) => s.received)}/s over the last ${Math.round(seconds)} s, ` +
      `events unfinished ${backlogStart} at the settled start → ${backlogEnd} at the end (medians), ` +
      `services with FreeSWITCH pending ${median(start.map((s) => s.servicesBehind))} → ${median(end.map((s) => s.servicesBehind))}, load ${loadavg()[0]!.toFixed(1)}`,
  };
}

/**
 * Growth of each measure from the settled start (the fifth of the run after the first third, which
 * is warm-up: the JIT settles, the finished-job history fills to its bounds) to the end (the last
 * fifth), as a fraction of the start. PostgreSQL connections are compared like with like: a pool
 * opens connections as the demand peaks and closes idle ones after 10 s, so a sample is the demand of
 * that moment; the end (its median) is compared with the highest count up to the end of the settled
 * window (the pools' size once warm). A leak grows past both; a pool warming does not.
 */
type Measured = 'rssBytes' | 'redisBytes' | 'redisTotalBytes' | 'redisHistoryBytes' | 'redisLiveBytes' | 'redisRawBytes';

function windowsOf(samples: Sample[]): { warm: number; fifth: number; start: Sample[]; end: Sample[] } {
  const fifth = Math.max(1, Math.floor(samples.length / 5));
  const warm = Math.floor(samples.length / 3);
  return { warm, fifth, start: samples.slice(warm, warm + fifth), end: samples.slice(-fifth) };
}

function growth(samples: Sample[]): Record<Measured | 'pgConnections', number> {
  const { warm, fifth, start, end } = windowsOf(samples);
  const grown = (before: number, after: number) => (before > 0 ? (after - before) / before : 0);
  const of = (key: Measured) => grown(median(start.map((s) => s[key])), median(end.map((s) => s[key])));
  const warmPeak = Math.max(...samples.slice(0, warm + fifth).map((s) => s.pgConnections));
  return {
    rssBytes: of('rssBytes'),
    pgConnections: grown(warmPeak, median(end.map((s) => s.pgConnections))),
    redisBytes: of('redisBytes'),
    redisTotalBytes: of('redisTotalBytes'),
    redisHistoryBytes: of('redisHistoryBytes'),
    redisLiveBytes: of('redisLiveBytes'),
    redisRawBytes: of('redisRawBytes'),
  };
}

/**
 * Runs the checks, then fails when the backlog grew; when the backlog grew, any failure starts with
 * "box could not keep up: <rates and backlog>" so a too-loaded box is named as the cause (still a failure).
 */
function judge(keepUp: { keptUp: boolean; text: string }, checks: () => void): void {
  try {
    checks();
    if (!keepUp.keptUp) throw new Error('the provisioning backlog grew from the settled start to the end');
  } catch (error) {
    if (keepUp.keptUp) throw error;
    throw new Error(`box could not keep up: ${keepUp.text}\n${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Soak: the bridge under steady webhook and REST load with its background jobs running (CDR sync,
 * registration and gateway polls, drift check, reconciler) for DURATION_MS. RSS of the api and
 * worker processes, PostgreSQL connections and Redis memory (every key) must stay
 * within 10 % of their settled start; no process may print an error-level line (nothing is broken on purpose); every event is
 * applied exactly once. `CHAOS_SIZE=full npx jest --config jest.chaos.config.js apps/worker/chaos/soak.chaos.ts`.
 */
describe('soak: steady load with every background job running', () => {
  const tally = new ScenarioTally('soak', 1);
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    process.stdout.write(`${JSON.stringify(tally.record())}\n`);
    await redis.stop();
  });

  const seed = seedOf(0) + 900;
  it(`${Math.round(DURATION_MS / 60_000)} min (seed ${seed}): memory, connections and Redis flat within ${FLAT_WITHIN * 100} %, no error line`, () =>
    tally.run(async () => {
      const random = seededRandom(seed);
      const whmcs = await startWhmcsStandin({ ...WHMCS_CREDENTIALS, seed });
      const bridge = await ChaosBridge.start({
        redisUrl: redis.url,
        env: {
          CDR_SYNC_EVERY_SECONDS: SCHEDULE_SECONDS,
          REGISTRATION_POLL_SECONDS: SCHEDULE_SECONDS,
          DRIFT_CHECK_EVERY_SECONDS: SCHEDULE_SECONDS,
          CREDIT_CHECK_EVERY_SECONDS: SCHEDULE_SECONDS,
          BILLING_CLOSE_EVERY_SECONDS: SCHEDULE_SECONDS,
          RECONCILE_EVERY_SECONDS: '5',
          WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
          JOB_HISTORY_COMPLETED_COUNT: String(HISTORY_KEPT.completed),
          JOB_HISTORY_FAILED_COUNT: String(HISTORY_KEPT.failed),
          PGAPPNAME: APP_NAME,
          // No event-socket fault is injected here: a loaded test box must not turn a slow reply into one.
          ESL_TIMEOUT_MS: '5000',
          // With ESL_STALL, a long FREESWITCH_RETRY_MAX_MS shows the backlog's drain as it was before the retry delay was capped.
          ...(process.env.FREESWITCH_RETRY_MAX_MS ? { FREESWITCH_RETRY_MAX_MS: process.env.FREESWITCH_RETRY_MAX_MS } : {}),
          WHMCS_API_URL: whmcs.url,
          WHMCS_API_IDENTIFIER: WHMCS_CREDENTIALS.identifier,
          WHMCS_API_SECRET: WHMCS_CREDENTIALS.secret,
          WHMCS_API_TIMEOUT_MS: '5000',
          BILLING_TIMEZONE: 'UTC',
          // The look-back covers a call, its CDR's lateness and the sync's wait (see CALL_MAX_SECONDS); the close delay
          // may not be shorter, and is not longer: final bills wait it as delayed jobs, level from one delay on.
          CDR_LOOKBACK_SECONDS: String(CDR_LOOKBACK_SECONDS),
          BILLING_CLOSE_DELAY_SECONDS: String(CDR_LOOKBACK_SECONDS),
          // The stand-in's invoice run is every 5 s: a token absent after 30 s was surely never written.
          BILLING_RESEND_AFTER_SECONDS: '30',
        },
      });
      // What WHMCS's daily cron does, sped up: billable items go on invoices.
      const cron = setInterval(() => {
        for (const client of whmcs.state.clients.keys()) whmcs.invoiceBillableItems(client);
      }, 5000);
      // Registration polls get FreeSWITCH's reply for a profile with no phone registered (a real capture, emptied).
      bridge.esl.respond(/^sofia xmlstatus profile '\w+' reg$/, () => EMPTY_PROFILE_REG);
      const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        await migrateBridgeDatabase(bridge.bridge);
        const { period: lastMonth, start: lastMonthStart } = previousMonth(new Date());
        const billed = await seedBillingTenants(bridge, whmcs, random, { firstServiceId: 950_000, count: BILLED_TENANTS, calls: LAST_MONTH_CALLS, monthStart: lastMonthStart });
        const lastMonthCalls = (
          await bridge.fusion.query<{ id: string }>(`SELECT xml_cdr_uuid::text AS id FROM v_xml_cdr WHERE domain_name = ANY($1)`, [billed.map((t) => t.domainName)])
        ).rows.map((row) => row.id);
        const api = await bridge.startApi();
        await Promise.all([bridge.startWorker(), bridge.startWorker()]);
        const tenants = Array.from({ length: TENANTS }, (_, i) => 900_000 + i);
        // The REST clients' tenants are part of the end-state check too (one create each).
        const plans: ServicePlan[] = [];
        for (const serviceId of tenants) {
          const event = buildEvent({ serviceId, plan: { maxExtensions: MAX_EXTENSIONS, firstExtension: 100 } });
          const body = JSON.stringify(event);
          const reply = await postWebhook(api.url, body, { query: '?wait=20', secret: CHAOS_SECRETS.webhook });
          if (reply.body.result !== 'success' && reply.body.result !== 'pending') throw new Error(`create ${serviceId}: ${JSON.stringify(reply.body)}`);
          // A loaded box can take longer than the webhook's wait (the second 30-minute attempt stopped there): the inbox says when the tenant exists.
          await waitUntil(
            async () => {
              const { rows } = await bridge.bridge.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
              return rows[0]?.status === 'succeeded' || rows[0]?.status === 'pending_apply';
            },
            loadAware(60_000),
            `the create of REST tenant ${serviceId}`,
            250,
          );
          plans.push({ serviceId, events: [{ serviceId, action: 'create', eventId: String(event.eventId), body }] });
        }
        const endsAt = Date.now() + DURATION_MS;
        if (ESL_STALL) stallEventSocket(bridge, Date.now() + Number(ESL_STALL[1]) * 1000, Number(ESL_STALL[2]) * 1000);
        const posts = emptyTally();
        let writes = 0;
        let writeErrors = 0;
        // One second's events at a time, each to a different service of the pool (a service's events go in order, batch after batch).
        const pool = new ServicePool(seededRandom(seed + 1), POOL_SIZE, 910_000, TERMINATE_EVERY);
        const webhooks = (async () => {
          for (let second = 0; Date.now() < endsAt; second += 1) {
            const batch = pool.next(EVENTS_PER_SECOND);
            await Promise.all([deliverAll(() => [api.url], batch, { seed: seed + second, parallel: EVENTS_PER_SECOND, tally: posts }), sleep(1000)]);
          }
        })();
        const restWrites = (async () => {
          while (Date.now() < endsAt) {
            const serviceId = tenants[Math.floor(random() * tenants.length)];
            const reply = await fetch(`${api.url}/v1/tenants/${serviceId}/extensions/100`, {
              method: 'PUT',
              headers: { authorization: `Bearer ${CHAOS_SECRETS.admin}`, 'content-type': 'application/json' },
              body: JSON.stringify({ description: `soak ${writes}` }),
            }).catch(() => null);
            writes += 1;
            if (!reply || reply.status >= 500) writeErrors += 1;
            await reply?.text();
            await sleep(1000 / WRITES_PER_SECOND);
          }
        })();
        // FusionPBX writes CDRs all along: CDRS_PER_SECOND calls of up to CALL_MAX_SECONDS over the billed
        // tenants, each written when it ended, up to CDR_LATE_MS late; the CDR sync rates them every SCHEDULE_SECONDS.
        const calls: SeededCall[] = [];
        const cdrs = (async () => {
          while (Date.now() < endsAt) {
            const tenant: BillingTenant = billed[Math.floor(random() * billed.length)]!;
            const late = Math.floor(random() * CDR_LATE_MS);
            calls.push(await insertCall(bridge, tenant, random, (billsec) => new Date(Date.now() - billsec * 1000 - late), CALL_MAX_SECONDS));
            await sleep(1000 / CDRS_PER_SECOND);
          }
        })();
        const samples: Sample[] = [];
        // Once, where the settled start begins: the rest's shapes then, to compare with the end's.
        let settledShapesAt: number | null = endsAt - (DURATION_MS * 2) / 3;
        while (Date.now() < endsAt) {
          const now = await sample(bridge, probe);
          samples.push(now);
          process.stdout.write(`soak sample ${samples.length}: ${progressOf(now, samples[0]!)}, pool ${pool.live} live, ${pool.terminated} terminated\n`);
          if (settledShapesAt !== null && Date.now() >= settledShapesAt) {
            settledShapesAt = null;
            process.stdout.write(`soak settled start: Redis rest by key shape: ${JSON.stringify((await redisByShape(probe, bridge.prefix)).rest)}\n`);
          }
          await sleep(SAMPLE_EVERY_MS);
        }
        await Promise.all([webhooks, restWrites, cdrs]);
        // The backlog's drain once the load stops, every 10 s of the settle: does it shrink, and how fast.
        const draining = setInterval(() => {
          void backlogOf(bridge).then(
            (now) =>
              process.stdout.write(
                `soak settle: ${now.unfinished} events unfinished, ${now.pendingApply} events pending_apply, ${now.servicesBehind} services behind, ${now.backlogsApplied} backlogs applied\n`,
              ),
            () => undefined,
          );
        }, 10_000);
        // 120 s on a quiet box; at load 30–50 on 2 cores the events' database side ran at about 1/s (2/s arriving), so the settle stretches with the load.
        const { report } = await settle(bridge, [...plans, ...pool.plans], loadAware(120_000), { otherDomains: billed.map((tenant) => tenant.domainName) }).finally(() =>
          clearInterval(draining),
        );
        // The last calls are rated by the next sync or two; last month was pushed long before.
        const callCount = lastMonthCalls.length + calls.length;
        const ratedAll = await waitUntil(
          async () => ((await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM cdr_charges')).rows[0]!.n >= callCount ? true : null),
          3 * Number(SCHEDULE_SECONDS) * 1000 + 60_000,
          `${callCount} charges`,
          500,
        ).catch(() => false);
        const pushed = await finishedBatches(bridge);
        const charges = await checkCharges(bridge, calls);
        const bill = await checkBilling(bridge, whmcs, billed, lastMonth);
        const chargeProblems = [...(ratedAll ? [] : ['not every call was charged in time']), ...charges.problems, ...bill.problems];
        const grew = growth(samples);
        const keepUp = keepUpOf(samples);
        const errors = errorLines(bridge).filter((line) => !(ESL_STALL && /"job":"freeswitch\.backlog".*FreeSWITCH side still pending/.test(line)));
        const leaks = secretLeaks(bridge, [...Object.values(CHAOS_SECRETS), WHMCS_CREDENTIALS.secret]);
        tally.add(report, { ...clientErrorsOf(posts), problems: [...leaks, ...errors.slice(0, 5), ...chargeProblems.slice(0, 20)] });
        const ratedAlong = new Set(samples.map((s) => s.ratedCharges)).size;
        process.stdout.write(
          `soak: ${report.events} events, ${writes} REST writes (${writeErrors} 5xx or no answer), ${calls.length} CDRs written during the run + ${lastMonthCalls.length} of last month, ` +
            `${pushed}/${billed.length} last-month batches pushed (${whmcs.state.billableItems.length} WHMCS lines, ${whmcs.state.requests.length} WHMCS calls ${JSON.stringify(countBy(whmcs.state.requests.map(callKind)))}), ` +
            `rated count took ${ratedAlong} distinct values over ${samples.length} samples, growth ${JSON.stringify(grew)}, work waiting (settled start → end medians): ${backlogGrowth(samples)}, ` +
            `services: ${pool.plans.length} in the pool's lifecycles (${pool.live} live, ${pool.terminated} terminated), kept up: ${keepUp.keptUp} (${keepUp.text}), ` +
            `first ${JSON.stringify(samples[0])}, last ${JSON.stringify(samples[samples.length - 1])}\n`,
        );
        // What was unfinished, and what went wrong, when a check fails: the inbox by status, services whose FreeSWITCH side waits, error lines.
        const inboxStates = (await bridge.bridge.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM webhook_inbox GROUP BY 1')).rows;
        const pendingApply = (await bridge.bridge.query<{ n: number }>('SELECT count(*)::int AS n FROM services WHERE pending_apply IS NOT NULL')).rows[0]?.n;
        process.stdout.write(
          `soak end: inbox ${JSON.stringify(inboxStates)}, ${pendingApply} services with FreeSWITCH pending, ${chargeProblems.length} charge problems, ` +
            `${errors.length} error lines${errors.length > 0 ? `, first: ${errors.slice(0, 3).join(' | ').slice(0, 1500)}` : ''}\n`,
        );
        const byService = whmcs.state.requests.filter((request) => request.action === 'GetClientsProducts' && request.params.serviceid);
        process.stdout.write(
          `soak end: GetClientsProducts by service id: ${byService.length} calls for ${new Set(byService.map((request) => request.params.serviceid)).size} services\n`,
        );
        const shapes = await redisByShape(probe, bridge.prefix);
        process.stdout.write(`soak end: Redis by key shape, largest first: ${JSON.stringify(shapes.all)}; of the rest: ${JSON.stringify(shapes.rest)}\n`);
        // Every check below; a growing backlog fails too, and any failure then starts with "box could not keep up".
        judge(keepUp, () => {
          expect(report.problems.slice(0, 20)).toEqual([]);
          expect({ lost: report.lost, doubled: report.doubled, serverErrors: posts.serverErrors, writeErrors }).toEqual({ lost: 0, doubled: 0, serverErrors: 0, writeErrors: 0 });
          expect(errors.slice(0, 5)).toEqual([]);
          // Every call rated once at the deck's price; last month billed once per tenant, to the micro-unit.
          expect(chargeProblems.slice(0, 20)).toEqual([]);
          expect({ unchargedCalls: charges.lost, unbilled: bill.lost, doubleBilled: bill.doubled, pushed }).toEqual({
            unchargedCalls: 0,
            unbilled: 0,
            doubleBilled: 0,
            pushed: billed.length,
          });
          // The sync rated during the load, not only once at the end.
          expect(ratedAlong).toBeGreaterThanOrEqual(3);
          expect(leaks).toEqual([]);
          expect(grew.rssBytes).toBeLessThanOrEqual(FLAT_WITHIN);
          expect(grew.pgConnections).toBeLessThanOrEqual(FLAT_WITHIN);
          // Whatever the load, never more connections than the pools allow.
          expect(samples.filter((s) => s.pgConnections > s.pgCeiling).map((s) => `${s.pgConnections} > ${s.pgCeiling}`)).toEqual([]);
          // Redis's total (every key, the finished-job history at its cap and the live jobs included) flat.
          expect(grew.redisTotalBytes).toBeLessThanOrEqual(FLAT_WITHIN);
          // And as extra information: the rest (neither history nor live jobs) flat, the history never past its bounds.
          expect(grew.redisBytes).toBeLessThanOrEqual(FLAT_WITHIN);
          expect(samples.flatMap((s) => s.historyOverBound)).toEqual([]);
        });
      } finally {
        clearInterval(cron);
        probe.disconnect();
        await bridge.close();
        await whmcs.close();
      }
    }));
});

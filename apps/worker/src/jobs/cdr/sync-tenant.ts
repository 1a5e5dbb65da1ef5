import type { CDR_JOBS, TypedJob } from '@ictvoip/queue';
import {
  ADVISORY_LOCK_RETRY_MAX_MS,
  chargedPositionsBetween,
  chargedPositionsSince,
  existingChargeIds,
  getCdrSyncCursor,
  includedSecondsUsed,
  inTransaction,
  isDatabaseUnavailable,
  isPurgedService,
  recordCdrSyncRun,
  withBillingLock,
  writeChargePage,
  type ChargedPosition,
  type ChargePageOutcome,
  type InsertedCharges,
  type NewCharge,
  type PageCursor,
  type ServiceRecord,
} from '@ictvoip/store';
import type { Pool, PoolClient } from 'pg';
import { DEFAULT_SERVER_NAME, fusionServerOfError } from '@ictvoip/fusionpbx';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { perWorker } from '../../per-worker';
import type { WorkerMetrics } from '../../metrics';
import { queueCreditCheckAfterSync } from '../credit/check-client';
import { isServerUnavailable, scopeForService } from '../../fusion-scope';
import { ensureServiceCycle } from '../billing/service-cycle';
import {
  cdrExists,
  hasInsertDateIndex,
  loadServiceRating,
  NIL_UUID,
  rateInOrder,
  readCdrsAfter,
  readLateImports,
  readLongCallsBefore,
  tenantCdrDomain,
  type CdrPosition,
  type LateImportWindow,
  type ServiceRating,
  type SourceCdr,
} from '@ictvoip/operations';

/** Test seams that simulate a process crash at a precise point (they throw). */
export interface CdrSyncHooks {
  /** after a page was read from FusionPBX, before its transaction begins (also where a test inserts CDRs "during" a sync) */
  afterRead?: (page: number) => void | Promise<void>;
  /**
   * after the page's charges and cursor were written, before the commit. In production they are one
   * statement (no step between them); with this hook set it runs inside BEGIN … COMMIT so a test
   * can crash between the write and the commit.
   */
  afterInsert?: (page: number) => void | Promise<void>;
  /** after a page's transaction committed (charges and cursor commit together: there is no step between them) */
  afterCommit?: (page: number) => void | Promise<void>;
}

export interface CdrSyncOptions {
  /** read from this date instead of the cursor minus the look-back window (backfill) */
  from?: Date;
  /**
   * with `from`: read only the calls that started before this date (the per-day check collects one
   * day), leaving out the CDRs of [from, to) charged already (their list, read once, is that range's)
   */
  to?: Date;
  /** with `from`: continue strictly after this key, where the previous run of the same collection stopped (its `resumeAfter`) */
  after?: CdrPosition;
  hooks?: CdrSyncHooks;
}

export interface CdrSyncOutcome {
  serviceId: number;
  /**
   * `no-domain`: FusionPBX has no domain of a tenant the bridge never recorded provisioning (a run, recorded).
   * `domain-missing`: it has none of one the bridge provisioned or adopted there (a wrong database, a domain
   * deleted by hand), or lacks the last call the cursor read, or (a cursor that read no call) any call of the
   * remembered domain: its calls cannot be read, so no run is recorded (see syncServiceCdrs).
   */
  status: 'synced' | 'no-tenant' | 'no-domain' | 'domain-missing' | 'server-unavailable';
  pages: number;
  read: number;
  inserted: number;
  rated: number;
  unrated: number;
  notBillable: number;
  /** true when the run stopped at CDR_SYNC_MAX_PAGES with rows left (the next run continues) */
  more: boolean;
  /** with `more`, a collection (`from` given): the key its next run continues after (option `after`) */
  resumeAfter?: CdrPosition;
  /**
   * A collection (collectCdrs) whose later run could not read (its `status`): the counts are those of the runs
   * before it, not of the whole range, and `more` is false only because it stopped. Absent when it read to the end.
   */
  stoppedEarly?: CollectionStop;
}

/** Why a collection stopped before the end of its range, said so an operator does not read its partial counts as complete. */
export interface CollectionStop {
  status: Exclude<CdrSyncOutcome['status'], 'synced'>;
  /** the runs that read (their counts are the outcome's); the next one stopped */
  runs: number;
  message: string;
}

const STOP_REASONS: Record<CollectionStop['status'], string> = {
  'server-unavailable': 'its FusionPBX server became unavailable',
  'no-domain': "the tenant's domain is no longer in FusionPBX",
  'domain-missing': "the tenant's domain went missing from its FusionPBX server's database",
  'no-tenant': 'the tenant was purged',
};

function collectionStop(status: CollectionStop['status'], runs: number): CollectionStop {
  return {
    status,
    runs,
    message: `stopped early after ${runs} run(s): ${STOP_REASONS[status]} (${status}); the counts are partial, the rest of the range is not read: run it again once that is fixed`,
  };
}

function lowerBound(deps: WorkerDeps, cursorStamp: string | null, createdAt: Date, from?: Date, billingFrom?: Date | null): CdrPosition {
  const position = unflooredLowerBound(deps, cursorStamp, createdAt, from);
  // An adopted tenant's calls before its switch-over were billed by the old system: never read them.
  if (billingFrom && new Date(position.startStamp).getTime() < billingFrom.getTime()) return { startStamp: billingFrom.toISOString(), xmlCdrUuid: NIL_UUID };
  return position;
}

function unflooredLowerBound(deps: WorkerDeps, cursorStamp: string | null, createdAt: Date, from?: Date): CdrPosition {
  if (from) return { startStamp: from.toISOString(), xmlCdrUuid: NIL_UUID };
  const lookbackMs = deps.config.cdr.lookbackSeconds * 1000;
  // Without a cursor, calls from before the bridge knew the service are not its to bill (backfill reaches further).
  // A cursor ahead of now is a CDR FreeSWITCH stamped with a clock running ahead: the window is measured back
  // from now, or every call until that time came round would start before the window and never be read.
  const base = cursorStamp ? Math.min(new Date(cursorStamp).getTime(), Date.now()) : createdAt.getTime();
  return { startStamp: new Date(base - lookbackMs).toISOString(), xmlCdrUuid: NIL_UUID };
}

/**
 * Rates a page's CDRs not yet charged, in call order, and writes their charges and the cursor in
 * one statement. `allowance` holds each period's remaining included seconds as committed (a period
 * not in it is read from the database once); it is not changed here: the returned `remaining` is
 * what is left now that the page committed.
 *
 * A call's rating depends on the other calls of the page only through the included seconds they
 * consume. So the page is first rated as if every CDR were new: when that consumes no included
 * seconds (allowance used up, none in the plan, nothing billable), the CDRs already charged do not
 * change anyone else's rating and the insert's ON CONFLICT DO NOTHING skips them. A page that
 * consumes included seconds is written only if none of its CDRs was charged (checked in the same
 * statement); if one was, nothing is written and the new CDRs are rated again without it.
 * (A separate existence query cost a round trip and as much database time per CDR as the insert.)
 */
async function rateAndWritePage(
  client: PoolClient,
  rating: ServiceRating,
  sources: readonly SourceCdr[],
  allowance: ReadonlyMap<string, number>,
  write: (charges: readonly NewCharge[], onlyIfNoneCharged: boolean) => Promise<ChargePageOutcome>,
): Promise<{ counts: InsertedCharges; remaining: Map<string, number> }> {
  const fetched = new Map<string, number>();
  const remainingFor = async (period: string) => {
    const left = Math.max(0, rating.includedSeconds - (await includedSecondsUsed(client, rating.serviceId, period)));
    fetched.set(period, left);
    return left;
  };
  const optimistic = new Map(allowance);
  const charges = await rateInOrder(rating, sources, remainingFor, optimistic);
  const first = await write(
    charges,
    charges.some((charge) => charge.includedSeconds > 0),
  );
  if (!first.taken) return { counts: first, remaining: optimistic };
  const existing = await existingChargeIds(
    client,
    sources.map((source) => source.cdr.xmlCdrUuid),
  );
  const fresh = sources.filter((source) => !existing.has(source.cdr.xmlCdrUuid));
  const remaining = new Map([...allowance, ...fetched]);
  const second = await write(await rateInOrder(rating, fresh, remainingFor, remaining), false);
  return { counts: second, remaining };
}

/**
 * The page's one write. With an `afterInsert` hook (tests: a crash between the write and the
 * commit) the same statement runs inside BEGIN … COMMIT with the hook before the COMMIT.
 */
function pageWriter(
  client: PoolClient,
  cursor: PageCursor,
  hooks: CdrSyncHooks | undefined,
  page: number,
  collection = false,
): (charges: readonly NewCharge[], onlyIfNoneCharged: boolean) => Promise<ChargePageOutcome> {
  return (charges, onlyIfNoneCharged) => {
    const write = () => writeChargePage(client, { charges, cursor, onlyIfNoneCharged, collection });
    const afterInsert = hooks?.afterInsert;
    if (!afterInsert) return write();
    return inTransaction(client, async () => {
      const outcome = await write();
      if (!outcome.taken) await afterInsert(page);
      return outcome;
    });
  };
}

const HOUR_MS = 3_600_000;

/** The period labels of the calls from `from` to `to` (an hour apart: no period is shorter), at most ~2,000 looked at. */
function periodsBetween(rating: ServiceRating, from: Date, to: Date): string[] {
  const labels = new Set<string>();
  const step = Math.max(HOUR_MS, (to.getTime() - from.getTime()) / 2000);
  for (let at = from.getTime(); at < to.getTime(); at += step) labels.add(rating.periodOf(new Date(at)));
  labels.add(rating.periodOf(to));
  return [...labels];
}

/** What one keyset read leaves out: charged uuids, and the key the read stops at (null: no bound). */
interface SkipWindow {
  ids: readonly string[];
  upTo: CdrPosition | null;
}

/** Whether key a sorts at or before key b: exact stamp text (one format), then the uuid's canonical text (PostgreSQL's uuid order). */
function atOrBefore(a: CdrPosition, b: CdrPosition): boolean {
  return a.startStamp < b.startStamp || (a.startStamp === b.startStamp && a.xmlCdrUuid <= b.xmlCdrUuid);
}

/**
 * The look-back re-reads every CDR of the window to find the late ones (issue #20: each sync read,
 * rated and re-inserted the whole window). The CDRs of the window charged already are listed once,
 * under the billing lock (no other writer of the service's charges), and the read leaves them out:
 * only CDRs without a charge come back, exactly the ones the insert would have added. A charged CDR
 * missing from the list (another period label) is read and its insert does nothing, as before.
 *
 * Each read sends only a slice of the list (h133): the first read all of it (the usual look-back,
 * nothing or a few late calls, is then one read), later ones the charged uuids up to a bound key,
 * twice as many as the page before covered, or the page size, and the read stops at that key. Sending every charged uuid still ahead
 * to every page cost O(pages × charged) per tenant (copied, sent, unnested and hashed each page).
 * A bounded read that comes back short has read every uncharged CDR up to its bound: the next read
 * starts there, with the whole rest of the list (one extra read where the late calls thin out).
 */
export class LookBackSkip {
  private readonly ids: string[];
  private next = 0;
  /** How many uuids the next read sends when the list holds more (Infinity: all of them). */
  private span: number;

  /**
   * `maxSpan`: the most uuids one read sends (a day's collection: the page size). PostgreSQL plans the read's
   * anti-join as a nested loop when it expects a handful of rows, as for days newer than v_xml_cdr's last
   * ANALYZE, the very days cdr.reconcile checks: its time is then uuids sent × rows read. A day of 25,000
   * charged CDRs sent whole took 12–27 s in one read (312 M comparisons, the billing lock held); in slices
   * of a page the cost grows with the day, not its square.
   */
  constructor(
    private readonly charged: readonly ChargedPosition[],
    private readonly maxSpan = Number.POSITIVE_INFINITY,
  ) {
    this.ids = charged.map((position) => position.xmlCdrUuid);
    this.span = maxSpan;
  }

  static async load(client: PoolClient, rating: ServiceRating, from: CdrPosition, cursorStamp: string | null): Promise<LookBackSkip> {
    const fromDate = new Date(from.startStamp);
    const now = new Date();
    const to = cursorStamp && new Date(cursorStamp) > now ? new Date(cursorStamp) : now;
    return new LookBackSkip(await chargedPositionsSince(client, rating.serviceId, periodsBetween(rating, fromDate, to), from.startStamp));
  }

  /** The charged uuids after `position` that the next read leaves out, and where that read stops. */
  window(position: CdrPosition): SkipWindow {
    this.passTo(position);
    const end = this.next + this.span;
    if (end >= this.charged.length) return { ids: this.ids.slice(this.next), upTo: null };
    const last = this.charged[end - 1]!;
    return { ids: this.ids.slice(this.next, end), upTo: { startStamp: last.startStamp, xmlCdrUuid: last.xmlCdrUuid } };
  }

  /** After a full page from `from` to `to`: the next read sends twice the charged uuids this page's range held (at least `pageSize`). */
  fullPage(to: CdrPosition, pageSize: number): void {
    const before = this.next;
    this.passTo(to);
    this.span = Math.min(this.maxSpan, Math.max(pageSize, 2 * (this.next - before)));
  }

  /** After a bounded read came back short: the next read (from its bound) sends the whole rest (at most `maxSpan`). */
  shortRead(): void {
    this.span = this.maxSpan;
  }

  private passTo(position: CdrPosition): void {
    while (this.next < this.charged.length && atOrBefore(this.charged[this.next]!, position)) this.next += 1;
  }
}

/** What decides a run's skip list. */
interface SkipSource {
  /** a collection of [from, to) (the per-day check): that range's charged CDRs */
  bounded: { from: Date; to: Date } | null;
  /** `from` without `to` (`cdr backfill`): reads as far back as asked and skips nothing, its window may be months */
  backfill: boolean;
  restarted: boolean;
  cursorStamp: string | null;
  /** the most uuids a bounded collection's read sends (see LookBackSkip's maxSpan) */
  pageSize: number;
}

/**
 * The CDRs a run's reads leave out. A day's collection leaves out the day's charged CDRs: it reads
 * only what is missing, and a day of more than CDR_SYNC_MAX_PAGES pages of charged CDRs no longer
 * fills every run with rows it does not write (with `after`, a run continues where the last stopped).
 */
async function skipList(client: PoolClient, rating: ServiceRating, position: CdrPosition, source: SkipSource): Promise<LookBackSkip> {
  if (source.bounded && !source.restarted)
    return new LookBackSkip(await chargedPositionsBetween(client, rating.serviceId, source.bounded.from, source.bounded.to), source.pageSize);
  if (source.backfill || source.restarted) return new LookBackSkip([]);
  return LookBackSkip.load(client, rating, position, source.cursorStamp);
}

/**
 * How long before the look-back window a call may have started and still be read because it ended
 * inside the window (readLongCallsBefore): a call of up to this plus CDR_LOOKBACK_SECONDS.
 */
export const LONG_CALL_SPAN_MS = 24 * HOUR_MS;

/**
 * The calls that started before the keyset read's lower bound and ended inside the window, not yet
 * charged: a call longer than the look-back window is stored at its end, keyed by its start, after
 * the cursor has moved past that start by more than the window. Their starts are earlier than every
 * CDR the keyset read rates after them (call order for the included minutes). The cursor does not
 * move backwards (the page write moves it forward only).
 */
async function uncollectedLongCalls(deps: ScopedDeps, client: PoolClient, domainUuid: string, domainName: string, lower: CdrPosition, floor: number): Promise<SourceCdr[]> {
  const lowerMs = new Date(lower.startStamp).getTime();
  const since = Math.max(lowerMs - LONG_CALL_SPAN_MS, floor);
  if (since >= lowerMs) return [];
  const found = await readLongCallsBefore(deps.fusion.pool, domainUuid, domainName, lower.startStamp, new Date(since).toISOString());
  if (found.length === 0) return [];
  const charged = await existingChargeIds(
    client,
    found.map((source) => source.cdr.xmlCdrUuid),
  );
  return found.filter((source) => !charged.has(source.cdr.xmlCdrUuid));
}

/** How long a FusionPBX database's answer to hasInsertDateIndex is kept: an index added later is used within this. */
const INSERT_DATE_INDEX_CHECK_MS = 10 * 60_000;
const insertDateIndexes = new WeakMap<Pool, { found: boolean; until: number }>();

/** Whether late imports can be found cheaply on the tenant's server (an index on insert_date); logged when that changes. */
async function lateImportsReadable(deps: ScopedDeps): Promise<boolean> {
  const known = insertDateIndexes.get(deps.fusion.pool);
  if (known && known.until > Date.now()) return known.found;
  const found = await hasInsertDateIndex(deps.fusion.pool);
  if (known?.found !== found) {
    deps.logger.info(
      { found },
      found
        ? 'v_xml_cdr has an index on insert_date: CDRs FusionPBX imports after the look-back window are collected'
        : 'v_xml_cdr has no index on insert_date: CDRs FusionPBX imports after the look-back window wait for a cdr backfill (see README, Usage billing)',
    );
  }
  insertDateIndexes.set(deps.fusion.pool, { found, until: Date.now() + INSERT_DATE_INDEX_CHECK_MS });
  return found;
}

function addCounts(outcome: CdrSyncOutcome, read: number, counts: InsertedCharges): void {
  outcome.read += read;
  outcome.inserted += counts.inserted;
  outcome.rated += counts.rated;
  outcome.unrated += counts.unrated;
  outcome.notBillable += counts.notBillable;
}

/** What a sync's extra reads behind the look-back window need besides the tenant's domain. */
interface BehindWindow {
  client: PoolClient;
  rating: ServiceRating;
  domainUuid: string;
  domainName: string;
  hooks: CdrSyncHooks | undefined;
  outcome: CdrSyncOutcome;
}

/**
 * Charges the CDRs FusionPBX stored since the window's `insertedSince` whose calls started before
 * the look-back window (readLateImports), page by page, each page with the cursor as the keyset
 * read's pages are (the cursor does not move backwards). All of them, however many: the next run
 * looks only at rows stored since this one. Returns the allowance left.
 */
async function chargeLateImports(deps: ScopedDeps, at: BehindWindow, window: LateImportWindow, allowance: Map<string, number>): Promise<Map<string, number>> {
  const { pageSize } = deps.config.cdr;
  let after: CdrPosition = { startStamp: window.since, xmlCdrUuid: NIL_UUID };
  let inserted = 0;
  for (;;) {
    const found = await readLateImports(deps.fusion.pool, at.domainUuid, at.domainName, window, after, pageSize);
    const last = found[found.length - 1];
    if (!last) break;
    after = { startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid };
    const charged = await existingChargeIds(
      at.client,
      found.map((source) => source.cdr.xmlCdrUuid),
    );
    const fresh = found.filter((source) => !charged.has(source.cdr.xmlCdrUuid));
    const newest = fresh[fresh.length - 1];
    if (newest) {
      const cursorAfter = {
        serviceId: at.rating.serviceId,
        domainUuid: at.domainUuid,
        domainName: at.domainName,
        startStamp: newest.startStampText,
        xmlCdrUuid: newest.cdr.xmlCdrUuid,
      };
      const written = await rateAndWritePage(at.client, at.rating, fresh, allowance, pageWriter(at.client, cursorAfter, at.hooks, 0));
      allowance = written.remaining;
      addCounts(at.outcome, fresh.length, written.counts);
      inserted += written.counts.inserted;
    }
    if (found.length < pageSize) break;
  }
  if (inserted > 0) deps.logger.info({ serviceId: at.rating.serviceId, inserted }, 'CDR sync charged calls FusionPBX imported after the look-back window');
  return allowance;
}

/** Where the look-back window starts, how far back the service's calls go, and when the cursor's last run was. */
interface WindowEdges {
  lower: CdrPosition;
  floor: number;
  lastRunAt: Date;
}

/**
 * The calls behind the look-back window stored since the last run: the long ones (started before
 * it, ended inside it) and, with an index on insert_date, every row imported late. Their starts are
 * earlier than every CDR the keyset read rates after them (call order for the included minutes).
 */
async function chargeBehindWindow(deps: ScopedDeps, at: BehindWindow, edges: WindowEdges, allowance: Map<string, number>): Promise<Map<string, number>> {
  const long = await uncollectedLongCalls(deps, at.client, at.domainUuid, at.domainName, edges.lower, edges.floor);
  const last = long[long.length - 1];
  if (last) {
    const cursorAfter = { serviceId: at.rating.serviceId, domainUuid: at.domainUuid, domainName: at.domainName, startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid };
    const written = await rateAndWritePage(at.client, at.rating, long, allowance, pageWriter(at.client, cursorAfter, at.hooks, 0));
    allowance = written.remaining;
    addCounts(at.outcome, long.length, written.counts);
  }
  if (edges.floor >= new Date(edges.lower.startStamp).getTime() || !(await lateImportsReadable(deps))) return allowance;
  // Rows stored since the last run, less the window: the two databases' clocks need not agree to the second.
  const insertedSince = new Date(edges.lastRunAt.getTime() - deps.config.cdr.lookbackSeconds * 1000).toISOString();
  return chargeLateImports(deps, at, { insertedSince, since: new Date(edges.floor).toISOString(), before: edges.lower.startStamp }, allowance);
}

/** The last key before `to`: the read's bound is inclusive, and no CDR has the nil uuid. Microseconds, as the rows' keys are written. */
function endBefore(to: Date): CdrPosition {
  return { startStamp: to.toISOString().replace('Z', '000Z'), xmlCdrUuid: NIL_UUID };
}

/** `next` unless the read has reached `end` (null: there is nothing after it to read). */
function beforeEnd(next: CdrPosition | null, end: CdrPosition | null): CdrPosition | null {
  if (!next || !end) return next;
  return atOrBefore(end, next) ? null : next;
}

/** A keyset read under way: its rows, and the key it stops at (null: no bound). */
interface PageRead {
  rows: Promise<SourceCdr[]>;
  upTo: CdrPosition | null;
  /** Resolves when the read is over, whatever its outcome (it never rejects). */
  settled: Promise<void>;
}

function pageRead(rows: Promise<SourceCdr[]>, upTo: CdrPosition | null): PageRead {
  // Handled from the start: a read-ahead that fails while its page's predecessor is being written is
  // rethrown when awaited, or dropped with the run; never an unhandled rejection.
  const settled = rows.then(
    () => undefined,
    () => undefined,
  );
  return { rows, upTo, settled };
}

/**
 * Where the read after this one starts (null: there is none), from this read's rows alone: after
 * its last row when it was full; at its bound when a bounded read came back short (nothing
 * uncharged up to the bound, the rest is after it). Moves the skip list's slice as the read did.
 */
function nextRead(skip: LookBackSkip, from: CdrPosition, sources: readonly SourceCdr[], upTo: CdrPosition | null, pageSize: number): CdrPosition | null {
  const last = sources[sources.length - 1];
  const after = last ? { startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid } : from;
  if (sources.length >= pageSize) {
    skip.fullPage(after, pageSize);
    return after;
  }
  if (!upTo) return null;
  skip.shortRead();
  return upTo;
}

/**
 * A domain-missing tenant is synced again every CDR_SYNC_EVERY_SECONDS: its warning is logged when it
 * becomes domain-missing and then at most once an hour (the counter counts every sync), so it is not
 * lost in a warning a minute per tenant. In memory, per worker: a restart logs it once more.
 */
export const DOMAIN_MISSING_WARNING_EVERY_MS = HOUR_MS;
/** When this worker last warned of each domain-missing service. */
const domainMissingWarnings = perWorker<number, number>();

/** Whether this domain-missing sync logs its warning (then remembered as warned now). */
function domainMissingWarningDue(deps: WorkerDeps, serviceId: number): boolean {
  const warned = domainMissingWarnings(deps.targets);
  const last = warned.get(serviceId);
  if (last !== undefined && Date.now() - last < DOMAIN_MISSING_WARNING_EVERY_MS) return false;
  warned.set(serviceId, Date.now());
  return true;
}

/** Whether the tenant was domain-missing (warned by this worker) until this sync read it: forgotten, so a new loss warns at once. */
function domainFoundAgain(deps: WorkerDeps, serviceId: number): boolean {
  return domainMissingWarnings(deps.targets).delete(serviceId);
}

/**
 * How long a collection stays away from the tenant's billing lock between two runs. Its waiters (the
 * tenant's sync, billing push, re-rating) poll for it every 25–75 ms: taken again at once, the lock was
 * free for the few milliseconds between two runs, a waiter almost never tried in them, and a backfill
 * of many runs made it time out after its 30 s however often the lock was released. Twice the longest
 * poll pause: a waiter's next try falls inside it. About 150 ms per run of 100,000 CDRs (the defaults).
 */
export const COLLECTION_RUN_GAP_MS = 2 * ADVISORY_LOCK_RETRY_MAX_MS;

/**
 * A collection (`from`, with or without `to`) to its end: run after run of CDR_SYNC_MAX_PAGES pages,
 * each releasing the tenant's billing lock (for COLLECTION_RUN_GAP_MS: see there), the next continuing
 * after the key where the last stopped (a new run from `from` would re-read the CDRs the last one
 * charged: without `to` it skips none, and a range of more charged CDRs than one run reads would never
 * get further). Counts summed.
 */
export async function collectCdrs(deps: WorkerDeps, serviceId: number, options: CdrSyncOptions & { from: Date }): Promise<CdrSyncOutcome> {
  let total: CdrSyncOutcome | null = null;
  let after = options.after;
  for (let runs = 0; ; runs += 1) {
    const run = await syncTenantCdrs(deps, serviceId, { ...options, after });
    // A later run that could not read returns `more: false` like a finished one: only `stoppedEarly` tells them apart.
    if (total && run.status !== 'synced') return { ...total, status: run.status, more: false, resumeAfter: undefined, stoppedEarly: collectionStop(run.status, runs) };
    total = total
      ? {
          ...run,
          pages: total.pages + run.pages,
          read: total.read + run.read,
          inserted: total.inserted + run.inserted,
          rated: total.rated + run.rated,
          unrated: total.unrated + run.unrated,
          notBillable: total.notBillable + run.notBillable,
        }
      : run;
    if (!run.more || !run.resumeAfter) return total;
    after = run.resumeAfter;
    await new Promise((resolve) => setTimeout(resolve, COLLECTION_RUN_GAP_MS));
  }
}

/**
 * One tenant's CDR sync. Holds the service's billing lock (two workers never rate the same
 * tenant at once), reads v_xml_cdr by keyset from the cursor minus the look-back window, and for
 * each page inserts the new charges (ON CONFLICT DO NOTHING) and advances the cursor in ONE
 * transaction: a crash leaves either both or neither.
 */
export async function syncTenantCdrs(base: WorkerDeps, serviceId: number, options: CdrSyncOptions = {}): Promise<CdrSyncOutcome> {
  return syncServiceCdrs(base, serviceId, await base.services.get(serviceId), options);
}

/** syncTenantCdrs with the service row already read (the job reads it once for the sync and the credit check). */
async function syncServiceCdrs(base: WorkerDeps, serviceId: number, service: ServiceRecord | null, options: CdrSyncOptions): Promise<CdrSyncOutcome> {
  const outcome: CdrSyncOutcome = { serviceId, status: 'synced', pages: 0, read: 0, inserted: 0, rated: 0, unrated: 0, notBillable: 0, more: false };
  // A purged tenant's job queued before the purge: its domain is gone (and its name may be another tenant's by now).
  if (!service?.tenantDomain || isPurgedService(service)) return { ...outcome, status: 'no-tenant' };
  let deps: ScopedDeps;
  try {
    // The tenant's CDRs are in its own server's v_xml_cdr.
    deps = await scopeForService(base, service);
  } catch (error) {
    if (!isServerUnavailable(error)) throw error;
    // A disabled server's tenants wait (the cursor stays); the next sync after enabling catches up.
    base.logger.warn({ serviceId, server: service.fusionpbxServer, err: error.message }, 'CDR sync skipped: FusionPBX server unavailable');
    return { ...outcome, status: 'server-unavailable' };
  }
  const domainName = service.tenantDomain;
  // A backfill (`from`: `cdr backfill`, the per-day count check) reads only the calls it was asked for: it is
  // not a sync run, and leaves the run time purge and the late-import window depend on (ChargePage.collection).
  const collection = options.from !== undefined;
  return withBillingLock(deps.pool, serviceId, async (client) => {
    const stored = await getCdrSyncCursor(client, serviceId);
    // The cursor remembers the domain uuid, so a terminated tenant whose domain is gone still syncs its CDRs.
    const domain = await tenantCdrDomain(deps.fusion.pool, domainName, stored?.domainUuid ?? null);
    const ran = (domainUuid: string) =>
      collection ? Promise.resolve() : recordCdrSyncRun(client, { serviceId, domainUuid, domainName, startStamp: service.createdAt.toISOString() });
    // A run recorded where the tenant's calls cannot be read would make a terminated tenant's credit final
    // (syncedSinceChangeSql) with its calls unread: such a run is not recorded.
    const missing = () => {
      if (domainMissingWarningDue(base, serviceId))
        deps.logger.warn(
          { serviceId, server: service.fusionpbxServer ?? DEFAULT_SERVER_NAME, domain: domainName },
          "CDR sync: the tenant's domain is missing from its FusionPBX server's database (wrong database URL, or the domain deleted by hand?); its calls are not read and the sync is not recorded",
        );
      return { ...outcome, status: 'domain-missing' as const };
    };
    if (!domain) {
      // An observed state is recorded only once the provisioner's create (or adopt) found the domain on this server,
      // and only the purge (no-tenant above) deletes it: missing now, it is the wrong database behind the server's URL,
      // or a domain deleted by hand whose calls are still in v_xml_cdr under a uuid nothing remembers.
      if (service.observedState !== null) return missing();
      // Never provisioned by the bridge: no call it could read, and the run counts (purge, the credit left and the fan-out wait for one).
      await ran(NIL_UUID);
      return { ...outcome, status: 'no-domain' };
    }
    // A remembered domain gone is read by its uuid (its calls stay in v_xml_cdr), unless this database lacks the
    // last call the cursor read (the bridge never deletes CDRs): then it is not the database those calls were read
    // from. A cursor that has read no call has nothing to look up: its read must find a call (below).
    if (domain.gone && stored && stored.lastXmlCdrUuid !== NIL_UUID && !(await cdrExists(deps.fusion.pool, stored.lastXmlCdrUuid))) return missing();
    // Neither domain row nor any call of its uuid: a wrong database, or a domain deleted by hand whose tenant
    // never called, cannot be told apart, and counting the run would make the credit final with calls unread
    // (a call of that uuid is proof enough: no other database holds it). Not for a collection: it records no
    // run, and a range with no call says nothing about the database.
    const unproven = domain.gone === true && stored?.lastXmlCdrUuid === NIL_UUID && !collection;
    const domainUuid = domain.domainUuid;
    // A cursor of the purged domain starts the new one as if there were none: from the service's creation, which
    // reads the new domain's calls from its first (it has none older), and none of them charged yet (no skip list).
    const cursor = domain.restarted ? null : stored;
    if (domain.restarted) deps.logger.info({ serviceId, from: stored?.domainUuid, to: domainUuid }, 'CDR sync cursor named a purged domain: reading the new domain from its start');
    const rating = await loadServiceRating(client, service, deps.config, await ensureServiceCycle(deps, client, serviceId));
    const bounded = options.from && options.to ? { from: options.from, to: options.to } : null;
    let position = (options.from && options.after) || lowerBound(deps, cursor?.lastStartStamp ?? null, service.createdAt, options.from, service.cdrBillingFrom);
    const { pageSize, maxPagesPerRun } = deps.config.cdr;
    // Included seconds left per period as committed so far in this run. Valid for the whole run:
    // every writer of a service's charges (sync, re-rating) holds this lock. Saves a sum per page.
    let allowance = new Map<string, number>();
    const skip = await skipList(client, rating, position, {
      bounded,
      backfill: options.from !== undefined,
      restarted: domain.restarted,
      cursorStamp: cursor?.lastStartStamp ?? null,
      pageSize,
    });
    // Calls behind the window, stored since the last run: only a cursor's window can have passed them.
    if (cursor && !options.from) {
      const floor = Math.max(service.createdAt.getTime() - deps.config.cdr.lookbackSeconds * 1000, service.cdrBillingFrom?.getTime() ?? Number.NEGATIVE_INFINITY);
      const behind: BehindWindow = { client, rating, domainUuid, domainName, hooks: options.hooks, outcome };
      allowance = await chargeBehindWindow(deps, behind, { lower: position, floor, lastRunAt: cursor.lastRunAt }, allowance);
    }
    const end = bounded ? endBefore(bounded.to) : null;
    const read = (from: CdrPosition): PageRead => {
      // A backfill's skip list is empty (no bound of its own): `end` is its only bound.
      const window = skip.window(from);
      const upTo = window.upTo ?? end;
      return pageRead(readCdrsAfter(deps.fusion.pool, domainUuid, domainName, from, pageSize, window.ids, upTo), upTo);
    };
    // The next page's read runs while this page is rated and written (read-ahead, h135): its position
    // and skip slice depend on this page's rows only. A page is written only after every page before
    // it committed; a read-ahead the run does not reach (a failed write, a crash) is simply dropped.
    let ahead: PageRead | null = read(position);
    try {
      while (ahead) {
        const { upTo } = ahead;
        const sources = await ahead.rows;
        ahead = null;
        const last = sources[sources.length - 1];
        const next = beforeEnd(nextRead(skip, position, sources, upTo, pageSize), end);
        const page = outcome.pages + 1;
        const stop = !next || (last !== undefined && page >= maxPagesPerRun);
        if (last) await options.hooks?.afterRead?.(page);
        if (next && !stop) ahead = read(next);
        if (last) {
          const cursorAfter = { serviceId, domainUuid, domainName, startStamp: last.startStampText, xmlCdrUuid: last.cdr.xmlCdrUuid };
          const written = await rateAndWritePage(client, rating, sources, allowance, pageWriter(client, cursorAfter, options.hooks, page, collection));
          // Only a committed page's consumption counts (a failed write throws and leaves `allowance` as it was).
          allowance = written.remaining;
          await options.hooks?.afterCommit?.(page);
          outcome.pages = page;
          // Counted from what was inserted: a CDR charged before (look-back re-read) is not counted again.
          addCounts(outcome, sources.length, written.counts);
        }
        if (next) position = next;
        if (next && stop) {
          outcome.more = true;
          if (collection) outcome.resumeAfter = next;
        }
      }
    } finally {
      // A read-ahead not used (the write threw): its connection goes back to the pool before the lock does.
      if (ahead) await ahead.settled;
    }
    if (unproven && outcome.read === 0) return missing();
    // A run that wrote no page records that it ran all the same: "no cursor" means "never synced" (syncedSinceChangeSql).
    if (outcome.pages === 0) await ran(domainUuid);
    if (domainFoundAgain(base, serviceId))
      deps.logger.info({ serviceId, server: service.fusionpbxServer ?? DEFAULT_SERVER_NAME, domain: domainName }, "CDR sync: the tenant's domain found again; its calls are read");
    if (outcome.unrated > 0) deps.logger.warn({ serviceId, unrated: outcome.unrated }, 'CDR sync stored unrated calls (no rate or bad number): not billed until re-rated');
    deps.logger.debug({ ...outcome }, 'CDR sync done');
    return outcome;
  });
}

/** Prepaid, or postpaid with a credit limit: the plan fields credit control acts on. */
function underCreditControl(plan: Record<string, unknown>): boolean {
  return plan.billingMode === 'prepaid' || (typeof plan.creditLimit === 'string' && plan.creditLimit !== '');
}

/**
 * How long, after a server's database did not answer a scheduled sync, this worker skips that
 * server's other scheduled syncs (`server-unavailable`, cursors kept). A server that accepts
 * connections and never answers costs each sync the whole connection timeout: hundreds of its
 * tenants would hold every slot of the CDR queue and the other servers' tenants would wait behind them.
 */
export const SERVER_PAUSE_MS = 30_000;
const pausedServers = perWorker<number>();

function pausesOf(deps: WorkerDeps): Map<string, number> {
  return pausedServers(deps.targets);
}

export async function handleCdrSyncTenant(
  deps: WorkerDeps,
  job: TypedJob<typeof CDR_JOBS.syncTenant>,
  metrics?: Pick<WorkerMetrics, 'cdrSyncDomainMissing'>,
): Promise<CdrSyncOutcome> {
  const data = job.data;
  const service = await deps.services.get(data.serviceId);
  const server = service?.fusionpbxServer ?? DEFAULT_SERVER_NAME;
  const pauses = pausesOf(deps);
  const pausedUntil = pauses.get(server) ?? 0;
  if (pausedUntil > Date.now()) {
    deps.logger.debug({ serviceId: data.serviceId, server }, 'CDR sync skipped: its FusionPBX server did not answer a moment ago');
    return { serviceId: data.serviceId, status: 'server-unavailable', pages: 0, read: 0, inserted: 0, rated: 0, unrated: 0, notBillable: 0, more: false };
  }
  const outcome = await syncServiceCdrs(deps, data.serviceId, service, { from: data.from ? new Date(data.from) : undefined }).catch((error: unknown) => {
    // Only this server's database (its pool marks what it throws), only when it did not answer: a query error is the tenant's own.
    if (fusionServerOfError(error) !== null && isDatabaseUnavailable(error)) {
      pauses.set(server, Date.now() + SERVER_PAUSE_MS);
      deps.logger.warn(
        { serviceId: data.serviceId, server, err: (error as Error).message, pauseMs: SERVER_PAUSE_MS },
        "CDR sync: FusionPBX server's database did not answer; its tenants' syncs pause",
      );
    }
    throw error;
  });
  if (outcome.status === 'domain-missing') metrics?.cdrSyncDomainMissing.inc({ server });
  // New rated calls of a credit-controlled tenant: its client's balance is checked now, not at the next timer.
  if (outcome.rated > 0 && service && underCreditControl(service.plan)) await queueCreditCheckAfterSync(deps, service.clientId);
  return outcome;
}

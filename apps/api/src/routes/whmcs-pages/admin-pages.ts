import express, { Router, type Request } from 'express';
import Joi from 'joi';
import type { Job } from 'bullmq';
import { latestCompletedJob, MAINTENANCE_JOBS, QUEUE_NAMES, retryRefusal, type QueueName } from '@ictvoip/queue';
import {
  columnMappingSpec,
  formatMoney,
  importRateDeckCsv,
  markUp,
  parseColumnMappingSpec,
  parseIncrements,
  parseMarkup,
  parseMoney,
  plainDecimal,
  RateDeckMappingError,
  RatingConfigError,
  type MappingAdvice,
  type NumberingPlan,
  type RateDeckColumnMapping,
  type RateDeckIssue,
  type RateEntry,
} from '@ictvoip/rating';
import {
  AuditRepository,
  importRateDeck,
  listBatches,
  listCreditStates,
  previewRateDeckImport,
  RateDeckStoreError,
  storedDeckSettings,
  type RateDeckStoreOptions,
  type StoredDeckSettings,
} from '@ictvoip/store';
import { requireAdminToken } from '../../admin-auth';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import { lastCreditMails } from './client-service';

const QUEUES = Object.values(QUEUE_NAMES) as QueueName[];
const FAILED_SHOWN = 50;
const PREVIEW_LINES = 10;
const ISSUES_SHOWN = 100;
const DECK_ENTRIES_SHOWN = 500;
const HEALTH_TIMEOUT_MS = 3000;
/** Server health is asked of every FusionPBX server at most this often, however many admins reload. */
export const HEALTH_CACHE_MS = 30_000;
/** A rate deck CSV pasted or uploaded through the WHMCS addon (the CLI has no such limit). */
export const ADMIN_PAGES_BODY_LIMIT = '8mb';

/**
 * Who pressed the button: the WHMCS admin's user name, sent by the addon. The admin token proves it
 * is the addon; the name only labels the audit row (WHMCS's own access control decided who may see it).
 */
function actorOf(req: Request): string {
  const given = req.get('x-ictvoip-admin-user') ?? '';
  const clean = given
    .replace(/[^A-Za-z0-9@#._ ()-]/g, '')
    .slice(0, 100)
    .trim();
  return clean ? `whmcs-admin:${clean}` : 'admin-token';
}

function validated<T>(schema: Joi.ObjectSchema<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.validate(value ?? {}, { abortEarly: false, stripUnknown: true, convert: true });
  if (result.error) {
    const details = result.error.details.map((detail) => ({ path: `${where}.${detail.path.join('.')}`, message: detail.message }));
    throw new HttpError(400, 'VALIDATION_FAILED', `request is invalid: ${details.map((detail) => detail.path).join(', ')}`, details);
  }
  return result.value as T;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function failedView(queue: QueueName, job: Job) {
  return {
    queue,
    id: job.id ?? '',
    name: job.name,
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason || '',
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

async function queueSummary(deps: ApiDeps) {
  const queues = await Promise.all(QUEUES.map(async (name) => ({ name, counts: await deps.queues[name].getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed') })));
  const failed = (
    await Promise.all(QUEUES.map(async (name) => (await deps.queues[name].getJobs(['failed'], 0, FAILED_SHOWN - 1, false)).map((job) => failedView(name, job))))
  ).flat();
  failed.sort((a, b) => (b.failedAt ?? '').localeCompare(a.failedAt ?? ''));
  return { queues, failedJobs: failed.slice(0, FAILED_SHOWN) };
}

async function driftSummary(deps: ApiDeps) {
  const latest = await latestCompletedJob(deps.queues.maintenance, MAINTENANCE_JOBS.driftReport);
  if (!latest) return null;
  // The job's result is the worker's DriftJobResult: the report sits under `report`.
  const { report = {} } = (latest.returnvalue ?? {}) as { report?: { checkedAt?: string; counts?: Record<string, number>; items?: unknown[]; itemsOmitted?: number } };
  return {
    checkedAt: report.checkedAt ?? new Date(latest.finishedOn ?? 0).toISOString(),
    counts: report.counts ?? {},
    items: (Array.isArray(report.items) ? report.items.length : 0) + (report.itemsOmitted ?? 0),
  };
}

async function unratedSummary(deps: ApiDeps) {
  const { rows } = await deps.pool.query<{ service_id: string; calls: string; oldest: Date }>(
    `SELECT service_id::text, count(*)::text AS calls, min(start_stamp) AS oldest FROM cdr_charges WHERE status = 'unrated' GROUP BY service_id ORDER BY count(*) DESC LIMIT 20`,
  );
  return {
    total: rows.reduce((sum, row) => sum + Number(row.calls), 0),
    byService: rows.map((row) => ({ serviceId: Number(row.service_id), calls: Number(row.calls), oldest: row.oldest.toISOString() })),
  };
}

/**
 * The CDR sync per server. A cursor a backfill or cdr.reconcile created has never run (last_run_at is
 * the epoch, see writeChargePage): it is not a run, so a server whose cursors all are shows lastRunAt
 * null ("never"), not 1970.
 */
async function cdrSyncByServer(deps: ApiDeps) {
  const { rows } = await deps.pool.query<{ server: string; tenants: string; last_run: Date | null; newest_cdr: Date }>(
    `SELECT coalesce(s.fusionpbx_server, 'default') AS server, count(*)::text AS tenants,
            max(c.last_run_at) FILTER (WHERE c.last_run_at > 'epoch'::timestamptz) AS last_run, max(c.last_start_stamp) AS newest_cdr
       FROM cdr_sync_cursors c LEFT JOIN services s ON s.service_id = c.service_id GROUP BY 1 ORDER BY 1`,
  );
  return rows.map((row) => ({
    server: row.server,
    tenants: Number(row.tenants),
    lastRunAt: row.last_run ? row.last_run.toISOString() : null,
    newestCdrAt: row.newest_cdr.toISOString(),
  }));
}

async function serversHealth(deps: ApiDeps) {
  const registered = new Map((await deps.fusionServers.list()).map((server) => [server.name, server]));
  const { targets, unusable } = await deps.targets.scan();
  // A server that cannot be used (its secrets unreadable) is a row with the reason, not a failed page.
  const unusableRows = unusable.map((server) => {
    const summary = registered.get(server.name);
    return {
      name: server.name,
      database: summary?.database ?? '',
      eventSocket: summary ? `${summary.eslHost}:${summary.eslPort}` : '',
      databaseOk: false,
      eventSocketOk: false,
      errors: [server.reason],
    };
  });
  const answered = await Promise.all(
    targets.map(async (target) => {
      const probe = async (what: string, run: () => Promise<unknown>) => {
        try {
          await withTimeout(run(), what);
          return { ok: true, error: null };
        } catch (error) {
          return { ok: false, error: `${what}: ${(error as Error).message}` };
        }
      };
      const [database, eventSocket] = await Promise.all([probe('FusionPBX database', () => target.pool.query('select 1')), probe('event socket', () => target.esl.api('status'))]);
      const summary = registered.get(target.name);
      return {
        name: target.name,
        database: summary?.database ?? 'FUSIONPBX_DATABASE_URL',
        eventSocket: summary ? `${summary.eslHost}:${summary.eslPort}` : 'ESL_HOST:ESL_PORT',
        databaseOk: database.ok,
        eventSocketOk: eventSocket.ok,
        errors: [database.error, eventSocket.error].filter((error): error is string => error !== null),
      };
    }),
  );
  return [...answered, ...unusableRows];
}

export interface ServerHealth {
  name: string;
  database: string;
  eventSocket: string;
  databaseOk: boolean;
  eventSocketOk: boolean;
  errors: string[];
  checkedAt: string;
}

/**
 * The last health probe of every server, reused for HEALTH_CACHE_MS: a dashboard reload must not
 * ask each event socket again (up to 3 s per silent server). One probe runs at a time; pages that
 * arrive meanwhile wait for it.
 */
function cachedHealth(deps: ApiDeps): () => Promise<ServerHealth[]> {
  let last: { at: number; value: Promise<ServerHealth[]> } | null = null;
  return () => {
    if (last && Date.now() - last.at <= HEALTH_CACHE_MS) return last.value;
    const value = serversHealth(deps).then((servers) => servers.map((server) => ({ ...server, checkedAt: new Date().toISOString() })));
    last = { at: Date.now(), value };
    // A failed probe is not kept: the next page asks again.
    value.catch(() => {
      if (last?.value === value) last = null;
    });
    return value;
  };
}

async function creditStates(deps: ApiDeps) {
  const [states, mails] = await Promise.all([listCreditStates(deps.pool), lastCreditMails(deps, null)]);
  return states.map((state) => ({
    serviceId: state.serviceId,
    clientId: state.clientId,
    mode: state.restriction,
    state: state.state,
    available: state.available,
    threshold: state.threshold,
    creditLimit: state.creditLimit,
    currency: state.currency,
    suspendedBy: state.suspendedBy,
    restrictedGateways: state.restrictedGateways.length,
    pendingAction: state.pendingAction,
    lastError: state.lastError,
    lastCheckedAt: state.lastCheckedAt?.toISOString() ?? null,
    lastTransition: state.lastTransition,
    lastTransitionAt: state.lastTransitionAt?.toISOString() ?? null,
    lastMail: mails.get(state.serviceId) ?? null,
  }));
}

/** Who looked at which admin page (and with what filter): WHMCS's access control decides, the bridge remembers. */
async function auditRead(deps: ApiDeps, req: Request): Promise<void> {
  const query = Object.fromEntries(Object.entries(req.query).filter(([, value]) => typeof value === 'string'));
  await new AuditRepository(deps.pool).append({ actor: actorOf(req), action: 'admin.page.read', detail: { page: req.path, ...(Object.keys(query).length > 0 ? { query } : {}) } });
}

async function registrationAlerts(deps: ApiDeps) {
  const [lost, history] = await Promise.all([
    deps.pool.query<{ service_id: string; domain: string; extension: string; missing_since: Date | null; last_seen: Date | null }>(
      'SELECT service_id::text, domain, extension, missing_since, last_seen FROM registrations WHERE lost ORDER BY missing_since NULLS LAST LIMIT 100',
    ),
    deps.pool.query<{ id: string; service_id: string; domain: string; extension: string; transition: string; at: Date; alert_sent_at: Date | null }>(
      'SELECT id::text, service_id::text, domain, extension, transition, at, alert_sent_at FROM registration_history ORDER BY id DESC LIMIT 50',
    ),
  ]);
  return {
    lostNow: lost.rows.map((row) => ({
      serviceId: Number(row.service_id),
      domain: row.domain,
      extension: row.extension,
      missingSince: row.missing_since?.toISOString() ?? null,
      lastSeen: row.last_seen?.toISOString() ?? null,
    })),
    history: history.rows.map((row) => ({
      id: Number(row.id),
      serviceId: Number(row.service_id),
      domain: row.domain,
      extension: row.extension,
      transition: row.transition,
      at: row.at.toISOString(),
      alertSent: row.alert_sent_at !== null,
    })),
  };
}

interface RetryRequest {
  queue: QueueName;
  jobId: string;
}
const retrySchema = Joi.object<RetryRequest>({
  queue: Joi.string()
    .valid(...QUEUES)
    .required(),
  jobId: Joi.string().max(300).required(),
});

/** Every press of an admin button is audited with who pressed it, also when it changed nothing (and why). */
async function auditAction(deps: ApiDeps, req: Request, action: string, detail: Record<string, unknown>): Promise<void> {
  await new AuditRepository(deps.pool).append({ actor: actorOf(req), action, detail });
}

async function retryJob(deps: ApiDeps, req: Request) {
  const input = validated(retrySchema, req.body, 'body');
  const target = { queue: input.queue, jobId: input.jobId };
  const job = await deps.queues[input.queue].getJob(input.jobId);
  if (!job) {
    await auditAction(deps, req, 'admin.job.retry', { ...target, retried: false, state: 'missing' });
    throw new HttpError(404, 'NOT_FOUND', `no job ${input.jobId} in queue ${input.queue}`);
  }
  const refusal = await retryRefusal({ inbox: deps.inbox, pollSeconds: deps.config.monitoring.pollSeconds }, input.queue, job);
  if (refusal) {
    await auditAction(deps, req, 'admin.job.retry', { ...target, name: job.name, retried: false, state: refusal.state });
    if (refusal.code === 'EVENT_FINISHED') throw new HttpError(409, refusal.code, refusal.message);
    return { retried: false, state: refusal.state, message: refusal.message };
  }
  await job.retry('failed');
  await auditAction(deps, req, 'admin.job.retry', { ...target, name: job.name, retried: true });
  return { retried: true, state: 'waiting', message: `job ${input.jobId} (${job.name}) queued again` };
}

interface DeckRequest {
  name: string;
  currency: string;
  countryCode: string;
  nationalPrefix?: string;
  /**
   * What the sheet's empty or 0 increment cells mean, as `rates import --default-increments`: `1/1`,
   * `60/6`, `6`; saved with the deck. Empty or left out: the deck's saved ones; `none`: clears them.
   */
  defaultIncrements?: string;
  /**
   * The page's Column mapping field, as `rates import --map`: `prefix=Code,rate=Charge`; saved with
   * the deck. Empty or left out: the deck's saved mapping (when the file fits it); `none`: clears it.
   */
  columnMapping?: string;
  csv: string;
}
const deckSchema = Joi.object<DeckRequest>({
  name: Joi.string()
    .pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'deck name')
    .required(),
  currency: Joi.string()
    .pattern(/^[A-Z]{3}$/, 'ISO 4217 code')
    .required(),
  countryCode: Joi.string()
    .pattern(/^[1-9][0-9]{0,2}$/, 'country calling code')
    .required(),
  nationalPrefix: Joi.string()
    .pattern(/^[0-9]{0,3}$/, 'national prefix')
    .allow(''),
  defaultIncrements: Joi.string().max(20).allow(''),
  columnMapping: Joi.string().max(2000).allow(''),
  csv: Joi.string().min(1).required(),
});

/** Typed in a saved setting's field: forget the saved value (the page has no other way back to the header names). */
const CLEARED = 'none';

/** The page's user has no shell: a refused header tells them to use the page's field, not `--map`. */
export const PAGE_MAPPING_ADVICE: MappingAdvice = (spec) => `enter ${spec} in the Column mapping field`;

/** A field of the form checked as the CLI checks its flag (same parser), refused as a 400 naming it. */
function formField<T>(field: keyof DeckRequest, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof RatingConfigError) && !(error instanceof RateDeckMappingError)) throw error;
    const message = error.message.startsWith(`${field}: `) ? error.message : `${field}: ${error.message}`;
    throw new HttpError(400, 'VALIDATION_FAILED', `request is invalid: body.${field}`, [{ path: `body.${field}`, message }]);
  }
}

/** What the form's field says: nothing typed (keep the saved value), `none` (clear it), or the text typed. */
function typedField(text: string | undefined): { kind: 'saved' } | { kind: 'cleared' } | { kind: 'typed'; text: string } {
  const trimmed = text?.trim() ?? '';
  if (trimmed === '') return { kind: 'saved' };
  if (trimmed.toLowerCase() === CLEARED) return { kind: 'cleared' };
  return { kind: 'typed', text: trimmed };
}

type FormIncrements = { defaultIncrements?: { initial: number; subsequent: number } };

/** The stated increments: typed, else the deck's saved ones (ASTPP's 0 increments re-import as they did), none when cleared. */
function formIncrements(input: DeckRequest, saved: string | null): FormIncrements {
  const field = typedField(input.defaultIncrements);
  if (field.kind === 'cleared') return {};
  if (field.kind === 'typed') return { defaultIncrements: formField('defaultIncrements', () => parseIncrements(field.text, 'defaultIncrements')) };
  // Saved by an earlier import, so parsed before; a bad one here is the database's fault, not the form's.
  return saved === null ? {} : { defaultIncrements: parseIncrements(saved, 'rate_decks.default_increments') };
}

/** The column mapping: typed, else the saved one when the file fits it; `none` reads the file by its header names. */
function formColumns(input: DeckRequest, saved: RateDeckColumnMapping): RateDeckColumnMapping {
  const field = typedField(input.columnMapping);
  if (field.kind === 'cleared') return {};
  if (field.kind === 'typed') return formField('columnMapping', () => parseColumnMappingSpec([field.text], 'columnMapping'));
  return fittingMapping(input.csv, saved);
}

/** The CSV options the form states: the default increments and the column mapping, each typed, saved or cleared. */
function formCsvOptions(input: DeckRequest, stored: StoredDeckSettings | null): NonNullable<RateDeckStoreOptions['csv']> {
  const increments = formIncrements(input, stored?.defaultIncrements ?? null);
  return { columns: formColumns(input, stored?.columnMapping ?? {}), ...increments, mappingAdvice: PAGE_MAPPING_ADVICE };
}

/**
 * The page states a deck's currency, country code and national prefix only. A re-import keeps the
 * rest as the deck has it (markup, inbound rate, exit codes, the saved column mapping and default
 * increments), as `rates import` without those flags would not: the page has no field for them, and
 * an update of the price list must not drop the markup or the inbound rate. A new deck, or one moved
 * to another country, gets the CLI's defaults (exit code 011 and trunk prefix 1 for country code 1,
 * else 00 and 0). A column mapping or default increments typed on the page replace the saved ones
 * (and are saved); `none` typed in either field clears it.
 */
async function storeOptions(deps: ApiDeps, input: DeckRequest): Promise<RateDeckStoreOptions> {
  const stored = await storedDeckSettings(deps.pool, input.name);
  const sameCountry = stored !== null && stored.countryCode === input.countryCode;
  const nanp = input.countryCode === '1';
  const numberingPlan: NumberingPlan = {
    countryCode: input.countryCode,
    nationalPrefix: input.nationalPrefix ?? (sameCountry ? stored.nationalPrefix : nanp ? '1' : '0'),
    internationalPrefixes: sameCountry ? stored.internationalPrefixes : [nanp ? '011' : '00'],
    bareNumbers: sameCountry ? stored.bareNumbers : 'national',
  };
  return {
    currency: input.currency,
    numberingPlan,
    ...(stored ? { markup: stored.markup } : {}),
    ...(stored?.inbound ? { inbound: stored.inbound } : {}),
    csv: formCsvOptions(input, stored),
  };
}

/**
 * The saved mapping when the file's header has its columns (a provider's next file), else none: a
 * file of another layout (ictVoIP's, the canonical one) is read by its header names, as before a
 * mapping was kept. `none` in the field clears the saved mapping for good.
 */
function fittingMapping(csv: string, saved: RateDeckColumnMapping): RateDeckColumnMapping {
  if (Object.keys(saved).length === 0) return saved;
  const header = csv.split(/\r?\n/, 1)[0] ?? '';
  const missing = importRateDeckCsv(header, { columns: saved }).issues.some((issue) => issue.message.startsWith('mapped column'));
  return missing ? {} : saved;
}

/** The first warnings with their lines and how many more: the page shows them, not only a count. */
const warningsView = (warnings: readonly RateDeckIssue[]) => ({
  warnings: warnings.slice(0, ISSUES_SHOWN).map((issue) => ({ line: issue.line, column: issue.column, message: issue.message })),
  moreWarnings: Math.max(0, warnings.length - ISSUES_SHOWN),
});

const entryView = (entry: RateEntry) => ({
  prefix: entry.prefix,
  destination: entry.destination,
  ratePerMinute: formatMoney(entry.ratePerMinute),
  connectFee: formatMoney(entry.connectFee),
  increments: `${entry.initialIncrement}/${entry.subsequentIncrement}`,
  effectiveFrom: entry.effectiveFrom.toISOString(),
  line: entry.sourceLine ?? null,
});

/** The default increments and column mapping the import reads the file with (and saves), typed or saved: null when none. */
function usedCsvView(options: RateDeckStoreOptions) {
  const increments = options.csv?.defaultIncrements;
  const mapping = columnMappingSpec(options.csv?.columns ?? {});
  return { defaultIncrements: increments ? `${increments.initial}/${increments.subsequent}` : null, columnMapping: mapping === '' ? null : mapping };
}

async function previewDeck(deps: ApiDeps, input: DeckRequest) {
  const options = await storeOptions(deps, input);
  const preview = await previewRateDeckImport(deps.pool, input.name, input.csv, options);
  const { report } = preview;
  return {
    ok: preview.ok,
    deck: input.name,
    ...usedCsvView(options),
    firstLines: input.csv.split(/\r?\n/).slice(0, PREVIEW_LINES),
    firstRates: report.entries.slice(0, PREVIEW_LINES).map(entryView),
    dataLines: report.dataLines,
    rejectedLines: report.rejectedLines,
    issues: report.issues.slice(0, ISSUES_SHOWN).map((issue) => ({ line: issue.line, column: issue.column, message: issue.message })),
    moreIssues: Math.max(0, report.issues.length - ISSUES_SHOWN),
    ...warningsView(report.warnings),
    existing: preview.existing,
    revision: preview.revision,
    entryCount: preview.entryCount,
    added: preview.added,
    replaced: preview.replaced,
    unchanged: preview.unchanged,
    removed: preview.removed,
    keptEarlier: preview.keptEarlier,
    keptUntil: preview.keptUntil?.toISOString() ?? null,
  };
}

async function deckOrStoreError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RateDeckStoreError) throw new HttpError(400, error.code, error.message, [{ path: `body.${error.field}`, message: error.message }]);
    throw error;
  }
}

async function importDeck(deps: ApiDeps, req: Request) {
  const input = validated(deckSchema, req.body, 'body');
  const options = await storeOptions(deps, input);
  const stored = await deckOrStoreError(() => importRateDeck(deps.pool, input.name, input.csv, options));
  if (!stored.ok) {
    const preview = await deckOrStoreError(() => previewDeck(deps, input));
    await auditAction(deps, req, 'admin.rate-deck.import', { deck: input.name, stored: false, rejectedLines: stored.report.rejectedLines, currency: input.currency });
    throw new HttpError(
      422,
      'RATE_DECK_INVALID',
      `${stored.report.rejectedLines} bad line(s), nothing stored`,
      preview.issues.map((issue) => ({ path: `line ${issue.line}`, message: `${issue.column}: ${issue.message}` })),
    );
  }
  await auditAction(deps, req, 'admin.rate-deck.import', { deck: input.name, stored: true, revision: stored.revision, entryCount: stored.entryCount, currency: input.currency });
  return {
    stored: true,
    deck: input.name,
    deckId: stored.deckId,
    revision: stored.revision,
    entryCount: stored.entryCount,
    keptEarlier: stored.keptEarlier,
    keptUntil: stored.keptUntil?.toISOString() ?? null,
    ...usedCsvView(options),
    ...warningsView(stored.report.warnings),
  };
}

interface SavedCsvRow {
  default_increments: string | null;
  column_mapping: RateDeckColumnMapping | null;
}
interface ListedDeckRow extends SavedCsvRow {
  name: string;
  currency: string;
  country_code: string;
  revision: number;
  entry_count: number;
  updated_at: Date;
}

/** What a re-import on the page reuses unless the field is typed: shown as the field takes it (null: none saved). */
const savedCsvView = (row: SavedCsvRow) => {
  const mapping = row.column_mapping ? columnMappingSpec(row.column_mapping) : '';
  return { defaultIncrements: row.default_increments, columnMapping: mapping === '' ? null : mapping };
};

async function listDecks(deps: ApiDeps) {
  const { rows } = await deps.pool.query<ListedDeckRow>(
    'SELECT name, currency, country_code, revision, entry_count, updated_at, default_increments, column_mapping FROM rate_decks ORDER BY name',
  );
  return rows.map((row) => ({
    name: row.name,
    currency: row.currency,
    countryCode: row.country_code,
    revision: row.revision,
    entryCount: row.entry_count,
    updatedAt: row.updated_at.toISOString(),
    ...savedCsvView(row),
  }));
}

interface ShownRate {
  prefix: string;
  destination: string;
  rate: string;
  connect: string;
  initial: number;
  subsequent: number;
  from: Date;
  to: Date | null;
  line: number | null;
}

interface ShownDeckRow extends ShownRate, SavedCsvRow {
  name: string;
  currency: string;
  country_code: string;
  national_prefix: string;
  revision: number;
  entry_count: number;
  markup_percent: string;
  markup_per_minute: string;
  markup_per_call: string;
}

/**
 * The named deck (markup, revision, count) and a page of its rates (by prefix) in ONE statement: one
 * snapshot, whatever imports commit meanwhile. Two reads with a revision check gave up after 5 imports
 * in a row committed between them (RateDeckMovedError), answered as a bare 500.
 */
async function deckWithRates(deps: ApiDeps, name: string, prefix: string | undefined): Promise<ShownDeckRow[]> {
  const { rows } = await deps.pool.query<ShownDeckRow>(
    `SELECT d.name, d.currency, d.country_code, d.national_prefix, d.revision, d.entry_count, d.default_increments, d.column_mapping, d.markup_percent::text, d.markup_per_minute::text,
            d.markup_per_call::text, e.prefix, e.destination, e.rate_per_minute::text AS rate, e.connect_fee::text AS connect, e.initial_increment AS initial,
            e.subsequent_increment AS subsequent, e.effective_from AS "from", e.effective_to AS "to", e.source_line AS line
       FROM rate_decks d
       LEFT JOIN LATERAL (SELECT * FROM rate_entries r WHERE r.deck_id = d.deck_id AND ($2::text IS NULL OR r.prefix LIKE $2 || '%')
                           ORDER BY r.prefix, r.effective_from LIMIT $3) e ON true
      WHERE d.name = $1
      ORDER BY e.prefix, e.effective_from`,
    [name, prefix ?? null, DECK_ENTRIES_SHOWN],
  );
  return rows;
}

/** A rate as the customer is billed for it (the deck's markup applied, as rating does: markUp) and the deck's own price. */
function billedView(row: ShownRate, markup: ReturnType<typeof parseMarkup>) {
  const [rate, connect] = [parseMoney(row.rate), parseMoney(row.connect)];
  return {
    prefix: row.prefix,
    destination: row.destination,
    ratePerMinute: formatMoney(markUp(rate, markup.percent, markup.perMinute)),
    connectFee: formatMoney(markUp(connect, markup.percent, markup.perCall)),
    baseRatePerMinute: formatMoney(rate),
    baseConnectFee: formatMoney(connect),
    increments: `${row.initial}/${row.subsequent}`,
    effectiveFrom: row.from.toISOString(),
    effectiveTo: row.to?.toISOString() ?? null,
    line: row.line,
  };
}

async function showDeck(deps: ApiDeps, name: string, prefix: string | undefined) {
  const rows = await deckWithRates(deps, name, prefix);
  const deck = rows[0];
  if (!deck) throw new HttpError(404, 'NOT_FOUND', `no rate deck named ${name}`);
  const markup = { percent: deck.markup_percent, fixedPerMinute: deck.markup_per_minute, fixedPerCall: deck.markup_per_call };
  const rates = rows.filter((row) => row.prefix !== null);
  const plain = (value: string | undefined) => plainDecimal(parseMoney(value ?? '0'));
  return {
    name: deck.name,
    currency: deck.currency,
    countryCode: deck.country_code,
    nationalPrefix: deck.national_prefix,
    revision: deck.revision,
    entryCount: deck.entry_count,
    ...savedCsvView(deck),
    // the deck's own markup, as rating applies it to a plan naming the deck (a plan mapping may set another)
    markup: { percent: plain(markup.percent), fixedPerMinute: plain(markup.fixedPerMinute), fixedPerCall: plain(markup.fixedPerCall) },
    shown: rates.length,
    entries: rates.map((row) => billedView(row, parseMarkup(markup))),
  };
}

const batchesQuery = Joi.object<{ period?: string }>({ period: Joi.string().pattern(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM') });
const deckQuery = Joi.object<{ prefix?: string }>({ prefix: Joi.string().pattern(/^[0-9]{1,15}$/, 'digits') });

async function batchesOf(deps: ApiDeps, period: string | undefined) {
  const batches = (await listBatches(deps.pool)).filter((batch) => period === undefined || batch.period === period);
  const { rows } = await deps.pool.query<{ period: string }>('SELECT DISTINCT period FROM billing_batches ORDER BY period DESC LIMIT 24');
  return {
    period: period ?? null,
    periods: rows.map((row) => row.period),
    batches: batches.map((batch) => ({
      batchId: batch.batchId,
      serviceId: batch.serviceId,
      clientId: batch.clientId,
      period: batch.period,
      state: batch.state,
      callCount: batch.callCount,
      lineAmount: batch.lineAmount,
      currency: batch.currency,
      whmcsInvoiceId: batch.whmcsInvoiceId,
      whmcsBillableId: batch.whmcsBillableId,
      attempts: batch.attempts,
      lastError: batch.lastError,
      pushedAt: batch.pushedAt?.toISOString() ?? null,
    })),
  };
}

/**
 * What the WHMCS addon module (modules/addons/ictvoip) shows and does: one JSON read per page, and
 * the operator's actions (retry a failed job, preview or import a rate deck). Every read and every press is
 * written to audit_log with the WHMCS admin's user name, also a press that changed nothing. ADMIN_TOKEN only, like every /admin route; the addon keeps the token server-side.
 */
export function adminPagesRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use('/admin/pages', requireAdminToken(deps.config.adminToken));
  router.use('/admin/pages', (req, _res, next) => {
    if (req.method !== 'POST') return next();
    next(req.is('application/json') ? undefined : new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'));
  });
  router.use('/admin/pages', express.json({ limit: ADMIN_PAGES_BODY_LIMIT, strict: true }));
  router.use('/admin/pages', async (req, _res, next) => {
    if (req.method === 'GET') await auditRead(deps, req);
    next();
  });
  const health = cachedHealth(deps);
  router.get('/admin/pages/dashboard', async (_req, res) => {
    const [queues, drift, unrated, cdrSync, servers, registrations] = await Promise.all([
      queueSummary(deps),
      driftSummary(deps),
      unratedSummary(deps),
      cdrSyncByServer(deps),
      health(),
      registrationAlerts(deps),
    ]);
    res.json({ ...queues, drift, unrated, cdrSync, servers, registrations });
  });
  router.post('/admin/pages/jobs/retry', async (req, res) => {
    res.json(await retryJob(deps, req));
  });
  router.get('/admin/pages/rate-decks', async (_req, res) => {
    res.json({ decks: await listDecks(deps) });
  });
  router.get('/admin/pages/rate-decks/:name', async (req, res) => {
    const { prefix } = validated(deckQuery, req.query, 'query');
    res.json(await showDeck(deps, String(req.params.name), prefix));
  });
  router.post('/admin/pages/rate-decks/preview', async (req, res) => {
    const input = validated(deckSchema, req.body, 'body');
    const preview = await deckOrStoreError(() => previewDeck(deps, input));
    // A preview stores nothing, but it is a press of an admin button like the others: who checked which deck.
    await auditAction(deps, req, 'admin.rate-deck.preview', { deck: input.name, ok: preview.ok, dataLines: preview.dataLines, rejectedLines: preview.rejectedLines });
    res.json(preview);
  });
  router.post('/admin/pages/rate-decks/import', async (req, res) => {
    res.status(201).json(await importDeck(deps, req));
  });
  router.get('/admin/pages/billing/batches', async (req, res) => {
    const { period } = validated(batchesQuery, req.query, 'query');
    res.json(await batchesOf(deps, period));
  });
  router.get('/admin/pages/servers', async (_req, res) => {
    res.json({ servers: await health(), cdrSync: await cdrSyncByServer(deps) });
  });
  router.get('/admin/pages/credit', async (_req, res) => {
    res.json({ services: await creditStates(deps) });
  });
  router.get('/admin/pages/registrations', async (_req, res) => {
    res.json(await registrationAlerts(deps));
  });
  return router;
}

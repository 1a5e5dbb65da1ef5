import type { Pool, PoolClient } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import { applyFreeswitchSide, type FreeswitchStep } from '@ictvoip/freeswitch';
import {
  dialersThroughGateways,
  emergencyGatewaysOfDomain,
  enabledDomainGateways,
  setOutboundRestriction,
  TenantNotFoundError,
  toggleDomainGateways,
  toggleGatewayDialers,
  type FusionTargets,
  type GatewayDialers,
  type OutboundRestrictionResult,
} from '@ictvoip/fusionpbx';
import { formatMoney, parseMoney, roundHalfUp, type Micro } from '@ictvoip/rating';
import {
  auditCreditAction,
  completeCreditAction,
  forgetRestricted,
  creditServicesOfClient,
  getCreditState,
  listCreditMails,
  listCreditStates,
  markUnreadableAlerted,
  moveCreditMail,
  noteCreditActionError,
  recordCreditCheck,
  rememberRestricted,
  rememberRestrictedGateways,
  tryCreditWorkLock,
  uninvoicedUsageOfClient,
  withCreditLock,
  type CreditFigures,
  type CreditMail,
  type CreditPendingAction,
  type CreditRestrictionMode,
  type CreditServiceRow,
  type CreditState,
  type CreditStateRecord,
} from '@ictvoip/store';
import { WhmcsApiError, WhmcsInputError, type WhmcsApiClient, type WhmcsClientDetails } from '@ictvoip/whmcs';
import { findDomainUuid } from './cdr-reader';
import { currencyMismatch } from './currency';
import { describeError } from './errors';

/**
 * Credit control (issue 16): per service, available credit = the client's WHMCS credit (+ the
 * plan's credit limit when postpaid) − the client's rated usage not yet on a WHMCS invoice. The
 * state machine and its actions are here so the worker (checks) and the CLI (dry-run, status) run
 * the same code.
 */
export interface CreditDeps {
  config: BridgeConfig;
  pool: Pool;
  logger?: Logger;
  whmcs: WhmcsApiClient | null;
  /** FusionPBX servers, for the outbound restriction (the worker has them; without them it stays pending) */
  targets?: Pick<FusionTargets, 'get'> | null;
}

/** Test seams: throwing from one simulates a crash at that exact point. */
export interface CreditHooks {
  /** the service's work lock is held and the action is about to be carried out (WHMCS read, then the call) */
  beforeAction?: (serviceId: number, action: CreditPendingAction) => void | Promise<void>;
  /** after WHMCS accepted ModuleSuspend / ModuleUnsuspend, before the bridge records it */
  afterWhmcsAction?: (serviceId: number, action: CreditPendingAction) => void | Promise<void>;
  /** after a mail is marked `sending` (committed), before SendEmail */
  beforeMailSend?: (mail: CreditMail) => void | Promise<void>;
}

export interface CreditCheckOptions {
  /** compute and report, change nothing (no state, no mail, no WHMCS write) */
  dryRun?: boolean;
  hooks?: CreditHooks;
}

export interface ServiceCreditOutcome {
  serviceId: number;
  clientId: number;
  billingMode: 'prepaid' | 'postpaid';
  restriction: CreditRestrictionMode;
  before: CreditState;
  after: CreditState;
  figures: CreditFigures;
  /** what was decided or done: "mail:low", "restrict", "suspended", "lifted", … */
  actions: string[];
  /** the balance could not be read (WHMCS down or a malformed reply) */
  unreadable: boolean;
  /** the client's "Manual VoIP Suspend" field is set: the bridge never restricts or lifts */
  manualHold: boolean;
}

export interface CreditCheckOutcome {
  clientId: number;
  dryRun: boolean;
  services: ServiceCreditOutcome[];
}

export class CreditControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CreditControlError';
  }
}

// ---------------------------------------------------------------------------------------------
// The state machine (pure).

export interface CreditLevels {
  available: Micro;
  threshold: Micro;
  hysteresis: Micro;
}

/**
 * The next state. Down: below the threshold → low, nothing available (≤ 0) → zero. Up: only once
 * the threshold (and never less than zero) plus the hysteresis margin is reached, from low and from
 * zero alike (a top-up of exactly that much lifts it, as the README says), so a balance hovering
 * around either line changes state once, not at every check.
 */
export function nextCreditState(current: CreditState, { available, threshold, hysteresis }: CreditLevels): CreditState {
  if (available <= 0n) return 'zero';
  const recovered = available >= (threshold > 0n ? threshold : 0n) + hysteresis;
  if (current === 'zero') return recovered ? 'ok' : 'zero';
  if (available < threshold) return 'low';
  if (current === 'low') return recovered ? 'ok' : 'low';
  return 'ok';
}

// ---------------------------------------------------------------------------------------------
// WHMCS reads, cached within a bound.

const CACHE_LIMIT = 10_000;
const caches = new WeakMap<WhmcsApiClient, Map<number, { at: number; details: WhmcsClientDetails; recorded: string | undefined }>>();

/**
 * GetClientsDetails, reused for CREDIT_CACHE_SECONDS; at most CACHE_LIMIT clients are kept (oldest
 * dropped). With `recorded` (what the client's checks had recorded when asked, recordedMarker), a
 * reading is reused only while that is unchanged: a check another worker recorded since may rest on
 * a newer balance, which this process's older reading must not overrule (a top-up undone).
 */
export async function cachedClientDetails(whmcs: WhmcsApiClient, clientId: number, cacheSeconds: number, recorded?: string): Promise<WhmcsClientDetails> {
  let cache = caches.get(whmcs);
  if (!cache) caches.set(whmcs, (cache = new Map()));
  const hit = cache.get(clientId);
  if (hit && Date.now() - hit.at < cacheSeconds * 1000 && (recorded === undefined || hit.recorded === recorded)) return hit.details;
  const details = await whmcs.getClientsDetails(clientId);
  if (details.credit === null) throw new CreditControlError('CREDIT_UNREADABLE', `WHMCS sent no credit balance for client ${clientId}`);
  if (details.id !== clientId) throw new CreditControlError('CREDIT_UNREADABLE', `asked WHMCS for client ${clientId}, got ${details.id}`);
  cache.delete(clientId);
  cache.set(clientId, { at: Date.now(), details, recorded });
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as number);
  return details;
}

/** The reading `details` is what the client's checks have recorded now (`recorded`): it stays reusable for this process's next checks. */
function markReadingRecorded(whmcs: WhmcsApiClient, clientId: number, details: WhmcsClientDetails, recorded: string): void {
  const hit = caches.get(whmcs)?.get(clientId);
  if (hit?.details === details) hit.recorded = recorded;
}

/** Forgets what was read of a client (after the bridge itself changed it, and in tests). */
export function forgetClientDetails(whmcs: WhmcsApiClient, clientId: number): void {
  caches.get(whmcs)?.delete(clientId);
}

// ---------------------------------------------------------------------------------------------
// Per-service settings.

const TRUTHY = new Set(['on', 'yes', 'true', '1', 'y']);

function clientField(details: WhmcsClientDetails | null, name: string, id: number): string | null {
  if (!details) return null;
  const field = details.customFields.find((candidate) => (id > 0 && candidate.id === id) || (candidate.name !== '' && candidate.name.toLowerCase() === name.toLowerCase()));
  const value = field?.value.trim() ?? '';
  return value === '' ? null : value;
}

function planAmount(plan: Record<string, unknown>, key: string): Micro | null {
  const value = plan[key];
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    return parseMoney(value.trim(), { field: key, rounding: 'half-up' });
  } catch {
    return null;
  }
}

interface ServiceSettings {
  billingMode: 'prepaid' | 'postpaid';
  creditLimit: Micro | null;
  threshold: Micro;
  restriction: CreditRestrictionMode;
  manualHold: boolean;
}

function settingsOf(config: BridgeConfig, service: CreditServiceRow, details: WhmcsClientDetails | null): ServiceSettings {
  const billingMode = service.plan.billingMode === 'prepaid' ? 'prepaid' : 'postpaid';
  // The client's own "Low Balance Threshold" (ictVoIP's field) wins over the plan's.
  const fieldThreshold = clientField(details, 'Low Balance Threshold', config.credit.thresholdFieldId);
  let threshold = planAmount(service.plan, 'lowBalanceThreshold') ?? 0n;
  if (fieldThreshold !== null) {
    try {
      threshold = parseMoney(fieldThreshold, { field: 'Low Balance Threshold', rounding: 'half-up' });
    } catch {
      // A threshold nobody can read is ignored (the plan's stays), never read as 0.
    }
  }
  const manual = clientField(details, 'Manual VoIP Suspend', config.credit.manualSuspendFieldId);
  return {
    billingMode,
    creditLimit: billingMode === 'postpaid' ? planAmount(service.plan, 'creditLimit') : null,
    threshold,
    restriction: service.plan.creditRestriction === 'outbound' ? 'outbound' : 'suspend',
    manualHold: manual !== null && TRUTHY.has(manual.toLowerCase()),
  };
}

const money6 = (value: Micro) => formatMoney(value);
const money2 = (value: Micro) => formatMoney(roundHalfUp(value, 2), 2);

// ---------------------------------------------------------------------------------------------
// One client's check.

interface ClientReading {
  details: WhmcsClientDetails | null;
  credit: Micro | null;
  error: string | null;
}

async function readClient(deps: CreditDeps, clientId: number, recorded?: string): Promise<ClientReading> {
  if (!deps.whmcs) return { details: null, credit: null, error: 'WHMCS API is not configured (WHMCS_API_URL, WHMCS_API_IDENTIFIER, WHMCS_API_SECRET)' };
  try {
    const details = await cachedClientDetails(deps.whmcs, clientId, deps.config.credit.cacheSeconds, recorded);
    return { details, credit: parseMoney(details.credit ?? '', { allowNegative: true, rounding: 'half-up', field: 'client.credit' }), error: null };
  } catch (error) {
    return { details: null, credit: null, error: describeError(error) };
  }
}

interface Decision {
  outcome: ServiceCreditOutcome;
  pendingAction: CreditPendingAction | null;
  mails: { kind: 'low' | 'zero'; template: string; customVars: Record<string, string> }[];
  transition: boolean;
}

function decide(deps: CreditDeps, service: CreditServiceRow, current: CreditStateRecord | null, reading: ClientReading, usage: Micro): Decision {
  const { config } = deps;
  const settings = settingsOf(config, service, reading.details);
  const before = current?.state ?? 'ok';
  const unreadable = reading.credit === null;
  // Fail-open: a balance that could not be read changes nothing. Fail-closed: it counts as no credit.
  const credit = reading.credit ?? (config.credit.unreadable === 'closed' ? 0n : null);
  const available = credit === null ? null : credit + (settings.creditLimit ?? 0n) - usage;
  const figures: CreditFigures = {
    credit: reading.credit === null ? null : money6(reading.credit),
    creditLimit: settings.creditLimit === null ? null : money6(settings.creditLimit),
    usage: money6(usage),
    available: available === null ? null : money6(available),
    threshold: money6(settings.threshold),
    currency: reading.details?.currencyCode || null,
  };
  const after = available === null ? before : nextCreditState(before, { available, threshold: settings.threshold, hysteresis: parseMoney(config.credit.hysteresis) });
  const outcome: ServiceCreditOutcome = {
    serviceId: service.serviceId,
    clientId: service.clientId,
    billingMode: settings.billingMode,
    restriction: settings.restriction,
    before,
    after,
    figures,
    actions: [],
    unreadable,
    manualHold: settings.manualHold,
  };
  const transition = after !== before;
  const mails: Decision['mails'] = [];
  let pendingAction: CreditPendingAction | null = null;
  if (transition) {
    const vars = mailVars(service, reading.details, figures);
    if (after === 'low') mails.push({ kind: 'low', template: config.credit.lowTemplate, customVars: vars });
    if (after === 'zero') mails.push({ kind: 'zero', template: config.credit.zeroTemplate, customVars: vars });
    if (!settings.manualHold && after === 'zero' && current?.suspendedBy !== 'other') pendingAction = 'restrict';
    // Lifted only what the bridge restricted, or may have (a restrict decided and not known to be done).
    const oursOrMaybe = current?.suspendedBy === 'bridge' || (current?.suspendedBy == null && current?.pendingAction === 'restrict');
    if (!settings.manualHold && before === 'zero' && after === 'ok' && oursOrMaybe) pendingAction = 'lift';
    outcome.actions.push(...mails.map((mail) => `mail:${mail.kind}`), ...(pendingAction ? [pendingAction] : []));
  }
  return { outcome, pendingAction, mails, transition };
}

function mailVars(service: CreditServiceRow, details: WhmcsClientDetails | null, figures: CreditFigures): Record<string, string> {
  const name = details ? [details.firstName, details.lastName].filter(Boolean).join(' ') || details.companyName : '';
  return {
    client: name,
    client_id: String(service.clientId),
    service: service.tenantDomain ?? String(service.serviceId),
    service_id: String(service.serviceId),
    balance: figures.available === null ? '' : money2(parseMoney(figures.available, { allowNegative: true })),
    threshold: money2(parseMoney(figures.threshold)),
    currency: figures.currency ?? '',
  };
}

/** One service's work after its check is recorded: mails and the WHMCS / FusionPBX action. */
interface ServiceWork {
  service: CreditServiceRow;
  stored: CreditStateRecord;
  outcome: ServiceCreditOutcome;
}

/**
 * Checks one client's services in three steps, so a slow WHMCS never holds the client's credit
 * lock: (1) WHMCS's balance is read (cached) before the lock; (2) under the lock, only PostgreSQL:
 * usage, the decision per service and its record (state, crossing, mails to send, action to take,
 * audit) in one transaction, so two checks of one client serialise on the decision and the second
 * finds the crossing already recorded; (3) after the lock, per service under its credit work lock
 * (try-only: a worker already doing the service's work is never waited for, it finishes what is open),
 * the mails are sent and the action carried out. Every state change is written before the WHMCS call
 * it leads to; a call whose outcome was not recorded is resolved by reading WHMCS, never by calling
 * again blindly.
 */
export async function checkClientCredit(deps: CreditDeps, clientId: number, options: CreditCheckOptions = {}): Promise<CreditCheckOutcome> {
  if (options.dryRun) return dryRunCheck(deps, clientId);
  const outcome: CreditCheckOutcome = { clientId, dryRun: false, services: [] };
  const services = await creditServicesOfClient(deps.pool, clientId);
  if (services.length === 0) return outcome;
  const work = await readAndRecord(deps, clientId, services);
  for (const item of work) {
    outcome.services.push(item.outcome);
    // Busy: another worker holds this service's work and sends / carries out what is open.
    await tryCreditWorkLock(deps.pool, item.service.serviceId, (client) => doServiceWork(deps, client, item, options.hooks));
  }
  return outcome;
}

/** Reads that another check overtook before they could be recorded are read again, this many times in all. */
const STALE_READ_ATTEMPTS = 5;

/**
 * Steps 1 and 2. The balance is read before the lock, so another check may record a newer reading
 * while this one is on its way (a top-up recorded and lifted, then this read from before the top-up
 * decides zero again: a second zero mail and suspend). What the client's checks last recorded is
 * noted before the read; when it changed by the time the lock is held, the reading may be older
 * than what is recorded, decides nothing, and the balance is read again.
 */
async function readAndRecord(deps: CreditDeps, clientId: number, services: readonly CreditServiceRow[]): Promise<ServiceWork[]> {
  for (let attempt = 1; ; attempt += 1) {
    const seen = lastRecordedChecks(services, await creditStatesOf(deps.pool, services));
    const reading = await readClient(deps, clientId, recordedMarker(seen));
    const work = await withCreditLock(deps.pool, clientId, (client) => recordChecks(deps, client, clientId, reading, seen));
    if (work) {
      // What the record returned is what the client's checks have recorded now (only a check under this lock records).
      const now = lastRecordedChecks(
        work.map((item) => item.service),
        new Map(work.map((item) => [item.service.serviceId, item.stored])),
      );
      if (deps.whmcs && reading.details) markReadingRecorded(deps.whmcs, clientId, reading.details, recordedMarker(now));
      return work;
    }
    if (attempt >= STALE_READ_ATTEMPTS) {
      throw new CreditControlError('CREDIT_CHECK_OVERTAKEN', `client ${clientId}: other checks recorded newer balances during each of ${attempt} reads; checked again later`);
    }
  }
}

/** The services' credit states as recorded, in one read (a service never checked has none). */
async function creditStatesOf(db: Pool | PoolClient, services: readonly CreditServiceRow[]): Promise<Map<number, CreditStateRecord>> {
  const states = await listCreditStates(db, { serviceIds: services.map((service) => service.serviceId) });
  return new Map(states.map((state) => [state.serviceId, state]));
}

/**
 * When each service's check was last recorded (a marker compared for equality only, so no clock is
 * compared), at PostgreSQL's precision: two checks recorded in one millisecond differ in microseconds only.
 */
function lastRecordedChecks(services: readonly Pick<CreditServiceRow, 'serviceId'>[], states: ReadonlyMap<number, CreditStateRecord>): Map<number, string | null> {
  return new Map(services.map((service) => [service.serviceId, states.get(service.serviceId)?.lastCheckedStamp ?? null]));
}

/** lastRecordedChecks as one comparable value (a cached reading's validity). */
function recordedMarker(seen: ReadonlyMap<number, string | null>): string {
  return [...seen].map(([serviceId, at]) => `${serviceId}:${at ?? '-'}`).join(',');
}

/**
 * The balance is in the client's WHMCS currency, the usage in its decks': of another currency, they
 * cannot be subtracted, so such a balance counts as unreadable (CREDIT_UNREADABLE decides, and the
 * alert names the mismatch) instead of a figure that mixes them.
 */
function comparableReading(reading: ClientReading, clientId: number, usageCurrencies: readonly string[]): ClientReading {
  const mismatch = currencyMismatch(clientId, reading.details?.currencyCode, usageCurrencies, 'its calls are rated in');
  return mismatch ? { ...reading, credit: null, error: `${mismatch.code}: ${mismatch.message}` } : reading;
}

/**
 * Step 2 (the caller holds the client's credit lock): decide and record each service's check.
 * PostgreSQL only. Null, with nothing recorded, when a check was recorded after `seen` was noted
 * (the reading may be older than it).
 */
async function recordChecks(
  deps: CreditDeps,
  client: PoolClient,
  clientId: number,
  whmcsReading: ClientReading,
  seen: ReadonlyMap<number, string | null>,
): Promise<ServiceWork[] | null> {
  const services = await creditServicesOfClient(client, clientId);
  // Read once: compared with `seen`, then decided on (under this lock no other check records).
  const states = await creditStatesOf(client, services);
  for (const [serviceId, at] of lastRecordedChecks(services, states)) if (at !== (seen.get(serviceId) ?? null)) return null;
  const uninvoiced = await uninvoicedUsageOfClient(client, clientId);
  const usage = parseMoney(uninvoiced.usage, { allowNegative: true });
  const reading = comparableReading(whmcsReading, clientId, uninvoiced.currencies);
  const work: ServiceWork[] = [];
  for (const service of services) {
    const decision = decide(deps, service, states.get(service.serviceId) ?? null, reading, usage);
    const stored = await recordCreditCheck(client, {
      serviceId: service.serviceId,
      clientId,
      figures: decision.outcome.figures,
      state: decision.outcome.after,
      transition: decision.transition,
      restriction: decision.outcome.restriction,
      pendingAction: decision.pendingAction,
      mails: decision.mails,
      unreadable: decision.outcome.unreadable,
      error: reading.error,
      audit: decision.transition
        ? {
            actor: 'credit',
            action: `credit.${decision.outcome.after}`,
            serviceId: service.serviceId,
            detail: {
              from: decision.outcome.before,
              to: decision.outcome.after,
              ...decision.outcome.figures,
              decided: decision.outcome.actions,
              manualHold: decision.outcome.manualHold,
            },
          }
        : undefined,
    });
    if (decision.transition)
      deps.logger?.info({ serviceId: service.serviceId, from: decision.outcome.before, to: decision.outcome.after, ...decision.outcome.figures }, 'credit state changed');
    if (reading.error) await alertUnreadable(deps, client, stored, reading.error);
    work.push({ service, stored, outcome: decision.outcome });
  }
  return work;
}

/** Step 3 (the caller holds the service's credit work lock): the open mails, then the pending action as stored now. */
async function doServiceWork(deps: CreditDeps, client: PoolClient, item: ServiceWork, hooks?: CreditHooks): Promise<void> {
  await sendOpenMails(deps, client, item.service.serviceId, item.outcome, hooks);
  // Re-read: a check recorded after ours may have replaced the action, and another worker may have done it.
  const stored = await getCreditState(client, item.service.serviceId);
  if (stored?.pendingAction) await carryOut(deps, client, item.service, stored, item.outcome, hooks);
  else if (stored && outboundInPlace(stored, item.outcome)) await reapplyOutbound(deps, client, item.service, stored, item.outcome);
}

function outboundInPlace(stored: CreditStateRecord, outcome: ServiceCreditOutcome): boolean {
  return stored.suspendedBy === 'bridge' && (stored.restriction ?? outcome.restriction) === 'outbound';
}

/**
 * Every check while the outbound restriction is in place applies it again, since the tenant (or a
 * change_package) may have added what it did not cover: an own route through a kept gateway (the
 * routes' restriction disables and remembers it), an enabled gateway no emergency route needs
 * (recorded, then stopped, so the lift starts it), another dialplan or a ring-group destination
 * dialling a kept gateway (recorded, then disabled), and a gateway the bridge stopped that a new
 * emergency route now needs (started, and no longer the lift's to start). Only what is new is written
 * and sent to FreeSWITCH, and audited (`credit.outbound-reapplied`); nothing new, nothing written.
 */
async function reapplyOutbound(deps: CreditDeps, db: PoolClient, service: CreditServiceRow, stored: CreditStateRecord, outcome: ServiceCreditOutcome): Promise<void> {
  if (!deps.targets) return;
  try {
    const target = await deps.targets.get(service.fusionpbxServer);
    const domainUuid = service.tenantDomain ? await findDomainUuid(target.pool, service.tenantDomain) : null;
    if (!domainUuid) return;
    const routes = await restrictRoutes(target.pool, service.serviceId, domainUuid, true);
    const kept = new Set(routes.keptGateways.map((uuid) => uuid.toLowerCase()));
    const enabled = await enabledDomainGateways(target.pool, domainUuid);
    const { running, stop } = await stopLateGateways(target.pool, db, stored, domainUuid, kept, enabled);
    const start = await restartKeptGateways(target.pool, db, service.serviceId, domainUuid, stored, kept, enabled);
    const dialers = await restrictDialers(target.pool, db, stored, domainUuid, routes, false);
    const steps = [...(routes.changed ? routes.freeswitch : []), ...(stop?.steps ?? []), ...(start?.steps ?? []), ...dialers.steps];
    if (steps.length === 0) return;
    const detail = { gateways: running, startedGateways: start?.gatewayUuids ?? [], ownRoutes: routes.ownRoutes, ...dialers.dialers };
    const changed = routes.changed || (stop?.changed.length ?? 0) > 0 || (start?.changed.length ?? 0) > 0 || dialers.changed > 0;
    // Audited once FusionPBX is written, before FreeSWITCH: a failed ESL call must not lose the entry (the rows will not look new again).
    if (changed) await auditCreditAction(db, { actor: 'credit', action: 'credit.outbound-reapplied', serviceId: service.serviceId, detail });
    await applyFreeswitchSide(target.esl, steps, { cache: target.cacheOptions });
    outcome.actions.push('outbound-reapplied');
    deps.logger?.info({ serviceId: service.serviceId, ...detail }, 'outbound restriction applied again to what appeared since');
  } catch (error) {
    await noteCreditActionError(db, service.serviceId, describeError(error));
    deps.logger?.warn({ serviceId: service.serviceId, err: describeError(error) }, 'outbound restriction not applied again; retried at the next check');
  }
}

/** Enabled gateways no emergency route needs: the ones not yet recorded are recorded (before FusionPBX is written, so the lift starts exactly these), then all are stopped. */
async function stopLateGateways(pool: Pool, db: PoolClient, stored: CreditStateRecord, domainUuid: string, kept: Set<string>, enabled: string[]) {
  const running = enabled.filter((uuid) => !kept.has(uuid.toLowerCase()));
  if (running.length === 0) return { running, stop: null };
  const recorded = new Set(stored.restrictedGateways.map((uuid) => uuid.toLowerCase()));
  const late = running.filter((uuid) => !recorded.has(uuid.toLowerCase()));
  if (late.length > 0) await rememberRestrictedGateways(db, stored.serviceId, late);
  return { running, stop: await toggleDomainGateways(pool, domainUuid, false, running) };
}

/**
 * A gateway the bridge stopped that an emergency route dials through now (a route added while
 * restricted) is started: emergency calls first. It is started before it is forgotten, so a crash in
 * between leaves it with the lift, which starts it again (harmless); never forgotten and left stopped.
 */
async function restartKeptGateways(pool: Pool, db: PoolClient, serviceId: number, domainUuid: string, stored: CreditStateRecord, kept: Set<string>, enabled: string[]) {
  const up = new Set(enabled.map((uuid) => uuid.toLowerCase()));
  const stopped = stored.restrictedGateways.filter((uuid) => kept.has(uuid.toLowerCase()) && !up.has(uuid.toLowerCase()));
  if (stopped.length === 0) return null;
  const toggle = await toggleDomainGateways(pool, domainUuid, true, stopped);
  await forgetRestricted(db, serviceId, 'gateways', stopped);
  return toggle;
}

/**
 * The domain's other dialplans and ring-group destinations that dial straight through a kept gateway
 * (gateway-dialers.ts): the enabled ones are recorded (before FusionPBX is written), then disabled.
 * At the restriction (`all`) every recorded one is written, so a restrict replayed after a crash
 * finishes the rows and cache deletes the first attempt recorded; a re-apply writes only what it found.
 */
async function restrictDialers(pool: Pool, db: PoolClient, stored: CreditStateRecord, domainUuid: string, routes: RouteRestriction, all: boolean) {
  const found = await dialersThroughGateways(pool, domainUuid, routes.keptGateways, [...routes.routes, ...routes.emergencyRoutes]);
  const known = rememberedDialers(stored);
  const recorded: GatewayDialers = { dialplans: [], ringDestinations: [], ivrOptions: [] };
  for (const kind of DIALER_KINDS) recorded[kind] = found[kind].length > 0 ? await rememberRestricted(db, stored.serviceId, kind, found[kind]) : known[kind];
  const write = all ? recorded : found;
  if (DIALER_KINDS.every((kind) => write[kind].length === 0)) return { dialers: found, changed: 0, steps: [] as FreeswitchStep[] };
  const toggle = await toggleGatewayDialers(pool, domainUuid, write, false);
  return { dialers: found, changed: toggle.changed, steps: toggle.steps };
}

const DIALER_KINDS = ['dialplans', 'ringDestinations', 'ivrOptions'] as const;

function rememberedDialers(stored: CreditStateRecord): GatewayDialers {
  return { dialplans: stored.restrictedDialplans, ringDestinations: stored.restrictedRingDestinations, ivrOptions: stored.restrictedIvrOptions };
}

async function dryRunCheck(deps: CreditDeps, clientId: number): Promise<CreditCheckOutcome> {
  const services = await creditServicesOfClient(deps.pool, clientId);
  const outcome: CreditCheckOutcome = { clientId, dryRun: true, services: [] };
  if (services.length === 0) return outcome;
  const uninvoiced = await uninvoicedUsageOfClient(deps.pool, clientId);
  const reading = comparableReading(await readClient(deps, clientId), clientId, uninvoiced.currencies);
  const usage = parseMoney(uninvoiced.usage, { allowNegative: true });
  for (const service of services) {
    outcome.services.push(decide(deps, service, await getCreditState(deps.pool, service.serviceId), reading, usage).outcome);
  }
  return outcome;
}

async function alertUnreadable(deps: CreditDeps, db: Pool | PoolClient, stored: CreditStateRecord, error: string): Promise<void> {
  if (!stored.unreadableSince || stored.unreadableAlerted) return;
  if (Date.now() - stored.unreadableSince.getTime() < deps.config.credit.unreadableAlertSeconds * 1000) return;
  const detail = { serviceId: stored.serviceId, clientId: stored.clientId, since: stored.unreadableSince.toISOString(), mode: deps.config.credit.unreadable, error };
  // Marked, audited and put in the alert webhook's outbox together: the worker delivers it (signed) once.
  const alertId = await markUnreadableAlerted(db, stored.serviceId, detail);
  if (alertId === null) return;
  deps.logger?.error({ ...detail, alertId, code: 'CREDIT_UNREADABLE' }, 'ALERT credit balance unreadable in WHMCS for too long');
}

/**
 * Sends the service's pending mails once: `pending` → `sending` (committed) → SendEmail → `sent`
 * (or `failed` on a definite refusal), under the service's credit work lock. A mail found in
 * `sending` was left by a holder of that lock that died mid-send: `unknown`, never sent again (WHMCS has no token to look it up by; a missing reminder is cheaper than two).
 */
async function sendOpenMails(deps: CreditDeps, db: PoolClient, serviceId: number, outcome: ServiceCreditOutcome, hooks?: CreditHooks): Promise<void> {
  for (const mail of await listCreditMails(db, { serviceId, states: ['pending', 'sending'] })) {
    if (mail.state === 'sending') {
      await moveCreditMail(db, mail, 'sending', 'unknown', 'interrupted after it was marked sending; not sent again');
      continue;
    }
    if (!deps.whmcs) continue;
    if (!(await moveCreditMail(db, mail, 'pending', 'sending'))) continue;
    await hooks?.beforeMailSend?.(mail);
    try {
      await deps.whmcs.sendEmail({ templateName: mail.template, relatedId: mail.serviceId, customVars: mail.customVars });
      await moveCreditMail(db, mail, 'sending', 'sent');
      outcome.actions.push(`mailed:${mail.kind}`);
    } catch (error) {
      const definite = error instanceof WhmcsApiError || error instanceof WhmcsInputError;
      await moveCreditMail(db, mail, 'sending', definite ? 'failed' : 'unknown', describeError(error));
      deps.logger?.warn({ serviceId, kind: mail.kind, err: describeError(error) }, 'credit mail not sent');
    }
  }
}

/**
 * The decided WHMCS action, converge-style: WHMCS's service status is read first, so an action
 * already done (by an earlier attempt whose outcome was lost) is recorded, not repeated.
 */
async function carryOut(deps: CreditDeps, db: PoolClient, service: CreditServiceRow, stored: CreditStateRecord, outcome: ServiceCreditOutcome, hooks?: CreditHooks): Promise<void> {
  const action = stored.pendingAction;
  if (!action) return;
  const figures = { available: stored.available, credit: stored.credit, usage: stored.usage, threshold: stored.threshold, currency: stored.currency };
  const done: Done = (suspendedBy, auditAction, extra = {}) =>
    completeCreditAction(db, stored.serviceId, action, suspendedBy, { actor: 'credit', action: auditAction, serviceId: stored.serviceId, detail: { ...figures, ...extra } });
  const outbound = (stored.restriction ?? outcome.restriction) === 'outbound';
  const { targets, whmcs } = deps;
  const attempt = outbound
    ? targets
      ? () => convergeOutbound(targets, db, service, stored, action, done)
      : null
    : whmcs
      ? () => converge(deps, whmcs, stored.serviceId, action, done)
      : null;
  if (!attempt) {
    if (outbound) await noteCreditActionError(db, stored.serviceId, 'the outbound restriction needs FusionPBX: a worker carries it out');
    return;
  }
  let step: { record: () => Promise<boolean>; called: boolean; done?: string };
  await hooks?.beforeAction?.(stored.serviceId, action);
  try {
    step = await attempt();
  } catch (error) {
    await noteCreditActionError(db, stored.serviceId, describeError(error));
    deps.logger?.warn({ serviceId: stored.serviceId, action, err: describeError(error) }, 'credit action not done; retried at the next check');
    return;
  }
  // Outside the try: a crash here (the hook) must not be taken for a WHMCS failure.
  if (step.called) await hooks?.afterWhmcsAction?.(stored.serviceId, action);
  await step.record();
  if (step.done) outcome.actions.push(step.done);
}

type Done = (suspendedBy: 'bridge' | 'other' | null, auditAction: string, extra?: Record<string, unknown>) => Promise<boolean>;

/** Reads the service in WHMCS and makes the one call still needed (if any); `record` writes the outcome. */
async function converge(
  deps: CreditDeps,
  whmcs: WhmcsApiClient,
  serviceId: number,
  action: CreditPendingAction,
  done: Done,
): Promise<{ record: () => Promise<boolean>; called: boolean; done?: string }> {
  const reason = deps.config.credit.suspendReason;
  const service = await whmcs.getService(serviceId);
  if (!service) throw new CreditControlError('CREDIT_SERVICE_UNKNOWN', `WHMCS has no service ${serviceId}`);
  const suspended = service.status === 'Suspended';
  const ours = suspended && service.suspensionReason === reason;
  if (action === 'restrict') {
    if (ours) return { called: false, record: () => done('bridge', 'credit.suspended', { found: 'already suspended by the bridge' }) };
    if (suspended) return { called: false, record: () => done('other', 'credit.suspended-by-other', { reason: service.suspensionReason }) };
    if (service.status !== 'Active') return { called: false, record: () => done(null, 'credit.restrict-skipped', { status: service.status }) };
    await whmcs.moduleSuspend(serviceId, reason);
    return { called: true, done: 'suspended', record: () => done('bridge', 'credit.suspended', { reason }) };
  }
  if (ours) {
    await whmcs.moduleUnsuspend(serviceId);
    return { called: true, done: 'unsuspended', record: () => done(null, 'credit.unsuspended') };
  }
  if (suspended) return { called: false, record: () => done('other', 'credit.lift-refused', { reason: service.suspensionReason }) };
  return { called: false, record: () => done(null, 'credit.unsuspended', { found: `service is ${service.status}` }) };
}

/**
 * The FusionPBX-only restriction: no paid outbound call, emergency calls always. The routes first
 * (setOutboundRestriction: the bridge's routes disabled but the emergency ones, the tenant's own
 * routes through a gateway an emergency route needs disabled too, memory in the tenant state), then
 * the tenant's enabled gateways other than those the emergency routes dial through are recorded and
 * stopped (row and FreeSWITCH). Lifting enables exactly the recorded gateways and routes. Inbound
 * calls and the tenant's own routes through gateways that are not its own are untouched.
 */
async function convergeOutbound(
  targets: Pick<FusionTargets, 'get'>,
  db: PoolClient,
  service: CreditServiceRow,
  stored: CreditStateRecord,
  action: CreditPendingAction,
  done: Done,
): Promise<{ record: () => Promise<boolean>; called: boolean; done?: string }> {
  const target = await targets.get(service.fusionpbxServer);
  const domainUuid = service.tenantDomain ? await findDomainUuid(target.pool, service.tenantDomain) : null;
  if (!domainUuid) throw new CreditControlError('CREDIT_TENANT_UNKNOWN', `service ${service.serviceId} has no FusionPBX domain`);
  if (action === 'restrict') {
    // Under the tenant's service lock like suspend; a replay after a crash reports the same kept gateways.
    const routes = await restrictRoutes(target.pool, service.serviceId, domainUuid, true);
    const kept = new Set(routes.keptGateways);
    const running = (uuid: string) => !kept.has(uuid.toLowerCase());
    // Recorded before FusionPBX is written: a crash in between still lets the lift enable exactly these.
    const gateways = await rememberRestrictedGateways(db, service.serviceId, (await enabledDomainGateways(target.pool, domainUuid)).filter(running));
    const toggle = await toggleDomainGateways(target.pool, domainUuid, false, gateways.filter(running));
    const dialers = await restrictDialers(target.pool, db, stored, domainUuid, routes, true);
    await applyFreeswitchSide(target.esl, [...routes.freeswitch, ...toggle.steps, ...dialers.steps], { cache: target.cacheOptions });
    const detail = {
      gateways,
      routes: routes.routes,
      emergencyRoutes: routes.emergencyRoutes,
      keptGateways: routes.keptGateways,
      ownRoutes: routes.ownRoutes,
      ...dialers.dialers,
    };
    return { called: true, done: 'outbound-restricted', record: () => done('bridge', 'credit.outbound-restricted', detail) };
  }
  const gateways = stored.restrictedGateways;
  const toggle = await toggleDomainGateways(target.pool, domainUuid, true, gateways);
  const dialers = rememberedDialers(stored);
  const others = await toggleGatewayDialers(target.pool, domainUuid, dialers, true);
  const routes = await restrictRoutes(target.pool, service.serviceId, domainUuid, false);
  await applyFreeswitchSide(target.esl, [...toggle.steps, ...others.steps, ...routes.freeswitch], { cache: target.cacheOptions });
  return {
    called: true,
    done: 'outbound-lifted',
    record: () => done(null, 'credit.outbound-lifted', { gateways, routes: routes.routes, ownRoutes: routes.ownRoutes, ...dialers }),
  };
}

type RouteRestriction = Pick<OutboundRestrictionResult, 'changed' | 'routes' | 'emergencyRoutes' | 'keptGateways' | 'ownRoutes' | 'freeswitch'>;

/**
 * A domain the bridge does not manage (no service tag) has no bridge routes and no tenant state to
 * remember its own routes in; its emergency routes still keep their gateways up (read only: emergency
 * calls first), and its other routes through those gateways are restricted as the domain's other
 * dialplans are (restrictDialers, remembered in credit_states). Its other gateways are stopped.
 */
async function restrictRoutes(pool: Pool, serviceId: number, domainUuid: string, restricted: boolean): Promise<RouteRestriction> {
  try {
    return await setOutboundRestriction(pool, serviceId, restricted);
  } catch (error) {
    if (!(error instanceof TenantNotFoundError)) throw error;
    const emergency = restricted ? await emergencyGatewaysOfDomain(pool, domainUuid) : { emergencyRoutes: [], keptGateways: [] };
    return { changed: false, routes: [], ...emergency, ownRoutes: [], freeswitch: [] };
  }
}

import { perWorker } from '../../per-worker';
import { DEFAULT_SERVER_NAME, enabledSipProfiles, validateProfile } from '@ictvoip/fusionpbx';
import { RegistrationStatusError, type EslClient, type Registration, type RegistrationsReplyCache, type SteadyReply } from '@ictvoip/freeswitch';
import { addJob, addJobs, gatewayAlertJobId, MONITORING_JOBS, registrationAlertJobId, registrationPollJobId, requeueJobUnlessLive, type TypedJob } from '@ictvoip/queue';
import {
  GatewayMonitoringRepository,
  MonitoringAlertsRepository,
  MonitoringWatchRepository,
  RegistrationsRepository,
  type RegistrationHistoryEntry,
  type RegistrationObservation,
  type RegistrationSighting,
  type RegistrationState,
} from '@ictvoip/store';
import { randomUUID } from 'node:crypto';
import type { WorkerDeps } from '../../deps';
import { pollServerGateways, type GatewayPollResult } from './gateways-poll';
import { watchedTenants, type WatchedTenant } from './watch-scope';
import { pollFailed, pollSucceeded } from './poll-failures';
import {
  planObservation,
  repeatsSteadyPoll,
  replyCacheOf,
  figuresKey,
  snapshotEntryOf,
  snapshotsOf,
  steadyPollsOf,
  type ObservationPlan,
  type ServerSnapshot,
} from './registrations-snapshot';
import type { WorkerMetrics } from '../../metrics';
import { addWinner, applyDiffs, currentRegistration, diffReplies, pollBasesOf, type PollBase, type ProfileBase, type Winner } from './registrations-incremental';

export interface RegistrationPollResult {
  server: string;
  profiles: string[];
  /** Enabled in FusionPBX but not answering: their phones were not observed (never marked lost). */
  unavailableProfiles: string[];
  watched: number;
  registered: number;
  /** Watched extensions not observed this poll (their last profile did not answer). */
  unobserved: number;
  transitions: RegistrationHistoryEntry[];
  /** How the poll was observed: `repeated` (the last steady outcome, after a byte compare), `incremental` (only the changed blocks' extensions), `full`. */
  path: 'repeated' | 'incremental' | 'full';
}

type Observation = Omit<RegistrationObservation, 'server' | 'lostAfterSeconds'>;

/** One watched extension: an enabled extension of an active tenant on the polled server. */
interface WatchedExtension {
  serviceId: number;
  domain: string;
  extension: string;
  numberAlias: string | null;
}

/** The host (and port) of the first SIP URI of a contact: the phone's own (LAN) address. */
export function contactHost(contact: string | null): string | null {
  if (!contact) return null;
  const match = /sips?:(?:[^@;>\s]*@)?(\[[0-9a-fA-F:.]+\]|[^:;>\s]+)/.exec(contact);
  return match ? match[1]!.replace(/^\[|\]$/g, '') : null;
}

function sightingOf(entry: Registration): RegistrationSighting {
  return {
    profile: entry.profile,
    contactIp: entry.networkIp,
    contactPort: entry.networkPort,
    lanIp: contactHost(entry.contact),
    userAgent: entry.userAgent,
    expires: entry.expires,
    expiresInSeconds: entry.expiresInSeconds,
  };
}

const serverKey = (server: string | null): string => server ?? DEFAULT_SERVER_NAME;

/** The enabled extensions of some tenant domains in the server's FusionPBX (a CTE `w` of the queries below). */
const EXTENSIONS_OF_DOMAINS = `select lower(d.domain_name) as domain_name, e.extension, e.number_alias
     from v_extensions e join v_domains d on d.domain_uuid = e.domain_uuid
    where lower(d.domain_name) = any($1::text[]) and coalesce(e.enabled::text, 'true') = 'true'`;

/**
 * Changes whenever a row of `w` does (fields length-prefixed, so no two sets read alike). md5: in every
 * PostgreSQL FusionPBX runs on, and a change detector here, not a defence (forging a collision would
 * take every other tenant's rows).
 */
const EXTENSIONS_FINGERPRINT = `select count(*) || ':' || md5(coalesce(string_agg(
     length(w.domain_name) || ':' || w.domain_name || length(w.extension) || ':' || w.extension || coalesce(length(w.number_alias) || ':' || w.number_alias, '-'),
     ',' order by w.domain_name, w.extension, w.number_alias), '')) from w`;

/** The watched extensions of a server, and a key that changes whenever they (or the tenants' watch scopes) may have. */
interface WatchedSet {
  extensions: WatchedExtension[];
  key: string;
}

const watchedSets = perWorker<WatchedSet & { tenantsKey: string; fingerprint: string; tenants: WatchedTenant[]; tenantsFingerprint: string }>();

/**
 * The enabled extensions (from the server's FusionPBX) of the watched tenants, only the marked ones
 * where the scope says so. The rows are read again only when their fingerprint (one row from
 * PostgreSQL) differs from the last read's: a steady poll does not fetch 10,000 rows to find them unchanged.
 */
async function watchedExtensions(deps: WorkerDeps, server: string, storedName: string | null, fusionPool: import('pg').Pool): Promise<WatchedSet> {
  const known = watchedSets(deps).get(server);
  // Read before the rows: rows changed in between are newer than the key kept with them, so the next poll reads them again.
  const tenantsFingerprint = await new MonitoringWatchRepository(deps.pool).activeTenantsFingerprint(storedName);
  const tenants = known?.tenantsFingerprint === tenantsFingerprint ? known.tenants : await watchedTenants(deps, storedName);
  if (tenants.length === 0) return { extensions: [], key: '' };
  const byDomain = new Map(tenants.map((tenant) => [tenant.domain, tenant]));
  const domains = [...byDomain.keys()];
  const tenantsKey = JSON.stringify(tenants.map((tenant) => [tenant.serviceId, tenant.domain, tenant.marked ? [...tenant.marked] : null]));
  if (known?.tenantsKey === tenantsKey) {
    const { rows } = await fusionPool.query<{ fingerprint: string }>(`with w as (${EXTENSIONS_OF_DOMAINS}) select (${EXTENSIONS_FINGERPRINT}) as fingerprint`, [domains]);
    if (rows[0]?.fingerprint === known.fingerprint) {
      const kept = { ...known, tenants, tenantsFingerprint };
      watchedSets(deps).set(server, kept);
      return kept;
    }
  }
  // The rows and their fingerprint from one statement: both of the same snapshot of FusionPBX.
  const { rows } = await fusionPool.query<{ domain_name: string | null; extension: string | null; number_alias: string | null; fingerprint: string | null }>(
    `with w as (${EXTENSIONS_OF_DOMAINS})
     select domain_name, extension, number_alias, null::text as fingerprint from w
     union all select null, null, null, (${EXTENSIONS_FINGERPRINT})
     order by fingerprint nulls first, domain_name, extension`,
    [domains],
  );
  const fingerprint = rows.pop()?.fingerprint ?? '';
  const extensions = rows
    .filter((row) => {
      const marked = byDomain.get(row.domain_name!)!.marked;
      return !marked || marked.has(row.extension!);
    })
    .map((row) => ({ serviceId: byDomain.get(row.domain_name!)!.serviceId, domain: row.domain_name!, extension: row.extension!, numberAlias: row.number_alias || null }));
  const fresh = { extensions, tenantsKey, fingerprint, key: `${tenantsKey}\n${fingerprint}`, tenants, tenantsFingerprint };
  watchedSets(deps).set(server, fresh);
  return fresh;
}

/** The server's rows as this worker last knew them, read again when another poll has written them since. */
async function currentSnapshot(deps: WorkerDeps, repository: RegistrationsRepository, server: string, token: string | null): Promise<ServerSnapshot> {
  const cached = snapshotsOf(deps).get(server);
  if (cached && token !== null && cached.token === token) return cached;
  const snapshot: ServerSnapshot = { token: token ?? '', entries: new Map() };
  for (const state of await repository.statesOfServer(server)) snapshot.entries.set(`${state.domain}|${state.extension}`, snapshotEntryOf(state));
  snapshotsOf(deps).set(server, snapshot);
  return snapshot;
}

interface AppliedPoll {
  transitions: RegistrationHistoryEntry[];
  /** Of the observed extensions, those not observed (no block, their last profile did not answer). */
  unobserved: string[];
  /** The server's token when the same observations would write nothing more (a SteadyPoll holds for it); null otherwise (an older poll, a phone in its grace period). */
  steadyToken: string | null;
  /** The server's token after this poll (null: an older poll, nothing applied). */
  token: string | null;
  /** Of the observed extensions, those the same observation would still move (within their grace period). */
  pending: string[];
}

type Matched = { extension: WatchedExtension; key: string; entry: Registration | undefined };

/**
 * Under the server's lock: compares the poll with the server's rows (the worker's snapshot) and
 * writes only what changed; a steady poll writes nothing but the server's poll time. A poll older
 * than the last one applied (a replay, a slow worker) applies nothing. With `base`, `matched` is only
 * the extensions an incremental poll observes (the others are the base's and would be skipped):
 * null when another poll has written the server's rows since the base.
 */
async function applyObservations(
  deps: WorkerDeps,
  repository: RegistrationsRepository,
  server: string,
  matched: readonly Matched[],
  unavailableProfiles: readonly string[],
  now: Date,
  base?: PollBase,
): Promise<AppliedPoll | null> {
  const last = await repository.serverState(server);
  if (last.polledAt && last.polledAt.getTime() > now.getTime()) return { transitions: [], unobserved: [], steadyToken: null, token: null, pending: [] };
  if (base && last.token !== base.token) return null;
  const snapshot = await currentSnapshot(deps, repository, server, last.token);
  const unobserved: string[] = [];
  const plans: Record<Exclude<ObservationPlan, 'skip'>, Observation[]> = { new: [], figures: [], observe: [] };
  for (const { extension, key, entry } of matched) {
    const known = snapshot.entries.get(key);
    if (!entry && known?.profile && unavailableProfiles.includes(known.profile)) {
      unobserved.push(key);
      continue;
    }
    const observation: Observation = { serviceId: extension.serviceId, domain: extension.domain, extension: extension.extension, seen: entry ? sightingOf(entry) : null, at: now };
    const plan = planObservation(known, observation);
    if (plan !== 'skip') plans[plan].push(known?.registered ? { ...observation, lastSeenAt: last.polledAt } : observation);
  }
  // The base's extensions are the watched ones (its poll forgot the others), and the watched set is the base's.
  const watchedKeys = base ? null : new Set(matched.map((item) => item.key));
  const unwatched = watchedKeys ? [...snapshot.entries.keys()].filter((key) => !watchedKeys.has(key)) : [];
  if (plans.new.length + plans.figures.length + plans.observe.length + unwatched.length === 0) {
    await repository.markServerPolled(server, now);
    return { transitions: [], unobserved, steadyToken: snapshot.token, token: snapshot.token, pending: [] };
  }
  // Other workers' copies go stale from here: they read the rows again on their next poll.
  snapshotsOf(deps).delete(server);
  const token = randomUUID();
  await repository.markServerPolled(server, now, token);
  const { transitions, stillRegistered, inserted, states } = await writeObservations(deps, repository, server, plans, now);
  if (unwatched.length > 0) await repository.forgetUnwatched(server, [...watchedKeys!], now);
  const written = [...plans.new, ...plans.figures, ...plans.observe];
  const touched = written.map((observation) => `${observation.domain}|${observation.extension}`);
  for (const key of unwatched) snapshot.entries.delete(key);
  // A row only given new figures is what was written (a refresh's new expiry, say): not read back.
  for (const observation of plans.figures) {
    const key = `${observation.domain}|${observation.extension}`;
    if (!stillRegistered.has(key) || !observation.seen) continue;
    const { serviceId, seen } = observation;
    snapshot.entries.set(key, { serviceId, registered: true, lost: false, missing: false, everSeen: true, profile: seen.profile, figures: figuresKey(serviceId, seen) });
  }
  // A row this poll inserted is what it wrote (a worker's first poll inserts every watched extension's): not read back either.
  for (const { domain, extension, serviceId, seen } of plans.new) {
    const key = `${domain}|${extension}`;
    if (!inserted.has(key)) continue;
    snapshot.entries.set(key, {
      serviceId,
      registered: seen !== null,
      lost: false,
      missing: false,
      everSeen: seen !== null,
      profile: seen?.profile ?? null,
      figures: figuresKey(serviceId, seen),
    });
  }
  // The rows the locked transaction moved are as it left them (it returns them): not read back.
  const settled = new Set<string>();
  for (const state of states) {
    const key = `${state.domain}|${state.extension}`;
    snapshot.entries.set(key, snapshotEntryOf(state));
    settled.add(key);
  }
  // What is left: the absent rows the steady UPDATE gave only a poll time (and service).
  const reread = touched.filter((key) => !stillRegistered.has(key) && !inserted.has(key) && !settled.has(key));
  for (const state of await repository.statesOfKeys(server, reread)) snapshot.entries.set(`${state.domain}|${state.extension}`, snapshotEntryOf(state));
  snapshot.token = token;
  snapshotsOf(deps).set(server, snapshot);
  // Steady from here if the same observations would now all be skipped (none within a grace period, say).
  const pending = touched.filter((key, index) => planObservation(snapshot.entries.get(key), written[index]!) !== 'skip');
  return { transitions, unobserved, steadyToken: pending.length === 0 ? token : null, token, pending };
}

/** New rows in one INSERT, changed figures in one UPDATE, and whatever may move a state in one locked transaction. */
async function writeObservations(
  deps: WorkerDeps,
  repository: RegistrationsRepository,
  server: string,
  plans: Record<Exclude<ObservationPlan, 'skip'>, Observation[]>,
  at: Date,
): Promise<{ transitions: RegistrationHistoryEntry[]; stillRegistered: Set<string>; inserted: ReadonlySet<string>; states: RegistrationState[] }> {
  const inserted = await repository.observeNew(server, plans.new, at);
  const done = new Set(inserted);
  const steady = await repository.observeSteady(server, plans.figures, at);
  // Rows the steady UPDATE found registered (neither lost nor missing) and gave this poll's figures.
  const stillRegistered = new Set(
    plans.figures
      .filter((observation) => observation.seen && steady.has(`${observation.domain}|${observation.extension}`))
      .map((observation) => `${observation.domain}|${observation.extension}`),
  );
  for (const key of steady) done.add(key);
  const rest = [...plans.new, ...plans.figures, ...plans.observe].filter((observation) => !done.has(`${observation.domain}|${observation.extension}`));
  // One transaction for them all (this poll holds the server's lock): one each was most of a poll's CPU when 1 % of the phones changed.
  const outcomes = await repository.observeManyWithStates(rest.map((observation) => ({ ...observation, server, lostAfterSeconds: deps.config.monitoring.lostAfterSeconds })));
  const transitions = outcomes.transitions.filter((transition): transition is RegistrationHistoryEntry => transition !== null);
  return { transitions, stillRegistered, inserted, states: outcomes.states };
}

/** One poll of a server once its replies are read: `server` as asked for, `name` as its rows are keyed. */
interface PollInput {
  deps: WorkerDeps;
  repository: RegistrationsRepository;
  server: string;
  name: string;
  watched: WatchedSet;
  replies: ReadonlyMap<string, Buffer>;
  now: Date;
  /** Set once observations begin: a failure after it is logged as partial. */
  progress: { observing: boolean };
}

type ObservedPoll = Omit<RegistrationPollResult, 'server' | 'profiles'> & { perTenant: ReadonlyMap<number, { watched: number; registered: number }> };

/**
 * Polls one FusionPBX server: one `sofia xmlstatus profile '<p>' reg` per enabled SIP profile, each
 * reply parsed once for every tenant, then each watched extension's state moved (registrations
 * repository). Any failure before the observations (server disabled or unknown, event socket or
 * database down) fails the whole poll: logged, counted, and nothing is marked lost. A profile that
 * answers `Invalid Profile!` leaves the phones last seen on it unobserved. A poll that finds the last
 * steady one's extensions and replies (but for expsecs and ping times) repeats its outcome (SteadyPoll).
 */
export async function pollServerRegistrations(deps: WorkerDeps, server: string, now: Date, metrics?: WorkerMetrics): Promise<RegistrationPollResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const progress = { observing: false };
  try {
    const target = await deps.targets.get(server === DEFAULT_SERVER_NAME ? null : server);
    const profiles = (await enabledSipProfiles(target.pool)).filter((name) => {
      try {
        validateProfile(name);
        return true;
      } catch {
        return false;
      }
    });
    const name = serverKey(target.storedName);
    const watched = await watchedExtensions(deps, name, target.storedName, target.pool);
    const replies = await readReplies(deps, target.esl, name, profiles);
    // Nothing observed at all: every phone would look gone. Fail instead of marking them missing.
    if (profiles.length === 0) throw new Error('no enabled SIP profile in FusionPBX (v_sip_profiles): nothing to poll');
    const repository = new RegistrationsRepository(deps.pool);
    const input: PollInput = { deps, repository, server, name, watched, replies, now, progress };
    const observed = (await repeatSteadyPoll(input)) ?? (await observeIncrementally(input)) ?? (await observeRegistrations(input));
    recycleReplies(deps, name, replies);
    const { transitions, unavailableProfiles, unobserved } = observed;
    for (const transition of transitions) {
      metrics?.registrationTransitions.inc({ server, transition: transition.transition });
      deps.logger.info(
        { server, serviceId: transition.serviceId, extension: transition.extension, domain: transition.domain, transition: transition.transition, historyId: transition.id },
        `registration ${transition.transition}`,
      );
    }
    await enqueueAlerts(deps, transitions);
    if (metrics) setTenantGauges(metrics, server, observed.perTenant);
    metrics?.registrationPolls.observe({ server, outcome: 'ok' }, elapsed());
    pollSucceeded(deps, 'registrations', server);
    if (unavailableProfiles.length > 0) deps.logger.warn({ server, unavailableProfiles, unobserved }, 'registration poll: SIP profiles not answering, their phones not observed');
    return { server, profiles, unavailableProfiles, watched: observed.watched, registered: observed.registered, unobserved, transitions, path: observed.path };
  } catch (error) {
    metrics?.registrationPolls.observe({ server, outcome: 'failed' }, elapsed());
    metrics?.registrationPollErrors.inc({ server });
    // One failed poll is a warning (a switch restarting); failing again, an error.
    const { level, consecutiveFailures } = pollFailed(deps, 'registrations', server);
    deps.logger[level]({ server, err: (error as Error).message, partial: progress.observing, consecutiveFailures }, 'registration poll failed: no extension marked lost');
    throw error;
  }
}

/** Per worker, by server and profile: a reply's bytes this worker no longer reads, offered to the event socket to read the next reply into. */
const spareReplies = perWorker<Buffer>();

/** Each profile's `sofia xmlstatus` reply, as bytes (a steady poll never decodes them), read into the last spare reply's memory when it fits. */
async function readReplies(deps: WorkerDeps, esl: EslClient, name: string, profiles: readonly string[]): Promise<Map<string, Buffer>> {
  const replies = new Map<string, Buffer>();
  const spares = spareReplies(deps);
  for (const profile of profiles) {
    const key = `${name}\u0000${profile}`;
    // Taken out of the map first: a second poll of the server running meanwhile cannot be handed the same memory.
    const reuse = spares.get(key);
    spares.delete(key);
    replies.set(profile, await esl.apiBytes(`sofia xmlstatus profile '${profile}' reg`, { allowErr: true, ...(reuse ? { reuse } : {}) }));
  }
  return replies;
}

/** This poll's replies that neither the server's steady poll nor its poll base keeps: nothing reads them any more. */
function recycleReplies(deps: WorkerDeps, name: string, replies: ReadonlyMap<string, Buffer>): void {
  const kept = steadyPollsOf(deps).get(name)?.replies;
  const based = new Set(
    pollBasesOf(deps)
      .get(name)
      ?.profiles.map((profile) => ('unavailable' in profile ? profile.unavailable : profile.index.bytes)),
  );
  for (const [profile, bytes] of replies) {
    if (kept?.get(profile)?.bytes !== bytes && !based.has(bytes)) spareReplies(deps).set(`${name}\u0000${profile}`, bytes);
  }
}

/**
 * The last steady poll's outcome again, when this poll's extensions and replies are its own (but for
 * volatile values) and no other poll has written the server's rows since: under the server's lock,
 * only the poll time is recorded. Null when the poll has to be observed in full.
 */
async function repeatSteadyPoll(poll: PollInput): Promise<ObservedPoll | null> {
  const { deps, repository, name, watched, replies, now } = poll;
  const steady = steadyPollsOf(deps).get(name);
  if (!steady || !repeatsSteadyPoll(steady, watched.key, replies)) return null;
  poll.progress.observing = true;
  const repeated = await repository.withServerLock(name, async () => {
    const last = await repository.serverState(name);
    // An older poll than the last one applied writes nothing, as in applyObservations.
    if (last.polledAt && last.polledAt.getTime() > now.getTime()) return true;
    if (last.token !== steady.token) return false;
    await repository.markServerPolled(name, now);
    return true;
  });
  if (!repeated) return null;
  return {
    unavailableProfiles: [...steady.unavailableProfiles],
    watched: watched.extensions.length,
    registered: steady.registered,
    unobserved: steady.unobserved,
    transitions: [],
    perTenant: steady.perTenant,
    path: 'repeated',
  };
}

/** Lookups of a watched set by key: each extension by `domain|extension`, and those with a number alias by `domain|alias`. */
interface WatchedIndex {
  byKey: Map<string, WatchedExtension>;
  byAlias: Map<string, WatchedExtension[]>;
  /** Each extension's place in the watched set: the order the full poll observes (and writes history) in. */
  order: Map<string, number>;
}

const watchedIndexes = new WeakMap<readonly WatchedExtension[], WatchedIndex>();

function watchedIndex(extensions: readonly WatchedExtension[]): WatchedIndex {
  let index = watchedIndexes.get(extensions);
  if (index) return index;
  index = { byKey: new Map(), byAlias: new Map(), order: new Map() };
  for (const extension of extensions) {
    index.byKey.set(`${extension.domain}|${extension.extension}`, extension);
    index.order.set(`${extension.domain}|${extension.extension}`, index.order.size);
    if (!extension.numberAlias) continue;
    const alias = `${extension.domain}|${extension.numberAlias}`;
    index.byAlias.set(alias, [...(index.byAlias.get(alias) ?? []), extension]);
  }
  watchedIndexes.set(extensions, index);
  return index;
}

/**
 * The incremental poll (registrations-incremental.ts): when each reply is the base poll's with some
 * blocks removed, inserted or rewritten, only the extensions whose first block is another one now
 * (or none), and those within their grace period, are observed; every other extension keeps the
 * base's outcome (registered or not, unobserved or not), and the counts move by the observed ones'.
 * Null when the poll has to be observed in full (no base, another watched set, a reply the diff
 * cannot line up with the base's, another poll's write since the base).
 */
async function observeIncrementally(poll: PollInput): Promise<ObservedPoll | null> {
  const { deps, repository, name, watched, replies, now } = poll;
  const base = pollBasesOf(deps).get(name);
  if (!base || base.watchedKey !== watched.key) return null;
  const diffs = diffReplies(base, replies);
  if (!diffs) return null;
  // Taken out first: the base is moved in place, and a poll failing half-way must leave a full poll next.
  pollBasesOf(deps).delete(name);
  steadyPollsOf(deps).delete(name);
  const { touched, changed, before } = applyDiffs(base, diffs);
  const { byKey, byAlias, order } = watchedIndex(watched.extensions);
  const observed = new Map<string, WatchedExtension>();
  for (const key of touched) {
    const extension = byKey.get(key);
    if (extension) observed.set(key, extension);
    for (const aliased of byAlias.get(key) ?? []) observed.set(`${aliased.domain}|${aliased.extension}`, aliased);
  }
  for (const key of base.pending) observed.set(key, byKey.get(key)!);
  const matched: Matched[] = [];
  const counts = new RegisteredCounts(base);
  // In the full poll's order: its transitions (and their history rows) come in the same order.
  for (const [key, extension] of [...observed].sort(([a], [b]) => order.get(a)! - order.get(b)!)) {
    const winner = matchOf(extension, (lookup) => base.seen.get(lookup));
    // Registered before: the first block of a touched key was the one `before` holds (or none), of any other key still the same.
    const had = matchOf(extension, (lookup) => (before.has(lookup) ? before.get(lookup) : base.seen.get(lookup)));
    if ((had === undefined) !== (winner === undefined)) counts.add(extension.serviceId, winner ? 1 : -1);
    matched.push({ extension, key, entry: winner ? currentRegistration(base, winner, changed) : undefined });
  }
  poll.progress.observing = true;
  const applied = await repository.withServerLock(name, () => applyObservations(deps, repository, name, matched, base.unavailableProfiles, now, base));
  if (!applied) return null;
  if (applied.token !== null) {
    base.registered = counts.registered;
    base.perTenant = counts.perTenant;
    // The observed extensions' judged again; the others' as the base had them (their block and row unchanged).
    const unobserved = new Set(base.unobservedKeys);
    for (const { key } of matched) unobserved.delete(key);
    for (const key of applied.unobserved) unobserved.add(key);
    base.unobservedKeys = unobserved;
    base.unobserved = unobserved.size;
    pollBasesOf(deps).set(name, { ...base, token: applied.token, pending: new Set(applied.pending) });
  }
  if (applied.steadyToken !== null) {
    const steadyReplies = new Map<string, SteadyReply>();
    for (const profile of base.profiles) steadyReplies.set(profile.profile, 'unavailable' in profile ? { bytes: profile.unavailable, ranges: new Int32Array(0) } : profile.index);
    steadyPollsOf(deps).set(name, { ...base, watchedKey: watched.key, replies: steadyReplies, token: applied.steadyToken });
  }
  return {
    unavailableProfiles: [...base.unavailableProfiles],
    watched: watched.extensions.length,
    registered: base.registered,
    unobserved: base.unobserved,
    transitions: applied.transitions,
    perTenant: base.perTenant,
    path: 'incremental',
  };
}

/** The watched extension's first block: by its own key, or by its number alias. */
function matchOf<T>(extension: WatchedExtension, lookup: (key: string) => T | undefined): T | undefined {
  return lookup(`${extension.domain}|${extension.extension}`) ?? (extension.numberAlias ? lookup(`${extension.domain}|${extension.numberAlias}`) : undefined);
}

/** A base's registered counts (overall and per tenant) moved by an incremental poll's observed extensions; the base's own map is not changed. */
class RegisteredCounts {
  registered: number;
  perTenant: ReadonlyMap<number, { watched: number; registered: number }>;
  private copied = false;

  constructor(base: PollBase) {
    this.registered = base.registered;
    this.perTenant = base.perTenant;
  }

  add(serviceId: number, delta: number): void {
    const perTenant = this.copied ? (this.perTenant as Map<number, { watched: number; registered: number }>) : new Map(this.perTenant);
    this.copied = true;
    this.perTenant = perTenant;
    this.registered += delta;
    const counts = perTenant.get(serviceId)!;
    perTenant.set(serviceId, { watched: counts.watched, registered: counts.registered + delta });
  }
}

/** The full poll: each reply parsed, each watched extension matched and compared with the server's rows; remembered as steady when it is. */
async function observeRegistrations(poll: PollInput): Promise<ObservedPoll> {
  const { deps, repository, server, name, watched, replies, now } = poll;
  // Forgotten first: a poll failing half-way must not leave an older outcome to be repeated.
  steadyPollsOf(deps).delete(name);
  pollBasesOf(deps).delete(name);
  const seen = new Map<string, Winner>();
  const shared = new Set<string>();
  const unavailableProfiles: string[] = [];
  const steadyReplies = new Map<string, SteadyReply>();
  // Null once a profile's reply cannot be diffed by the next poll (the XML parser read it).
  let profileBases: ProfileBase[] | null = [];
  for (const [profile, bytes] of replies) {
    let parsed: ReturnType<RegistrationsReplyCache['parseBytes']>;
    try {
      parsed = replyCacheOf(deps, server, profile).parseBytes(bytes, profile);
    } catch (error) {
      if (!(error instanceof RegistrationStatusError)) throw error;
      unavailableProfiles.push(profile);
      // The same answer again (`Invalid Profile!`) leaves the same phones unobserved: steady, byte for byte.
      steadyReplies.set(profile, { bytes, ranges: new Int32Array(0) });
      profileBases?.push({ profile, unavailable: bytes });
      continue;
    }
    if (parsed.steady) steadyReplies.set(profile, parsed.steady);
    const index = profileBases?.length ?? -1;
    // Listed under its domain and under its auth realm (FusionPBX's domain filter takes either), the first block of each winning.
    if (parsed.steady && parsed.blocks) {
      profileBases?.push({ profile, index: parsed.steady, blocks: parsed.blocks });
      parsed.blocks.forEach((entry, block) => entry && addWinner(seen, shared, entry, index, block));
    } else {
      profileBases = null;
      for (const entry of parsed.registrations) addWinner(seen, shared, entry, -1, -1);
    }
  }
  if (unavailableProfiles.length === replies.size) throw new Error(`no SIP profile answered (${unavailableProfiles.join(', ')})`);
  poll.progress.observing = true;
  let registered = 0;
  const perTenant = new Map<number, { watched: number; registered: number }>();
  const matched: { extension: WatchedExtension; key: string; entry: Registration | undefined }[] = [];
  for (const extension of watched.extensions) {
    const key = `${extension.domain}|${extension.extension}`;
    const entry = (seen.get(key) ?? (extension.numberAlias ? seen.get(`${extension.domain}|${extension.numberAlias}`) : undefined))?.registration;
    const counts = perTenant.get(extension.serviceId) ?? { watched: 0, registered: 0 };
    counts.watched += 1;
    if (entry) {
      registered += 1;
      counts.registered += 1;
    }
    perTenant.set(extension.serviceId, counts);
    matched.push({ extension, key, entry });
  }
  const applied = (await repository.withServerLock(name, () => applyObservations(deps, repository, name, matched, unavailableProfiles, now)))!;
  if (applied.token !== null && profileBases) {
    pollBasesOf(deps).set(name, {
      watchedKey: watched.key,
      token: applied.token,
      profiles: profileBases,
      seen,
      shared,
      pending: new Set(applied.pending),
      registered,
      unobserved: applied.unobserved.length,
      unobservedKeys: new Set(applied.unobserved),
      unavailableProfiles,
      perTenant,
    });
  }
  if (applied.steadyToken !== null && steadyReplies.size === replies.size) {
    steadyPollsOf(deps).set(name, {
      watchedKey: watched.key,
      replies: steadyReplies,
      token: applied.steadyToken,
      registered,
      unavailableProfiles,
      unobserved: applied.unobserved.length,
      perTenant,
    });
  }
  return { unavailableProfiles, watched: watched.extensions.length, registered, unobserved: applied.unobserved.length, transitions: applied.transitions, perTenant, path: 'full' };
}

/** The tenants each server's last poll set gauges for, per metrics registry: a tenant no longer watched loses its series. */
const gaugedTenants = new WeakMap<WorkerMetrics, Map<string, Set<number>>>();

function setTenantGauges(metrics: WorkerMetrics, server: string, perTenant: ReadonlyMap<number, { watched: number; registered: number }>): void {
  const byServer = gaugedTenants.get(metrics) ?? new Map<string, Set<number>>();
  gaugedTenants.set(metrics, byServer);
  for (const serviceId of byServer.get(server) ?? []) {
    if (perTenant.has(serviceId)) continue;
    metrics.registrationsWatched.remove({ service_id: String(serviceId) });
    metrics.registrationsRegistered.remove({ service_id: String(serviceId) });
  }
  for (const [serviceId, counts] of perTenant) {
    metrics.registrationsWatched.set({ service_id: String(serviceId) }, counts.watched);
    metrics.registrationsRegistered.set({ service_id: String(serviceId) }, counts.registered);
  }
  byServer.set(server, new Set(perTenant.keys()));
}

/** One delivery job per transition (job id from the history row): a second worker's add is a no-op. */
export async function enqueueAlerts(deps: WorkerDeps, transitions: readonly Pick<RegistrationHistoryEntry, 'id'>[]): Promise<void> {
  // Always queued, even with no channel configured: the delivery job settles the transition, and a tenant's own recipients count too.
  if (transitions.length === 0) return;
  await addJobs(
    deps.queues,
    MONITORING_JOBS.alert,
    transitions.map((transition) => ({
      data: { historyId: transition.id },
      opts: { jobId: registrationAlertJobId(transition.id) },
    })),
  );
}

export async function handleRegistrationPoll(
  deps: WorkerDeps,
  job: TypedJob<typeof MONITORING_JOBS.poll>,
  metrics?: WorkerMetrics,
): Promise<Omit<RegistrationPollResult, 'transitions'> & { transitions: number; gateways: Omit<GatewayPollResult, 'transitions'> & { transitions: number } }> {
  const now = job.data.now ? new Date(job.data.now) : new Date();
  const result = await pollServerRegistrations(deps, job.data.server, now, metrics).catch((error: unknown) => error as Error);
  // The gateways are polled even when the registrations' poll failed (a profile down, say); either failure fails the job.
  const gateways = await pollServerGateways(deps, job.data.server, now, metrics).catch((error: unknown) => error as Error);
  if (result instanceof Error) throw result;
  if (gateways instanceof Error) throw gateways;
  return { ...result, transitions: result.transitions.length, gateways: { ...gateways, transitions: gateways.transitions.length } };
}

/**
 * Scheduled fan-out: one poll per enabled FusionPBX server (the default one included), its job id
 * carrying the time slot; then the outbox: alerts of the last day not delivered yet are queued again
 * (their job id makes that a no-op while one is queued), and history older than the retention goes.
 */
export async function handleRegistrationPollAll(deps: WorkerDeps, job: TypedJob<typeof MONITORING_JOBS.pollAll>): Promise<{ enqueued: number }> {
  const now = job.data.now ? new Date(job.data.now) : new Date();
  const slot = `t${Math.floor(now.getTime() / (deps.config.monitoring.pollSeconds * 1000))}`;
  const servers = [DEFAULT_SERVER_NAME, ...(await deps.fusionServers.list()).filter((server) => server.enabled).map((server) => server.name)];
  // A removed server is in no round any more; its connections, opened by earlier polls, are closed once (and said once).
  const removed = await deps.targets.closeRemoved();
  if (removed.length > 0) deps.logger.info({ servers: removed }, 'FusionPBX server(s) no longer registered: their database pool and event socket closed');
  for (const server of servers) {
    await addJob(deps.queues, MONITORING_JOBS.poll, { server, ...(job.data.now ? { now: job.data.now } : {}) }, { jobId: registrationPollJobId(server, slot), attempts: 1 });
  }
  const repository = new RegistrationsRepository(deps.pool);
  // The outbox: a transition whose job was lost (Redis flushed, a worker killed before it queued it) or ran out of
  // attempts is queued again (unless its job is still live); its delivery rows keep it from being sent twice.
  for (const entry of await repository.unsentAlerts(100, new Date(now.getTime() - 86400 * 1000))) {
    await requeueJobUnlessLive(deps.queues, MONITORING_JOBS.alert, { historyId: entry.id }, registrationAlertJobId(entry.id));
  }
  const gatewayRepository = new GatewayMonitoringRepository(deps.pool);
  for (const entry of await gatewayRepository.unsentAlerts(100, new Date(now.getTime() - 86400 * 1000))) {
    await requeueJobUnlessLive(deps.queues, MONITORING_JOBS.alert, { historyId: entry.id, kind: 'gateway' }, gatewayAlertJobId(entry.id));
  }
  await repository.purgeHistory(deps.config.monitoring.historyRetentionDays, now);
  await gatewayRepository.purgeHistory(deps.config.monitoring.historyRetentionDays, now);
  await new MonitoringAlertsRepository(deps.pool).purge(deps.config.monitoring.historyRetentionDays, now);
  return { enqueued: servers.length };
}

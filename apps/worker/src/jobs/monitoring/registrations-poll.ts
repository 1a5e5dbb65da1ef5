import { DEFAULT_SERVER_NAME, enabledSipProfiles, validateProfile } from '@ictvoip/fusionpbx';
import { RegistrationStatusError, type Registration } from '@ictvoip/freeswitch';
import {
  addJob,
  addJobs,
  assertValidJobId,
  gatewayAlertJobId,
  MONITORING_JOBS,
  registrationAlertJobId,
  registrationPollJobId,
  requeueJobUnlessLive,
  type TypedJob,
} from '@ictvoip/queue';
import {
  GatewayMonitoringRepository,
  MonitoringAlertsRepository,
  RegistrationsRepository,
  type RegistrationHistoryEntry,
  type RegistrationObservation,
  type RegistrationSighting,
} from '@ictvoip/store';
import { randomUUID } from 'node:crypto';
import type { WorkerDeps } from '../../deps';
import { pollServerGateways, type GatewayPollResult } from './gateways-poll';
import { watchedTenants } from './watch-scope';
import { pollFailed, pollSucceeded } from './poll-failures';
import { planObservation, replyCacheOf, snapshotEntryOf, snapshotsOf, type ObservationPlan, type ServerSnapshot } from './registrations-snapshot';
import type { WorkerMetrics } from '../../metrics';

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

function addSeen(seen: Map<string, Registration>, key: string, entry: Registration): void {
  if (!seen.has(key)) seen.set(key, entry);
}

const serverKey = (server: string | null): string => server ?? DEFAULT_SERVER_NAME;

/** The enabled extensions (from the server's FusionPBX) of the watched tenants, only the marked ones where the scope says so. */
async function watchedExtensions(deps: WorkerDeps, storedName: string | null, fusionPool: import('pg').Pool): Promise<WatchedExtension[]> {
  const tenants = await watchedTenants(deps, storedName);
  if (tenants.length === 0) return [];
  const byDomain = new Map(tenants.map((tenant) => [tenant.domain, tenant]));
  const { rows } = await fusionPool.query<{ domain_name: string; extension: string; number_alias: string | null }>(
    `select lower(d.domain_name) as domain_name, e.extension, e.number_alias
       from v_extensions e join v_domains d on d.domain_uuid = e.domain_uuid
      where lower(d.domain_name) = any($1::text[]) and coalesce(e.enabled::text, 'true') = 'true'
      order by 1, 2`,
    [[...byDomain.keys()]],
  );
  return rows
    .filter((row) => {
      const marked = byDomain.get(row.domain_name)!.marked;
      return !marked || marked.has(row.extension);
    })
    .map((row) => ({ serviceId: byDomain.get(row.domain_name)!.serviceId, domain: row.domain_name, extension: row.extension, numberAlias: row.number_alias || null }));
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

/**
 * Under the server's lock: compares the poll with the server's rows (the worker's snapshot) and
 * writes only what changed; a steady poll writes nothing but the server's poll time. A poll older
 * than the last one applied (a replay, a slow worker) applies nothing.
 */
async function applyObservations(
  deps: WorkerDeps,
  repository: RegistrationsRepository,
  server: string,
  matched: readonly { extension: WatchedExtension; key: string; entry: Registration | undefined }[],
  unavailableProfiles: readonly string[],
  now: Date,
): Promise<{ transitions: RegistrationHistoryEntry[]; unobserved: number }> {
  const last = await repository.serverState(server);
  if (last.polledAt && last.polledAt.getTime() > now.getTime()) return { transitions: [], unobserved: 0 };
  const snapshot = await currentSnapshot(deps, repository, server, last.token);
  let unobserved = 0;
  const plans: Record<Exclude<ObservationPlan, 'skip'>, Observation[]> = { new: [], figures: [], observe: [] };
  for (const { extension, key, entry } of matched) {
    const known = snapshot.entries.get(key);
    if (!entry && known?.profile && unavailableProfiles.includes(known.profile)) {
      unobserved += 1;
      continue;
    }
    const observation: Observation = { serviceId: extension.serviceId, domain: extension.domain, extension: extension.extension, seen: entry ? sightingOf(entry) : null, at: now };
    const plan = planObservation(known, observation);
    if (plan !== 'skip') plans[plan].push(known?.registered ? { ...observation, lastSeenAt: last.polledAt } : observation);
  }
  const watchedKeys = new Set(matched.map((item) => item.key));
  const unwatched = [...snapshot.entries.keys()].filter((key) => !watchedKeys.has(key));
  if (plans.new.length + plans.figures.length + plans.observe.length + unwatched.length === 0) {
    await repository.markServerPolled(server, now);
    return { transitions: [], unobserved };
  }
  // Other workers' copies go stale from here: they read the rows again on their next poll.
  snapshotsOf(deps).delete(server);
  const token = randomUUID();
  await repository.markServerPolled(server, now, token);
  const transitions = await writeObservations(deps, repository, server, plans, now);
  if (unwatched.length > 0) await repository.forgetUnwatched(server, [...watchedKeys], now);
  const touched = [...plans.new, ...plans.figures, ...plans.observe].map((observation) => `${observation.domain}|${observation.extension}`);
  for (const key of unwatched) snapshot.entries.delete(key);
  for (const state of await repository.statesOfKeys(server, touched)) snapshot.entries.set(`${state.domain}|${state.extension}`, snapshotEntryOf(state));
  snapshot.token = token;
  snapshotsOf(deps).set(server, snapshot);
  return { transitions, unobserved };
}

/** New rows in one INSERT, changed figures in one UPDATE, and whatever may move a state in a locked transaction each. */
async function writeObservations(
  deps: WorkerDeps,
  repository: RegistrationsRepository,
  server: string,
  plans: Record<Exclude<ObservationPlan, 'skip'>, Observation[]>,
  at: Date,
): Promise<RegistrationHistoryEntry[]> {
  const done = await repository.observeNew(server, plans.new, at);
  for (const key of await repository.observeSteady(server, plans.figures, at)) done.add(key);
  const transitions: RegistrationHistoryEntry[] = [];
  for (const observation of [...plans.new, ...plans.figures, ...plans.observe]) {
    if (done.has(`${observation.domain}|${observation.extension}`)) continue;
    const transition = await repository.observe({ ...observation, server, lostAfterSeconds: deps.config.monitoring.lostAfterSeconds });
    if (transition) transitions.push(transition);
  }
  return transitions;
}

/**
 * Polls one FusionPBX server: one `sofia xmlstatus profile '<p>' reg` per enabled SIP profile, each
 * reply parsed once for every tenant, then each watched extension's state moved (registrations
 * repository). Any failure before the observations (server disabled or unknown, event socket or
 * database down) fails the whole poll: logged, counted, and nothing is marked lost. A profile that
 * answers `Invalid Profile!` leaves the phones last seen on it unobserved.
 */
export async function pollServerRegistrations(deps: WorkerDeps, server: string, now: Date, metrics?: WorkerMetrics): Promise<RegistrationPollResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  let observing = false;
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
    const watched = await watchedExtensions(deps, target.storedName, target.pool);
    const seen = new Map<string, Registration>();
    const unavailableProfiles: string[] = [];
    for (const profile of profiles) {
      const body = await target.esl.api(`sofia xmlstatus profile '${profile}' reg`, { allowErr: true });
      let entries: Registration[];
      try {
        entries = replyCacheOf(deps, server, profile).parse(body, profile);
      } catch (error) {
        if (!(error instanceof RegistrationStatusError)) throw error;
        unavailableProfiles.push(profile);
        continue;
      }
      for (const entry of entries) {
        // Listed under its domain and under its auth realm (FusionPBX's domain filter takes either).
        if (entry.domain) addSeen(seen, `${entry.domain}|${entry.extension}`, entry);
        const realm = entry.sipAuthRealm?.toLowerCase();
        if (realm && realm !== entry.domain) addSeen(seen, `${realm}|${entry.extension}`, entry);
      }
    }
    // Nothing observed at all: every phone would look gone. Fail instead of marking them missing.
    if (profiles.length === 0) throw new Error('no enabled SIP profile in FusionPBX (v_sip_profiles): nothing to poll');
    if (unavailableProfiles.length === profiles.length) throw new Error(`no SIP profile answered (${unavailableProfiles.join(', ')})`);
    const repository = new RegistrationsRepository(deps.pool);
    const name = serverKey(target.storedName);
    observing = true;
    let registered = 0;
    const perTenant = new Map<number, { watched: number; registered: number }>();
    const matched: { extension: WatchedExtension; key: string; entry: Registration | undefined }[] = [];
    for (const extension of watched) {
      const key = `${extension.domain}|${extension.extension}`;
      const entry = seen.get(key) ?? (extension.numberAlias ? seen.get(`${extension.domain}|${extension.numberAlias}`) : undefined);
      const counts = perTenant.get(extension.serviceId) ?? { watched: 0, registered: 0 };
      counts.watched += 1;
      if (entry) {
        registered += 1;
        counts.registered += 1;
      }
      perTenant.set(extension.serviceId, counts);
      matched.push({ extension, key, entry });
    }
    const { transitions, unobserved } = await repository.withServerLock(name, () => applyObservations(deps, repository, name, matched, unavailableProfiles, now));
    for (const transition of transitions) {
      metrics?.registrationTransitions.inc({ server, transition: transition.transition });
      deps.logger.info(
        { server, serviceId: transition.serviceId, extension: transition.extension, domain: transition.domain, transition: transition.transition, historyId: transition.id },
        `registration ${transition.transition}`,
      );
    }
    await enqueueAlerts(deps, transitions);
    if (metrics) setTenantGauges(metrics, server, perTenant);
    metrics?.registrationPolls.observe({ server, outcome: 'ok' }, elapsed());
    pollSucceeded(deps, 'registrations', server);
    if (unavailableProfiles.length > 0) deps.logger.warn({ server, unavailableProfiles, unobserved }, 'registration poll: SIP profiles not answering, their phones not observed');
    return { server, profiles, unavailableProfiles, watched: watched.length, registered, unobserved, transitions };
  } catch (error) {
    metrics?.registrationPolls.observe({ server, outcome: 'failed' }, elapsed());
    metrics?.registrationPollErrors.inc({ server });
    // One failed poll is a warning (a switch restarting); failing again, an error.
    const { level, consecutiveFailures } = pollFailed(deps, 'registrations', server);
    deps.logger[level]({ server, err: (error as Error).message, partial: observing, consecutiveFailures }, 'registration poll failed: no extension marked lost');
    throw error;
  }
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
      opts: { jobId: assertValidJobId(registrationAlertJobId(transition.id)), removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
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
  for (const server of servers) {
    await addJob(
      deps.queues,
      MONITORING_JOBS.poll,
      { server, ...(job.data.now ? { now: job.data.now } : {}) },
      { jobId: assertValidJobId(registrationPollJobId(server, slot)), attempts: 1, removeOnComplete: { count: 200 }, removeOnFail: { count: 200 } },
    );
  }
  const repository = new RegistrationsRepository(deps.pool);
  // The outbox: a transition whose job was lost (Redis flushed, a worker killed before it queued it) or ran out of
  // attempts is queued again (unless its job is still live); its delivery rows keep it from being sent twice.
  for (const entry of await repository.unsentAlerts(100, new Date(now.getTime() - 86400 * 1000))) {
    await requeueJobUnlessLive(deps.queues, MONITORING_JOBS.alert, { historyId: entry.id }, assertValidJobId(registrationAlertJobId(entry.id)), {
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    });
  }
  const gatewayRepository = new GatewayMonitoringRepository(deps.pool);
  for (const entry of await gatewayRepository.unsentAlerts(100, new Date(now.getTime() - 86400 * 1000))) {
    await requeueJobUnlessLive(deps.queues, MONITORING_JOBS.alert, { historyId: entry.id, kind: 'gateway' }, assertValidJobId(gatewayAlertJobId(entry.id)), {
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    });
  }
  await repository.purgeHistory(deps.config.monitoring.historyRetentionDays, now);
  await gatewayRepository.purgeHistory(deps.config.monitoring.historyRetentionDays, now);
  await new MonitoringAlertsRepository(deps.pool).purge(deps.config.monitoring.historyRetentionDays, now);
  return { enqueued: servers.length };
}

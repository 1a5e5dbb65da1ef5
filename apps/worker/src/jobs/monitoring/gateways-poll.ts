import { DEFAULT_SERVER_NAME } from '@ictvoip/fusionpbx';
import { GatewayStatusError, parseGatewayStatus, type GatewayStatus } from '@ictvoip/freeswitch';
import { addJobs, gatewayAlertJobId, MONITORING_JOBS } from '@ictvoip/queue';
import { GatewayMonitoringRepository, type GatewayHistoryEntry, type GatewayObservation } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';
import { watchedTenants } from './watch-scope';
import { pollFailed, pollSucceeded } from './poll-failures';

/** FreeSWITCH answered `Invalid Gateway!`: FusionPBX has it enabled but it is not running. */
export const NOT_RUNNING = 'NOT_RUNNING';

export interface GatewayPollResult {
  server: string;
  watched: number;
  failing: number;
  /** Gateways whose reply could not be read: not observed this poll. */
  unreadable: string[];
  transitions: GatewayHistoryEntry[];
}

interface WatchedGateway {
  serviceId: number;
  domain: string;
  gatewayUuid: string;
  name: string | null;
  register: boolean;
}

/**
 * A gateway is failing when FreeSWITCH does not run it, or, for a registering gateway, when its
 * state is anything but REGED (FAIL_WAIT, UNREGED, TRYING, …). A gateway that does not register
 * (NOREG) is healthy while it runs.
 */
export function gatewayFailing(register: boolean, status: GatewayStatus): boolean {
  if (!status.running) return true;
  return register && status.state !== 'REGED';
}

/**
 * Polls the gateways of one FusionPBX server: every enabled gateway of an active tenant, one
 * `sofia xmlstatus gateway <uuid>` each (upper-cased again when not running, as gateways.php does).
 * Every reply is read before any state moves: an event socket or database failure fails the whole
 * poll and marks nothing down. A gateway failing for longer than the grace period
 * (REGISTRATION_LOST_AFTER_SECONDS) records one `down` transition, its recovery one `up`.
 */
export async function pollServerGateways(deps: WorkerDeps, server: string, now: Date, metrics?: WorkerMetrics): Promise<GatewayPollResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const result = await pollGateways(deps, server, now, metrics);
    metrics?.gatewayPolls.observe({ server, outcome: 'ok' }, elapsed());
    pollSucceeded(deps, 'gateways', server);
    return result;
  } catch (error) {
    metrics?.gatewayPolls.observe({ server, outcome: 'failed' }, elapsed());
    metrics?.gatewayPollErrors.inc({ server });
    const { level, consecutiveFailures } = pollFailed(deps, 'gateways', server);
    deps.logger[level]({ server, err: (error as Error).message, consecutiveFailures }, 'gateway poll failed: no gateway marked down');
    throw error;
  }
}

async function pollGateways(deps: WorkerDeps, server: string, now: Date, metrics?: WorkerMetrics): Promise<GatewayPollResult> {
  const target = await deps.targets.get(server === DEFAULT_SERVER_NAME ? null : server);
  // The tenants registration monitoring watches (scope `off`: neither phones nor gateways).
  const byDomain = new Map((await watchedTenants(deps, target.storedName)).map((tenant) => [tenant.domain, tenant.serviceId]));
  let watched: WatchedGateway[] = [];
  if (byDomain.size > 0) {
    const { rows } = await target.pool.query<{ gateway_uuid: string; gateway: string | null; register: string | null; domain_name: string }>(
      `select g.gateway_uuid::text as gateway_uuid, g.gateway, g.register::text as register, lower(d.domain_name) as domain_name
         from v_gateways g join v_domains d on d.domain_uuid = g.domain_uuid
        where lower(d.domain_name) = any($1::text[]) and coalesce(g.enabled::text, 'true') = 'true'
        order by 4, 1`,
      [[...byDomain.keys()]],
    );
    watched = rows.map((row) => ({
      serviceId: byDomain.get(row.domain_name)!,
      domain: row.domain_name,
      gatewayUuid: row.gateway_uuid.toLowerCase(),
      name: row.gateway,
      register: (row.register ?? 'false').toLowerCase() === 'true',
    }));
  }
  // Every reply first: an event socket that fails half-way leaves every state as it was.
  const statuses = new Map<string, GatewayStatus>();
  const unreadable: string[] = [];
  for (const gateway of watched) {
    try {
      let status = parseGatewayStatus(await target.esl.api(`sofia xmlstatus gateway ${gateway.gatewayUuid}`, { allowErr: true }));
      if (!status.running) status = parseGatewayStatus(await target.esl.api(`sofia xmlstatus gateway ${gateway.gatewayUuid.toUpperCase()}`, { allowErr: true }));
      statuses.set(gateway.gatewayUuid, status);
    } catch (error) {
      if (!(error instanceof GatewayStatusError)) throw error;
      unreadable.push(gateway.gatewayUuid);
    }
  }
  const repository = new GatewayMonitoringRepository(deps.pool);
  const serverName = target.storedName ?? DEFAULT_SERVER_NAME;
  let failing = 0;
  const observations: GatewayObservation[] = [];
  for (const gateway of watched) {
    const status = statuses.get(gateway.gatewayUuid);
    if (!status) continue;
    const isFailing = gatewayFailing(gateway.register, status);
    if (isFailing) failing += 1;
    observations.push({
      server: serverName,
      serviceId: gateway.serviceId,
      domain: gateway.domain,
      gatewayUuid: gateway.gatewayUuid,
      gatewayName: gateway.name,
      register: gateway.register,
      state: status.running ? status.state : NOT_RUNNING,
      status: status.running ? status.status : null,
      failing: isFailing,
      at: now,
      downAfterSeconds: deps.config.monitoring.gatewayDownAfterSeconds,
    });
  }
  // One transaction for the whole poll: a switch restart moves every gateway at once.
  const transitions = (await repository.observeMany(observations)).filter((transition): transition is GatewayHistoryEntry => transition !== null);
  await repository.forgetUnwatched(
    serverName,
    watched.map((gateway) => gateway.gatewayUuid),
    now,
  );
  for (const transition of transitions) {
    metrics?.gatewayTransitions.inc({ server, transition: transition.transition });
    deps.logger.info(
      { server, serviceId: transition.serviceId, gatewayUuid: transition.gatewayUuid, domain: transition.domain, transition: transition.transition, historyId: transition.id },
      `gateway ${transition.transition}`,
    );
  }
  await enqueueGatewayAlerts(deps, transitions);
  if (unreadable.length > 0) deps.logger.warn({ server, unreadable }, 'gateway poll: unreadable gateway status, not observed');
  return { server, watched: watched.length, failing, unreadable, transitions };
}

/** One delivery job per transition (job id from the history row): a second worker's add is a no-op. */
export async function enqueueGatewayAlerts(deps: WorkerDeps, transitions: readonly Pick<GatewayHistoryEntry, 'id'>[]): Promise<void> {
  if (transitions.length === 0) return;
  await addJobs(
    deps.queues,
    MONITORING_JOBS.alert,
    transitions.map((transition) => ({
      data: { historyId: transition.id, kind: 'gateway' as const },
      opts: { jobId: gatewayAlertJobId(transition.id) },
    })),
  );
}

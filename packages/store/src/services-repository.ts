import type { Pool, PoolClient } from 'pg';
import { DEFAULT_FUSION_SERVER } from './fusion-servers-repository';

export type DesiredState = 'active' | 'suspended' | 'terminated';

export interface ServiceRecord {
  serviceId: number;
  clientId: number;
  tenantDomain: string | null;
  desiredState: DesiredState;
  observedState: string | null;
  generation: number;
  plan: Record<string, unknown>;
  properties: Record<string, unknown>;
  /** The FreeSWITCH backlog (see FreeswitchBacklog); null when FreeSWITCH is in step with FusionPBX. */
  pendingApply: FreeswitchBacklog | null;
  lastEventId: string | null;
  /** The registered FusionPBX server the tenant lives on; null = the default server (FUSIONPBX_DATABASE_URL / ESL_*). */
  fusionpbxServer: string | null;
  /** When `ictvoip adopt --apply` took the tenant over; null when the bridge created it. */
  adoptedAt: Date | null;
  /** Calls that started before this are never billed by the bridge (an adopted tenant's old system billed them). */
  cdrBillingFrom: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /**
   * When the desired state became `terminated` (a repeated terminate keeps it); null when not
   * terminated. What the final bill is due from: `updatedAt` moves with any later write.
   */
  terminatedAt: Date | null;
}

function planInteger(plan: Record<string, unknown>, key: string): number | null {
  const value = plan[key];
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,9}$/.test(value)) return Number(value);
  return null;
}

/** Plan limits as stored from the last create / change_package (null = the plan states no limit). */
export function planLimits(service: Pick<ServiceRecord, 'plan'>): { maxExtensions: number | null; maxGateways: number | null } {
  return { maxExtensions: planInteger(service.plan, 'maxExtensions'), maxGateways: planInteger(service.plan, 'maxGateways') };
}

interface ServiceRow {
  service_id: string;
  client_id: string;
  tenant_domain: string | null;
  desired_state: DesiredState;
  observed_state: string | null;
  generation: number;
  plan: Record<string, unknown>;
  properties: Record<string, unknown>;
  pending_apply: unknown;
  last_event_id: string | null;
  fusionpbx_server: string | null;
  adopted_at?: Date | null;
  cdr_billing_from?: Date | null;
  created_at: Date;
  updated_at: Date;
  terminated_at?: Date | null;
}

function toRecord(row: ServiceRow): ServiceRecord {
  return {
    serviceId: Number(row.service_id),
    clientId: Number(row.client_id),
    tenantDomain: row.tenant_domain,
    desiredState: row.desired_state,
    observedState: row.observed_state,
    generation: row.generation,
    plan: row.plan,
    properties: row.properties,
    pendingApply: parseFreeswitchBacklog(row.pending_apply, row.updated_at),
    lastEventId: row.last_event_id,
    fusionpbxServer: row.fusionpbx_server ?? null,
    adoptedAt: row.adopted_at ?? null,
    cdrBillingFrom: row.cdr_billing_from ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    // A row written without it (by hand, before migration 025): its last update, as before.
    terminatedAt: row.desired_state === 'terminated' ? (row.terminated_at ?? row.updated_at) : null,
  };
}

export interface DesiredStateChange {
  serviceId: number;
  clientId: number;
  desiredState: DesiredState;
  plan?: Record<string, unknown>;
  eventId: string;
  /** A create after a terminate starts a new generation of the tenant. */
  newGeneration?: boolean;
  /** The server chosen for a service the bridge does not know yet; ignored for a known one (a tenant never moves). */
  fusionpbxServer?: string | null;
}

/**
 * A purged tenant: terminated, and its FusionPBX rows deleted after the retention (observed 'purged').
 * Nothing of it is left to sync, compare or delete. The SQL form reads the `services` row aliased `alias`.
 */
export function purgedServiceSql(alias: string): string {
  return `(${alias}.desired_state = 'terminated' AND ${alias}.observed_state IS NOT DISTINCT FROM 'purged')`;
}

/**
 * SQL: when the `services` row aliased `alias` became terminated (its `terminated_at`, set by
 * setDesired). A row written without it (by hand, or before migration 025): its last update, as
 * before. The one reading of "time since termination": the final bill's due time, the purge's
 * retention and the CDR sync's settled test count from it, never from `updated_at` alone, which any
 * later write moves (the observed state recorded after the teardown, a FreeSWITCH backlog cleared).
 */
export function terminatedAtSql(alias: string): string {
  return `COALESCE(${alias}.terminated_at, ${alias}.updated_at)`;
}

export function isPurgedService(service: Pick<ServiceRecord, 'desiredState' | 'observedState'>): boolean {
  return service.desiredState === 'terminated' && service.observedState === 'purged';
}

export interface ServiceListOptions {
  /** false: without purged services (default true: every service) */
  purged?: boolean;
}

/** domainHolder's query; its `lower(tenant_domain)` is what index services_tenant_domain_lower (migration 024) indexes. */
export const DOMAIN_HOLDER_SQL = 'SELECT * FROM services WHERE lower(tenant_domain) = lower($1) AND service_id <> $2 LIMIT 1';

export class ServicesRepository {
  constructor(private readonly db: Pool | PoolClient) {}

  async get(serviceId: number): Promise<ServiceRecord | null> {
    const { rows } = await this.db.query<ServiceRow>('SELECT * FROM services WHERE service_id = $1', [serviceId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** `purged: false` leaves out purged tenants (terminated, FusionPBX rows deleted): nothing of theirs is left to compare. */
  async list(limit = 1000, afterServiceId = 0, options: ServiceListOptions = {}): Promise<ServiceRecord[]> {
    const { rows } = await this.db.query<ServiceRow>(`SELECT * FROM services s WHERE service_id > $1 AND ($3 OR NOT ${purgedServiceSql('s')}) ORDER BY service_id LIMIT $2`, [
      afterServiceId,
      limit,
      options.purged ?? true,
    ]);
    return rows.map(toRecord);
  }

  /** Every service, read in keyset pages of `pageSize` so one query never holds the whole table. */
  async listAll(pageSize = 1000, options: ServiceListOptions = {}): Promise<ServiceRecord[]> {
    const services: ServiceRecord[] = [];
    for (let after = 0; ;) {
      const page = await this.list(pageSize, after, options);
      services.push(...page);
      if (page.length < pageSize) return services;
      after = page[page.length - 1]!.serviceId;
    }
  }

  async setDesired(change: DesiredStateChange): Promise<ServiceRecord> {
    const { rows } = await this.db.query<ServiceRow>(
      `INSERT INTO services (service_id, client_id, desired_state, plan, last_event_id, fusionpbx_server, terminated_at)
       VALUES ($1, $2, $3, COALESCE($4::jsonb, '{}'::jsonb), $5, $7, CASE WHEN $3::text = 'terminated' THEN now() END)
       ON CONFLICT (service_id) DO UPDATE SET
         client_id = EXCLUDED.client_id,
         desired_state = EXCLUDED.desired_state,
         -- The termination time: set when it becomes terminated, kept by a repeat, cleared when it leaves it.
         terminated_at = CASE WHEN EXCLUDED.desired_state <> 'terminated' THEN NULL
           WHEN services.desired_state = 'terminated' THEN COALESCE(services.terminated_at, services.updated_at) ELSE now() END,
         plan = COALESCE($4::jsonb, services.plan),
         generation = services.generation + CASE WHEN $6 THEN 1 ELSE 0 END,
         last_event_id = EXCLUDED.last_event_id,
         updated_at = now()
       RETURNING *`,
      [
        change.serviceId,
        change.clientId,
        change.desiredState,
        change.plan ? JSON.stringify(change.plan) : null,
        change.eventId,
        change.newGeneration === true,
        change.fusionpbxServer ?? null,
      ],
    );
    return toRecord(rows[0]);
  }

  /**
   * Another service the bridge has given this tenant domain (any server, purged ones included: the
   * name stays theirs in the bridge, whose services are unique by domain). Null when none.
   */
  async domainHolder(domain: string, exceptServiceId: number): Promise<ServiceRecord | null> {
    const { rows } = await this.db.query<ServiceRow>(DOMAIN_HOLDER_SQL, [domain, exceptServiceId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** The refusal (TENANT_CONFLICT) of a create of `serviceId` naming `domain` when another service has it; null when none does. */
  async domainConflict(domain: string, serviceId: number): Promise<string | null> {
    const holder = await this.domainHolder(domain, serviceId);
    if (!holder) return null;
    const state = holder.desiredState === 'terminated' ? (holder.observedState === 'purged' ? ', purged' : ', terminated') : '';
    return `domain ${domain} already belongs to service ${holder.serviceId} (FusionPBX server ${holder.fusionpbxServer ?? DEFAULT_FUSION_SERVER}${state}); choose another domain for this service`;
  }

  /** Marks a service as taken over by `ictvoip adopt`, with the first moment the bridge bills calls of. */
  async markAdopted(serviceId: number, cdrBillingFrom: Date): Promise<void> {
    await this.db.query('UPDATE services SET adopted_at = COALESCE(adopted_at, now()), cdr_billing_from = $2, updated_at = now() WHERE service_id = $1', [
      serviceId,
      cdrBillingFrom.toISOString(),
    ]);
  }

  /** The observed side of a service; `pendingApply` is written only when given (null clears the FreeSWITCH backlog). */
  async recordObserved(
    serviceId: number,
    observed: { state: string; tenantDomain?: string | null; properties?: Record<string, unknown>; pendingApply?: FreeswitchBacklog | null },
  ): Promise<void> {
    const setsBacklog = observed.pendingApply !== undefined;
    await this.db.query(
      `UPDATE services SET observed_state = $2,
         tenant_domain = COALESCE($3, tenant_domain),
         properties = properties || COALESCE($4::jsonb, '{}'::jsonb),
         pending_apply = CASE WHEN $6 THEN $5::jsonb ELSE pending_apply END,
         updated_at = now()
       WHERE service_id = $1`,
      [
        serviceId,
        observed.state,
        observed.tenantDomain ?? null,
        observed.properties ? JSON.stringify(observed.properties) : null,
        observed.pendingApply == null ? null : JSON.stringify(observed.pendingApply),
        setsBacklog,
      ],
    );
  }

  /** The service's FreeSWITCH backlog, locked until the caller's transaction ends (call on a client in one). */
  async lockFreeswitchBacklog(serviceId: number): Promise<FreeswitchBacklog | null> {
    return this.readFreeswitchBacklog(serviceId, ' FOR UPDATE');
  }

  async freeswitchBacklog(serviceId: number): Promise<FreeswitchBacklog | null> {
    return this.readFreeswitchBacklog(serviceId, '');
  }

  private async readFreeswitchBacklog(serviceId: number, lock: '' | ' FOR UPDATE'): Promise<FreeswitchBacklog | null> {
    const { rows } = await this.db.query<{ pending_apply: unknown; updated_at: Date }>(`SELECT pending_apply, updated_at FROM services WHERE service_id = $1${lock}`, [serviceId]);
    return rows[0] ? parseFreeswitchBacklog(rows[0].pending_apply, rows[0].updated_at) : null;
  }

  async writeFreeswitchBacklog(serviceId: number, backlog: FreeswitchBacklog | null): Promise<void> {
    await this.db.query('UPDATE services SET pending_apply = $2::jsonb, updated_at = now() WHERE service_id = $1', [serviceId, backlog ? JSON.stringify(backlog) : null]);
  }

  /** Clears the backlog if it is still the version that was applied; false when a later event added to it meanwhile. */
  async clearFreeswitchBacklog(serviceId: number, version: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE services SET pending_apply = NULL, updated_at = now()
       WHERE service_id = $1 AND pending_apply IS NOT NULL AND COALESCE((pending_apply->>'version')::bigint, 1) = $2`,
      [serviceId, version],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Notes a failed apply of this version (its error and the count), shown by `tenants list`, reconcile and /readyz. */
  async noteFreeswitchFailure(serviceId: number, version: number, error: string): Promise<void> {
    await this.db.query(
      `UPDATE services SET pending_apply = pending_apply || jsonb_build_object('lastError', $3::text, 'attempts', COALESCE((pending_apply->>'attempts')::int, 0) + 1, 'lastAttemptAt', now(), 'failedVersion', $2::bigint)
       WHERE service_id = $1 AND pending_apply IS NOT NULL AND COALESCE((pending_apply->>'version')::bigint, 1) = $2`,
      [serviceId, version, error.slice(0, 500)],
    );
  }

  /**
   * Everything FreeSWITCH is still owed (for /readyz and metrics): services whose backlog is behind,
   * global gateway writes whose apply is owed (global_freeswitch_applies: no service, so no backlog),
   * and since when the oldest of either is. One statement: both are counted at the same moment.
   */
  async freeswitchBehindSummary(): Promise<FreeswitchOwedSummary> {
    const { rows } = await this.db.query<{ behind: number; global_applies: number; oldest: Date | null; oldest_global: Date | null }>(
      `SELECT s.behind, s.oldest, g.global_applies, g.oldest_global
         FROM (SELECT count(*)::int AS behind, min(COALESCE((pending_apply->>'since')::timestamptz, updated_at)) AS oldest FROM services WHERE pending_apply IS NOT NULL) AS s,
              (SELECT count(*)::int AS global_applies, min(since) AS oldest_global FROM global_freeswitch_applies) AS g`,
    );
    const row = rows[0];
    const oldest = [row?.oldest, row?.oldest_global].filter((at): at is Date => at instanceof Date).sort((a, b) => a.getTime() - b.getTime())[0];
    return { behind: row?.behind ?? 0, globalApplies: row?.global_applies ?? 0, oldestSince: oldest ? oldest.toISOString() : null };
  }

  /** Services whose FreeSWITCH side is behind their FusionPBX rows, oldest first. */
  async freeswitchBehind(limit = 1000): Promise<FreeswitchBehind[]> {
    const { rows } = await this.db.query<{ service_id: string; tenant_domain: string | null; fusionpbx_server: string | null; pending_apply: unknown; updated_at: Date }>(
      'SELECT service_id, tenant_domain, fusionpbx_server, pending_apply, updated_at FROM services WHERE pending_apply IS NOT NULL ORDER BY updated_at LIMIT $1',
      [limit],
    );
    return rows.flatMap((row) => {
      const backlog = parseFreeswitchBacklog(row.pending_apply, row.updated_at);
      return backlog ? [{ serviceId: Number(row.service_id), domain: row.tenant_domain, server: row.fusionpbx_server, backlog }] : [];
    });
  }
}

/** What FreeSWITCH is still owed, counted for /readyz and metrics. */
export interface FreeswitchOwedSummary {
  /** Services whose FreeSWITCH backlog (pending_apply) is not applied. */
  behind: number;
  /** Global gateway writes whose FreeSWITCH apply is owed (global_freeswitch_applies). */
  globalApplies: number;
  /** Since when the oldest of either is owed; null when nothing is. */
  oldestSince: string | null;
}

/** One event whose FreeSWITCH side is still owed: what WHMCS is told once it is applied. */
export interface BacklogEvent {
  eventId: string;
  action: string;
  message: string;
  serviceProperties: Record<string, unknown>;
  /** The WHMCS admin who asked for the event, carried to its audit entry. */
  requestedBy?: string;
}

/** Who asked for an event (a WHMCS admin's button), for its backlog entry and audit entry; nothing for WHMCS's own. */
export function requestedBy(source: Pick<BacklogEvent, 'requestedBy'>): Pick<BacklogEvent, 'requestedBy'> {
  return source.requestedBy ? { requestedBy: source.requestedBy } : {};
}

/**
 * The FreeSWITCH side a service still owes (column pending_apply): the steps of every event and
 * write since the last successful apply, coalesced, applied as one. `version` grows with every
 * addition, so an apply clears exactly what it sent.
 */
export interface FreeswitchBacklog {
  version: number;
  /** The version the backlog started at: names its job, which stays the same while events add to it. */
  origin: number;
  /** FreeSWITCH steps as `@ictvoip/fusionpbx` builds them (validated again before they are sent). */
  steps: unknown[];
  events: BacklogEvent[];
  /** When the FreeSWITCH side first fell behind (ISO 8601). */
  since: string;
  lastError: string | null;
  attempts: number;
}

export interface FreeswitchBehind {
  serviceId: number;
  domain: string | null;
  server: string | null;
  backlog: FreeswitchBacklog;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the column, including the one-event shape written before backlogs were coalesced. */
export function parseFreeswitchBacklog(raw: unknown, updatedAt: Date = new Date()): FreeswitchBacklog | null {
  if (!isObject(raw)) return null;
  const steps = Array.isArray(raw.steps) ? raw.steps : [];
  if (Array.isArray(raw.events)) {
    const version = typeof raw.version === 'number' ? raw.version : 1;
    return {
      version,
      origin: typeof raw.origin === 'number' ? raw.origin : version,
      steps,
      events: raw.events.filter(isObject).map((e) => ({
        eventId: String(e.eventId),
        action: String(e.action ?? 'unknown'),
        message: String(e.message ?? ''),
        serviceProperties: isObject(e.serviceProperties) ? e.serviceProperties : {},
        ...(typeof e.requestedBy === 'string' ? { requestedBy: e.requestedBy } : {}),
      })),
      since: typeof raw.since === 'string' ? raw.since : updatedAt.toISOString(),
      lastError: typeof raw.lastError === 'string' ? raw.lastError : null,
      attempts: typeof raw.attempts === 'number' ? raw.attempts : 0,
    };
  }
  const events =
    typeof raw.eventId === 'string'
      ? [{ eventId: raw.eventId, action: 'unknown', message: String(raw.message ?? ''), serviceProperties: isObject(raw.serviceProperties) ? raw.serviceProperties : {} }]
      : [];
  return { version: 1, origin: 1, steps, events, since: updatedAt.toISOString(), lastError: null, attempts: 0 };
}

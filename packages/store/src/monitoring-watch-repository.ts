import type { Pool } from 'pg';

/** Which extensions of a tenant registration monitoring watches. */
export type WatchScope = 'all' | 'marked' | 'off';
export const WATCH_SCOPES: readonly WatchScope[] = ['all', 'marked', 'off'];

export interface TenantWatch {
  serviceId: number;
  /** Set through REST / the CLI; null = the plan's `registrationWatch` (WHMCS module setting), else `all`. */
  scopeOverride: WatchScope | null;
  /** Extra alert recipients of the tenant: webhook URLs, signed like ALERT_WEBHOOK_URL. */
  recipients: string[];
  /** Extensions watched under the `marked` scope. */
  marked: string[];
}

/** An active tenant of a server and the scope in force for it (MonitoringWatchRepository.activeTenantsOfServer). */
export interface ServerTenantWatch {
  serviceId: number;
  tenantDomain: string;
  scope: WatchScope;
  /** Extensions marked for the `marked` scope (whatever the scope). */
  marked: string[];
}

/** The scope in force: the REST/CLI override, else the plan's module setting, else every extension. */
export function effectiveWatchScope(scopeOverride: WatchScope | null, plan: Record<string, unknown>): WatchScope {
  if (scopeOverride) return scopeOverride;
  const fromPlan = plan.registrationWatch;
  return typeof fromPlan === 'string' && (WATCH_SCOPES as readonly string[]).includes(fromPlan) ? (fromPlan as WatchScope) : 'all';
}

/** The active tenants of server $1 (null = the default) with their watch settings: activeTenantsOfServer and its fingerprint read the same rows. */
const ACTIVE_TENANTS_OF_SERVER = `FROM services s LEFT JOIN monitoring_watch w ON w.service_id = s.service_id
       WHERE s.desired_state = 'active' AND s.tenant_domain <> '' AND s.fusionpbx_server IS NOT DISTINCT FROM $1`;
const MARKED = `ARRAY(SELECT x.extension FROM monitoring_watch_extensions x WHERE x.service_id = s.service_id ORDER BY x.extension)`;

/** Per-tenant watch settings (monitoring_watch) and marked extensions (monitoring_watch_extensions). */
export class MonitoringWatchRepository {
  constructor(private readonly pool: Pool) {}

  async get(serviceId: number): Promise<TenantWatch> {
    return (await this.many([serviceId])).get(serviceId)!;
  }

  /** The settings of several tenants in two queries (the poll reads every tenant of a server at once). */
  async many(serviceIds: readonly number[]): Promise<Map<number, TenantWatch>> {
    const result = new Map<number, TenantWatch>(serviceIds.map((serviceId) => [serviceId, { serviceId, scopeOverride: null, recipients: [], marked: [] }]));
    if (serviceIds.length === 0) return result;
    const settings = await this.pool.query<{ service_id: string; scope: WatchScope | null; recipients: string[] }>(
      'SELECT service_id, scope, recipients FROM monitoring_watch WHERE service_id = ANY($1::bigint[])',
      [serviceIds],
    );
    for (const row of settings.rows) {
      const entry = result.get(Number(row.service_id))!;
      entry.scopeOverride = row.scope;
      entry.recipients = row.recipients;
    }
    const marked = await this.pool.query<{ service_id: string; extension: string }>(
      'SELECT service_id, extension FROM monitoring_watch_extensions WHERE service_id = ANY($1::bigint[]) ORDER BY service_id, extension',
      [serviceIds],
    );
    for (const row of marked.rows) result.get(Number(row.service_id))!.marked.push(row.extension);
    return result;
  }

  /**
   * The active tenants of one FusionPBX server (stored name; null = the default server) with their
   * watch settings, in one query of the columns the monitoring polls need: they run every minute per
   * server, and reading every service's whole row, then its settings, was a tenth of a steady poll's CPU.
   * In service order, as ServicesRepository.listAll; a tenant without a domain is left out.
   */
  async activeTenantsOfServer(server: string | null): Promise<ServerTenantWatch[]> {
    const { rows } = await this.pool.query<{ service_id: string; tenant_domain: string; scope: WatchScope | null; plan_watch: unknown; marked: string[] }>(
      `SELECT s.service_id, s.tenant_domain, w.scope, s.plan -> 'registrationWatch' AS plan_watch, ${MARKED} AS marked
       ${ACTIVE_TENANTS_OF_SERVER}
       ORDER BY s.service_id`,
      [server],
    );
    return rows.map((row) => ({
      serviceId: Number(row.service_id),
      tenantDomain: row.tenant_domain,
      scope: effectiveWatchScope(row.scope, { registrationWatch: row.plan_watch }),
      marked: row.marked,
    }));
  }

  /**
   * A key of activeTenantsOfServer's rows, computed by PostgreSQL (one row back instead of one per
   * tenant): equal whenever the rows are, different when any field of any row differs (each row in
   * PostgreSQL's record text, which quotes a field holding a comma or a parenthesis, so no two sets read
   * alike). A poll that finds the key it last read keeps the tenants it read then: reading and decoding
   * 500 tenants' rows was a third of a steady registration poll's CPU (issue #20).
   */
  async activeTenantsFingerprint(server: string | null): Promise<string> {
    const { rows } = await this.pool.query<{ fingerprint: string }>(
      `SELECT count(*) || ':' || md5(coalesce(string_agg(row(s.service_id, s.tenant_domain, w.scope, s.plan -> 'registrationWatch', ${MARKED})::text, ',' ORDER BY s.service_id), '')) AS fingerprint
       ${ACTIVE_TENANTS_OF_SERVER}`,
      [server],
    );
    return rows[0]!.fingerprint;
  }

  /** Sets (or, with null, clears) the scope override; `recipients` replaces the list when given. */
  async set(serviceId: number, change: { scope?: WatchScope | null; recipients?: readonly string[] }): Promise<TenantWatch> {
    await this.pool.query(
      `INSERT INTO monitoring_watch (service_id, scope, recipients) VALUES ($1, $2, COALESCE($3::jsonb, '[]'::jsonb))
       ON CONFLICT (service_id) DO UPDATE SET scope = CASE WHEN $4 THEN EXCLUDED.scope ELSE monitoring_watch.scope END,
         recipients = COALESCE($3::jsonb, monitoring_watch.recipients), updated_at = now()`,
      [serviceId, change.scope ?? null, change.recipients ? JSON.stringify(change.recipients) : null, change.scope !== undefined],
    );
    return this.get(serviceId);
  }

  /** Marks (or unmarks) extensions for the `marked` scope; idempotent. */
  async mark(serviceId: number, extensions: readonly string[], marked: boolean): Promise<TenantWatch> {
    if (marked) {
      await this.pool.query(`INSERT INTO monitoring_watch_extensions (service_id, extension) SELECT $1, unnest($2::text[]) ON CONFLICT (service_id, extension) DO NOTHING`, [
        serviceId,
        extensions,
      ]);
    } else {
      await this.pool.query('DELETE FROM monitoring_watch_extensions WHERE service_id = $1 AND extension = ANY($2::text[])', [serviceId, extensions]);
    }
    return this.get(serviceId);
  }
}

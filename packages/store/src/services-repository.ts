import type { Pool, PoolClient } from 'pg';

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
  pendingApply: unknown;
  lastEventId: string | null;
  /** The registered FusionPBX server the tenant lives on; null = the default server (FUSIONPBX_DATABASE_URL / ESL_*). */
  fusionpbxServer: string | null;
  createdAt: Date;
  updatedAt: Date;
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
  created_at: Date;
  updated_at: Date;
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
    pendingApply: row.pending_apply,
    lastEventId: row.last_event_id,
    fusionpbxServer: row.fusionpbx_server ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
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

export class ServicesRepository {
  constructor(private readonly db: Pool | PoolClient) {}

  async get(serviceId: number): Promise<ServiceRecord | null> {
    const { rows } = await this.db.query<ServiceRow>('SELECT * FROM services WHERE service_id = $1', [serviceId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async list(limit = 1000, afterServiceId = 0): Promise<ServiceRecord[]> {
    const { rows } = await this.db.query<ServiceRow>('SELECT * FROM services WHERE service_id > $1 ORDER BY service_id LIMIT $2', [afterServiceId, limit]);
    return rows.map(toRecord);
  }

  /** Every service, read in keyset pages of `pageSize` so one query never holds the whole table. */
  async listAll(pageSize = 1000): Promise<ServiceRecord[]> {
    const services: ServiceRecord[] = [];
    for (let after = 0; ;) {
      const page = await this.list(pageSize, after);
      services.push(...page);
      if (page.length < pageSize) return services;
      after = page[page.length - 1]!.serviceId;
    }
  }

  async setDesired(change: DesiredStateChange): Promise<ServiceRecord> {
    const { rows } = await this.db.query<ServiceRow>(
      `INSERT INTO services (service_id, client_id, desired_state, plan, last_event_id, fusionpbx_server)
       VALUES ($1, $2, $3, COALESCE($4::jsonb, '{}'::jsonb), $5, $7)
       ON CONFLICT (service_id) DO UPDATE SET
         client_id = EXCLUDED.client_id,
         desired_state = EXCLUDED.desired_state,
         plan = COALESCE($4::jsonb, services.plan),
         generation = services.generation + CASE WHEN $6 THEN 1 ELSE 0 END,
         last_event_id = EXCLUDED.last_event_id,
         updated_at = now()
       RETURNING *`,
      [change.serviceId, change.clientId, change.desiredState, change.plan ? JSON.stringify(change.plan) : null, change.eventId, change.newGeneration === true, change.fusionpbxServer ?? null],
    );
    return toRecord(rows[0]);
  }

  async recordObserved(serviceId: number, observed: { state: string; tenantDomain?: string | null; properties?: Record<string, unknown>; pendingApply?: unknown }): Promise<void> {
    await this.db.query(
      `UPDATE services SET observed_state = $2,
         tenant_domain = COALESCE($3, tenant_domain),
         properties = properties || COALESCE($4::jsonb, '{}'::jsonb),
         pending_apply = $5::jsonb,
         updated_at = now()
       WHERE service_id = $1`,
      [serviceId, observed.state, observed.tenantDomain ?? null, observed.properties ? JSON.stringify(observed.properties) : null, observed.pendingApply == null ? null : JSON.stringify(observed.pendingApply)],
    );
  }
}

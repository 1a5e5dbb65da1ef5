import type { Pool, PoolClient } from 'pg';

export interface AuditEntry {
  actor: string;
  action: string;
  serviceId?: number | null;
  eventId?: string | null;
  detail?: Record<string, unknown>;
}

/** Append-only record of what the bridge did and on whose behalf; never holds secrets. */
export class AuditRepository {
  constructor(private readonly db: Pool | PoolClient) {}

  async append(entry: AuditEntry): Promise<void> {
    await this.db.query('INSERT INTO audit_log (actor, action, service_id, event_id, detail) VALUES ($1, $2, $3, $4, $5)', [
      entry.actor,
      entry.action,
      entry.serviceId ?? null,
      entry.eventId ?? null,
      JSON.stringify(entry.detail ?? {}),
    ]);
  }

  async forService(serviceId: number, limit = 100): Promise<(AuditEntry & { at: Date })[]> {
    const { rows } = await this.db.query<{ at: Date; actor: string; action: string; service_id: string | null; event_id: string | null; detail: Record<string, unknown> }>(
      'SELECT at, actor, action, service_id, event_id, detail FROM audit_log WHERE service_id = $1 ORDER BY id DESC LIMIT $2',
      [serviceId, limit],
    );
    return rows.map((row) => ({
      at: row.at,
      actor: row.actor,
      action: row.action,
      serviceId: row.service_id === null ? null : Number(row.service_id),
      eventId: row.event_id,
      detail: row.detail,
    }));
  }
}

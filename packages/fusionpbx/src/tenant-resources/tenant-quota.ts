import type { Tx } from '../db';
import { QuotaExceededError } from './tenant-errors';

/** A tenant's limit of one kind of row written through the API. */
export interface TenantQuota {
  limit: number;
  /** Set when the limit is the bridge's default (e.g. API_DEFAULT_MAX_GATEWAYS), not the plan's. */
  setting?: string;
}

/** The plan's limit; else the bridge's default, named by its setting (absent: no limit). */
export function tenantQuota(planLimit: number | null, defaultLimit: number | undefined, setting: string): TenantQuota | null {
  if (planLimit !== null) return { limit: planLimit };
  if (defaultLimit === undefined) return null;
  return { limit: defaultLimit, setting };
}

/**
 * One more row of `table` in the domain must stay within the quota, counted over every row of the
 * domain as FusionPBX's own pages count (gateway_edit.php, destination_edit.php: `select count(*) … where domain_uuid`).
 */
export async function assertRoomFor(tx: Tx, table: 'v_gateways' | 'v_destinations', domainUuid: string, resource: string, quota: TenantQuota | null): Promise<void> {
  if (quota === null) return;
  const { rows } = await tx.client.query<{ n: number }>(`select count(*)::int as n from ${table} where domain_uuid = $1`, [domainUuid]);
  if (rows[0].n + 1 > quota.limit) throw new QuotaExceededError(resource, quota.limit, quota.setting);
}

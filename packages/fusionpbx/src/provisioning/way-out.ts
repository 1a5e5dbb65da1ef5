/**
 * A tenant's way out (the bridge's outbound routes) and way in by IP (its trunk ACL nodes) across
 * suspend and unsuspend: suspend disables the routes and takes the nodes out, remembering both in the
 * suspend memory; unsuspend restores exactly that. The credit restriction (outbound-restriction.ts)
 * shares the route half.
 */
import { type CanonicalRow, type Tx, InsertBatch, convergeRowsTo, selectRows } from '../db';
import { dialplanKey, type FreeswitchStep } from '@ictvoip/freeswitch';
import { validateCacheKey } from './input';
import type { Changes } from './converge';
import { OUTBOUND_ROUTE_APP_UUID, disableOutboundRoutes, restoreOutboundRoutes } from './outbound-routes';
import { destinationCacheKeys } from '../destinations/numbers';
import { dialplanMode } from '../destinations/repository';
import { reloadSteps, restoreTrunkCidrs, suspendTrunkCidrs } from './ip-trunks';
import type { Tenant, TenantState } from './tenant-state';
import type { SuspendMemory } from './types';

/** Suspend: routes disabled and trunk nodes removed; both recorded in `memory`. */
export async function suspendWayOut(tx: Tx, tenant: Tenant, state: TenantState, memory: SuspendMemory, changes: Changes): Promise<void> {
  const routes = await disableOutboundRoutes(tx, tenant, state.outboundRoutes, changes);
  if (Object.keys(routes).length > 0) memory.outboundRoutes = routes;
  const nodes = await suspendTrunkCidrs(tx, state, changes);
  if (nodes.length > 0) memory.trunkNodes = nodes;
}

/** Unsuspend: exactly what suspendWayOut recorded, back. */
export async function restoreWayOut(tx: Tx, tenant: Tenant, state: TenantState, memory: SuspendMemory, changes: Changes): Promise<void> {
  if (memory.outboundRoutes) await restoreOutboundRoutes(tx, tenant, memory.outboundRoutes, changes);
  if (memory.trunkNodes) {
    const inserts = new InsertBatch();
    await restoreTrunkCidrs(tx, state, memory.trunkNodes, changes, inserts);
    await inserts.flush(tx);
  }
}

/** The FreeSWITCH side of a suspend, again (a replayed suspend finishes what a crash cut off). */
export function suspendedWayOutSteps(tenant: Tenant, memory: SuspendMemory | null): FreeswitchStep[] {
  const steps: FreeswitchStep[] = [];
  if (memory?.outboundRoutes && Object.keys(memory.outboundRoutes).length > 0) {
    steps.push({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(tenant.domainName), 'dialplan_context') });
  }
  if (memory?.trunkNodes && memory.trunkNodes.length > 0) reloadSteps({ steps });
  return steps;
}

/**
 * The tenant's own dialplans that let calls in or out past its disabled domain: every public-context
 * dialplan of its domain (inbound routes, with or without a v_destinations row: dialplan.lua serves
 * the public context whatever the domain's state) and its own outbound routes (email-to-fax and call
 * broadcasts dial through them). The bridge's own routes are suspendWayOut's.
 */
function tenantDialplans(tx: Tx, domainUuid: string, where: string, values: unknown[]): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    `select dialplan_uuid, dialplan_context, dialplan_number, dialplan_enabled from v_dialplans
      where domain_uuid = $1 and ${where} order by dialplan_uuid`,
    [domainUuid, ...values],
  );
}

async function dialplanCacheSteps(tx: Tx, rows: readonly CanonicalRow[]): Promise<FreeswitchStep[]> {
  const keys = new Set<string>();
  const mode = rows.some((row) => row.dialplan_context === 'public') ? await dialplanMode(tx) : 'multiple';
  for (const row of rows) {
    const context = row.dialplan_context ?? '';
    const found = context === 'public' ? destinationCacheKeys(mode, context, { prefix: null, number: row.dialplan_number ?? '' }) : [dialplanKey(context)];
    for (const key of found) keys.add(key);
  }
  return [...keys].map((key) => ({ kind: 'cache_delete', key: validateCacheKey(key, 'dialplan_context') }));
}

/**
 * Suspend, before the numbers are disabled (their dialplans are remembered as they were): the
 * tenant's own inbound routes and outbound routes disabled, each one's dialplan_enabled remembered.
 */
export async function suspendTenantDialplans(tx: Tx, tenant: Tenant, bridgeRoutes: readonly string[], memory: SuspendMemory, changes: Changes): Promise<void> {
  const rows = await tenantDialplans(tx, tenant.domainUuid, "(dialplan_context = 'public' or app_uuid = $2) and not (dialplan_uuid = any($3::uuid[]))", [
    OUTBOUND_ROUTE_APP_UUID,
    bridgeRoutes,
  ]);
  if (rows.length === 0) return;
  memory.dialplans = { ...Object.fromEntries(rows.map((row) => [row.dialplan_uuid as string, row.dialplan_enabled === 'true'])), ...memory.dialplans };
  changes.wrote((await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', rows, { dialplan_enabled: false })) > 0);
  changes.steps.push(...(await dialplanCacheSteps(tx, rows)));
}

/** Unsuspend, after the numbers: each remembered dialplan gets exactly its dialplan_enabled back. */
export async function restoreTenantDialplans(tx: Tx, tenant: Tenant, memory: SuspendMemory, changes: Changes): Promise<void> {
  const remembered = memory.dialplans ?? {};
  if (Object.keys(remembered).length === 0) return;
  const rows = await tenantDialplans(tx, tenant.domainUuid, 'dialplan_uuid = any($2::uuid[])', [Object.keys(remembered)]);
  for (const enabled of [true, false]) {
    const group = rows.filter((row) => remembered[row.dialplan_uuid as string] === enabled);
    changes.wrote((await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', group, { dialplan_enabled: enabled })) > 0);
  }
  changes.steps.push(...(await dialplanCacheSteps(tx, rows)));
}

/** A new generation after terminate: the tenant's own inbound and outbound routes enabled again, like everything else. */
export async function enableTenantDialplans(tx: Tx, tenant: Tenant, changes: Changes): Promise<void> {
  const rows = await tenantDialplans(tx, tenant.domainUuid, "(dialplan_context = 'public' or app_uuid = $2)", [OUTBOUND_ROUTE_APP_UUID]);
  if ((await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', rows, { dialplan_enabled: true })) === 0) return;
  changes.wrote(true);
  changes.steps.push(...(await dialplanCacheSteps(tx, rows)));
}

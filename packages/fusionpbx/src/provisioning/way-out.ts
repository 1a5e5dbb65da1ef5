/**
 * A tenant's way out (the bridge's outbound routes) and way in by IP (its trunk ACL nodes) across
 * suspend and unsuspend: suspend disables the routes and takes the nodes out, remembering both in the
 * suspend memory; unsuspend restores exactly that. The credit restriction (outbound-restriction.ts)
 * shares the route half.
 */
import { type Tx, InsertBatch } from '../db';
import { dialplanKey, type FreeswitchStep } from '@ictvoip/freeswitch';
import { validateCacheKey } from './input';
import type { Changes } from './converge';
import { disableOutboundRoutes, restoreOutboundRoutes } from './outbound-routes';
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

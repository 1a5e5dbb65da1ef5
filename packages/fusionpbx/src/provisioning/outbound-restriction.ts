/**
 * Issue #16's credit restriction `outbound`: at zero credit no paid outbound call, emergency calls
 * always. The bridge's outbound routes are disabled except the emergency routes (emergency-routes.ts),
 * whose gateways are reported as `keptGateways` so credit control leaves them running; the tenant's
 * own outbound routes (made in FusionPBX) that dial through a kept gateway are disabled too, since
 * that gateway stays up. When credit is back exactly the remembered state returns: a route the
 * customer had disabled stays disabled. It runs under the tenant's service lock, as suspend does,
 * and keeps its memory in the tenant state (`outboundRestricted`, `ownRoutesRestricted`), so it
 * composes with suspend (a restriction set or lifted while suspended only rewrites what unsuspend
 * restores) and with change_package (routes rewritten while restricted are written disabled,
 * emergency routes as the plan has them). Inbound numbers and extensions are never touched.
 */
import type { Pool } from 'pg';
import { type CanonicalRow, type Tx, inTransaction, selectRows } from '../db';
import { TenantNotFoundError } from '../errors';
import { uniqueSteps, type FreeswitchStep } from '@ictvoip/freeswitch';
import { Changes } from './converge';
import { gatewaysOfBridge, isEmergencyExpression } from './emergency-routes';
import { detailsByDialplan } from './gateway-dialers';
import { serviceIdOf } from './input';
import { OUTBOUND_ROUTE_APP_UUID, disableOutboundRoutes, restoreOutboundRoutes, routeCacheStep } from './outbound-routes';
import { type Tenant, type TenantState, findTenant, lockService, writeState } from './tenant-state';

export interface OutboundRestrictionResult {
  serviceId: string;
  domainName: string;
  restricted: boolean;
  /** True when the FusionPBX transaction wrote anything (a replay writes nothing). */
  changed: boolean;
  /** The bridge's route dialplans the restriction covers. */
  routes: string[];
  /** The emergency route dialplans (the bridge's and the tenant's own) left as they are. */
  emergencyRoutes: string[];
  /** Gateways the enabled emergency routes dial through: while restricted they must stay up. */
  keptGateways: string[];
  /** The tenant's own route dialplans disabled by the restriction (those dialling through a kept gateway). */
  ownRoutes: string[];
  /** Cache deletes to apply after commit (sent again on a replay: a crash may have cut them off). */
  freeswitch: FreeswitchStep[];
}

export interface OutboundRouteRow {
  /** v_dialplans.dialplan_uuid, lower case */
  uuid: string;
  enabled: boolean;
  /** its destination_number conditions all match emergency numbers only */
  emergency: boolean;
  /** gateways its enabled bridge actions dial through */
  gateways: string[];
}

function classify(row: CanonicalRow, details: CanonicalRow[]): OutboundRouteRow {
  const live = details.filter((detail) => detail.dialplan_detail_enabled !== 'false');
  const expressions = live.filter((detail) => detail.dialplan_detail_tag === 'condition' && detail.dialplan_detail_type === 'destination_number');
  const bridges = live.filter((detail) => detail.dialplan_detail_tag === 'action' && detail.dialplan_detail_type === 'bridge');
  return {
    uuid: (row.dialplan_uuid as string).toLowerCase(),
    enabled: row.dialplan_enabled === 'true',
    emergency: expressions.length > 0 && expressions.every((detail) => isEmergencyExpression(detail.dialplan_detail_data ?? '')),
    gateways: [...new Set(bridges.flatMap((detail) => gatewaysOfBridge(detail.dialplan_detail_data ?? '')))],
  };
}

/** The domain's outbound-route dialplans (the bridge's and the tenant's own), classified. */
export async function outboundRouteRows(tx: Tx, domainUuid: string): Promise<OutboundRouteRow[]> {
  const dialplans = await selectRows(tx, 'select dialplan_uuid, dialplan_enabled from v_dialplans where domain_uuid = $1 and app_uuid = $2 order by dialplan_uuid', [
    domainUuid,
    OUTBOUND_ROUTE_APP_UUID,
  ]);
  const byDialplan = await detailsByDialplan(
    tx,
    dialplans.map((row) => row.dialplan_uuid),
  );
  return dialplans.map((row) => classify(row, byDialplan.get((row.dialplan_uuid as string).toLowerCase()) ?? []));
}

interface RoutePlan {
  emergency: Set<string>;
  kept: Set<string>;
  /** enabled own routes that dial through a kept gateway */
  ownToDisable: string[];
}

/**
 * Emergency routes keep their gateways; a bridge route disabled by suspend counts as it will be after
 * unsuspend (its remembered state), so a restriction set while suspended keeps the right gateways.
 */
function planRoutes(rows: OutboundRouteRow[], state: TenantState): RoutePlan {
  const managed = new Set(state.outboundRoutes.map((uuid) => uuid.toLowerCase()));
  const suspended = state.status === 'suspended' ? Object.fromEntries(Object.entries(state.suspendMemory?.outboundRoutes ?? {}).map(([uuid, on]) => [uuid.toLowerCase(), on])) : {};
  const live = (row: OutboundRouteRow) => (managed.has(row.uuid) && row.uuid in suspended ? suspended[row.uuid] === true : row.enabled);
  const emergency = new Set(rows.filter((row) => row.emergency).map((row) => row.uuid));
  const kept = new Set(rows.filter((row) => row.emergency && live(row)).flatMap((row) => row.gateways));
  const ownToDisable = rows.filter((row) => !managed.has(row.uuid) && !row.emergency && row.enabled && row.gateways.some((gateway) => kept.has(gateway))).map((row) => row.uuid);
  return { emergency, kept, ownToDisable };
}

const notIn = (set: Set<string>) => (uuid: string) => !set.has(uuid.toLowerCase());

async function restrict(tx: Tx, tenant: Tenant, state: TenantState, plan: RoutePlan, changes: Changes): Promise<void> {
  if (state.status === 'terminated') {
    state.outboundRestricted = {};
    state.ownRoutesRestricted = {};
    return;
  }
  const paid = notIn(plan.emergency);
  if (state.status === 'suspended' && state.suspendMemory) {
    // The rows are already disabled by suspend: what unsuspend restores becomes "disabled", emergency routes apart.
    const remembered = state.suspendMemory.outboundRoutes ?? {};
    const covered = Object.keys(remembered).filter(paid);
    state.outboundRestricted = Object.fromEntries(covered.map((uuid) => [uuid, remembered[uuid] === true]));
    state.suspendMemory = { ...state.suspendMemory, outboundRoutes: { ...remembered, ...Object.fromEntries(covered.map((uuid) => [uuid, false])) } };
  } else {
    state.outboundRestricted = await disableOutboundRoutes(tx, tenant, state.outboundRoutes.filter(paid), changes);
  }
  // The tenant's own routes are not the bridge's: suspend leaves them alone, so they are disabled here in either case.
  state.ownRoutesRestricted = await disableOutboundRoutes(tx, tenant, plan.ownToDisable, changes);
}

async function lift(tx: Tx, tenant: Tenant, state: TenantState, memory: Record<string, boolean>, changes: Changes): Promise<void> {
  if (state.status === 'suspended' && state.suspendMemory) {
    const remembered = state.suspendMemory.outboundRoutes ?? {};
    const restored = Object.fromEntries(Object.keys(remembered).map((uuid) => [uuid, memory[uuid] ?? remembered[uuid]]));
    state.suspendMemory = { ...state.suspendMemory, outboundRoutes: restored };
  } else if (state.status === 'active') {
    await restoreOutboundRoutes(tx, tenant, memory, changes);
  }
  if (state.status !== 'terminated' && state.ownRoutesRestricted) await restoreOutboundRoutes(tx, tenant, state.ownRoutesRestricted, changes);
  state.outboundRestricted = null;
  state.ownRoutesRestricted = null;
}

/**
 * A restriction already in place, applied again (every credit check, and its own replay): an own route
 * the tenant added or enabled in FusionPBX since, through a gateway an emergency route keeps up, would
 * carry paid calls. It is disabled; a route not yet remembered is remembered as it was (enabled), so
 * the lift restores it; one already remembered keeps its first memory. Nothing new, nothing written.
 */
async function reapply(tx: Tx, tenant: Tenant, state: TenantState, plan: RoutePlan, changes: Changes): Promise<void> {
  if (state.status === 'terminated' || plan.ownToDisable.length === 0) return;
  const known = state.ownRoutesRestricted ?? {};
  const remembered = new Set(Object.keys(known).map((uuid) => uuid.toLowerCase()));
  const disabled = await disableOutboundRoutes(tx, tenant, plan.ownToDisable, changes);
  const late = Object.entries(disabled).filter(([uuid]) => !remembered.has(uuid.toLowerCase()));
  if (late.length > 0) state.ownRoutesRestricted = { ...known, ...Object.fromEntries(late) };
}

/** Sets (`restricted` true) or lifts the credit restriction of the service's tenant; idempotent. */
export async function setOutboundRestriction(
  pool: Pool,
  serviceIdInput: number | string,
  restricted: boolean,
  actorUserUuid: string | null = null,
): Promise<OutboundRestrictionResult> {
  const serviceId = serviceIdOf({ service: { id: serviceIdInput } });
  return inTransaction(pool, actorUserUuid, async (tx) => {
    await lockService(tx, serviceId);
    const tenant = await findTenant(tx, serviceId);
    if (!tenant) throw new TenantNotFoundError(serviceId);
    const state: TenantState = { ...tenant.state };
    const changes = new Changes();
    const memory = state.outboundRestricted ?? null;
    const plan = planRoutes(await outboundRouteRows(tx, tenant.domainUuid), state);
    if (restricted && memory === null) await restrict(tx, tenant, state, plan, changes);
    else if (!restricted && memory !== null) await lift(tx, tenant, state, memory, changes);
    else if (restricted) await reapply(tx, tenant, state, plan, changes);
    if (!changes.changed && (restricted ? memory !== null : memory === null) && state.status === 'active' && state.outboundRoutes.length > 0) {
      // Replay: nothing to write; the cache delete is sent again.
      routeCacheStep(tenant, changes);
    }
    changes.wrote(await writeState(tx, tenant.domainUuid, state));
    return {
      serviceId,
      domainName: tenant.domainName,
      restricted,
      changed: changes.changed,
      routes: [...state.outboundRoutes],
      emergencyRoutes: [...plan.emergency],
      keptGateways: restricted ? [...plan.kept].sort() : [],
      ownRoutes: Object.keys(state.ownRoutesRestricted ?? {}),
      freeswitch: uniqueSteps(changes.steps),
    };
  });
}

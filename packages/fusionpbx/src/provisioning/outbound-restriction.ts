/**
 * Issue #16's credit restriction `outbound`: at zero credit the outbound routes the bridge wrote for
 * the tenant are disabled (inbound numbers, extensions and the tenant's own routes stay as they are);
 * when credit is back exactly the remembered state returns. It runs under the tenant's service lock,
 * as suspend does, and keeps its memory in the tenant state (`outboundRestricted`), so it composes
 * with suspend (a restriction set or lifted while suspended only rewrites what unsuspend restores)
 * and with change_package (routes rewritten while restricted are written disabled).
 */
import type { Pool } from 'pg';
import { type Tx, inTransaction } from '../db';
import { TenantNotFoundError } from '../errors';
import { uniqueSteps, type FreeswitchStep } from '@ictvoip/freeswitch';
import { Changes } from './converge';
import { serviceIdOf } from './input';
import { disableOutboundRoutes, restoreOutboundRoutes, routeCacheStep } from './outbound-routes';
import { type Tenant, type TenantState, findTenant, lockService, writeState } from './tenant-state';

export interface OutboundRestrictionResult {
  serviceId: string;
  domainName: string;
  restricted: boolean;
  /** True when the FusionPBX transaction wrote anything (a replay writes nothing). */
  changed: boolean;
  /** The bridge's route dialplans the restriction covers. */
  routes: string[];
  /** Cache deletes to apply after commit (sent again on a replay: a crash may have cut them off). */
  freeswitch: FreeswitchStep[];
}

const allFalse = (memory: Record<string, boolean>) => Object.fromEntries(Object.keys(memory).map((uuid) => [uuid, false]));

async function restrict(tx: Tx, tenant: Tenant, state: TenantState, changes: Changes): Promise<void> {
  if (state.status === 'suspended' && state.suspendMemory) {
    // The rows are already disabled by suspend: what unsuspend restores becomes "disabled".
    const remembered = state.suspendMemory.outboundRoutes ?? {};
    state.outboundRestricted = { ...remembered };
    state.suspendMemory = { ...state.suspendMemory, outboundRoutes: allFalse(remembered) };
    return;
  }
  state.outboundRestricted = state.status === 'terminated' ? {} : await disableOutboundRoutes(tx, tenant, state.outboundRoutes, changes);
}

async function lift(tx: Tx, tenant: Tenant, state: TenantState, memory: Record<string, boolean>, changes: Changes): Promise<void> {
  if (state.status === 'suspended' && state.suspendMemory) {
    const remembered = state.suspendMemory.outboundRoutes ?? {};
    const restored = Object.fromEntries(Object.keys(remembered).map((uuid) => [uuid, memory[uuid] ?? remembered[uuid]]));
    state.suspendMemory = { ...state.suspendMemory, outboundRoutes: restored };
  } else if (state.status === 'active') {
    await restoreOutboundRoutes(tx, tenant, memory, changes);
  }
  state.outboundRestricted = null;
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
    if (restricted && memory === null) await restrict(tx, tenant, state, changes);
    else if (!restricted && memory !== null) await lift(tx, tenant, state, memory, changes);
    else if (state.status === 'active' && state.outboundRoutes.length > 0) {
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
      freeswitch: uniqueSteps(changes.steps),
    };
  });
}

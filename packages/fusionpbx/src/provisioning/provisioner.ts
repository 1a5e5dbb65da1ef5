import type { Pool } from 'pg';
import { type CanonicalRow, type RecordedWrite, type TransactionMode, type Tx, columnCatalog, inTransaction, lockKey } from '../db';
import { TenantConflictError, TenantNotFoundError, TenantStateError } from '../errors';
import { type FreeswitchStep, uniqueSteps } from '@ictvoip/freeswitch';
import {
  findDomainByName,
  insertDomain,
  lockDomainRow,
  setDomainEnabled,
  listExtensionStates,
  setExtensionsEnabled,
  listGateways,
  setGatewaysEnabled,
  listUsers,
  setUsersEnabled,
  listDevices,
  setDevicesEnabled,
} from '../tenant-rows';
import { disableDestinations, restoreDestinations, tenantDestinationSteps } from '../destinations/plan-numbers';
import { Changes, convergeAdminUser, convergeTenant, enableAllForNewGeneration, pushDirectorySteps } from './converge';
import { type TenantInput, parseTenantInput, serviceIdOf } from './input';
import {
  type Tenant,
  type TenantState,
  NO_SETTINGS,
  domainLockKey,
  findTenant,
  lockService,
  newTenant,
  ownerOf,
  planNumberLockKeys,
  trunkLockKeys,
  writeState,
  writeTag,
} from './tenant-state';
import type { TenantCommand } from '@ictvoip/whmcs';
import { removeOutboundRoutes } from './outbound-routes';
import { removeTrunkCidrs } from './ip-trunks';
import { restoreTenantDialplans, restoreWayOut, suspendTenantDialplans, suspendWayOut, suspendedWayOutSteps } from './way-out';
import type { ProvisionResult, ProvisionerOptions, ServiceProperties, SuspendMemory } from './types';
import { earlyPortalHash } from '../passwords';
import { SUSPEND_HANGUP_CAUSE } from '@ictvoip/rating';

export interface Provisioner {
  /** Create or adopt the tenant and converge it to the plan. Needs secrets.servicePassword. */
  create(event: TenantCommand): Promise<ProvisionResult>;
  /** Disable domain, extensions, gateways and users, remembering their previous state. */
  suspend(event: TenantCommand): Promise<ProvisionResult>;
  /** Restore exactly what suspend remembered. */
  unsuspend(event: TenantCommand): Promise<ProvisionResult>;
  /** Disable everything now and record the termination time; rows stay until purgeTenant. */
  terminate(event: TenantCommand): Promise<ProvisionResult>;
  /** Apply new plan limits / gateway / brand to an active tenant. */
  changePackage(event: TenantCommand): Promise<ProvisionResult>;
  /** Set the tenant admin's portal password (secrets.servicePassword). */
  changePassword(event: TenantCommand): Promise<ProvisionResult>;
  /** Delete a terminated tenant's FusionPBX rows once `retentionDays` have passed. Never touches v_xml_cdr*. */
  purgeTenant(serviceId: number | string, options: PurgeOptions): Promise<PurgeResult>;
  /**
   * Dry-run: runs `call` in a transaction that is rolled back, returning what it would write
   * (secrets masked) and the FreeSWITCH steps it would apply. Fails exactly like the real call.
   */
  preview(call: PreviewCall, event: TenantCommand): Promise<ProvisionPreview>;
}

export type PreviewCall = 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'changePackage' | 'changePassword';

export interface ProvisionPreview {
  result: ProvisionResult;
  rows: RecordedWrite[];
}

export interface PurgeOptions {
  retentionDays: number;
  now?: Date;
}

export interface PurgeResult {
  purged: boolean;
  /** Why nothing was deleted (not terminated, retention not over, not found). */
  reason?: 'not_found' | 'not_terminated' | 'retention';
  domainUuid?: string;
  domainName?: string;
  /** Rows deleted per table. */
  deleted?: Record<string, number>;
  freeswitch: FreeswitchStep[];
}

/** The portal a tenant's users log in to: the fixed URL when one is set, else the tenant's own domain (FusionPBX picks the tenant by Host header). */
export function tenantPortalUrl(fixedUrl: string | undefined, domainName: string): string {
  return fixedUrl ? fixedUrl : `https://${domainName}/`;
}

function serviceProperties(options: ProvisionerOptions, tenant: Tenant, adminUsername: string): ServiceProperties {
  return { pbxDomain: tenant.domainName, adminUsername, portalUrl: tenantPortalUrl(options.portalUrl, tenant.domainName) };
}

/**
 * Every action's answer carries the tenant's properties as FusionPBX has them now, so WHMCS (which
 * saves them on each success) follows a domain renamed in FusionPBX instead of keeping the old portal URL.
 */
function result(options: ProvisionerOptions, action: ProvisionResult['action'], serviceId: string, tenant: Tenant, state: TenantState, changes: Changes): ProvisionResult {
  return {
    serviceProperties: serviceProperties(options, tenant, state.adminUsername),
    action,
    serviceId,
    domainUuid: tenant.domainUuid,
    domainName: tenant.domainName,
    status: state.status,
    generation: state.generation,
    changed: changes.changed,
    freeswitch: uniqueSteps(changes.steps),
    report: changes.report,
  };
}

/** Ends the domain's calls in progress, emergency calls apart (the channels FusionPBX's active-calls page shows for the domain). */
function hangupStep(domainName: string): FreeswitchStep {
  return { kind: 'hangup_calls', domain: domainName, cause: SUSPEND_HANGUP_CAUSE };
}

/** Finds the tagged tenant, or claims/creates the domain. Runs under the service lock. */
async function claimTenant(tx: Tx, input: TenantInput, changes: Changes): Promise<Tenant> {
  const tagged = await findTenant(tx, input.serviceId, input.adminUsername);
  if (tagged) {
    if (tagged.domainName !== input.domainName) {
      throw new TenantStateError(input.serviceId, `service ${input.serviceId} already owns domain ${tagged.domainName}; renaming to ${input.domainName} is not supported`);
    }
    return tagged;
  }
  await lockKey(tx, domainLockKey(input.domainName));
  const existing = await findDomainByName(tx, input.domainName);
  if (existing) {
    await lockDomainRow(tx, existing.domain_uuid as string);
    throw new TenantConflictError(input.domainName, await ownerOf(tx, existing.domain_uuid as string));
  }
  const domain = await insertDomain(tx, input.domainName, null);
  // Inserted by this transaction: it has no setting row to look for.
  await writeTag(tx, domain.domain_uuid as string, input.serviceId, NO_SETTINGS);
  changes.wrote(true);
  // What findTenant would read back: the row just inserted (ours until commit) and no state row yet.
  return newTenant(domain, input.adminUsername);
}

async function requireTenant(tx: Tx, serviceId: string): Promise<Tenant> {
  const tenant = await findTenant(tx, serviceId);
  if (!tenant) throw new TenantNotFoundError(serviceId);
  return tenant;
}

/**
 * Disables everything, returning the previous enabled state (keyed by extension number, gateway uuid,
 * username, destination and dialplan uuid). `bridgeRoutes`: the bridge's own outbound routes, which
 * suspendWayOut handles.
 */
async function disableTenant(tx: Tx, tenant: Tenant, registrationProfile: string, changes: Changes, bridgeRoutes: readonly string[]): Promise<SuspendMemory> {
  const memory: SuspendMemory = {
    domainEnabled: tenant.domain.domain_enabled === 'true',
    extensions: {},
    gateways: {},
    users: {},
    extensionUuids: {},
    userUuids: {},
  };
  changes.wrote(await setDomainEnabled(tx, tenant.domain, false));
  const extensions = await listExtensionStates(tx, tenant.domainUuid);
  for (const row of extensions) {
    memory.extensions[row.extension as string] = row.enabled === 'true';
    memory.extensionUuids![row.extension_uuid as string] = row.enabled === 'true';
  }
  changes.wrote((await setExtensionsEnabled(tx, extensions, false)) > 0);
  const gateways = await listGateways(tx, tenant.domainUuid);
  for (const row of gateways) memory.gateways[row.gateway_uuid as string] = row.enabled === 'true';
  changes.wrote((await setGatewaysEnabled(tx, gateways, false)) > 0);
  const users = await listUsers(tx, tenant.domainUuid);
  for (const row of users) {
    memory.users[row.username as string] = row.user_enabled !== 'false';
    memory.userUuids![row.user_uuid as string] = row.user_enabled !== 'false';
  }
  changes.wrote((await setUsersEnabled(tx, users, false)) > 0);
  const devices = await listDevices(tx, tenant.domainUuid);
  if (devices.length > 0) memory.devices = Object.fromEntries(devices.map((row) => [row.device_uuid as string, row.device_enabled === 'true']));
  changes.wrote((await setDevicesEnabled(tx, devices, false)) > 0);
  // Before the numbers, so each of their dialplans is remembered as it was (unsuspend gives it back exactly).
  await suspendTenantDialplans(tx, tenant, bridgeRoutes, memory, changes);
  // Inbound numbers: dialplan.lua skips disabled dialplans, so calls take FusionPBX's "not found" path.
  const destinations = await disableDestinations(tx, tenant.domainUuid);
  if (Object.keys(destinations.memory).length > 0) memory.destinations = destinations.memory;
  changes.wrote(destinations.changed);
  changes.steps.push(...disabledStepsFor(tenant, registrationProfile, extensions, gateways), ...(await tenantDestinationSteps(tx, tenant.domainUuid)));
  return memory;
}

/** FreeSWITCH side of a disabled tenant, read from its current rows. */
async function disabledSteps(tx: Tx, tenant: Tenant, registrationProfile: string): Promise<FreeswitchStep[]> {
  const steps = disabledStepsFor(tenant, registrationProfile, await listExtensionStates(tx, tenant.domainUuid), await listGateways(tx, tenant.domainUuid));
  return [...steps, ...(await tenantDestinationSteps(tx, tenant.domainUuid))];
}

/** FreeSWITCH side of a disabled tenant: cache deletes, registrations flushed, gateways stopped. */
function disabledStepsFor(tenant: Tenant, registrationProfile: string, extensions: readonly CanonicalRow[], gateways: readonly CanonicalRow[]): FreeswitchStep[] {
  const steps: FreeswitchStep[] = [];
  for (const row of extensions) pushDirectorySteps(steps, row, tenant.domainName);
  for (const row of extensions) steps.push({ kind: 'flush_registration', profile: registrationProfile, user: `${row.extension}@${tenant.domainName}` });
  if (gateways.length > 0) steps.push({ kind: 'sofia_conf_cache_delete' });
  for (const row of gateways) steps.push({ kind: 'gateway_kill', profile: row.profile as string, gatewayUuid: row.gateway_uuid as string });
  return steps;
}

async function restoreTenant(tx: Tx, tenant: Tenant, memory: SuspendMemory, changes: Changes): Promise<void> {
  changes.wrote(await setDomainEnabled(tx, tenant.domain, memory.domainEnabled));
  const extensions = await listExtensionStates(tx, tenant.domainUuid);
  const { extensionUuids, userUuids } = memory;
  const extensionState = (row: CanonicalRow) => (extensionUuids ? extensionUuids[row.extension_uuid as string] : memory.extensions[row.extension as string]);
  for (const [enabled, rows] of byRemembered(extensions, extensionState)) {
    changes.wrote((await setExtensionsEnabled(tx, rows, enabled)) > 0);
  }
  for (const row of extensions) pushDirectorySteps(changes.steps, row, tenant.domainName);
  const users = await listUsers(tx, tenant.domainUuid);
  const userState = (row: CanonicalRow) => (userUuids ? userUuids[row.user_uuid as string] : memory.users[row.username as string]);
  for (const [enabled, rows] of byRemembered(users, userState)) {
    changes.wrote((await setUsersEnabled(tx, rows, enabled)) > 0);
  }
  const gateways = await listGateways(tx, tenant.domainUuid);
  if (gateways.length > 0) changes.steps.push({ kind: 'sofia_conf_cache_delete' });
  for (const [enabled, rows] of byRemembered(gateways, (row) => memory.gateways[row.gateway_uuid as string])) {
    changes.wrote((await setGatewaysEnabled(tx, rows, enabled)) > 0);
  }
  for (const row of gateways) {
    if (memory.gateways[row.gateway_uuid as string]) changes.steps.push({ kind: 'gateway_start', profile: row.profile as string, gatewayUuid: row.gateway_uuid as string });
  }
  if (memory.devices) {
    const remembered = memory.devices;
    for (const [enabled, rows] of byRemembered(await listDevices(tx, tenant.domainUuid), (row) => remembered[row.device_uuid as string])) {
      changes.wrote((await setDevicesEnabled(tx, rows, enabled)) > 0);
    }
  }
  if (memory.destinations) changes.wrote(await restoreDestinations(tx, tenant.domainUuid, memory.destinations));
  await restoreTenantDialplans(tx, tenant, memory, changes);
  changes.steps.push(...(await tenantDestinationSteps(tx, tenant.domainUuid)));
}

/**
 * A suspend of a suspended tenant (WHMCS sends it again, or an operator presses it again): whatever
 * was enabled since (a stale portal session of the customer's admin) is disabled again; what each row
 * was at the first suspend is what unsuspend gives back, and rows first seen now get their state now.
 */
function mergedMemory(first: SuspendMemory, again: SuspendMemory): SuspendMemory {
  const merge = <T>(older: Record<string, T> | undefined, newer: Record<string, T> | undefined) => (older || newer ? { ...newer, ...older } : undefined);
  const merged: SuspendMemory = {
    ...again,
    ...first,
    extensions: merge(first.extensions, again.extensions) ?? {},
    gateways: merge(first.gateways, again.gateways) ?? {},
    users: merge(first.users, again.users) ?? {},
  };
  for (const key of ['devices', 'destinations', 'dialplans', 'outboundRoutes'] as const) {
    const value = merge(first[key], again[key]);
    if (value) merged[key] = value;
  }
  // A first memory without the uuid maps (written before them) is read by number and username: the
  // maps of a later suspend would only say "disabled" (the first suspend's doing) for every row.
  for (const key of ['extensionUuids', 'userUuids'] as const) {
    const value = first[key] ? merge(first[key], again[key]) : undefined;
    if (value) merged[key] = value;
    else delete merged[key];
  }
  return merged;
}

/** Rows split by the enabled state remembered at suspend; rows created since (nothing remembered) are left as they are. */
function byRemembered(rows: readonly CanonicalRow[], remembered: (row: CanonicalRow) => boolean | undefined): [boolean, CanonicalRow[]][] {
  const split = new Map<boolean, CanonicalRow[]>();
  for (const row of rows) {
    const previous = remembered(row);
    if (previous === undefined) continue;
    split.set(previous, [...(split.get(previous) ?? []), row]);
  }
  return [...split.entries()];
}

/** Tables holding per-domain rows, minus CDR tables (billing may still need them) and v_domains itself. */
async function purgeableTables(tx: Tx): Promise<string[]> {
  return [...tx.catalog.tables.entries()]
    .filter(([table, columns]) => columns.has('domain_uuid') && table !== 'v_domains' && !table.startsWith('v_xml_cdr'))
    .map(([table]) => table)
    .sort();
}

export function createProvisioner({ pool, options }: { pool: Pool; options: ProvisionerOptions }): Provisioner {
  const preview = async (call: PreviewCall, event: TenantCommand): Promise<ProvisionPreview> => {
    const rows: RecordedWrite[] = [];
    const result = await buildActions(pool, options, { rollback: true, recorder: rows })[call](event);
    return { result, rows };
  };
  return { ...buildActions(pool, options, {}), preview };
}

function buildActions(pool: Pool, options: ProvisionerOptions, mode: TransactionMode): Omit<Provisioner, 'preview'> {
  const actor = options.actorUserUuid ?? null;
  const registrationProfile = options.registrationProfile ?? 'internal';
  const run = <T>(work: (tx: Tx) => Promise<T>) => inTransaction(pool, actor, work, mode);

  async function convergeAction(action: 'create' | 'change_package', event: TenantCommand): Promise<ProvisionResult> {
    const input = parseTenantInput(event, options, action);
    // A create almost always makes the admin user; a change_package rarely changes its password.
    const portalHash = action === 'create' ? earlyPortalHash(input.adminPassword) : undefined;
    return run(async (tx) => {
      // The plan's numbers (and the trunk ACL when the plan has CIDRs) are locked with the service (one statement; convergeNumbers relies on it).
      await lockService(tx, input.serviceId, [...planNumberLockKeys(input.numbers), ...trunkLockKeys(input.trunkCidrs)]);
      const changes = new Changes();
      const tenant = action === 'create' ? await claimTenant(tx, input, changes) : await requireTenant(tx, input.serviceId);
      const state: TenantState = { ...tenant.state, surplusDisabled: [...tenant.state.surplusDisabled] };
      if (action === 'change_package' && state.status !== 'active') {
        throw new TenantStateError(input.serviceId, `change_package refused: tenant is ${state.status}; unsuspend first`);
      }
      if (action === 'create' && state.status === 'suspended') {
        // A late replay of create must not unsuspend; report the tenant as it is.
        return result(options, action, input.serviceId, tenant, state, changes);
      }
      const newGeneration = action === 'create' && state.status === 'terminated';
      if (newGeneration) {
        // The plan's gateway, which terminate disabled, comes back on with the rest (convergeGateway).
        Object.assign(state, { status: 'active', generation: state.generation + 1, suspendMemory: null, surplusDisabled: [], terminatedAt: null, gatewayPlanDisabled: true });
        await enableAllForNewGeneration(tx, tenant, changes);
      }
      const adminUsername = action === 'create' ? input.adminUsername : state.adminUsername;
      state.adminUsername = adminUsername;
      await convergeTenant(tx, tenant, { ...input, adminUsername }, options, state, changes, portalHash, newGeneration);
      // A domain this transaction made has no state row yet: none to read.
      changes.wrote(await writeState(tx, tenant.domainUuid, state, tenant.fresh ? NO_SETTINGS : undefined));
      return result(options, action, input.serviceId, tenant, state, changes);
    });
  }

  /**
   * Suspend and terminate end the tenant's calls in progress after everything else: disabled rows
   * and dropped caches stop new calls, the hangup the ones already up. Last, so a call that slips in
   * during the cache deletes is still ended.
   */
  async function disableAction(action: 'suspend' | 'terminate', event: TenantCommand): Promise<ProvisionResult> {
    const outcome = await disableRows(action, event);
    return { ...outcome, freeswitch: [...outcome.freeswitch, hangupStep(outcome.domainName)] };
  }

  async function disableRows(action: 'suspend' | 'terminate', event: TenantCommand): Promise<ProvisionResult> {
    const serviceId = String(event.service.id);
    return run(async (tx) => {
      await lockService(tx, serviceId);
      const tenant = await requireTenant(tx, serviceId);
      const state: TenantState = { ...tenant.state };
      const changes = new Changes();
      const target = action === 'suspend' ? 'suspended' : 'terminated';
      if (state.status === 'terminated') {
        changes.steps.push(...(await disabledSteps(tx, tenant, registrationProfile)));
        return { ...result(options, action, serviceId, tenant, state, changes), suspendMemory: undefined };
      }
      if (state.status === 'suspended' && action === 'suspend' && state.suspendMemory) {
        const again = await disableTenant(tx, tenant, registrationProfile, changes, state.outboundRoutes);
        await suspendWayOut(tx, tenant, state, again, changes);
        changes.steps.push(...suspendedWayOutSteps(tenant, state.suspendMemory));
        state.suspendMemory = mergedMemory(state.suspendMemory, again);
        changes.wrote(await writeState(tx, tenant.domainUuid, state));
        return { ...result(options, action, serviceId, tenant, state, changes), suspendMemory: state.suspendMemory };
      }
      const memory = state.status === 'suspended' ? state.suspendMemory : await disableTenant(tx, tenant, registrationProfile, changes, state.outboundRoutes);
      if (state.status === 'suspended') changes.steps.push(...(await disabledSteps(tx, tenant, registrationProfile)));
      else if (action === 'suspend' && memory) await suspendWayOut(tx, tenant, state, memory, changes);
      if (action === 'terminate') {
        // A terminated tenant has no way out and no trunk: its routes and ACL nodes go now, not at purge.
        await removeOutboundRoutes(tx, tenant, state, changes);
        await removeTrunkCidrs(tx, state, changes);
      }
      state.status = target;
      if (action === 'suspend') state.suspendMemory = memory;
      else {
        state.suspendMemory = null;
        const { rows } = await tx.client.query<{ now: Date }>('select now() as now');
        state.terminatedAt = rows[0].now.toISOString();
      }
      changes.wrote(await writeState(tx, tenant.domainUuid, state));
      return { ...result(options, action, serviceId, tenant, state, changes), suspendMemory: memory ?? undefined };
    });
  }

  async function unsuspend(event: TenantCommand): Promise<ProvisionResult> {
    const serviceId = String(event.service.id);
    return run(async (tx) => {
      await lockService(tx, serviceId);
      const tenant = await requireTenant(tx, serviceId);
      const state: TenantState = { ...tenant.state };
      const changes = new Changes();
      if (state.status === 'terminated') throw new TenantStateError(serviceId, 'unsuspend refused: tenant is terminated; create it again instead');
      if (state.status === 'suspended' && state.suspendMemory) {
        await restoreTenant(tx, tenant, state.suspendMemory, changes);
        await restoreWayOut(tx, tenant, state, state.suspendMemory, changes);
      } else if (state.status === 'active') {
        for (const row of await listExtensionStates(tx, tenant.domainUuid)) pushDirectorySteps(changes.steps, row, tenant.domainName);
      }
      state.status = 'active';
      state.suspendMemory = null;
      changes.wrote(await writeState(tx, tenant.domainUuid, state));
      return result(options, 'unsuspend', serviceId, tenant, state, changes);
    });
  }

  async function changePassword(event: TenantCommand): Promise<ProvisionResult> {
    const serviceId = String(event.service.id);
    return run(async (tx) => {
      await lockService(tx, serviceId);
      const tenant = await requireTenant(tx, serviceId);
      const input = parseTenantInput({ ...event, service: { ...event.service, domain: tenant.domainName, username: tenant.state.adminUsername } }, options, 'change_password');
      const changes = new Changes();
      const state: TenantState = { ...tenant.state };
      await convergeAdminUser(tx, tenant, input, options, state, changes);
      if (state.adminUsername !== tenant.state.adminUsername || state.adminUserUuid !== tenant.state.adminUserUuid) changes.wrote(await writeState(tx, tenant.domainUuid, state));
      return result(options, 'change_password', serviceId, tenant, state, changes);
    });
  }

  async function purgeTenant(serviceIdInput: number | string, purge: PurgeOptions): Promise<PurgeResult> {
    const serviceId = serviceIdOf({ service: { id: serviceIdInput } });
    await columnCatalog(pool);
    return run(async (tx) => {
      await lockService(tx, serviceId);
      const tenant = await findTenant(tx, serviceId);
      if (!tenant) return { purged: false, reason: 'not_found', freeswitch: [] };
      const base = { domainUuid: tenant.domainUuid, domainName: tenant.domainName };
      if (tenant.state.status !== 'terminated' || !tenant.state.terminatedAt) return { purged: false, reason: 'not_terminated', ...base, freeswitch: [] };
      const due = new Date(tenant.state.terminatedAt).getTime() + purge.retentionDays * 86_400_000;
      if ((purge.now ?? new Date()).getTime() < due) return { purged: false, reason: 'retention', ...base, freeswitch: [] };
      const freeswitch = await disabledSteps(tx, tenant, registrationProfile);
      const deleted: Record<string, number> = {};
      for (const table of await purgeableTables(tx)) {
        const outcome = await tx.client.query(`delete from ${table} where domain_uuid = $1`, [tenant.domainUuid]);
        if (outcome.rowCount) deleted[table] = outcome.rowCount;
      }
      const domain = await tx.client.query('delete from v_domains where domain_uuid = $1', [tenant.domainUuid]);
      deleted.v_domains = domain.rowCount ?? 0;
      const kept = freeswitch.filter((step) => step.kind !== 'flush_registration');
      return { purged: true, ...base, deleted, freeswitch: uniqueSteps([...kept, { kind: 'cache_delete', key: `dialplan:${tenant.domainName}` }]) };
    });
  }

  return {
    create: (event) => convergeAction('create', event),
    changePackage: (event) => convergeAction('change_package', event),
    suspend: (event) => disableAction('suspend', event),
    terminate: (event) => disableAction('terminate', event),
    unsuspend,
    changePassword,
    purgeTenant,
  };
}

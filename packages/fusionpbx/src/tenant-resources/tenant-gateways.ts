import type { Pool } from 'pg';
import { type CanonicalRow, type DesiredRow, type TransactionMode, type Tx, canonicalRow, convergeRow, deleteRows, inTransaction, insertRow, newUuid, selectRows } from '../db';
import { FusionpbxValidationError, TenantNotFoundError, TenantStateError, UniquenessError } from '../errors';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { listGateways, setGatewayEnabled } from '../tenant-rows';
import { type Tenant, findTenant, lockService } from '../provisioning/tenant-state';
import { validateProfile, validateUuid } from '../provisioning/input';
import { ManagedResourceError, ResourceNotFoundError } from './tenant-errors';
import { assertRoomFor, tenantQuota, type TenantQuota } from './tenant-quota';

/**
 * A tenant's own gateways (v_gateways with its domain_uuid), written like gateway_edit.php and
 * applied like gateways.php: sofia.conf cache delete, then rescan for a new gateway, or killgw +
 * startgw for an edited one (a plain rescan ignores edits), killgw for a disabled/deleted one.
 */

export interface GatewayFields {
  name?: string;
  proxy?: string;
  register?: boolean;
  username?: string | null;
  password?: string | null;
  authUsername?: string | null;
  realm?: string | null;
  fromUser?: string | null;
  fromDomain?: string | null;
  registerTransport?: 'udp' | 'tcp' | 'tls' | null;
  expireSeconds?: number;
  retrySeconds?: number;
  callerIdInFrom?: boolean | null;
  context?: string;
  profile?: string;
  channels?: number;
  enabled?: boolean;
  description?: string | null;
}

/** What the API shows: never the password, only whether one is set. */
export interface GatewayView {
  gatewayUuid: string;
  name: string;
  proxy: string | null;
  register: boolean;
  username: string | null;
  passwordSet: boolean;
  authUsername: string | null;
  realm: string | null;
  fromUser: string | null;
  fromDomain: string | null;
  registerTransport: string | null;
  expireSeconds: number | null;
  retrySeconds: number | null;
  callerIdInFrom: boolean | null;
  context: string | null;
  profile: string | null;
  channels: number | null;
  enabled: boolean;
  description: string | null;
  /** The plan's gateway (written by provisioning; read-only here). */
  managed: boolean;
}

export interface GatewayWriteOptions {
  serviceId: number;
  /** The plan's maxGateways; null: the plan states none, and `defaultMaxGateways` applies. */
  maxGateways: number | null;
  /** API_DEFAULT_MAX_GATEWAYS: the limit of a tenant whose plan states none (absent: none). */
  defaultMaxGateways?: number;
  actorUserUuid?: string | null;
  /** Dry-run: `{ rollback: true, recorder }` runs every check and write, then rolls back. */
  transaction?: TransactionMode;
  /**
   * The uuid a create gives the gateway (a queued write carries one fixed when it was queued). A
   * create that finds this uuid already in the domain is this write's own replay after a crash.
   */
  gatewayUuid?: string;
  /** A replay of an update: restart the gateway even if the row is already as asked. */
  forceApply?: boolean;
}

/** A global gateway's write (domain "Global" on gateway_edit.php): no tenant, so no quota and no tenant state. */
export interface GlobalGatewayWriteOptions {
  actorUserUuid?: string | null;
  transaction?: TransactionMode;
  /** As GatewayWriteOptions.gatewayUuid: a create finding this uuid among the global gateways is its own replay. */
  gatewayUuid?: string;
  forceApply?: boolean;
}

export interface GatewayWriteResult {
  outcome: 'created' | 'updated' | 'unchanged' | 'deleted';
  gateway: GatewayView | null;
  freeswitch: FreeswitchStep[];
}

const COLUMNS: Record<keyof GatewayFields, string> = {
  name: 'gateway',
  proxy: 'proxy',
  register: 'register',
  username: 'username',
  password: 'password',
  authUsername: 'auth_username',
  realm: 'realm',
  fromUser: 'from_user',
  fromDomain: 'from_domain',
  registerTransport: 'register_transport',
  expireSeconds: 'expire_seconds',
  retrySeconds: 'retry_seconds',
  callerIdInFrom: 'caller_id_in_from',
  context: 'context',
  profile: 'profile',
  channels: 'channels',
  enabled: 'enabled',
  description: 'description',
};

const numberOrNull = (value: string | null) => (value === null || value === '' ? null : Number(value));
const flagOrNull = (value: string | null) => (value === null ? null : value === 'true');

function view(row: CanonicalRow, managedUuid: string | null): GatewayView {
  return {
    gatewayUuid: row.gateway_uuid as string,
    name: row.gateway as string,
    proxy: row.proxy,
    register: row.register === 'true',
    username: row.username,
    passwordSet: !!row.password,
    authUsername: row.auth_username,
    realm: row.realm,
    fromUser: row.from_user,
    fromDomain: row.from_domain,
    registerTransport: row.register_transport,
    expireSeconds: numberOrNull(row.expire_seconds),
    retrySeconds: numberOrNull(row.retry_seconds),
    callerIdInFrom: flagOrNull(row.caller_id_in_from),
    context: row.context,
    profile: row.profile,
    channels: numberOrNull(row.channels),
    enabled: row.enabled === 'true',
    description: row.description,
    managed: managedUuid !== null && row.gateway_uuid === managedUuid,
  };
}

export async function listTenantGateways(pool: Pool, domainUuid: string, managedUuid: string | null): Promise<GatewayView[]> {
  const { rows } = await pool.query('select * from v_gateways where domain_uuid = $1 order by gateway, gateway_uuid', [domainUuid]);
  return rows.map((row: Record<string, unknown>) => view(canonicalRow(row), managedUuid));
}

/** The switch's own gateways: domain "Global" on FusionPBX's gateway page (domain_uuid NULL). None is a tenant's, none managed. */
export async function listGlobalGateways(pool: Pool): Promise<GatewayView[]> {
  const { rows } = await pool.query('select * from v_gateways where domain_uuid is null order by gateway, gateway_uuid');
  return rows.map((row: Record<string, unknown>) => view(canonicalRow(row), null));
}

export async function getTenantGateway(pool: Pool, domainUuid: string, gatewayUuid: string, managedUuid: string | null): Promise<GatewayView | null> {
  const { rows } = await pool.query('select * from v_gateways where domain_uuid = $1 and gateway_uuid = $2', [domainUuid, gatewayUuid]);
  return rows[0] ? view(canonicalRow(rows[0] as Record<string, unknown>), managedUuid) : null;
}

/**
 * Whose gateways a write touches: a tenant's domain (its plan's gateway read-only), or the global
 * ones (domain_uuid NULL), matched with `is not distinct from` so one query serves both.
 */
interface GatewayScope {
  domainUuid: string | null;
  /** For a duplicate name's message: the tenant's domain, or "global". */
  label: string;
  managedUuid: string | null;
}

const tenantScope = (tenant: Tenant): GatewayScope => ({ domainUuid: tenant.domainUuid, label: tenant.domainName, managedUuid: tenant.state.gatewayUuid });
const GLOBAL_SCOPE: GatewayScope = { domainUuid: null, label: 'global', managedUuid: null };

/**
 * A call arriving on a gateway runs in the gateway's context: a tenant's gateway may use `public` (its
 * inbound routes) or its own domain's, never another tenant's dialplan (its extensions, its routes out,
 * billed to it). A global gateway is the operator's and keeps any context.
 */
function assertContextOfScope(scope: GatewayScope, context: string | undefined): void {
  if (context === undefined || scope.domainUuid === null) return;
  if (context === 'public' || context.toLowerCase() === scope.label.toLowerCase()) return;
  throw new FusionpbxValidationError('context', `must be "public" or the tenant's own domain (${scope.label})`);
}

async function gatewayNamed(tx: Tx, scope: GatewayScope, name: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_gateways where domain_uuid is not distinct from $1 and gateway = $2 order by gateway_uuid', [scope.domainUuid, name]);
  return rows[0] ?? null;
}

async function lockedTenant(tx: Tx, serviceId: number): Promise<Tenant> {
  await lockService(tx, String(serviceId));
  const tenant = await findTenant(tx, String(serviceId));
  if (!tenant) throw new TenantNotFoundError(String(serviceId));
  if (tenant.state.status !== 'active') throw new TenantStateError(String(serviceId), `tenant is ${tenant.state.status}; gateways can only be changed while it is active`);
  return tenant;
}

async function assertProfileEnabled(tx: Tx, profile: string): Promise<void> {
  validateProfile(profile);
  const rows = await selectRows(tx, "select 1 from v_sip_profiles where sip_profile_name = $1 and sip_profile_enabled::text = 'true'", [profile]);
  if (rows.length === 0) throw new FusionpbxValidationError('profile', `"${profile}" is not an enabled SIP profile`);
}

function desiredColumns(fields: GatewayFields): DesiredRow {
  const desired: DesiredRow = {};
  for (const [field, column] of Object.entries(COLUMNS)) {
    const value = fields[field as keyof GatewayFields];
    if (value !== undefined) desired[column] = value;
  }
  return desired;
}

function assertRegisterCredentials(register: boolean, username: string | null | undefined, password: string | null | undefined): void {
  if (!register) return;
  if (!username) throw new FusionpbxValidationError('username', 'is required when register is true');
  if (!password) throw new FusionpbxValidationError('password', 'is required when register is true');
}

/** The gateway with this uuid in the scope (the tenant's own domain, or global), if any. */
async function domainGateway(tx: Tx, scope: GatewayScope, gatewayUuid: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_gateways where domain_uuid is not distinct from $1 and gateway_uuid = $2', [scope.domainUuid, gatewayUuid]);
  return rows[0] ?? null;
}

async function findOwn(tx: Tx, scope: GatewayScope, gatewayUuid: string): Promise<CanonicalRow> {
  const row = await domainGateway(tx, scope, gatewayUuid);
  if (!row) throw new ResourceNotFoundError('gateway', gatewayUuid);
  if (scope.managedUuid && row.gateway_uuid === scope.managedUuid) throw new ManagedResourceError('gateway', gatewayUuid);
  return row;
}

async function reread(tx: Tx, scope: GatewayScope, gatewayUuid: string): Promise<GatewayView> {
  const rows = await selectRows(tx, 'select * from v_gateways where gateway_uuid = $1', [gatewayUuid]);
  return view(rows[0], scope.managedUuid);
}

function creationSteps(enabled: boolean, profile: string): FreeswitchStep[] {
  const steps: FreeswitchStep[] = [{ kind: 'sofia_conf_cache_delete' }];
  if (enabled) steps.push({ kind: 'sofia_rescan', profile });
  return steps;
}

/** The answer the create gave before a crash cut its job short: nothing is written again. */
async function replayedCreate(tx: Tx, scope: GatewayScope, gatewayUuid: string): Promise<GatewayWriteResult | null> {
  const row = await domainGateway(tx, scope, gatewayUuid);
  if (!row) return null;
  return { outcome: 'created', gateway: view(row, scope.managedUuid), freeswitch: creationSteps(row.enabled === 'true', row.profile ?? 'external') };
}

/** The FreeSWITCH side of removing a gateway; exported for a removal replayed after its row is gone. */
export function gatewayRemovalSteps(profile: string | null, gatewayUuid: string): FreeswitchStep[] {
  return [{ kind: 'gateway_kill', profile: profile ?? 'external', gatewayUuid }, { kind: 'sofia_conf_cache_delete' }];
}

/** A tenant's gateway limit: its plan's, else API_DEFAULT_MAX_GATEWAYS (counted over every gateway of the domain, as gateway_edit.php counts). */
function gatewayQuota(options: GatewayWriteOptions): TenantQuota | null {
  return tenantQuota(options.maxGateways, options.defaultMaxGateways, 'API_DEFAULT_MAX_GATEWAYS');
}

/** The row gateway_edit.php saves, in the scope (quota: the tenant's plan, else the bridge's default; none for a global gateway). */
async function insertGateway(
  tx: Tx,
  scope: GatewayScope,
  fields: GatewayFields & { name: string; proxy: string },
  quota: TenantQuota | null,
  requestedUuid: string | undefined,
): Promise<GatewayWriteResult> {
  const replayed = requestedUuid ? await replayedCreate(tx, scope, requestedUuid) : null;
  if (replayed) return replayed;
  if (await gatewayNamed(tx, scope, fields.name)) throw new UniquenessError('gateway', fields.name, scope.label);
  assertContextOfScope(scope, fields.context);
  const profile = fields.profile ?? 'external';
  await assertProfileEnabled(tx, profile);
  const register = fields.register ?? true;
  assertRegisterCredentials(register, fields.username, fields.password);
  const enabled = fields.enabled ?? true;
  if (scope.domainUuid !== null) await assertRoomFor(tx, 'v_gateways', scope.domainUuid, 'gateways', quota);
  const gatewayUuid = requestedUuid ? validateUuid(requestedUuid, 'gatewayUuid') : newUuid();
  // gateway_edit.php form defaults: retry 30, expire 800, context public, channels 0; domain "Global" saves domain_uuid NULL.
  await insertRow(tx, 'v_gateways', {
    ...desiredColumns(fields),
    gateway_uuid: gatewayUuid,
    domain_uuid: scope.domainUuid,
    register,
    expire_seconds: fields.expireSeconds ?? 800,
    retry_seconds: fields.retrySeconds ?? 30,
    context: fields.context ?? 'public',
    profile,
    channels: fields.channels ?? 0,
    hostname: null,
    enabled,
  });
  return { outcome: 'created', gateway: await reread(tx, scope, gatewayUuid), freeswitch: creationSteps(enabled, profile) };
}

/** Creates a gateway (name unique in the domain; a second create with the same name is a UniquenessError). */
export async function createTenantGateway(pool: Pool, fields: GatewayFields & { name: string; proxy: string }, options: GatewayWriteOptions): Promise<GatewayWriteResult> {
  return inTransaction(
    pool,
    options.actorUserUuid ?? null,
    async (tx) => insertGateway(tx, tenantScope(await lockedTenant(tx, options.serviceId)), fields, gatewayQuota(options), options.gatewayUuid),
    options.transaction,
  );
}

/** Creates a global gateway (domain_uuid NULL; name unique among the global ones). The caller holds the server's write lock. */
export async function createGlobalGateway(
  pool: Pool,
  fields: GatewayFields & { name: string; proxy: string },
  options: GlobalGatewayWriteOptions = {},
): Promise<GatewayWriteResult> {
  return inTransaction(pool, options.actorUserUuid ?? null, async (tx) => insertGateway(tx, GLOBAL_SCOPE, fields, null, options.gatewayUuid), options.transaction);
}

/** The row converged to the fields; killgw + startgw when it changed (or on a replay: the restart may not have run). */
async function changeGateway(tx: Tx, scope: GatewayScope, gatewayUuid: string, fields: GatewayFields, forceApply: boolean): Promise<GatewayWriteResult> {
  const own = await findOwn(tx, scope, gatewayUuid);
  if (fields.name && fields.name !== own.gateway && (await gatewayNamed(tx, scope, fields.name))) {
    throw new UniquenessError('gateway', fields.name, scope.label);
  }
  assertContextOfScope(scope, fields.context);
  if (fields.profile) await assertProfileEnabled(tx, fields.profile);
  const register = fields.register ?? own.register === 'true';
  assertRegisterCredentials(register, fields.username === undefined ? own.username : fields.username, fields.password === undefined ? own.password : fields.password);
  const changed = await convergeRow(tx, 'v_gateways', 'gateway_uuid', own, desiredColumns(fields));
  const after = (await selectRows(tx, 'select * from v_gateways where gateway_uuid = $1', [gatewayUuid]))[0];
  const steps: FreeswitchStep[] = [{ kind: 'sofia_conf_cache_delete' }];
  if (changed || forceApply) {
    steps.push({ kind: 'gateway_kill', profile: own.profile ?? 'external', gatewayUuid });
    if (after.enabled === 'true') steps.push({ kind: 'gateway_start', profile: after.profile ?? 'external', gatewayUuid });
  }
  return { outcome: changed ? 'updated' : 'unchanged', gateway: view(after, scope.managedUuid), freeswitch: steps };
}

/** Changes the given fields; a replay writes nothing and sends only the idempotent cache delete. */
export async function updateTenantGateway(pool: Pool, gatewayUuidInput: string, fields: GatewayFields, options: GatewayWriteOptions): Promise<GatewayWriteResult> {
  const gatewayUuid = validateUuid(gatewayUuidInput, 'gatewayUuid');
  return inTransaction(
    pool,
    options.actorUserUuid ?? null,
    async (tx) => changeGateway(tx, tenantScope(await lockedTenant(tx, options.serviceId)), gatewayUuid, fields, options.forceApply ?? false),
    options.transaction,
  );
}

/** Changes a global gateway (domain_uuid NULL) as gateway_edit.php does; a tenant's gateway is not found here. */
export async function updateGlobalGateway(pool: Pool, gatewayUuidInput: string, fields: GatewayFields, options: GlobalGatewayWriteOptions = {}): Promise<GatewayWriteResult> {
  const gatewayUuid = validateUuid(gatewayUuidInput, 'gatewayUuid');
  return inTransaction(pool, options.actorUserUuid ?? null, async (tx) => changeGateway(tx, GLOBAL_SCOPE, gatewayUuid, fields, options.forceApply ?? false), options.transaction);
}

export async function deleteTenantGateway(pool: Pool, gatewayUuidInput: string, options: GatewayWriteOptions): Promise<GatewayWriteResult> {
  const gatewayUuid = validateUuid(gatewayUuidInput, 'gatewayUuid');
  return inTransaction(
    pool,
    options.actorUserUuid ?? null,
    async (tx) => {
      const own = await findOwn(tx, tenantScope(await lockedTenant(tx, options.serviceId)), gatewayUuid);
      await deleteRows(tx, 'v_gateways', 'gateway_uuid = $1', [gatewayUuid]);
      return { outcome: 'deleted', gateway: null, freeswitch: gatewayRemovalSteps(own.profile, gatewayUuid) };
    },
    options.transaction,
  );
}

export interface DomainGatewaysToggle {
  /** the gateways the toggle was about (for a disable without `only`: the ones that were enabled) */
  gatewayUuids: string[];
  /** written this time (a replay writes none) */
  changed: string[];
  /** FreeSWITCH side for every gateway of `gatewayUuids`, changed or not (a replay after a crash sends it again) */
  steps: FreeswitchStep[];
}

/** The uuids of a domain's enabled gateways. */
export async function enabledDomainGateways(pool: Pool, domainUuid: string): Promise<string[]> {
  const { rows } = await pool.query<{ gateway_uuid: string }>("select gateway_uuid::text from v_gateways where domain_uuid = $1 and enabled::text = 'true' order by gateway_uuid", [
    domainUuid,
  ]);
  return rows.map((row) => row.gateway_uuid);
}

/**
 * Credit control's outbound restriction: sets `enabled` on a domain's gateways (`only` those, or
 * every gateway when absent) the way FusionPBX's gateway toggle does, the row's `enabled` column,
 * then the gateway stopped (killgw) or started in its profile after sofia.conf leaves the cache.
 * Idempotent; the steps cover every listed gateway so a replay finishes a FreeSWITCH side a crash cut off.
 */
export async function toggleDomainGateways(pool: Pool, domainUuid: string, enabled: boolean, only?: readonly string[]): Promise<DomainGatewaysToggle> {
  return inTransaction(pool, null, async (tx) => {
    const rows = (await listGateways(tx, domainUuid)).filter((row) => only === undefined || only.includes(row.gateway_uuid as string));
    const changed: string[] = [];
    for (const row of rows) if (await setGatewayEnabled(tx, row, enabled)) changed.push(row.gateway_uuid as string);
    const steps: FreeswitchStep[] = rows.length > 0 ? [{ kind: 'sofia_conf_cache_delete' }] : [];
    for (const row of rows) {
      steps.push({ kind: enabled ? 'gateway_start' : 'gateway_kill', profile: (row.profile as string | null) ?? 'external', gatewayUuid: row.gateway_uuid as string });
    }
    return { gatewayUuids: rows.map((row) => row.gateway_uuid as string), changed, steps };
  });
}

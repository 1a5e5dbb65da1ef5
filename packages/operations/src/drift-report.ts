import type { Pool } from 'pg';
import { GUI_LIMIT_DESCRIPTION, GUI_LIMIT_PLAN_KEYS } from '@ictvoip/fusionpbx';
import type { ProvisioningAction } from '@ictvoip/queue';
import { ServicesRepository, TenantWritesRepository, type DesiredState, type OwedGlobalApply, type ServiceRecord } from '@ictvoip/store';
import { planOverridesFromOptions, type WhmcsApiClient, type WhmcsClientProduct } from '@ictvoip/whmcs';
import type { OperationsDeps } from './deps';
import { describeError } from './errors';
import { storedPackage, whmcsViewsOf, type WhmcsView } from './drift-whmcs';
import { type FoundRows, type RouteExpectations, type WrittenRows, readWrittenRows, writtenRowDifferences, writtenRowsOf } from './drift-rows';

/** One kind per way the three views (WHMCS, the bridge's desired state, FusionPBX rows) can disagree. */
export type DriftKind =
  | 'tenant_missing'
  | 'domain_disabled'
  | 'domain_enabled'
  | 'extensions_over_plan'
  | 'limits_mismatch'
  | 'state_mismatch'
  | 'tenant_without_service'
  | 'whmcs_status_mismatch'
  | 'plan_mismatch'
  | 'whmcs_service_missing'
  | 'whmcs_unreachable'
  | 'fusionpbx_unreachable'
  | 'freeswitch_behind'
  | 'routes_mismatch'
  | 'trunk_acl_mismatch'
  | 'numbers_mismatch'
  | 'gateway_mismatch'
  | 'domain_renamed'
  | 'inbound_route_conflict';

export const DRIFT_KINDS: readonly DriftKind[] = [
  'tenant_missing',
  'domain_disabled',
  'domain_enabled',
  'extensions_over_plan',
  'limits_mismatch',
  'state_mismatch',
  'tenant_without_service',
  'whmcs_status_mismatch',
  'plan_mismatch',
  'whmcs_service_missing',
  'whmcs_unreachable',
  'fusionpbx_unreachable',
  'freeswitch_behind',
  'routes_mismatch',
  'trunk_acl_mismatch',
  'numbers_mismatch',
  'gateway_mismatch',
  'domain_renamed',
  'inbound_route_conflict',
];

export interface DriftItem {
  kind: DriftKind;
  serviceId: number | null;
  domain: string | null;
  expected: string;
  actual: string;
  /** The normal job that converges this difference, or null when it needs a person (e.g. a create needs the password). */
  /** A provisioning action (a drift fix is enqueued as that action's job), or null: an operator's. */
  fixAction: ProvisioningAction | null;
  /** plan_mismatch with a fix: the plan the change_package fix sends (the stored plan with WHMCS's options applied). */
  fixPlan?: Record<string, unknown>;
  /** Why a person is needed, and what they should do. */
  note?: string;
  /** fusionpbx_unreachable: the server that did not answer; freeswitch_behind: the server FreeSWITCH belongs to (null: the default server). */
  server?: string | null;
}

export interface DriftReport {
  checkedAt: string;
  services: number;
  tenants: number;
  whmcsChecked: boolean;
  items: DriftItem[];
  counts: Record<DriftKind, number>;
}

/** A bridge-managed domain in FusionPBX, found through its `ictvoip/service_id` tag. */
export interface FusionTenantRow {
  serviceId: number;
  domainName: string;
  domainEnabled: boolean;
  status: string | null;
  enabledExtensions: number;
  /** The bridge's enabled `limit/<key>/numeric` rows (FusionPBX's own GUI limits), value by key. */
  guiLimits: Record<string, string>;
  /** What the bridge recorded it wrote (the `ictvoip/state` row): compared with the rows by drift-rows.ts. */
  written: WrittenRows;
}

export interface DriftSources {
  pool: Pool;
  /** The default server's database (services whose fusionpbx_server is NULL). */
  fusionPool: Pool;
  /**
   * The registered servers' databases by name. A service bound to a server missing here (disabled,
   * or not given) is not compared with FusionPBX; a tenant is compared on its own server only.
   */
  servers?: ReadonlyMap<string, Pool>;
  /** Why a registered server missing from `servers` could not be read (its secrets cannot be opened); the others say "disabled or not registered". */
  unread?: ReadonlyMap<string, string>;
  /** Omitted when WHMCS_API_URL is not configured: the WHMCS comparison is skipped. */
  whmcs?: WhmcsApiClient | null;
  /**
   * The provisioning templates (PROVISIONING_FILE): an active tenant's routes are compared with the
   * ones its plan's route template re-derives. Omitted: only against what the tenant state recorded.
   */
  provisioning?: RouteExpectations | null;
}

const TENANTS_SQL = `
select t.domain_setting_value as service_id, d.domain_name, d.domain_enabled::text as domain_enabled,
       s.domain_setting_value as state,
       (select count(*)::int from v_extensions e where e.domain_uuid = d.domain_uuid and e.enabled::text = 'true') as enabled_extensions,
       (select coalesce(json_object_agg(l.domain_setting_subcategory, l.domain_setting_value), '{}'::json) from v_domain_settings l
         where l.domain_uuid = d.domain_uuid and l.domain_setting_category = 'limit' and l.domain_setting_description = $1
           and l.domain_setting_enabled::text = 'true') as gui_limits
  from v_domain_settings t
  join v_domains d on d.domain_uuid = t.domain_uuid
  left join v_domain_settings s on s.domain_uuid = d.domain_uuid
       and s.domain_setting_category = 'ictvoip' and s.domain_setting_subcategory = 'state'
 where t.domain_setting_category = 'ictvoip' and t.domain_setting_subcategory = 'service_id'`;

function parsedState(stateJson: string | null): Record<string, unknown> | null {
  if (!stateJson) return null;
  try {
    const parsed = JSON.parse(stateJson) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function statusOf(state: Record<string, unknown> | null): string | null {
  return typeof state?.status === 'string' ? state.status : null;
}

/** Reads every tenant the bridge tagged in FusionPBX (a domain tagged twice keeps its first row). */
export async function readFusionTenants(fusionPool: Pool): Promise<Map<number, FusionTenantRow>> {
  const { rows } = await fusionPool.query<{
    service_id: string;
    domain_name: string;
    domain_enabled: string | null;
    state: string | null;
    enabled_extensions: number;
    gui_limits: Record<string, string> | null;
  }>(TENANTS_SQL, [GUI_LIMIT_DESCRIPTION]);
  const tenants = new Map<number, FusionTenantRow>();
  for (const row of rows) {
    const serviceId = Number(row.service_id);
    if (!Number.isSafeInteger(serviceId) || tenants.has(serviceId)) continue;
    const state = parsedState(row.state);
    tenants.set(serviceId, {
      serviceId,
      domainName: row.domain_name,
      domainEnabled: row.domain_enabled === 'true',
      status: statusOf(state),
      written: writtenRowsOf(state),
      enabledExtensions: row.enabled_extensions,
      guiLimits: row.gui_limits ?? {},
    });
  }
  return tenants;
}

function planLimit(plan: Record<string, unknown>): number | null {
  const value = plan.maxExtensions;
  return typeof value === 'number' && Number.isInteger(value) ? value : null;
}

function planInteger(plan: Record<string, unknown>, key: string): number | null {
  const value = plan[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : null;
}

/**
 * FusionPBX's own limits against the stored plan: each limit the plan states is a bridge row with
 * that value, and a gateway or destination limit it does not state has no bridge row. (A plan
 * without maxExtensions is not compared: the provisioner may fall back to its configured default.)
 */
function guiLimitDifferences(plan: Record<string, unknown>, tenant: FusionTenantRow): { expected: string; actual: string } | null {
  const expected: string[] = [];
  const actual: string[] = [];
  for (const [subcategory, planKey] of Object.entries(GUI_LIMIT_PLAN_KEYS)) {
    const wanted = planInteger(plan, planKey);
    if (wanted === null && planKey === 'maxExtensions') continue;
    const want = wanted === null ? null : String(wanted);
    const have = tenant.guiLimits[subcategory] ?? null;
    if (want === have) continue;
    expected.push(`limit/${subcategory}/numeric=${want ?? 'none'}`);
    actual.push(`limit/${subcategory}/numeric=${have ?? 'none'}`);
  }
  return expected.length > 0 ? { expected: expected.join(', '), actual: actual.join(', ') } : null;
}

/** The job that takes a FusionPBX tenant in `actual` state to the desired one, if a job can. */
function convergingAction(desired: DesiredState, actual: string | null): ProvisioningAction | null {
  if (desired === 'terminated') return actual === 'terminated' ? null : 'terminate';
  if (actual === 'terminated') return null; // back to life needs a create, which needs the password
  if (desired === 'suspended') return actual === 'suspended' ? null : 'suspend';
  return actual === 'suspended' ? 'unsuspend' : 'change_package';
}

/**
 * The tagged domain renamed in FusionPBX (domain_edit.php) since the bridge last saw it: until an
 * event records the new name, registration monitoring and the REST API look the tenant up by the old
 * one (unwatched, 404) and WHMCS shows the old portal. Any event of the tenant records it and sends
 * WHMCS the new properties.
 */
function renamedDomain(service: ServiceRecord, tenant: FusionTenantRow): DriftItem | null {
  if (!service.tenantDomain || service.tenantDomain.toLowerCase() === tenant.domainName.toLowerCase()) return null;
  const base = {
    serviceId: service.serviceId,
    domain: tenant.domainName,
    kind: 'domain_renamed' as const,
    expected: `domain ${service.tenantDomain}`,
    actual: `domain ${tenant.domainName}`,
  };
  if (tenant.status !== service.desiredState) return { ...base, fixAction: null, note: 'the state differs too: its converging event records the new name' };
  if (service.desiredState === 'active') return { ...base, fixAction: 'change_package' };
  if (service.desiredState === 'suspended') return { ...base, fixAction: 'suspend' };
  return { ...base, fixAction: null, note: 'the tenant is terminated: the purge finds it by its tag; nothing to do unless it is brought back' };
}

function compareWithFusion(service: ServiceRecord, tenant: FusionTenantRow | undefined, rows: FoundRows | undefined, routes: RouteExpectations | null): DriftItem[] {
  const desired = service.desiredState;
  const base = { serviceId: service.serviceId, domain: tenant?.domainName ?? service.tenantDomain };
  if (!tenant) {
    if (desired === 'terminated') return [];
    return [{ ...base, kind: 'tenant_missing', expected: `tenant ${desired}`, actual: 'no tagged domain in FusionPBX', fixAction: null }];
  }
  const items: DriftItem[] = [];
  const renamed = renamedDomain(service, tenant);
  if (renamed) items.push(renamed);
  if (tenant.status !== null && tenant.status !== desired) {
    items.push({ ...base, kind: 'state_mismatch', expected: desired, actual: tenant.status, fixAction: convergingAction(desired, tenant.status) });
  }
  const wantEnabled = desired === 'active';
  if (tenant.domainEnabled !== wantEnabled) {
    // With FusionPBX's own bookkeeping already at the desired state, only change_package re-converges an active tenant.
    const fix = tenant.status === desired ? (desired === 'active' ? 'change_package' : null) : convergingAction(desired, tenant.status);
    items.push({
      ...base,
      kind: wantEnabled ? 'domain_disabled' : 'domain_enabled',
      expected: `domain ${wantEnabled ? 'enabled' : 'disabled'}`,
      actual: `domain ${tenant.domainEnabled ? 'enabled' : 'disabled'}`,
      fixAction: fix,
    });
  }
  const limit = planLimit(service.plan);
  if (desired === 'active' && limit !== null && tenant.enabledExtensions > limit) {
    items.push({
      ...base,
      kind: 'extensions_over_plan',
      expected: `at most ${limit} enabled extensions`,
      actual: `${tenant.enabledExtensions} enabled`,
      fixAction: tenant.status === 'suspended' ? null : 'change_package',
    });
  }
  const limits = desired === 'active' && tenant.status === 'active' ? guiLimitDifferences(service.plan, tenant) : null;
  if (limits) items.push({ ...base, kind: 'limits_mismatch', ...limits, fixAction: 'change_package' });
  if (tenant.status === desired && rows) items.push(...writtenRowDifferences(service, tenant, rows, routes));
  return items;
}

/** WHMCS's service status as the bridge's desired state; null for states with no tenant meaning (Pending, Fraud). */
export function desiredFromWhmcs(status: string): DesiredState | null {
  switch (status.toLowerCase()) {
    case 'active':
      return 'active';
    case 'suspended':
      return 'suspended';
    case 'terminated':
    case 'cancelled':
      return 'terminated';
    default:
      return null;
  }
}

function whmcsFix(desired: DesiredState, whmcs: DesiredState): ProvisioningAction | null {
  if (whmcs === 'terminated') return 'terminate';
  if (desired === 'terminated') return null; // WHMCS says alive: only a create (with the password) brings it back
  return whmcs === 'suspended' ? 'suspend' : 'unsuspend';
}

const PACKAGE_CHANGE_NOTE =
  "needs an operator: the new package's module settings are not in the WHMCS API answer; run Change Package (Module Commands) on the service in WHMCS so its plan is sent again";

const describePlan = (entries: [string, unknown][]) => entries.map(([key, value]) => `${key}=${String(value)}`).join(', ');

/**
 * WHMCS's package against the plan stored from the last create / change_package: another product
 * id (a package change whose webhook never arrived) needs a person, because only the module knows
 * the new product's settings; configurable options that set other limits are known from the
 * answer, so change_package can apply them.
 */
function comparePlan(service: ServiceRecord, product: WhmcsClientProduct): DriftItem | null {
  if (service.desiredState === 'terminated') return null;
  const base = { serviceId: service.serviceId, domain: service.tenantDomain, kind: 'plan_mismatch' as const };
  const stored = storedPackage(service);
  if (stored !== null && product.pid > 0 && product.pid !== stored) {
    return {
      ...base,
      expected: `package ${stored}`,
      actual: `WHMCS package ${product.pid}${product.name ? ` (${product.name})` : ''}`,
      fixAction: null,
      note: PACKAGE_CHANGE_NOTE,
    };
  }
  const options = Object.fromEntries(product.configOptions.map((option) => [option.option, option.value]));
  const differing = Object.entries(planOverridesFromOptions(options, service.plan)).filter(([key, value]) => service.plan[key] !== value);
  if (differing.length === 0) return null;
  const expected = `plan ${describePlan(differing.map(([key]) => [key, service.plan[key] ?? 'unset']))}`;
  const actual = `WHMCS configurable options ${describePlan(differing)}`;
  // The provisioner refuses change_package on a suspended tenant; the options apply once it is active again.
  if (service.desiredState !== 'active')
    return { ...base, expected, actual, fixAction: null, note: `needs an operator: the tenant is ${service.desiredState}; change_package applies after unsuspend` };
  return { ...base, expected, actual, fixAction: 'change_package', fixPlan: { ...service.plan, ...Object.fromEntries(differing) } };
}

function compareWithWhmcs(product: WhmcsView | undefined, service: ServiceRecord): DriftItem[] {
  const base = { serviceId: service.serviceId, domain: service.tenantDomain };
  if (product && 'unreachable' in product) return [{ ...base, kind: 'whmcs_unreachable', expected: 'an answer from the WHMCS API', actual: product.unreachable, fixAction: null }];
  if (!product) return [{ ...base, kind: 'whmcs_service_missing', expected: `service ${service.serviceId} in WHMCS`, actual: 'not found', fixAction: null }];
  const items: DriftItem[] = [];
  const whmcsDesired = desiredFromWhmcs(product.status);
  if (whmcsDesired !== null && whmcsDesired !== service.desiredState) {
    items.push({
      ...base,
      kind: 'whmcs_status_mismatch',
      expected: `bridge ${service.desiredState}`,
      actual: `WHMCS ${product.status}`,
      fixAction: whmcsFix(service.desiredState, whmcsDesired),
    });
  }
  const plan = comparePlan(service, product);
  if (plan) items.push(plan);
  return items;
}

/** A server that does not answer is one item, not a failed report: the other servers are still compared. */
async function readTenantsOrReason(pool: Pool): Promise<{ tenants: Map<number, FusionTenantRow>; rows: FoundRows } | string> {
  try {
    const tenants = await readFusionTenants(pool);
    return { tenants, rows: await readWrittenRows(pool, [...tenants.values()]) };
  } catch (error) {
    return describeError(error);
  }
}

function unreachableServerItem(server: string | null, reason: string, services: readonly ServiceRecord[]): DriftItem {
  const name = server === null ? 'the default FusionPBX server' : `FusionPBX server ${server}`;
  const bound = services.filter((service) => service.fusionpbxServer === server).length;
  return {
    kind: 'fusionpbx_unreachable',
    server,
    serviceId: null,
    domain: null,
    expected: `an answer from ${name}`,
    actual: reason,
    fixAction: null,
    note: `its ${bound} service(s) were not compared with FusionPBX; check the server, then run the report again`,
  };
}

function countKinds(items: readonly DriftItem[]): Record<DriftKind, number> {
  const counts = Object.fromEntries(DRIFT_KINDS.map((kind) => [kind, 0])) as Record<DriftKind, number>;
  for (const item of items) counts[item.kind] += 1;
  return counts;
}

/**
 * Compares the bridge's desired state (services table) with FusionPBX's rows and, when a WHMCS
 * client is given, with WHMCS's service status and package. Reads only; every difference is one item.
 * Purged services are not compared: their FusionPBX rows are gone by design and their bills are done.
 */
export async function buildDriftReport(sources: DriftSources): Promise<DriftReport> {
  const pools = new Map<string | null, Pool>([[null, sources.fusionPool], ...(sources.servers ?? new Map<string, Pool>())]);
  const [services, globalApplies, ...readings] = await Promise.all([
    new ServicesRepository(sources.pool).listAll(1000, { purged: false }),
    new TenantWritesRepository(sources.pool).globalAppliesOwed(0, 1000),
    ...[...pools.values()].map((pool) => readTenantsOrReason(pool)),
  ]);
  const items: DriftItem[] = globalApplies.map(globalApplyBehindItem);
  const tenantsByServer = new Map<string | null, Map<number, FusionTenantRow>>();
  const rowsByServer = new Map<string | null, FoundRows>();
  [...pools.keys()].forEach((server, i) => {
    const reading = readings[i]!;
    if (typeof reading === 'string') items.push(unreachableServerItem(server, reading, services));
    else {
      tenantsByServer.set(server, reading.tenants);
      rowsByServer.set(server, reading.rows);
    }
  });
  // Services on a server that is not read at all (disabled, or no longer registered): not compared, and said so.
  const unread = [...new Set(services.map((service) => service.fusionpbxServer))].filter((server) => !pools.has(server));
  for (const server of unread)
    items.push(unreachableServerItem(server, `not read: ${(server !== null && sources.unread?.get(server)) || 'the server is disabled or not registered'}`, services));
  const known = new Map<string | null, Set<number>>([...tenantsByServer.keys()].map((server) => [server, new Set<number>()]));
  const whmcsViews = sources.whmcs ? await whmcsViewsOf(sources.whmcs, services) : null;
  for (const service of services) {
    const tenants = tenantsByServer.get(service.fusionpbxServer);
    known.get(service.fusionpbxServer)?.add(service.serviceId);
    if (tenants) items.push(...compareWithFusion(service, tenants.get(service.serviceId), rowsByServer.get(service.fusionpbxServer), sources.provisioning ?? null));
    if (whmcsViews) items.push(...compareWithWhmcs(whmcsViews.get(service.serviceId), service));
    const behind = freeswitchBehindItem(service);
    if (behind) items.push(behind);
  }
  let tenantCount = 0;
  for (const [server, tenants] of tenantsByServer) {
    tenantCount += tenants.size;
    for (const tenant of tenants.values()) {
      if (known.get(server)!.has(tenant.serviceId) || tenant.status === 'terminated') continue;
      items.push({
        kind: 'tenant_without_service',
        serviceId: tenant.serviceId,
        domain: tenant.domainName,
        expected: `a service in the bridge database${server ? ` bound to server ${server}` : ''}`,
        actual: `tagged domain (${tenant.status ?? 'no state'})`,
        fixAction: null,
      });
    }
  }
  return { checkedAt: new Date().toISOString(), services: services.length, tenants: tenantCount, whmcsChecked: !!sources.whmcs, items, counts: countKinds(items) };
}

/**
 * FusionPBX holds the service's rows but FreeSWITCH has not been told (its backlog): nothing to fix by
 * hand once the event socket answers — the backlog job applies it — so the item says what to check.
 */
function freeswitchBehindItem(service: ServiceRecord): DriftItem | null {
  const backlog = service.pendingApply;
  if (!backlog) return null;
  const failure = backlog.lastError ? `; last error: ${backlog.lastError} (${backlog.attempts} attempt(s))` : '';
  return {
    kind: 'freeswitch_behind',
    serviceId: service.serviceId,
    domain: service.tenantDomain,
    expected: 'FreeSWITCH in step with FusionPBX',
    actual: `${backlog.steps.length} FreeSWITCH step(s) of ${backlog.events.length} event(s) pending since ${backlog.since}${failure}`,
    fixAction: null,
    note: "applied automatically once the event socket answers (job freeswitch.backlog); check ESL_HOST, ESL_PASSWORD and the event socket ACL of the tenant's FreeSWITCH",
    server: service.fusionpbxServer,
  };
}

/**
 * A global gateway write committed in FusionPBX whose FreeSWITCH side its server has not taken: no
 * tenant, so no backlog, but the same difference as a tenant's, applied the same way (its job, which
 * the reconciler adds again until the event socket takes it).
 */
function globalApplyBehindItem(owed: OwedGlobalApply): DriftItem {
  return {
    kind: 'freeswitch_behind',
    serviceId: null,
    domain: null,
    expected: 'FreeSWITCH in step with FusionPBX',
    actual: `global gateway write ${owed.writeId}: ${owed.steps.length} FreeSWITCH step(s) pending since ${owed.since.toISOString()}`,
    fixAction: null,
    note: `applied automatically once the event socket answers (job ${owed.jobId}, freeswitch.apply); check ESL_HOST, ESL_PASSWORD and the event socket ACL of the server's FreeSWITCH`,
    server: owed.server,
  };
}

/** The drift sources of every enabled server (the default and each registered one). */
export async function driftSourcesOf(deps: Pick<OperationsDeps, 'pool' | 'whmcs'> & Required<Pick<OperationsDeps, 'targets'>>): Promise<DriftSources> {
  const { targets, unusable } = await deps.targets.scan();
  const servers = new Map(targets.filter((target) => target.storedName !== null).map((target) => [target.storedName!, target.pool]));
  const unread = new Map(unusable.map((server) => [server.name, server.reason]));
  return { pool: deps.pool, fusionPool: deps.targets.defaultTarget.pool, servers, unread, whmcs: deps.whmcs, provisioning: deps.targets.provisionerOptions ?? null };
}

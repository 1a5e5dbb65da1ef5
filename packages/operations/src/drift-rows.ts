import type { Pool } from 'pg';
import {
  CALLED_NUMBER_FIELDS,
  dialledForms,
  gatewayTemplateName,
  normaliseNumber,
  numberPlanOf,
  patternOf,
  routeAbbreviation,
  routeClaim,
  type NumberPlan,
  type ProvisionerOptions,
  type RouteClaim,
} from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import { normaliseTrunkCidrs, trunkCidrProblems } from '@ictvoip/whmcs';
import type { DriftItem, FusionTenantRow } from './drift-report';

/**
 * Issue #15's rows in the drift report: the bridge's outbound routes, trunk ACL nodes and plan
 * numbers. For an active tenant they are compared with what the stored plan re-derives — its DIDs
 * (plan.dids), its trunk CIDRs (plan.trunkCidrs) and its route template (the routes' names through
 * the plan's gateway, when the provisioning templates are known) — so a plan the tenant's rows do not
 * follow (an event that failed, a template edited since) shows up, not only a row deleted in FusionPBX.
 * A suspended tenant must have its routes and numbers disabled, a credit-restricted one the routes
 * the restriction disabled (its emergency routes stay enabled).
 */

/** The provisioning templates the routes are re-derived from (PROVISIONING_FILE); absent: routes are checked against the tenant state only. */
export type RouteExpectations = Pick<ProvisionerOptions, 'routeTemplates' | 'gatewayTemplates'>;

export interface WrittenRows {
  outboundRoutes: string[];
  trunkNodes: string[];
  planNumbers: string[];
  /** Credit control's outbound restriction is set. */
  restricted: boolean;
  /** The bridge's routes the restriction disabled (all but the emergency routes), lower case. */
  restrictedRoutes: string[];
  /** The plan's gateway the bridge wrote (`v_gateways.gateway_uuid`), lower case. */
  gateway: string | null;
  /** The bridge itself disabled that gateway (a plan without one): the next change_package enables it. */
  gatewayPlanDisabled: boolean;
}

interface NumberRow {
  number: string;
  prefix: string | null;
  enabled: boolean;
}

export interface FoundRoute {
  enabled: boolean;
  name: string;
}

export interface FoundGateway {
  uuid: string;
  enabled: boolean;
  name: string;
}

/** An enabled public-context dialplan with an enabled condition on the called number and no v_destinations row (an inbound route made in FusionPBX). */
export interface FoundInboundRoute {
  uuid: string;
  name: string;
  /** Its domain's name; null for a global (domain-less) one. */
  domain: string | null;
  regex: string;
}

export interface FoundRows {
  /** dialplan uuid → dialplan_enabled and dialplan_name of the routes the states list. */
  routes: Map<string, FoundRoute>;
  /** access_control_node_uuid → node_cidr of the nodes the states list. */
  nodes: Map<string, string>;
  /** Inbound destinations per tenant domain. */
  numbers: Map<string, NumberRow[]>;
  /** Every gateway of each tenant domain (the plan's and the tenant's own). */
  gateways: Map<string, FoundGateway[]>;
  /** The server's inbound routes without a number row, of any domain. */
  inboundRoutes: FoundInboundRoute[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const stringsOf = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

export function writtenRowsOf(state: Record<string, unknown> | null): WrittenRows {
  const restricted = state?.outboundRestricted;
  return {
    outboundRoutes: stringsOf(state?.outboundRoutes).map((uuid) => uuid.toLowerCase()),
    trunkNodes: stringsOf(state?.trunkNodes).map((uuid) => uuid.toLowerCase()),
    planNumbers: stringsOf(state?.planNumbers),
    restricted: restricted !== undefined && restricted !== null,
    restrictedRoutes: restricted && typeof restricted === 'object' ? Object.keys(restricted).map((uuid) => uuid.toLowerCase()) : [],
    gateway: typeof state?.gatewayUuid === 'string' ? state.gatewayUuid.toLowerCase() : null,
    gatewayPlanDisabled: state?.gatewayPlanDisabled === true,
  };
}

/** One read per table for every tenant of a server (tables a FusionPBX install lacks are skipped). */
export async function readWrittenRows(pool: Pool, tenants: readonly FusionTenantRow[]): Promise<FoundRows> {
  const found: FoundRows = { routes: new Map(), nodes: new Map(), numbers: new Map(), gateways: new Map(), inboundRoutes: [] };
  const routeUuids = tenants.flatMap((tenant) => tenant.written.outboundRoutes).filter((uuid) => UUID.test(uuid));
  const nodeUuids = tenants.flatMap((tenant) => tenant.written.trunkNodes).filter((uuid) => UUID.test(uuid));
  const { rows: tables } = await pool.query<{ acl: boolean; destinations: boolean }>(
    "select to_regclass('v_access_control_nodes') is not null as acl, to_regclass('v_destinations') is not null as destinations",
  );
  if (routeUuids.length > 0) {
    const { rows } = await pool.query<{ uuid: string; enabled: string | null; name: string | null }>(
      'select dialplan_uuid::text as uuid, dialplan_enabled::text as enabled, dialplan_name as name from v_dialplans where dialplan_uuid = any($1::uuid[])',
      [routeUuids],
    );
    for (const row of rows) found.routes.set(row.uuid.toLowerCase(), { enabled: row.enabled === 'true', name: row.name ?? '' });
  }
  if (nodeUuids.length > 0 && tables[0]?.acl) {
    const { rows } = await pool.query<{ uuid: string; cidr: string | null }>(
      'select access_control_node_uuid::text as uuid, node_cidr as cidr from v_access_control_nodes where access_control_node_uuid = any($1::uuid[])',
      [nodeUuids],
    );
    for (const row of rows) found.nodes.set(row.uuid.toLowerCase(), row.cidr ?? '');
  }
  if (tenants.length > 0 && tables[0]?.destinations) {
    const { rows } = await pool.query<{ domain_name: string; number: string | null; prefix: string | null; enabled: string | null }>(
      `select d.domain_name, x.destination_number as number, x.destination_prefix as prefix, x.destination_enabled::text as enabled
         from v_destinations x join v_domains d on d.domain_uuid = x.domain_uuid
        where x.destination_type = 'inbound' and d.domain_name = any($1)`,
      [tenants.map((tenant) => tenant.domainName)],
    );
    for (const row of rows) {
      const list = found.numbers.get(row.domain_name) ?? [];
      list.push({ number: row.number ?? '', prefix: row.prefix, enabled: row.enabled === 'true' });
      found.numbers.set(row.domain_name, list);
    }
  }
  if (tenants.length > 0 && tables[0]?.destinations) found.inboundRoutes = await readInboundRoutes(pool);
  if (tenants.length > 0) {
    const { rows } = await pool.query<{ domain_name: string; uuid: string; enabled: string | null; name: string | null }>(
      `select d.domain_name, g.gateway_uuid::text as uuid, g.enabled::text as enabled, g.gateway as name
         from v_gateways g join v_domains d on d.domain_uuid = g.domain_uuid
        where d.domain_name = any($1)`,
      [tenants.map((tenant) => tenant.domainName)],
    );
    for (const row of rows) {
      const list = found.gateways.get(row.domain_name) ?? [];
      list.push({ uuid: row.uuid.toLowerCase(), enabled: row.enabled === 'true', name: row.name ?? '' });
      found.gateways.set(row.domain_name, list);
    }
  }
  return found;
}

/** The routes the number check of a write reads too (fusionpbx destinations/repository.ts), of every domain: which of them a tenant's number meets is decided per tenant. */
async function readInboundRoutes(pool: Pool): Promise<FoundInboundRoute[]> {
  const { rows } = await pool.query<{ uuid: string; name: string | null; domain: string | null; regex: string }>(
    `select p.dialplan_uuid::text as uuid, p.dialplan_name as name, o.domain_name as domain, c.dialplan_detail_data as regex
       from v_dialplans p join v_dialplan_details c on c.dialplan_uuid = p.dialplan_uuid left join v_domains o on o.domain_uuid = p.domain_uuid
      where p.dialplan_context = 'public' and p.dialplan_enabled::text = 'true' and c.dialplan_detail_tag = 'condition'
        and c.dialplan_detail_type = any($1) and c.dialplan_detail_data is not null
        and (c.dialplan_detail_enabled is null or c.dialplan_detail_enabled::text <> 'false')
        and p.dialplan_uuid not in (select n.dialplan_uuid from v_destinations n where n.dialplan_uuid is not null)
      order by p.dialplan_uuid, c.dialplan_detail_data`,
    [CALLED_NUMBER_FIELDS],
  );
  return rows.map((row) => ({ uuid: row.uuid.toLowerCase(), name: row.name ?? '', domain: row.domain, regex: row.regex }));
}

function numberPlanOfService(service: ServiceRecord): NumberPlan | null {
  try {
    return numberPlanOf(service.plan.countryCode, service.plan.numberFormat);
  } catch {
    return null;
  }
}

function canonicalOf(row: NumberRow, plan: NumberPlan): string {
  const written = row.prefix ? `+${row.prefix}${row.number}` : row.number;
  try {
    return normaliseNumber(written, plan, 'destination_number').canonical;
  } catch {
    return written;
  }
}

const listed = (values: readonly string[]) => (values.length > 3 ? `${values.slice(0, 3).join(', ')}, …` : values.join(', '));
const sorted = (values: Iterable<string>) => [...values].sort();
const sameSet = (a: readonly string[], b: readonly string[]) => JSON.stringify(sorted(new Set(a))) === JSON.stringify(sorted(new Set(b)));

/** The differences of one tenant whose FusionPBX status already is the desired one. */
export function writtenRowDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows, routes?: RouteExpectations | null): DriftItem[] {
  const active = service.desiredState === 'active';
  return [
    ...(active ? routeDifferences(service, tenant, found, routes ?? null) : []),
    ...disabledRouteDifferences(service, tenant, found),
    ...(active ? trunkDifferences(service, tenant, found) : []),
    ...numberDifferences(service, tenant, found),
    ...gatewayDifferences(service, tenant, found, routes ?? null),
    ...(active ? inboundRouteConflicts(service, tenant, found) : []),
  ];
}

const routeLabel = (route: FoundInboundRoute) => `route ${route.name || route.uuid} of ${route.domain === null ? 'no domain (global)' : `domain ${route.domain}`} (${route.regex})`;

/**
 * An active tenant's enabled numbers another domain's (or a global) inbound route without a number
 * row matches. In FusionPBX's multiple dialplan mode (the default) every call is offered to every
 * public dialplan, so that route may take the tenant's calls. A route for a whole range (a catch-all a
 * tenant admin may make on the Inbound Routes page) does not stop the bridge's number writes, so this
 * is where it shows; a route naming the number is one the number check refuses new numbers for.
 */
function inboundRouteConflicts(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows): DriftItem[] {
  const routes = found.inboundRoutes
    .filter((route) => route.domain === null || route.domain.toLowerCase() !== tenant.domainName.toLowerCase())
    .flatMap((route) => {
      const pattern = patternOf(route.regex);
      return pattern ? [{ route, pattern }] : [];
    });
  const numbers = (found.numbers.get(tenant.domainName) ?? []).filter((row) => row.enabled && /^\+?[0-9]+$/.test(row.number) && /^\+?[0-9]*$/.test(row.prefix ?? ''));
  const plan = numberPlanOfService(service);
  const caught = new Map<FoundInboundRoute, { claim: RouteClaim; numbers: string[] }>();
  for (const row of numbers) {
    const forms = dialledForms({ prefix: row.prefix, number: row.number });
    for (const { route, pattern } of routes) {
      const claim = routeClaim(pattern, forms);
      if (claim === 'none') continue;
      const entry = caught.get(route) ?? { claim, numbers: [] };
      if (claim === 'number') entry.claim = 'number';
      entry.numbers.push(plan ? canonicalOf(row, plan) : row.number);
      caught.set(route, entry);
    }
  }
  if (caught.size === 0) return [];
  const described = [...caught].map(([route, entry]) => `${routeLabel(route)} matches ${listed(entry.numbers)}${entry.claim === 'range' ? ' as one of a range' : ''}`);
  return [
    {
      ...base(service, tenant),
      kind: 'inbound_route_conflict',
      expected: "the tenant's inbound numbers reached by its own destinations only",
      actual: described.join('; '),
      fixAction: null,
      note: "needs an operator: in FusionPBX's multiple dialplan mode that route may take the tenant's inbound calls; narrow it to its own numbers or disable it in FusionPBX (Dialplan > Inbound Routes)",
    },
  ];
}

const base = (service: ServiceRecord, tenant: FusionTenantRow) => ({ serviceId: service.serviceId, domain: tenant.domainName });

const planText = (plan: Record<string, unknown>, key: string): string | null => {
  const value = plan[key];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
};

/**
 * A `routes_mismatch` difference: change_package puts the routes back, unless a person must decide
 * first (`operatorNote` says what to do, and the difference has no fix action).
 */
function routesMismatch(service: ServiceRecord, tenant: FusionTenantRow, expected: string, actual: string, operatorNote?: string): DriftItem {
  const item: DriftItem = { ...base(service, tenant), kind: 'routes_mismatch', expected, actual, fixAction: operatorNote === undefined ? 'change_package' : null };
  return operatorNote === undefined ? item : { ...item, note: operatorNote };
}

/** The route names the plan's template writes through the plan's gateway (provisioning/outbound-routes.ts), or why it cannot say. */
function expectedRouteNames(plan: Record<string, unknown>, templates: RouteExpectations): { key: string | null; names: string[] } | { problem: string } {
  const gatewayKey = planText(plan, 'gatewayTemplate');
  const gateway = gatewayKey ? templates.gatewayTemplates?.[gatewayKey] : undefined;
  if (!gatewayKey) return { key: null, names: [] };
  if (!gateway) return { problem: `the plan's gateway template "${gatewayKey}" is not in PROVISIONING_FILE` };
  const key = planText(plan, 'routeTemplate') ?? (templates.routeTemplates?.default ? 'default' : null);
  if (key === null) return { key, names: [] };
  const entries = templates.routeTemplates?.[key];
  if (!entries) return { problem: `the plan's route template "${key}" is not in PROVISIONING_FILE` };
  const gatewayName = gatewayTemplateName(gatewayKey, gateway);
  return { key, names: entries.map((route) => `${gatewayName}.${routeAbbreviation(route.pattern)}`) };
}

/** An active tenant: the bridge's routes are the plan's (by route name, and two dialplans per template entry), and none is missing. */
function routeDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows, templates: RouteExpectations | null): DriftItem[] {
  const { written } = tenant;
  const present = written.outboundRoutes.filter((uuid) => found.routes.has(uuid));
  const missing = written.outboundRoutes.filter((uuid) => !found.routes.has(uuid));
  if (templates) {
    const expected = expectedRouteNames(service.plan, templates);
    if ('problem' in expected) {
      return [routesMismatch(service, tenant, 'the routes of the plan', expected.problem, 'needs an operator: fix PROVISIONING_FILE or the plan, then change_package')];
    }
    // The call-direction dialplans carry no gateway: the route dialplans name the template entries.
    const names = present.map((uuid) => found.routes.get(uuid)!.name).filter((name) => !name.startsWith('call_direction-outbound'));
    if (!sameSet(names, expected.names) || present.length !== 2 * expected.names.length || missing.length > 0) {
      return [
        routesMismatch(
          service,
          tenant,
          expected.names.length > 0
            ? `the ${expected.names.length} route(s) of template ${expected.key}: ${listed(sorted(expected.names))}`
            : 'no outbound routes (the plan has no gateway or route template)',
          `${present.length} route dialplan(s) of the bridge${names.length > 0 ? `: ${listed(sorted(names))}` : ''}${missing.length > 0 ? `; ${missing.length} missing` : ''}`,
        ),
      ];
    }
    return [];
  }
  if (missing.length === 0) return [];
  return [routesMismatch(service, tenant, `the bridge's ${written.outboundRoutes.length} outbound route dialplan(s)`, `${missing.length} missing (${listed(missing)})`)];
}

/** A suspended or credit-restricted tenant: the bridge's routes stay disabled. */
function disabledRouteDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows): DriftItem[] {
  const active = service.desiredState === 'active';
  if (active && !tenant.written.restricted) return [];
  // Under the credit restriction alone only the routes it disabled must be off: emergency routes stay on.
  const meantOff = active ? tenant.written.restrictedRoutes : tenant.written.outboundRoutes;
  const enabled = meantOff.filter((uuid) => found.routes.get(uuid)?.enabled === true);
  if (enabled.length === 0) return [];
  const why = active ? 'the credit restriction' : `the tenant is ${service.desiredState}`;
  return [
    routesMismatch(
      service,
      tenant,
      `the bridge's outbound routes disabled (${why})`,
      `${enabled.length} enabled (${listed(enabled)})`,
      'needs an operator: a route was enabled in FusionPBX; disable it there (unsuspend / the credit top-up restores the routes exactly)',
    ),
  ];
}

/** An active tenant: the bridge's ACL nodes hold exactly the plan's trunk CIDRs (as FusionPBX stores them). */
function trunkDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows): DriftItem[] {
  const raw = service.plan.trunkCidrs;
  // A plan the webhook would refuse cannot be compared; the events themselves say why.
  if (trunkCidrProblems(raw).length > 0) return [];
  const expected = normaliseTrunkCidrs(raw);
  const actual = tenant.written.trunkNodes.flatMap((uuid) => (found.nodes.has(uuid) ? [found.nodes.get(uuid)!] : []));
  const missing = expected.filter((cidr) => !actual.includes(cidr));
  const extra = actual.filter((cidr) => !expected.includes(cidr));
  if (missing.length === 0 && extra.length === 0) return [];
  const parts = [...(missing.length > 0 ? [`missing ${listed(missing)}`] : []), ...(extra.length > 0 ? [`not in the plan ${listed(extra)}`] : [])];
  return [
    {
      ...base(service, tenant),
      kind: 'trunk_acl_mismatch',
      expected: expected.length > 0 ? `trunk ACL nodes for the plan's CIDRs ${listed(expected)}` : 'no trunk ACL nodes (the plan has no trunk CIDRs)',
      actual: parts.join('; '),
      fixAction: 'change_package',
    },
  ];
}

/** The canonical numbers of the plan's DIDs, or null when the plan states none (the tenant's numbers are left as they are). */
function planDids(service: ServiceRecord, plan: NumberPlan): string[] | null {
  const raw = service.plan.dids;
  if (!Array.isArray(raw)) return null;
  return raw.flatMap((item) => {
    try {
      return [normaliseNumber(item, plan, 'plan.dids').canonical];
    } catch {
      return [];
    }
  });
}

/** Another tenant of the server holding the number (the change_package fix would be refused for it). */
function ownerOf(number: string, tenant: FusionTenantRow, found: FoundRows, plan: NumberPlan): string | null {
  for (const [domain, rows] of found.numbers) {
    if (domain !== tenant.domainName && rows.some((row) => canonicalOf(row, plan) === number)) return domain;
  }
  return null;
}

function numberDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows): DriftItem[] {
  const plan = numberPlanOfService(service);
  const rows = found.numbers.get(tenant.domainName) ?? [];
  if (service.desiredState !== 'active') {
    const enabled = rows.filter((row) => row.enabled);
    if (enabled.length === 0) return [];
    return [
      {
        ...base(service, tenant),
        kind: 'numbers_mismatch',
        expected: `inbound numbers disabled (the tenant is ${service.desiredState})`,
        actual: `${enabled.length} enabled (${listed(enabled.map((row) => row.number))})`,
        fixAction: null,
        note: 'needs an operator: a number was enabled in FusionPBX while the tenant is not active; disable it there',
      },
    ];
  }
  if (!plan) return [];
  const have = new Set(rows.map((row) => canonicalOf(row, plan)));
  const wanted = planDids(service, plan);
  const expected = wanted ?? tenant.written.planNumbers;
  const missing = expected.filter((number) => !have.has(number));
  // Numbers the plan made and no longer names: change_package removes them.
  const dropped = wanted ? tenant.written.planNumbers.filter((number) => !wanted.includes(number) && have.has(number)) : [];
  if (missing.length === 0 && dropped.length === 0) return [];
  const parts = [...(missing.length > 0 ? [`missing ${listed(missing)}`] : []), ...(dropped.length > 0 ? [`dropped by the plan but still there ${listed(dropped)}`] : [])];
  const taken = missing.map((number) => [number, ownerOf(number, tenant, found, plan)] as const).filter(([, owner]) => owner !== null);
  const item: DriftItem = {
    ...base(service, tenant),
    kind: 'numbers_mismatch',
    expected: expected.length > 0 ? `plan numbers ${listed(expected)}` : 'no plan numbers',
    actual: parts.join('; '),
    fixAction: 'change_package',
  };
  if (taken.length === 0) return [item];
  // change_package would stop at the first of these (NUMBER_TAKEN): a person decides which tenant keeps it.
  return [
    {
      ...item,
      fixAction: null,
      note: `needs an operator: ${taken.map(([number, owner]) => `${number} is a number of ${owner}`).join(', ')}; free it there or take it out of this plan`,
    },
  ];
}

/** The gateway name the plan's template writes (`v_gateways.gateway`), when the templates are known and hold it. */
function expectedGatewayName(key: string, templates: RouteExpectations | null): string | null {
  const template = templates?.gatewayTemplates?.[key];
  return template ? gatewayTemplateName(key, template) : null;
}

function gatewayMismatch(service: ServiceRecord, tenant: FusionTenantRow, expected: string, actual: string, operatorNote?: string): DriftItem {
  const item: DriftItem = { ...base(service, tenant), kind: 'gateway_mismatch', expected, actual, fixAction: operatorNote === undefined ? 'change_package' : null };
  return operatorNote === undefined ? item : { ...item, note: operatorNote };
}

/**
 * An active tenant has the plan's gateway, enabled and named as its template (deleted or switched off
 * in FusionPBX's page, the tenant's outbound calls have no way out); a plan without one has the
 * bridge's old gateway disabled. A tenant that is not active has every gateway of its domain
 * disabled, as suspend left them.
 */
function gatewayDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows, templates: RouteExpectations | null): DriftItem[] {
  const gateways = found.gateways.get(tenant.domainName) ?? [];
  if (service.desiredState !== 'active') {
    const enabled = gateways.filter((gateway) => gateway.enabled);
    if (enabled.length === 0) return [];
    return [
      gatewayMismatch(
        service,
        tenant,
        `the domain's gateways disabled (the tenant is ${service.desiredState})`,
        `${enabled.length} enabled (${listed(enabled.map((gateway) => gateway.name))})`,
        'needs an operator: a gateway was enabled in FusionPBX while the tenant is not active; disable it there (unsuspend restores the gateways exactly)',
      ),
    ];
  }
  const key = planText(service.plan, 'gatewayTemplate');
  const written = tenant.written.gateway ? gateways.find((gateway) => gateway.uuid === tenant.written.gateway) : undefined;
  if (!key) {
    if (!written?.enabled) return [];
    return [gatewayMismatch(service, tenant, "the bridge's gateway disabled (the plan has no gateway template)", `gateway ${written.name} enabled`)];
  }
  const name = expectedGatewayName(key, templates);
  const expected = `the plan's gateway ${name ?? `of template ${key}`}, enabled`;
  if (!written) {
    const missing = tenant.written.gateway ? `gateway ${tenant.written.gateway} missing from FusionPBX` : 'no gateway written';
    // change_package never takes over a gateway it did not make: it fails while one has the template's name.
    const namesake = gateways.find((gateway) => gateway.name === (name ?? key));
    if (!namesake) return [gatewayMismatch(service, tenant, expected, missing)];
    return [
      gatewayMismatch(
        service,
        tenant,
        expected,
        `${missing}; gateway ${namesake.uuid} has the template's name`,
        "needs an operator: the bridge did not make that gateway and change_package does not take it over (it fails naming it); rename or delete it in FusionPBX, then change_package writes the plan's gateway",
      ),
    ];
  }
  if (!written.enabled) {
    // Switched off in FusionPBX: change_package keeps that choice (only a gateway the bridge disabled comes back on).
    const note = tenant.written.gatewayPlanDisabled
      ? undefined
      : "needs an operator: the gateway was switched off in FusionPBX and change_package keeps it off; enable it there if the tenant's outbound calls should go out";
    return [gatewayMismatch(service, tenant, expected, `gateway ${written.name} disabled`, note)];
  }
  if (name !== null && written.name !== name) return [gatewayMismatch(service, tenant, expected, `gateway named ${written.name}`)];
  return [];
}

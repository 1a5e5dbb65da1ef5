import type { Pool } from 'pg';
import { normaliseNumber, numberPlanOf, type NumberPlan } from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import type { DriftItem, FusionTenantRow } from './drift-report';

/**
 * Issue #15's rows in the drift report: the bridge's outbound routes, trunk ACL nodes and plan
 * numbers, as recorded in the tenant's `ictvoip/state` row, against FusionPBX's rows. An active
 * tenant must still have every one (a row deleted in FusionPBX → change_package writes it again);
 * a suspended tenant must have its routes and numbers disabled, a credit-restricted one the routes
 * the restriction disabled (its emergency routes stay enabled).
 */

export interface WrittenRows {
  outboundRoutes: string[];
  trunkNodes: string[];
  planNumbers: string[];
  /** Credit control's outbound restriction is set. */
  restricted: boolean;
  /** The bridge's routes the restriction disabled (all but the emergency routes), lower case. */
  restrictedRoutes: string[];
}

interface NumberRow {
  number: string;
  prefix: string | null;
  enabled: boolean;
}

export interface FoundRows {
  /** dialplan uuid → dialplan_enabled of the routes the states list. */
  routes: Map<string, boolean>;
  /** access_control_node_uuid of the nodes the states list. */
  nodes: Set<string>;
  /** Inbound destinations per tenant domain. */
  numbers: Map<string, NumberRow[]>;
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
  };
}

/** One read per table for every tenant of a server (tables a FusionPBX install lacks are skipped). */
export async function readWrittenRows(pool: Pool, tenants: readonly FusionTenantRow[]): Promise<FoundRows> {
  const found: FoundRows = { routes: new Map(), nodes: new Set(), numbers: new Map() };
  const routeUuids = tenants.flatMap((tenant) => tenant.written.outboundRoutes).filter((uuid) => UUID.test(uuid));
  const nodeUuids = tenants.flatMap((tenant) => tenant.written.trunkNodes).filter((uuid) => UUID.test(uuid));
  const { rows: tables } = await pool.query<{ acl: boolean; destinations: boolean }>(
    "select to_regclass('v_access_control_nodes') is not null as acl, to_regclass('v_destinations') is not null as destinations",
  );
  if (routeUuids.length > 0) {
    const { rows } = await pool.query<{ uuid: string; enabled: string | null }>(
      'select dialplan_uuid::text as uuid, dialplan_enabled::text as enabled from v_dialplans where dialplan_uuid = any($1::uuid[])',
      [routeUuids],
    );
    for (const row of rows) found.routes.set(row.uuid.toLowerCase(), row.enabled === 'true');
  }
  if (nodeUuids.length > 0 && tables[0]?.acl) {
    const { rows } = await pool.query<{ uuid: string }>(
      'select access_control_node_uuid::text as uuid from v_access_control_nodes where access_control_node_uuid = any($1::uuid[])',
      [nodeUuids],
    );
    for (const row of rows) found.nodes.add(row.uuid.toLowerCase());
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
  return found;
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

/** The differences of one tenant whose FusionPBX status already is the desired one. */
export function writtenRowDifferences(service: ServiceRecord, tenant: FusionTenantRow, found: FoundRows): DriftItem[] {
  const base = { serviceId: service.serviceId, domain: tenant.domainName };
  const { written } = tenant;
  const active = service.desiredState === 'active';
  const items: DriftItem[] = [];
  const missingRoutes = written.outboundRoutes.filter((uuid) => !found.routes.has(uuid));
  // Under the credit restriction alone only the routes it disabled must be off: emergency routes stay on.
  const meantOff = active ? written.restrictedRoutes : written.outboundRoutes;
  const enabledRoutes = meantOff.filter((uuid) => found.routes.get(uuid) === true);
  if (active && missingRoutes.length > 0) {
    items.push({
      ...base,
      kind: 'routes_mismatch',
      expected: `the bridge's ${written.outboundRoutes.length} outbound route dialplan(s)`,
      actual: `${missingRoutes.length} missing (${listed(missingRoutes)})`,
      fixAction: 'change_package',
    });
  } else if ((!active || written.restricted) && enabledRoutes.length > 0) {
    const why = active ? 'the credit restriction' : `the tenant is ${service.desiredState}`;
    items.push({
      ...base,
      kind: 'routes_mismatch',
      expected: `the bridge's outbound routes disabled (${why})`,
      actual: `${enabledRoutes.length} enabled (${listed(enabledRoutes)})`,
      fixAction: null,
      note: 'needs an operator: a route was enabled in FusionPBX; disable it there (unsuspend / the credit top-up restores the routes exactly)',
    });
  }
  const missingNodes = written.trunkNodes.filter((uuid) => !found.nodes.has(uuid));
  if (active && missingNodes.length > 0) {
    items.push({
      ...base,
      kind: 'trunk_acl_mismatch',
      expected: `the bridge's ${written.trunkNodes.length} trunk ACL node(s)`,
      actual: `${missingNodes.length} missing (${listed(missingNodes)})`,
      fixAction: 'change_package',
    });
  }
  const plan = numberPlanOfService(service);
  const rows = found.numbers.get(tenant.domainName) ?? [];
  if (plan && active) {
    const have = new Set(rows.map((row) => canonicalOf(row, plan)));
    const missing = written.planNumbers.filter((number) => !have.has(number));
    if (missing.length > 0) {
      items.push({ ...base, kind: 'numbers_mismatch', expected: `plan numbers ${listed(written.planNumbers)}`, actual: `missing ${listed(missing)}`, fixAction: 'change_package' });
    }
  } else if (!active) {
    const enabled = rows.filter((row) => row.enabled);
    if (enabled.length > 0) {
      items.push({
        ...base,
        kind: 'numbers_mismatch',
        expected: `inbound numbers disabled (the tenant is ${service.desiredState})`,
        actual: `${enabled.length} enabled (${listed(enabled.map((row) => row.number))})`,
        fixAction: null,
        note: 'needs an operator: a number was enabled in FusionPBX while the tenant is not active; disable it there',
      });
    }
  }
  return items;
}

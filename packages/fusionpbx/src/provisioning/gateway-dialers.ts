/**
 * Credit control's outbound restriction keeps the gateways of the emergency routes up; anything else
 * of the domain that dials straight through one of them would still carry paid calls. In FusionPBX
 * 5.1 and 5.3 a dial string naming a gateway (`sofia/gateway/<uuid>/…`) can sit in:
 * - any dialplan of the domain (custom dialplans, inbound destinations' dialplans, time conditions,
 *   outbound routes): FreeSWITCH runs its `dialplan_xml` (the Lua dialplan reads enabled rows only),
 *   the details are what the GUI edits, so both are read;
 * - a ring-group destination: app/ring_groups/index.lua bridges a `destination_number` that is a
 *   dial string as it is (its "sip uri" branch), enabled destinations only;
 * - an IVR menu option (`menu-exec-app` with `bridge sofia/gateway/…` as its param): ivr.conf is
 *   built from the enabled options (5.1 and 5.3; the fixture schema has no IVR tables).
 * Everything else that calls out (call forwarding, follow-me, ring-group numbers, IVR transfers)
 * goes through loopback to the domain's dialplan, that is through the outbound routes.
 * These rows are disabled the way FusionPBX's own toggles do (dialplan_enabled, destination_enabled,
 * ivr_menu_option_enabled, cache delete) and enabled again at the lift; the caller remembers exactly which.
 */
import type { Pool } from 'pg';
import { type FreeswitchStep, dialplanKey } from '@ictvoip/freeswitch';
import { type CanonicalRow, type Tx, convergeRowsTo, inTransaction, selectRows } from '../db';
import { dialplanMode, destinationSteps } from '../destinations/repository';
import { gatewaysOfBridge, isEmergencyExpression } from './emergency-routes';
import { validateCacheKey } from './input';
import { OUTBOUND_ROUTE_APP_UUID } from './outbound-routes';

export interface GatewayDialers {
  /** v_dialplans uuids */
  dialplans: string[];
  /** v_ring_group_destinations uuids */
  ringDestinations: string[];
  /** v_ivr_menu_options uuids */
  ivrOptions: string[];
}

/** A table whose rows hold a dial string and an enabled flag (not a dialplan). */
interface DialStringTable {
  kind: 'ringDestinations' | 'ivrOptions';
  table: string;
  key: string;
  dial: string;
  enabled: string;
  /** the cache deletes FusionPBX's page makes after writing these rows */
  cacheSql: string;
}

const DIAL_STRING_TABLES: readonly DialStringTable[] = [
  {
    kind: 'ringDestinations',
    table: 'v_ring_group_destinations',
    key: 'ring_group_destination_uuid',
    dial: 'destination_number',
    enabled: 'destination_enabled',
    cacheSql: `select distinct 'dialplan:' || g.ring_group_context as key from v_ring_group_destinations d join v_ring_groups g on g.ring_group_uuid = d.ring_group_uuid
      where d.ring_group_destination_uuid = any($1::uuid[]) and g.ring_group_context is not null order by 1`,
  },
  {
    kind: 'ivrOptions',
    table: 'v_ivr_menu_options',
    key: 'ivr_menu_option_uuid',
    dial: 'ivr_menu_option_param',
    enabled: 'ivr_menu_option_enabled',
    cacheSql: `select distinct 'configuration:ivr.conf:' || o.ivr_menu_uuid::text as key from v_ivr_menu_options o where o.ivr_menu_option_uuid = any($1::uuid[]) and o.ivr_menu_uuid is not null
      union select distinct 'dialplan:' || m.ivr_menu_context from v_ivr_menu_options o join v_ivr_menus m on m.ivr_menu_uuid = o.ivr_menu_uuid
      where o.ivr_menu_option_uuid = any($1::uuid[]) and m.ivr_menu_context is not null order by 1`,
  },
];

export interface DialersToggle {
  /** rows written this time (a replay writes none) */
  changed: number;
  /** cache deletes for every listed row that exists (sent again on a replay: a crash may have cut them off) */
  steps: FreeswitchStep[];
}

interface DialplanFacts {
  uuid: string;
  appUuid: string;
  enabled: boolean;
  emergency: boolean;
  gateways: string[];
}

const xmlText = (value: string) =>
  value
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** The destination_number expressions of a dialplan: its enabled detail conditions and those of its XML (what FreeSWITCH runs). */
function expressionsOf(xml: string, details: CanonicalRow[]): string[] {
  const fromDetails = details
    .filter((detail) => detail.dialplan_detail_tag === 'condition' && detail.dialplan_detail_type === 'destination_number')
    .map((detail) => detail.dialplan_detail_data ?? '');
  const fromXml = [
    ...xml.matchAll(/<condition\b[^>]*\bfield="destination_number"[^>]*\bexpression="([^"]*)"/g),
    ...xml.matchAll(/<condition\b[^>]*\bexpression="([^"]*)"[^>]*\bfield="destination_number"/g),
  ].map((match) => xmlText(match[1]!));
  return [...fromDetails, ...fromXml];
}

function factsOf(row: CanonicalRow, details: CanonicalRow[]): DialplanFacts {
  const live = details.filter((detail) => detail.dialplan_detail_enabled !== 'false');
  const xml = row.dialplan_xml ?? '';
  const expressions = expressionsOf(xml, live);
  const bridges = live.filter((detail) => detail.dialplan_detail_tag === 'action' || detail.dialplan_detail_tag === 'anti-action');
  return {
    uuid: (row.dialplan_uuid as string).toLowerCase(),
    appUuid: (row.app_uuid ?? '').toLowerCase(),
    enabled: row.dialplan_enabled === 'true',
    // An emergency dialplan answers emergency numbers only; one the check cannot read is not one.
    emergency: expressions.length > 0 && expressions.every(isEmergencyExpression),
    gateways: [...new Set([...bridges.flatMap((detail) => gatewaysOfBridge(detail.dialplan_detail_data ?? '')), ...gatewaysOfBridge(xmlText(xml))])],
  };
}

/** The details of these dialplans, by dialplan uuid (lower case), in FusionPBX's order (group, then order). */
export async function detailsByDialplan(tx: Tx, dialplanUuids: readonly (string | null)[]): Promise<Map<string, CanonicalRow[]>> {
  const byDialplan = new Map<string, CanonicalRow[]>();
  if (dialplanUuids.length === 0) return byDialplan;
  const details = await selectRows(
    tx,
    `select dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_enabled from v_dialplan_details
     where dialplan_uuid = any($1::uuid[]) order by dialplan_detail_group, dialplan_detail_order`,
    [dialplanUuids],
  );
  for (const detail of details) {
    const key = (detail.dialplan_uuid as string).toLowerCase();
    byDialplan.set(key, [...(byDialplan.get(key) ?? []), detail]);
  }
  return byDialplan;
}

async function domainDialplans(tx: Tx, domainUuid: string): Promise<DialplanFacts[]> {
  const dialplans = await selectRows(tx, 'select dialplan_uuid, app_uuid, dialplan_enabled, dialplan_xml from v_dialplans where domain_uuid = $1 order by dialplan_uuid', [
    domainUuid,
  ]);
  const byDialplan = await detailsByDialplan(
    tx,
    dialplans.map((row) => row.dialplan_uuid),
  );
  return dialplans.map((row) => factsOf(row, byDialplan.get((row.dialplan_uuid as string).toLowerCase()) ?? []));
}

/**
 * For a domain the bridge keeps no tenant state in (no service tag): its enabled emergency outbound
 * routes and the gateways they dial through, read only. Emergency calls must work there too.
 */
export async function emergencyGatewaysOfDomain(pool: Pool, domainUuid: string): Promise<{ emergencyRoutes: string[]; keptGateways: string[] }> {
  return inTransaction(pool, null, async (tx) => {
    const routes = (await domainDialplans(tx, domainUuid)).filter((row) => row.appUuid === OUTBOUND_ROUTE_APP_UUID && row.emergency);
    return {
      emergencyRoutes: routes.map((row) => row.uuid),
      keptGateways: [...new Set(routes.filter((row) => row.enabled).flatMap((row) => row.gateways))].sort(),
    };
  });
}

/**
 * The domain's enabled, non-emergency dialplans (all but `except`) and enabled ring-group destinations
 * that dial straight through one of `gateways`.
 */
export async function dialersThroughGateways(pool: Pool, domainUuid: string, gateways: readonly string[], except: readonly string[] = []): Promise<GatewayDialers> {
  const kept = new Set(gateways.map((uuid) => uuid.toLowerCase()));
  if (kept.size === 0) return { dialplans: [], ringDestinations: [], ivrOptions: [] };
  const skip = new Set(except.map((uuid) => uuid.toLowerCase()));
  return inTransaction(pool, null, async (tx) => {
    const dialplans = (await domainDialplans(tx, domainUuid))
      .filter((row) => row.enabled && !row.emergency && !skip.has(row.uuid) && row.gateways.some((gateway) => kept.has(gateway)))
      .map((row) => row.uuid);
    const found: GatewayDialers = { dialplans, ringDestinations: [], ivrOptions: [] };
    for (const spec of DIAL_STRING_TABLES) found[spec.kind] = await dialStringsThrough(tx, spec, domainUuid, kept);
    return found;
  });
}

async function dialStringsThrough(tx: Tx, spec: DialStringTable, domainUuid: string, kept: Set<string>): Promise<string[]> {
  if (!tx.catalog.hasColumn(spec.table, spec.enabled)) return [];
  const rows = await selectRows(tx, `select ${spec.key} as uuid, ${spec.dial} as dial from ${spec.table} where domain_uuid = $1 and ${spec.enabled}::text = 'true' order by 1`, [
    domainUuid,
  ]);
  return rows.filter((row) => gatewaysOfBridge(row.dial ?? '').some((gateway) => kept.has(gateway))).map((row) => (row.uuid as string).toLowerCase());
}

/** The cache deletes FusionPBX makes when it toggles these dialplans: the context's, and an inbound destination's own keys. */
async function dialplanSteps(tx: Tx, rows: CanonicalRow[]): Promise<FreeswitchStep[]> {
  if (rows.length === 0) return [];
  const contexts = [...new Set(rows.map((row) => row.dialplan_context).filter((context): context is string => typeof context === 'string' && context !== ''))].sort();
  const steps: FreeswitchStep[] = contexts.map((context) => ({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(context), 'dialplan_context') }));
  if (!tx.catalog.hasTable('v_destinations')) return steps;
  const destinations = await selectRows(
    tx,
    'select destination_prefix, destination_number, destination_context from v_destinations where dialplan_uuid = any($1::uuid[]) order by destination_uuid',
    [rows.map((row) => row.dialplan_uuid)],
  );
  return [...steps, ...destinationSteps(await dialplanMode(tx), destinations)];
}

/** Sets `enabled` on the listed rows of one dial-string table (those of the domain that still exist); the page's cache deletes for them. */
async function toggleDialStrings(tx: Tx, spec: DialStringTable, domainUuid: string, uuids: readonly string[], enabled: boolean): Promise<DialersToggle> {
  if (uuids.length === 0 || !tx.catalog.hasColumn(spec.table, spec.enabled)) return { changed: 0, steps: [] };
  const rows = await selectRows(tx, `select ${spec.key}, ${spec.enabled} from ${spec.table} where domain_uuid = $1 and ${spec.key} = any($2::uuid[]) order by 1`, [
    domainUuid,
    uuids,
  ]);
  const changed = await convergeRowsTo(tx, spec.table, spec.key, rows, { [spec.enabled]: enabled });
  if (rows.length === 0) return { changed, steps: [] };
  const keys = await selectRows(tx, spec.cacheSql, [rows.map((row) => row[spec.key])]);
  return { changed, steps: keys.map((row) => ({ kind: 'cache_delete', key: validateCacheKey(row.key as string, spec.table) })) };
}

/** Sets dialplan_enabled / destination_enabled / ivr_menu_option_enabled on the listed rows of the domain (those that still exist); idempotent. */
export async function toggleGatewayDialers(pool: Pool, domainUuid: string, dialers: GatewayDialers, enabled: boolean): Promise<DialersToggle> {
  return inTransaction(pool, null, async (tx) => {
    const dialplans =
      dialers.dialplans.length === 0
        ? []
        : await selectRows(
            tx,
            'select dialplan_uuid, dialplan_enabled, dialplan_context from v_dialplans where domain_uuid = $1 and dialplan_uuid = any($2::uuid[]) order by dialplan_uuid',
            [domainUuid, dialers.dialplans],
          );
    let changed = await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', dialplans, { dialplan_enabled: enabled });
    const steps = await dialplanSteps(tx, dialplans);
    for (const spec of DIAL_STRING_TABLES) {
      const toggle = await toggleDialStrings(tx, spec, domainUuid, dialers[spec.kind], enabled);
      changed += toggle.changed;
      steps.push(...toggle.steps);
    }
    return { changed, steps };
  });
}

/**
 * Credit control's outbound restriction keeps the gateways of the emergency routes up; anything else
 * of the domain that dials straight through one of them would still carry paid calls. In FusionPBX
 * 5.1 and 5.3 a dial string naming a gateway (`sofia/gateway/<uuid>/…`) can sit in:
 * - any dialplan of the domain (custom dialplans, inbound destinations' dialplans, time conditions,
 *   outbound routes): FreeSWITCH runs its `dialplan_xml` (the Lua dialplan reads enabled rows only),
 *   the details are what the GUI edits, so both are read;
 * - a ring-group destination: app/ring_groups/index.lua bridges a `destination_number` that is a
 *   dial string as it is (its "sip uri" branch), enabled destinations only.
 * Everything else that calls out (call forwarding, follow-me, ring-group numbers, IVR transfers)
 * goes through loopback to the domain's dialplan, that is through the outbound routes.
 * These rows are disabled the way FusionPBX's own toggles do (dialplan_enabled, destination_enabled,
 * cache delete) and enabled again at the lift; the caller remembers exactly which.
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
}

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

async function domainDialplans(tx: Tx, domainUuid: string): Promise<DialplanFacts[]> {
  const dialplans = await selectRows(tx, 'select dialplan_uuid, app_uuid, dialplan_enabled, dialplan_xml from v_dialplans where domain_uuid = $1 order by dialplan_uuid', [
    domainUuid,
  ]);
  if (dialplans.length === 0) return [];
  const details = await selectRows(
    tx,
    `select dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_enabled from v_dialplan_details
     where dialplan_uuid = any($1::uuid[]) order by dialplan_detail_group, dialplan_detail_order`,
    [dialplans.map((row) => row.dialplan_uuid)],
  );
  const byDialplan = new Map<string, CanonicalRow[]>();
  for (const detail of details) {
    const key = (detail.dialplan_uuid as string).toLowerCase();
    byDialplan.set(key, [...(byDialplan.get(key) ?? []), detail]);
  }
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
  if (kept.size === 0) return { dialplans: [], ringDestinations: [] };
  const skip = new Set(except.map((uuid) => uuid.toLowerCase()));
  return inTransaction(pool, null, async (tx) => {
    const dialplans = (await domainDialplans(tx, domainUuid))
      .filter((row) => row.enabled && !row.emergency && !skip.has(row.uuid) && row.gateways.some((gateway) => kept.has(gateway)))
      .map((row) => row.uuid);
    const destinations = await selectRows(
      tx,
      `select ring_group_destination_uuid, destination_number from v_ring_group_destinations where domain_uuid = $1 and destination_enabled::text = 'true' order by ring_group_destination_uuid`,
      [domainUuid],
    );
    const ringDestinations = destinations
      .filter((row) => gatewaysOfBridge(row.destination_number ?? '').some((gateway) => kept.has(gateway)))
      .map((row) => (row.ring_group_destination_uuid as string).toLowerCase());
    return { dialplans, ringDestinations };
  });
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

async function ringDestinationSteps(tx: Tx, uuids: readonly string[]): Promise<FreeswitchStep[]> {
  if (uuids.length === 0) return [];
  const contexts = await selectRows(
    tx,
    `select distinct g.ring_group_context from v_ring_group_destinations d join v_ring_groups g on g.ring_group_uuid = d.ring_group_uuid
     where d.ring_group_destination_uuid = any($1::uuid[]) and g.ring_group_context is not null order by 1`,
    [uuids],
  );
  return contexts.map((row) => ({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(row.ring_group_context as string), 'ring_group_context') }));
}

/** Sets dialplan_enabled / destination_enabled on the listed rows of the domain (those that still exist); idempotent. */
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
    const destinations =
      dialers.ringDestinations.length === 0
        ? []
        : await selectRows(
            tx,
            'select ring_group_destination_uuid, destination_enabled from v_ring_group_destinations where domain_uuid = $1 and ring_group_destination_uuid = any($2::uuid[]) order by 1',
            [domainUuid, dialers.ringDestinations],
          );
    const changed =
      (await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', dialplans, { dialplan_enabled: enabled })) +
      (await convergeRowsTo(tx, 'v_ring_group_destinations', 'ring_group_destination_uuid', destinations, { destination_enabled: enabled }));
    const steps = [
      ...(await dialplanSteps(tx, dialplans)),
      ...(await ringDestinationSteps(
        tx,
        destinations.map((row) => row.ring_group_destination_uuid as string),
      )),
    ];
    return { changed, steps };
  });
}
